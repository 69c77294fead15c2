"""The volsr grid convention for changing resolution without moving anything.

Changing the resolution of voxel axis ``i`` by a factor ``s_i`` (``s > 1`` finer,
``s < 1`` coarser) keeps the field of view: every input voxel is a slab of width
``spacing_i`` and the output voxels tile it. Output voxel ``o`` along that axis sits at
input (continuous) index

    x(o) = (o + 1/2) / s - 1/2,

so the first output centre is ``-(s - 1) / (2 s)`` input voxels from the first input
centre, and the output spacing is exactly ``spacing_i / s``. The output has
``round(n_i * s_i)`` voxels. Down- and up-sampling use the same rule, so a volume
degraded by ``1/s`` and super-resolved by ``s`` lands back on its original grid
whenever ``n_i * s_i`` is a whole number (and always when the original grid is given
explicitly as the target).

The rule is applied in voxel index space, so it is exact for oblique affines too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from volsr.errors import ConfigError
from volsr.geometry.affine import spacing_from_affine

ScaleLike = float | Sequence[float]


@dataclass(frozen=True)
class Grid:
    """A 3D voxel grid: spatial shape plus voxel-to-world affine (RAS+, mm)."""

    shape: tuple[int, int, int]
    affine: np.ndarray

    @property
    def spacing(self) -> np.ndarray:
        return spacing_from_affine(self.affine)

    def same_as(self, other: Grid, *, atol: float = 1e-6) -> bool:
        """Same shape and affine (to ``atol`` mm)."""
        return tuple(self.shape) == tuple(other.shape) and bool(
            np.allclose(self.affine, other.affine, atol=atol, rtol=0)
        )

    def world_bounds(self) -> np.ndarray:
        """World coordinates (mm) of the 8 outer corners of the field of view, shape (8, 3)."""
        n = np.asarray(self.shape, dtype=np.float64)
        corners = np.array(
            [[i, j, k] for i in (-0.5, n[0] - 0.5) for j in (-0.5, n[1] - 0.5)
             for k in (-0.5, n[2] - 0.5)]
        )
        return corners @ self.affine[:3, :3].T + self.affine[:3, 3]


def _as3(value: ScaleLike, name: str) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if arr.size == 1:
        arr = np.repeat(arr, 3)
    if arr.shape != (3,):
        raise ConfigError(f"{name} needs 1 or 3 values, got {arr.size}")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ConfigError(f"{name} values must be positive numbers, got {arr.tolist()}")
    return arr


def resolve_scale(
    spacing: Sequence[float],
    *,
    scale: ScaleLike | None = None,
    target_spacing: ScaleLike | None = None,
    isotropic: bool = False,
) -> np.ndarray:
    """Per-axis factors ``s_i = spacing_i / new_spacing_i`` from exactly one way of asking.

    Args:
        spacing: current voxel size (mm) per voxel axis.
        scale: factor per axis (or one for all), e.g. ``(1, 1, 4)``.
        target_spacing: wanted voxel size in mm per axis (or one for all).
        isotropic: use the finest current spacing on every axis.

    Raises:
        ConfigError: none or more than one of the three was given.
    """
    given = [scale is not None, target_spacing is not None, bool(isotropic)]
    if sum(given) != 1:
        raise ConfigError("give exactly one of --scale, --target-spacing or --isotropic")
    sp = _as3(spacing, "spacing")
    if scale is not None:
        return _as3(scale, "scale")
    if target_spacing is not None:
        return sp / _as3(target_spacing, "target spacing")
    return sp / sp.min()


def output_size(n: int, s: float) -> int:
    """Number of output voxels along an axis of ``n`` voxels resampled by factor ``s``."""
    return max(1, int(math.floor(n * s + 0.5 + 1e-9)))


def source_coordinates(n_out: int, s: float) -> np.ndarray:
    """Continuous input index of each output voxel centre along one axis: ``(o + 1/2)/s - 1/2``."""
    return (np.arange(n_out, dtype=np.float64) + 0.5) / s - 0.5


def scale_affine(affine: np.ndarray, scale: Sequence[float]) -> np.ndarray:
    """Affine of the grid obtained by resampling voxel axes by ``scale`` (the convention)."""
    s = np.asarray(scale, dtype=np.float64)
    m = np.eye(4)
    m[:3, :3] = np.diag(1.0 / s)
    m[:3, 3] = (1.0 / s - 1.0) / 2.0
    return np.asarray(affine, dtype=np.float64) @ m


def scaled_grid(grid: Grid, scale: Sequence[float]) -> Grid:
    """The grid ``grid`` becomes when each voxel axis is resampled by ``scale``."""
    s = np.asarray(scale, dtype=np.float64)
    shape = tuple(output_size(int(n), float(f)) for n, f in zip(grid.shape, s))
    return Grid(shape=shape, affine=scale_affine(grid.affine, s))  # type: ignore[arg-type]
