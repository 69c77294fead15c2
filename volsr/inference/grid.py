"""Choosing the output grid of a super-resolution run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from volsr.errors import ConfigError
from volsr.geometry import Grid, resolve_scale, scaled_grid


@dataclass(frozen=True)
class GridPlan:
    """Where the output voxels go, as an axis-aligned map from output to input indices.

    Input continuous index along axis ``i`` of output voxel ``o`` is
    ``step[i] * o + offset[i]``. For the grid convention ``step = 1/s`` and
    ``offset = (1/s - 1)/2``.
    """

    grid: Grid
    step: np.ndarray
    offset: np.ndarray

    @property
    def scale(self) -> np.ndarray:
        """Resolution factor per axis (input spacing / output spacing)."""
        return 1.0 / self.step


def plan_output_grid(
    grid: Grid,
    *,
    scale: float | Sequence[float] | None = None,
    target_spacing: float | Sequence[float] | None = None,
    isotropic: bool = False,
    reference: Grid | None = None,
) -> GridPlan:
    """Output grid from ``--scale``, ``--target-spacing``, ``--isotropic`` or a reference grid.

    A reference grid must be axis-aligned with the input (same voxel axes up to scaling);
    it lets an output land on any grid, e.g. the original high-resolution grid of a
    degraded scan whose size is not a multiple of the factor.
    """
    if reference is not None:
        if scale is not None or target_spacing is not None or isotropic:
            raise ConfigError("--reference cannot be combined with --scale, --target-spacing "
                              "or --isotropic")
        m = np.linalg.inv(grid.affine) @ reference.affine
        lin = m[:3, :3]
        diag = np.diag(lin)
        if np.abs(lin - np.diag(diag)).max() > 1e-6 * max(1.0, np.abs(diag).max()) or np.any(
            diag <= 0
        ):
            raise ConfigError("the reference grid is rotated or flipped relative to the input; "
                              "volsr only resamples along the input's own voxel axes")
        return GridPlan(grid=Grid(tuple(reference.shape), reference.affine.copy()),
                        step=diag.copy(), offset=m[:3, 3].copy())
    s = resolve_scale(grid.spacing, scale=scale, target_spacing=target_spacing,
                      isotropic=isotropic)
    out = scaled_grid(grid, s)
    return GridPlan(grid=out, step=1.0 / s, offset=(1.0 / s - 1.0) / 2.0)


def check_post_plan(model_name: str, model_scale: Sequence[int], shape: Sequence[int],
                    plan: GridPlan) -> None:
    """Refuse a grid a post-upsampling network cannot produce: such a network only makes its
    own integer factor ``model_scale`` on the input grid (``shape``) scaled by the convention.

    Raises:
        ConfigError: the planned grid is not the network's own factor.
    """
    s = np.asarray(model_scale, dtype=float)
    want = np.asarray(shape) * s.astype(int)
    ok = (np.allclose(plan.step * s, 1.0, atol=1e-6)
          and np.allclose(plan.offset, (1.0 / s - 1.0) / 2.0, atol=1e-6)
          and tuple(int(n) for n in want) == tuple(plan.grid.shape))
    if not ok:
        req = tuple(float(f"{v:.4g}") for v in 1.0 / plan.step)
        raise ConfigError(
            f"model {model_name} upsamples by {tuple(int(v) for v in s)}; the requested "
            f"factor is {req}: a post-upsampling network only produces its own factor on "
            "the input grid scaled by the volsr convention (scale/model mismatch; use "
            "--scale with the model's factor or a 'pre' model)")
