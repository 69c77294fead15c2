"""Full-reference image-quality metrics, computed in world coordinates.

- :mod:`volsr.metrics.core`: ``psnr``, ``ssim``, ``nrmse``, ``hfen`` on numpy arrays.
- :mod:`volsr.metrics.mask`: ``foreground_mask`` (Otsu + morphology).
- :mod:`volsr.metrics.evaluate`: ``evaluate(truth, candidate)`` for Volumes, resampling
  the candidate onto the truth grid through both affines when the grids differ.
- :mod:`volsr.metrics.natural`: the published 2D SR evaluation protocol (Set5, Set14, ...):
  ``modcrop``, ``rgb_to_y``, ``matlab_imresize``, ``psnr_y``, ``ssim_y``.
"""

from volsr.metrics.core import hfen, mse, nrmse, psnr, ssim, ssim_map
from volsr.metrics.evaluate import METRICS, EvalResult, evaluate
from volsr.metrics.mask import foreground_mask, otsu_threshold
from volsr.metrics.natural import matlab_imresize, modcrop, psnr_y, rgb_to_y, ssim_y

__all__ = [
    "METRICS",
    "EvalResult",
    "evaluate",
    "foreground_mask",
    "hfen",
    "matlab_imresize",
    "modcrop",
    "mse",
    "nrmse",
    "otsu_threshold",
    "psnr",
    "psnr_y",
    "rgb_to_y",
    "ssim",
    "ssim_map",
    "ssim_y",
]
