"""Interpolation baselines as volume predictors (:class:`InterpolationPredictor`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from volsr.geometry import Grid
from volsr.inference.grid import GridPlan, plan_output_grid
from volsr.inference.preflight import check_interpolation_memory
from volsr.io.volume import Volume
from volsr.models.interpolation import Interpolator

__all__ = ["InterpolationPredictor", "per_channel"]

log = logging.getLogger(__name__)

_LOCAL_KINDS = ("nearest", "linear", "bspline", "lanczos")


def per_channel(arr: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply ``fn`` to each channel of ``(C, ...)`` without an extra full-size copy."""
    first = fn(arr[0])
    if arr.shape[0] == 1:
        return first[None]
    out = np.empty((arr.shape[0], *first.shape), dtype=first.dtype)
    out[0] = first
    for c in range(1, arr.shape[0]):
        out[c] = fn(arr[c])
    return out


class InterpolationPredictor:
    """An interpolation model (``volsr models --tag interpolation``) behind the
    :class:`~volsr.inference.protocol.VolumePredictor` interface.

    Local kernels (nearest, linear, B-spline, Lanczos) are applied slab by slab into one
    output array (no full-size temporaries); the global Fourier interpolation in one
    piece. A grid option is required (there is no "own" factor); the memory budget does
    not apply (the output array is the only large allocation), but a grid that cannot fit
    in the available memory is refused before anything is allocated
    (:func:`~volsr.inference.preflight.check_interpolation_memory`).

    Example:
        >>> from volsr.models import create_model
        >>> from volsr.phantom import phantom_volume
        >>> p = InterpolationPredictor(create_model("linear"), "linear")
        >>> p.run(phantom_volume((8, 8, 4), (1.0, 1.0, 2.0)), isotropic=True).spatial_shape
        (8, 8, 8)
    """

    spatial_dims = None
    native_scale = None
    last_memory_plan = None

    def __init__(self, model: Interpolator, name: str | None = None) -> None:
        self.model = model
        self.model_name = name or str(model.kind)

    def record(self) -> dict[str, Any]:
        """Empty: the model name says it all (sidecars write ``"predictor": null``)."""
        return {}

    def __call__(self, volume: Volume, **grid: Any) -> Volume:
        return self.run(volume, **grid)

    def run(
        self,
        volume: Volume,
        *,
        scale: float | Sequence[float] | None = None,
        target_spacing: float | Sequence[float] | None = None,
        isotropic: bool = False,
        reference: Grid | None = None,
        max_memory: int | None = None,
        scratch_dir: str | Path | None = None,
    ) -> Volume:
        """``volume`` interpolated onto the planned grid (float32, same units)."""
        if max_memory is not None:
            log.info("--max-memory applies to networks; %s ignores it", self.model_name)
        plan = plan_output_grid(volume.grid, scale=scale, target_spacing=target_spacing,
                                isotropic=isotropic, reference=reference)
        check_interpolation_memory(  # hardening #17: interpolation is preflighted too
            volume.spatial_shape, plan.grid.shape, volume.channels,
            global_kind=self.model.kind not in _LOCAL_KINDS)
        return volume.with_data(self._interpolate(volume, plan), plan.grid.affine.copy())

    def _interpolate(self, volume: Volume, plan: GridPlan) -> np.ndarray:
        kind = self.model.kind
        if kind in _LOCAL_KINDS:
            from volsr.inference.slabs import interpolate_in_slabs

            out = np.empty((volume.channels, *plan.grid.shape), dtype=np.float32)
            return interpolate_in_slabs(volume.data, plan.step, plan.offset, out, kind=kind)
        return per_channel(volume.data, lambda a: self.model.resample_linear(
            a, plan.step, plan.offset, plan.grid.shape)).astype(np.float32, copy=False)
