"""Self-super-resolution of thick-slice scans from the scan itself (SMORE-style).

A thick-slice scan is sharp in-plane and blurred/aliased through-plane. Degrading its own
in-plane slices like the slice direction gives training pairs for two small 2D networks
(anti-aliasing SAA, then super-resolution SSR), which are then applied to the
through-plane slices and fused by Fourier burst accumulation. No external training data.

* :func:`self_super_resolve` (``volsr ssr``): the whole pipeline on one scan;
* :class:`SSRModel`: the trained networks; ``SSRModel.load(dir).run(volume)`` applies
  saved weights to another scan of the same acquisition (e.g. a label map);
* :func:`analyze_header`, :func:`build_profile`, :func:`fourier_burst_fusion`,
  :func:`average_fusion`: the building blocks.

Reference:
    C. Zhao et al., "SMORE: a self-supervised anti-aliasing and super-resolution
    algorithm for MRI using deep learning", IEEE TMI 40(3), 2021.
"""

from volsr.ssr.config import BUDGETS, SSRConfig, resolve_config
from volsr.inference.fusion import average_fusion, fourier_burst_fusion
from volsr.ssr.header import Acquisition, analyze_header
from volsr.ssr.model import SSRModel
from volsr.ssr.pipeline import SSRResult, self_super_resolve
from volsr.ssr.profile import SliceProfile, build_profile, read_profile_file

__all__ = [
    "BUDGETS",
    "Acquisition",
    "SSRConfig",
    "SSRModel",
    "SSRResult",
    "SliceProfile",
    "analyze_header",
    "average_fusion",
    "build_profile",
    "fourier_burst_fusion",
    "read_profile_file",
    "resolve_config",
    "self_super_resolve",
]
