"""Full-reference image-quality metrics, computed in world coordinates.

- :mod:`volsr.metrics.core`: ``psnr``, ``ssim``, ``nrmse``, ``hfen`` on numpy arrays.
- :mod:`volsr.metrics.mask`: ``foreground_mask`` (Otsu + morphology).
- :mod:`volsr.metrics.evaluate`: ``evaluate(truth, candidate)`` for Volumes, resampling
  the candidate onto the truth grid through both affines when the grids differ.
"""

from volsr.metrics.core import hfen, mse, nrmse, psnr, ssim, ssim_map
from volsr.metrics.evaluate import METRICS, EvalResult, evaluate
from volsr.metrics.mask import foreground_mask, otsu_threshold

__all__ = [
    "METRICS",
    "EvalResult",
    "evaluate",
    "foreground_mask",
    "hfen",
    "mse",
    "nrmse",
    "otsu_threshold",
    "psnr",
    "ssim",
    "ssim_map",
]
