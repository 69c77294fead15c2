"""Separable 1D resampling operators (pure numpy/scipy).

:func:`profile_matrix` builds averaging operators (thick-slice / PSF profiles, antialiased
cubic and lanczos resizing), :func:`interpolation_matrix` point interpolation at arbitrary
coordinates, :func:`apply_along_axis` applies either along one axis of an N-D array and
:func:`resample_separable` chains them over the three spatial axes following the grid
convention of :mod:`volsr.geometry.grid`.

Example:
    >>> import numpy as np
    >>> from volsr.resample import profile_matrix, apply_along_axis
    >>> m = profile_matrix(8, 0.5, profile="rect")   # 2-voxel boxes
    >>> apply_along_axis(np.arange(8, dtype=np.float32), m, 0).tolist()
    [0.5, 2.5, 4.5, 6.5]
"""

from volsr.resample.apply import apply_along_axis, resample_separable
from volsr.resample.kernels import (
    INTERPOLATIONS,
    PROFILES,
    cubic_kernel,
    fourier_kernel,
    interpolation_matrix,
    lanczos_kernel,
    mirror_index,
    profile_matrix,
)

__all__ = [
    "INTERPOLATIONS",
    "PROFILES",
    "apply_along_axis",
    "cubic_kernel",
    "fourier_kernel",
    "interpolation_matrix",
    "lanczos_kernel",
    "mirror_index",
    "profile_matrix",
    "resample_separable",
]
