"""Python API: super-resolve a :class:`~volsr.io.Volume` with any registered model."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from volsr.errors import ConfigError
from volsr.geometry import Grid
from volsr.inference.grid import GridPlan, plan_output_grid
from volsr.io.volume import Volume

log = logging.getLogger(__name__)


def super_resolve(
    volume: Volume,
    model: str | Any = "bspline",
    *,
    scale: float | Sequence[float] | None = None,
    target_spacing: float | Sequence[float] | None = None,
    isotropic: bool = False,
    reference: Grid | None = None,
    **options: Any,
) -> Volume:
    """Super-resolve ``volume`` onto the grid chosen by one of the grid options.

    Args:
        volume: the input scan.
        model: a registered model name (``volsr models`` lists them) or a model object.
        scale / target_spacing / isotropic / reference: the output grid (exactly one;
            see :func:`volsr.inference.plan_output_grid`).
        **options: passed to network predictors (device, patch size, ...).

    Returns:
        A float32 Volume on the output grid, intensities in the input's units.

    Example:
        >>> from volsr.phantom import phantom_volume
        >>> lr = phantom_volume((24, 24, 6), (2.0, 2.0, 8.0))
        >>> super_resolve(lr, "linear", isotropic=True).spatial_shape
        (24, 24, 24)
    """
    plan = plan_output_grid(volume.grid, scale=scale, target_spacing=target_spacing,
                            isotropic=isotropic, reference=reference)
    if isinstance(model, str):
        from volsr.models import create_model

        model = create_model(model)
    if getattr(model, "upsampling", None) == "interpolation":
        if options:
            raise ConfigError(f"options {sorted(options)} do not apply to interpolation models")
        data = _interpolate(volume, model, plan)
    else:
        raise ConfigError(f"{type(model).__name__} is not an interpolation model; networks run "
                          "through volsr.Predictor")
    out = volume.with_data(data, plan.grid.affine.copy())
    return out


def _interpolate(volume: Volume, model: Any, plan: GridPlan) -> np.ndarray:
    chans = [model.resample_linear(volume.data[c], plan.step, plan.offset, plan.grid.shape)
             for c in range(volume.channels)]
    return np.stack(chans).astype(np.float32, copy=False)
