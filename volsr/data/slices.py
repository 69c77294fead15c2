"""2D (slice-wise) training: the 3D pipeline with a one-voxel-thick patch.

In ``mode: 2d`` a training pair is a slice across ``slice_axis``. The pair is made
exactly as in 3D, from a 3D patch that is one voxel thick along ``slice_axis`` (plus
the usual margins where the degradation reaches), so thick-slice and blur physics stay
3D-correct; the slice axis is dropped at the end. ``patch_size`` then holds the two
in-plane sizes, for the remaining axes in increasing order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["in_plane_axes", "patch_shape_3d", "scale_3d", "squeeze_slice"]


def in_plane_axes(mode: str, slice_axis: int) -> tuple[int, ...]:
    """Spatial axes a patch extends along (and may be flipped / rotated in)."""
    if mode == "3d":
        return (0, 1, 2)
    return tuple(a for a in range(3) if a != slice_axis)


def patch_shape_3d(patch_size: Sequence[int], mode: str, slice_axis: int) -> tuple[int, ...]:
    """The 3D HR patch shape: ``patch_size`` in 3D, in 2D the in-plane sizes with 1 at
    ``slice_axis``.

    Raises:
        ValueError: wrong number of entries for the mode.
    """
    size = [int(v) for v in patch_size]
    if mode == "3d":
        if len(size) != 3:
            raise ValueError(f"3D patches need 3 sizes, got {size}")
        return tuple(size)
    if len(size) != 2:
        raise ValueError(f"2D patches need 2 in-plane sizes, got {size}")
    size.insert(int(slice_axis), 1)
    return tuple(size)


def scale_3d(model_scale: float | Sequence[float], mode: str, slice_axis: int) -> np.ndarray:
    """Per-axis (x, y, z) model scale: one number, 3 entries, or in 2D mode 2 in-plane
    entries (the slice axis gets 1).

    Raises:
        ValueError: bad length or non-positive factors.
    """
    s = np.atleast_1d(np.asarray(model_scale, dtype=np.float64)).ravel()
    if s.size == 1:
        s = np.repeat(s, 3)
        if mode == "2d":
            s[slice_axis] = 1.0
    elif s.size == 2 and mode == "2d":
        s = np.insert(s, int(slice_axis), 1.0)
    if s.shape != (3,) or not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ValueError(f"model_scale needs 1 or 3 positive factors (2 in-plane ones in 2D "
                         f"mode), got {np.atleast_1d(np.asarray(model_scale)).tolist()}")
    return s


def squeeze_slice(arr: np.ndarray, mode: str, slice_axis: int) -> np.ndarray:
    """``(C, X, Y, Z)`` -> ``(C, H, W)`` by dropping the (size-1) slice axis in 2D mode."""
    if mode == "3d":
        return arr
    if arr.shape[1 + slice_axis] != 1:
        raise ValueError(f"expected one slice along axis {slice_axis}, got shape {arr.shape}")
    return np.take(arr, 0, axis=1 + slice_axis)
