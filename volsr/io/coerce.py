"""Turn what a Python caller passes (a Volume, a path, an array with its geometry) into a
:class:`~volsr.io.volume.Volume`, or say exactly what to pass instead."""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import Any

import numpy as np

from volsr.errors import ConfigError
from volsr.io.volume import Volume

_WHAT = ("pass a volsr.Volume, a path to a scan, or an array (X, Y, Z) or (C, X, Y, Z) "
         "with spacing=(sx, sy, sz) in mm or a 4x4 affine=")


def check_volume_index(volume_index: Any) -> int | None:
    """``volume_index`` as an int (or None); refuses 1.5, True, "2" and negatives.

    Raises:
        ConfigError: naming the bad value.
    """
    if volume_index is None:
        return None
    if isinstance(volume_index, bool) or not isinstance(volume_index, numbers.Integral):
        raise ConfigError(f"volume index must be a whole number >= 0, got {volume_index!r}")
    if int(volume_index) < 0:
        raise ConfigError(f"volume index must be >= 0, got {volume_index}")
    return int(volume_index)


def as_volume(obj: Any, *, spacing: Any = None, affine: Any = None,
              volume_index: int | None = None) -> Volume:
    """A :class:`Volume` from ``obj``.

    Args:
        obj: a Volume (returned as is), a ``str``/``Path`` (read with
            :func:`volsr.io.load_volume`), or a numpy array / torch tensor of shape
            ``(X, Y, Z)`` or ``(C, X, Y, Z)``.
        spacing: voxel size in mm per axis (arrays only; axis-aligned RAS grid at 0).
        affine: 4x4 voxel-to-RAS+ matrix (arrays only; instead of ``spacing``).
        volume_index: which volume of a 4D file (paths only).

    Raises:
        TypeError: an object that is none of these, or an array without its geometry.
        ConfigError / InputError: a bad index, a file that cannot be read.
    """
    volume_index = check_volume_index(volume_index)
    if isinstance(obj, Volume):
        if spacing is not None or affine is not None:
            raise TypeError("spacing=/affine= are for arrays; a Volume has its own affine")
        return obj
    if isinstance(obj, (str, Path)):
        if spacing is not None or affine is not None:
            raise TypeError("spacing=/affine= are for arrays; a file has its own geometry")
        from volsr.io import load_volume

        return load_volume(obj, volume_index=volume_index)
    if hasattr(obj, "detach") and hasattr(obj, "cpu"):  # a torch tensor
        obj = obj.detach().cpu().numpy()
    if not isinstance(obj, np.ndarray):
        raise TypeError(f"cannot super-resolve a {type(obj).__name__}: {_WHAT}")
    if (spacing is None) == (affine is None):
        raise TypeError(f"an array has no geometry: give exactly one of spacing= or affine= "
                        f"({_WHAT})")
    if obj.ndim not in (3, 4) or obj.dtype.kind not in "biuf":
        raise TypeError(f"array of shape {obj.shape} and dtype {obj.dtype}: {_WHAT}")
    data = np.asarray(obj, dtype=np.float32)
    data = data[None] if data.ndim == 3 else data
    if affine is None:
        sp = np.broadcast_to(np.asarray(spacing, dtype=np.float64), (3,))
        if not np.all(np.isfinite(sp)) or np.any(sp <= 0):
            raise ConfigError(f"spacing must be three positive numbers, got {spacing!r}")
        affine = np.diag([*sp, 1.0])
    aff = np.asarray(affine, dtype=np.float64)
    if aff.shape != (4, 4):
        raise TypeError(f"affine must be a 4x4 matrix, got shape {aff.shape}")
    from volsr.geometry import validate_affine

    return Volume(np.ascontiguousarray(data), validate_affine(aff))
