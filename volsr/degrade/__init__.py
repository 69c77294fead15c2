"""The degradation simulator: HR -> LR pairs with exact LR geometry.

Deterministic degradations (registered by name in :data:`DEGRADATIONS`):

* ``thick_slice`` (:class:`ThickSlice`): slab averaging with a rect / Gaussian / custom
  slice profile and a coarser slice spacing along one axis;
* ``kspace_truncation`` (:class:`KSpaceTruncation`): central k-space crop, optionally
  windowed, on the LR or the HR grid;
* ``gaussian_blur_downsample`` (:class:`GaussianBlurDownsample`);
* ``resize`` (:class:`Resize`): antialiased bicubic / lanczos3 downsampling;
* ``rician_noise`` / ``gaussian_noise`` (:class:`RicianNoise`, :class:`GaussianNoise`);
* ``compose`` (:class:`Compose`).

Random twins (``random_thick_slice``, ``random_kspace_truncation``,
``random_gaussian_blur_downsample``, ``random_noise``) sample the deterministic ones and
record ``last_params``. All accept a :class:`~volsr.io.Volume` (the LR affine is
``scale_affine(hr_affine, scale)``), a numpy array or a torch tensor.

Example:
    >>> import numpy as np
    >>> from volsr.io import Volume
    >>> from volsr.degrade import degrade_volume
    >>> hr = Volume(np.ones((1, 16, 16, 32), np.float32), np.eye(4))
    >>> lr = degrade_volume(hr, {"name": "thick_slice", "factor": 4, "profile": "rect"})
    >>> lr.spatial_shape, lr.spacing.tolist()
    ((16, 16, 8), [1.0, 1.0, 4.0])
"""

from volsr.degrade.base import DEGRADATIONS, Degradation, RandomDegradation, register_degradation
from volsr.degrade.blur import GaussianBlurDownsample, RandomGaussianBlurDownsample
from volsr.degrade.compose import Compose, build_degradation, degrade_volume
from volsr.degrade.kspace import KSpaceTruncation, RandomKSpaceTruncation
from volsr.degrade.noise import GaussianNoise, RandomNoise, RicianNoise
from volsr.degrade.resize import Resize
from volsr.degrade.slice_profile import RandomThickSlice, ThickSlice

__all__ = [
    "DEGRADATIONS",
    "Compose",
    "Degradation",
    "GaussianBlurDownsample",
    "GaussianNoise",
    "KSpaceTruncation",
    "RandomDegradation",
    "RandomGaussianBlurDownsample",
    "RandomKSpaceTruncation",
    "RandomNoise",
    "RandomThickSlice",
    "Resize",
    "RicianNoise",
    "ThickSlice",
    "build_degradation",
    "degrade_volume",
    "register_degradation",
]
