"""Python API: super-resolve a :class:`~volsr.io.Volume` with any registered model."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from volsr.errors import ConfigError
from volsr.geometry import Grid
from volsr.inference.grid import GridPlan, plan_output_grid
from volsr.io.volume import Volume

log = logging.getLogger(__name__)


def super_resolve(
    volume: Volume | str | Path | np.ndarray | Any,
    model: str | Any = "bspline",
    *,
    spacing: float | Sequence[float] | None = None,
    affine: np.ndarray | None = None,
    volume_index: int | None = None,
    scale: float | Sequence[float] | None = None,
    target_spacing: float | Sequence[float] | None = None,
    isotropic: bool = False,
    reference: Grid | None = None,
    weights: str | Path | None = None,
    **options: Any,
) -> Volume:
    """Super-resolve ``volume`` onto the grid chosen by one of the grid options.

    Args:
        volume: the input scan: a Volume, a path to a scan (``volume_index`` picks a
            volume of a 4D file), or an array/tensor ``(X, Y, Z)`` or ``(C, X, Y, Z)``
            with its voxel size ``spacing`` (mm) or its 4x4 RAS+ ``affine``.
        model: an interpolation name (``volsr models`` lists them), a bundled model name
            (``"default"``), a network name together with ``weights``, a
            :class:`~volsr.inference.predictor.Predictor`, an interpolation model object or
            a network module (run with default predictor settings).
        scale / target_spacing / isotropic / reference: the output grid (exactly one;
            see :func:`volsr.inference.plan_output_grid`).
        weights: exported weights folder (or training run folder) for a network name.
        **options: predictor settings for networks (device, patch_size, overlap, blend,
            sw_batch_size, tta).

    Returns:
        A float32 Volume on the output grid, intensities in the input's units.

    Example:
        >>> from volsr.phantom import phantom_volume
        >>> lr = phantom_volume((24, 24, 6), (2.0, 2.0, 8.0))
        >>> super_resolve(lr, "linear", isotropic=True).spatial_shape
        (24, 24, 24)
    """
    from volsr.io.coerce import as_volume  # hardening #17: paths, arrays, clear TypeError

    volume = as_volume(volume, spacing=spacing, affine=affine, volume_index=volume_index)
    grid = {"scale": scale, "target_spacing": target_spacing, "isotropic": isotropic,
            "reference": reference}
    if isinstance(model, (str, Path)) or weights is not None:
        model = resolve_model(model, weights, options)
        options = {}
    if hasattr(model, "run") and callable(model.run):  # a Predictor
        if options:
            raise ConfigError(f"options {sorted(options)} are set on the Predictor, not here")
        return model.run(volume, **grid)
    if getattr(model, "upsampling", None) == "interpolation":
        if options:
            raise ConfigError(f"options {sorted(options)} do not apply to interpolation models")
        plan = plan_output_grid(volume.grid, **grid)
        from volsr.inference.preflight import check_interpolation_memory  # hardening #17

        check_interpolation_memory(volume.spatial_shape, plan.grid.shape, volume.channels,
                                   global_kind=getattr(model, "kind", None) not in _LOCAL_KINDS)
        data = _interpolate(volume, model, plan)
        return volume.with_data(data, plan.grid.affine.copy())
    if getattr(model, "upsampling", None) in ("pre", "post", "progressive"):
        from volsr.inference.predictor import Predictor

        return Predictor(model, **options).run(volume, **grid)
    raise ConfigError(f"{type(model).__name__} is neither an interpolation model, a network "
                      "nor a volsr Predictor")


def resolve_model(model: Any, weights: str | Path | None, options: dict[str, Any]) -> Any:
    """Interpolation model or Predictor for a name (+ weights)."""
    from volsr.inference.predictor import Predictor
    from volsr.models import create_model, model_entry
    from volsr.weights import resolve_bundled

    if isinstance(model, str) and model.lower() == "ssr":
        from volsr.ssr.infer_hook import ssr_predictor

        return ssr_predictor(weights, **options)
    if weights is not None:
        pred = Predictor.from_pretrained(weights, **options)
        if isinstance(model, str) and model not in ("default", pred.model_name) and (
                model.lower() != pred.model_name.lower()):
            raise ConfigError(f"model {model!r} does not match the weights, which are a "
                              f"{pred.model_name!r} network ({weights})")
        return pred
    name = str(model)
    if isinstance(model, Path) or resolve_bundled(name) is not None:
        return Predictor.from_pretrained(model, **options)
    entry = model_entry(name)
    if entry.info.get("upsampling") != "interpolation":
        raise ConfigError(f"model {name!r} is a network: pass its trained weights "
                          "(weights=PATH) or a volsr.Predictor")
    if options:
        raise ConfigError(f"options {sorted(options)} do not apply to interpolation models")
    return create_model(name)


_LOCAL_KINDS = ("nearest", "linear", "bspline", "lanczos")


def _interpolate(volume: Volume, model: Any, plan: GridPlan) -> np.ndarray:
    """Interpolate onto ``plan``: local kernels slab by slab into one output array (no
    full-size temporaries); the global Fourier interpolation in one piece."""
    kind = getattr(model, "kind", None)
    if kind in _LOCAL_KINDS:
        from volsr.inference.slabs import interpolate_in_slabs

        out = np.empty((volume.channels, *plan.grid.shape), dtype=np.float32)
        return interpolate_in_slabs(volume.data, plan.step, plan.offset, out, kind=kind)
    from volsr.inference.predictor import _per_channel

    return _per_channel(volume.data, lambda a: model.resample_linear(
        a, plan.step, plan.offset, plan.grid.shape)).astype(np.float32, copy=False)
