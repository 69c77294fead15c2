"""``volsr infer --adapt``: a predictor that fine-tunes its network on each scan first.

:class:`AdaptingPredictor` wraps the :class:`~volsr.inference.predictor.Predictor` that
``volsr infer`` would run (a bundled model, ``--model NAME`` or ``--weights DIR``); its
network must take an output grid (``any_factor`` 2D networks such as ``lraxis_2d``). Per
scan it runs :func:`volsr.adapt.scan.adapt_to_scan`, then the normal inference path with
the adapted network (or the pretrained one when adaptation did not help), so the output
grid and affine are exactly those of the non-adapted run. ``record()`` describes the last
run's adaptation (the sidecar's ``predictor.adaptation``); ``save_weights`` writes the
adapted network as a weights folder that ``volsr infer OTHER --weights DIR`` loads.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from volsr.adapt.scan import AdaptSettings, adapt_to_scan
from volsr.errors import ConfigError
from volsr.geometry import Grid
from volsr.inference.predictor import Predictor
from volsr.io.volume import Volume

__all__ = ["AdaptingPredictor", "adapting_predictor", "check_adaptable"]

log = logging.getLogger(__name__)


def check_adaptable(predictor: Any) -> Predictor:
    """``predictor`` if its network can be adapted, else one clear ConfigError."""
    net = getattr(predictor, "model", None)
    if (not isinstance(predictor, Predictor) or predictor.spatial_dims != 2
            or not getattr(net, "any_factor", False)):
        name = getattr(predictor, "model_name", type(predictor).__name__)
        raise ConfigError(f"--adapt fine-tunes a 2D network that takes an output grid "
                          f"(any_factor, e.g. lraxis_2d); {name!r} is not one: give such a "
                          "model with --model NAME or --weights DIR")
    return predictor


class AdaptingPredictor:
    """Fine-tune on each scan, then super-resolve it (see the module docstring).

    Args:
        base: the pretrained predictor (:func:`check_adaptable`).
        settings: budget and guards (:class:`~volsr.adapt.scan.AdaptSettings`).
        save_weights: folder for the adapted network (written after each run).

    Attributes:
        last_adaptation: the record of the last run (None before the first).
        last_predictor: the predictor the last run applied.
    """

    def __init__(self, base: Predictor, settings: AdaptSettings | None = None, *,
                 save_weights: str | Path | None = None) -> None:
        self.base = check_adaptable(base)
        self.settings = settings or AdaptSettings()
        self.save_weights = None if save_weights is None else Path(save_weights)
        self.last_adaptation: dict[str, Any] | None = None
        self.last_predictor: Predictor | None = None
        self.last_memory_plan: Any = None

    @property
    def model_name(self) -> str:
        return self.base.model_name

    @property
    def spatial_dims(self) -> int:
        return 3  # volumes only: in-plane pairs need a thick-slice scan

    @property
    def native_scale(self) -> tuple[float, ...]:
        return self.base.native_scale

    def record(self) -> dict[str, Any]:
        """The base model's record plus ``adaptation`` (the last run's) and the settings."""
        rec = dict(self.base.record())
        rec["adapt"] = self.settings.to_dict()
        rec["adaptation"] = self.last_adaptation
        if self.last_adaptation is not None:
            rec["warnings"] = list(self.last_adaptation.get("warnings", []))
        return rec

    def __call__(self, volume: Volume, **grid: Any) -> Volume:
        return self.run(volume, **grid)

    def run(self, volume: Volume, *, scale: float | Sequence[float] | None = None,
            target_spacing: float | Sequence[float] | None = None, isotropic: bool = False,
            reference: Grid | None = None, max_memory: int | None = None,
            scratch_dir: str | Path | None = None) -> Volume:
        """Adapt to ``volume``, then run the (adapted) network on it like
        :meth:`Predictor.run` (same grid options, same output grid)."""
        from volsr.inference.grid import plan_output_grid

        if scale is not None or target_spacing is not None or reference is not None:
            plan_output_grid(volume.grid, scale=scale, target_spacing=target_spacing,
                             isotropic=isotropic, reference=reference)  # fail before training
        self.last_adaptation = None
        settings = self.settings
        if settings.precision == "auto" and self.base.window.precision == "fp32":
            settings = replace(settings, precision="fp32")  # --precision fp32: all of it
        res = adapt_to_scan(volume, self.base.model, self.base.normalization, settings,
                            device=self.base.device)
        pred = self.base
        if res.net is not self.base.model:
            pred = Predictor(res.net, model_name=self.base.model_name,
                             normalization=self.base.normalization, scale=self.base.scale,
                             window=self.base.window, weights=self.base.weights,
                             through_plane_axis=self.base.through_plane_axis)
        out = pred.run(volume, scale=scale, target_spacing=target_spacing, isotropic=isotropic,
                       reference=reference, max_memory=max_memory, scratch_dir=scratch_dir)
        self.last_memory_plan = pred.last_memory_plan
        self.last_predictor = pred
        record = dict(res.record)
        if self.save_weights is not None:
            record["saved_weights"] = str(self.write_weights(self.save_weights, pred, record))
        self.last_adaptation = record
        return out

    def write_weights(self, folder: str | Path, pred: Predictor, record: dict[str, Any]
                      ) -> Path:
        """Save ``pred``'s network as a weights folder (``volsr infer --weights``), with the
        base weights' inference defaults and the adaptation record as training provenance."""
        from volsr.checkpoint import save_weights

        meta = self.base.weights
        inference = dict(getattr(meta, "inference", None) or {})
        start = None if meta is None else {"path": str(meta.folder), "sha256": meta.sha256}
        training = {"adapted_from": start,
                    "adaptation": {k: v for k, v in record.items() if k != "saved_weights"}}
        return save_weights(pred.model, folder, model_name=self.base.model_name,
                            normalization=self.base.normalization, inference=inference,
                            training=training, scale=list(self.base.scale))


def adapting_predictor(base: Any, *, seconds: float | None = None, profile: str | None = None,
                       save_weights: str | Path | None = None, **settings: Any
                       ) -> AdaptingPredictor:
    """Wrap what :func:`volsr.predictors.load_predictor` built for ``--adapt``.

    Args:
        base: the pretrained predictor.
        seconds: fine-tune budget (default :class:`AdaptSettings`'s).
        profile: ``auto`` (default), ``rect`` or ``gaussian``.
        save_weights: folder to write the adapted network into.
        **settings: further :class:`AdaptSettings` fields (``lr``, ``l2sp``, ``steps``, ...).

    Raises:
        ConfigError: a model that cannot be adapted, bad settings, or a ``save_weights``
            path that is a file or whose parent is missing.
    """
    opts = {k: v for k, v in dict(settings, seconds=seconds, profile=profile).items()
            if v is not None}
    unknown = sorted(set(opts) - set(AdaptSettings.__dataclass_fields__))
    if unknown:
        raise ConfigError(f"unknown adaptation setting(s): {', '.join(unknown)}")
    if save_weights is not None:
        folder = Path(save_weights)
        if folder.exists() and not folder.is_dir():
            raise ConfigError(f"--save-weights {folder}: is a file, not a folder")
        if not folder.parent.exists():
            raise ConfigError(f"--save-weights {folder}: the parent folder does not exist")
    return AdaptingPredictor(base, AdaptSettings(**opts), save_weights=save_weights)
