"""The one front door from a model name to a predictor, and the Python API on top of it.

This module is the application layer: it sits above :mod:`volsr.inference` (which runs
predictors and knows no model names) and :mod:`volsr.ssr` (self-super-resolution), and
below the CLI. :func:`load_predictor` is the only place that turns what a user wrote
(``bspline``, ``default``, a bundled name, a network name with ``--weights``, ``ssr``
with or without saved weights) into a :class:`~volsr.inference.protocol.VolumePredictor`;
``volsr infer``, ``volsr benchmark``, ``volsr demo`` and :func:`super_resolve` use it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from volsr.errors import ConfigError
from volsr.geometry import Grid
from volsr.inference.protocol import VolumePredictor
from volsr.inference.records import InferSettings
from volsr.io.volume import Volume

__all__ = ["load_predictor", "resolve_settings", "super_resolve"]

log = logging.getLogger(__name__)


def load_predictor(spec: str | Path | None = None, weights: str | Path | None = None, *,
                   device: Any = "auto", **settings: Any) -> VolumePredictor:
    """The predictor for a model name and/or weights, built once.

    Args:
        spec: an interpolation baseline (``bspline``, ... see ``volsr models``), a bundled
            model name (``default``), a network name to check against ``weights``,
            ``ssr`` (self-SR: trained on each scan, or saved self-SR ``weights``), or a
            weights folder; None: the bundled default model if installed, else
            ``bspline``.
        weights: a weights folder or file, a training run folder, or a folder written by
            ``volsr ssr --save-weights``.
        device: compute device of networks (``auto``, ``cpu``, ``cuda[:N]``, ``mps``).
        **settings: window settings of networks (:class:`~volsr.inference.settings.WindowSettings`
            names, ``None`` values ignored); for per-scan self-SR also ``budget``,
            ``steps``, ``time_limit``, ``saa``, ``seed``, ``threads``.

    Raises:
        ConfigError: unknown name (with suggestions), a network name without weights, a
            name that does not match the weights, settings that do not apply.
        InputError: weights that cannot be read.

    Example:
        >>> load_predictor("linear").model_name
        'linear'
    """
    from volsr.inference.interpolate import InterpolationPredictor
    from volsr.inference.predictor import Predictor
    from volsr.models import create_model, list_models, model_entry
    from volsr.weights import resolve_bundled

    opts = {k: v for k, v in settings.items() if v is not None}
    name = None if spec is None else str(spec)
    if name is not None and name.lower() == "ssr":
        from volsr.ssr.infer_hook import per_scan_predictor, ssr_predictor

        if weights is not None:
            return ssr_predictor(weights, device=device, **opts)
        return per_scan_predictor(device=device, **opts)
    source = None if weights is None else str(weights)
    interpolation = name is not None and name.lower() in list_models(tag="interpolation")
    if source is None:
        if name is None:
            default = resolve_bundled("default")
            if default is not None:
                log.info("no --model given: using the bundled default model (%s)", default.name)
                source = str(default)
            else:
                log.info("no --model given and no bundled default model: using B-spline "
                         "interpolation")
                name, interpolation = "bspline", True
        elif isinstance(spec, Path):
            source = name
        elif not interpolation and resolve_bundled(name) is not None:
            source = str(resolve_bundled(name))
        elif name == "default":
            raise ConfigError("no bundled default model is installed; give --weights PATH or "
                              "an interpolation model (e.g. --model bspline)")
    if source is None:
        entry = model_entry(name or "bspline")  # unknown names: ConfigError with suggestions
        if entry.info.get("upsampling") != "interpolation":
            raise ConfigError(f"model {name!r} is a network: give its trained weights with "
                              "--weights PATH (a weights folder or a training run folder)")
        if opts:
            raise ConfigError(f"{', '.join(sorted(opts))} only apply to networks; {name!r} is "
                              "an interpolation baseline")
        return InterpolationPredictor(create_model(entry.name), entry.name)
    pred = Predictor.from_pretrained(source, device=device, **opts)
    if weights is not None and name is not None and name != "default" and (
            name.lower() != pred.model_name.lower()):
        raise ConfigError(f"--model {name} does not match the weights, which are a "
                          f"{pred.model_name!r} network ({weights})")
    return pred


def resolve_settings(settings: InferSettings, predictor: VolumePredictor) -> InferSettings:
    """``settings`` with the model name, weights folder and sha256 of ``predictor``
    filled in, as sidecars record them and ``--skip-existing`` compares them.

    Saved self-SR weights keep the folder as given and the sha256 over all its files.
    """
    from volsr.ssr.model import SSRModel

    if isinstance(predictor, SSRModel):
        from volsr.io import file_sha256

        sha = None if settings.weights is None else file_sha256(settings.weights)
        return replace(settings, model="ssr", weights_sha256=sha)
    rec = predictor.record()
    if rec.get("weights"):
        return replace(settings, model=predictor.model_name, weights=rec["weights"],
                       weights_sha256=rec["weights_sha256"])
    return replace(settings, model=predictor.model_name)


def super_resolve(
    volume: Volume | str | Path | np.ndarray | Any,
    model: str | Path | Any = "bspline",
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
        model: a name or weights folder for :func:`load_predictor` (an interpolation
            baseline, ``"default"``, a network name together with ``weights``, ``"ssr"``),
            a ready predictor (:class:`~volsr.inference.predictor.Predictor`, ...), an
            interpolation model object or a network module (run with default settings).
        scale / target_spacing / isotropic / reference: the output grid (exactly one;
            see :func:`volsr.inference.plan_output_grid`).
        weights: exported weights folder (or training run folder) for a network name.
        **options: settings for :func:`load_predictor` or a network module (device,
            patch_size, overlap, blend, sw_batch_size, tta, ...).

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
    return as_predictor(model, weights, options).run(
        volume, scale=scale, target_spacing=target_spacing, isotropic=isotropic,
        reference=reference)


def as_predictor(model: Any, weights: str | Path | None = None,
                 options: dict[str, Any] | None = None) -> VolumePredictor:
    """:func:`super_resolve`'s ``model`` argument as a predictor (see there)."""
    from volsr.inference.interpolate import InterpolationPredictor
    from volsr.inference.predictor import Predictor

    options = dict(options or {})
    if isinstance(model, (str, Path)) or weights is not None:
        return load_predictor(model, weights, **options)
    if isinstance(model, VolumePredictor):
        if options:
            raise ConfigError(f"options {sorted(options)} are set on the predictor, not here")
        return model
    kind = getattr(model, "upsampling", None)
    if kind == "interpolation":
        if options:
            raise ConfigError(f"options {sorted(options)} do not apply to interpolation models")
        return InterpolationPredictor(model)
    if kind in ("pre", "post", "progressive"):
        return Predictor(model, **options)
    raise ConfigError(f"{type(model).__name__} is neither an interpolation model, a network "
                      "nor a volsr predictor")
