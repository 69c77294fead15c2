"""Methods of ``volsr benchmark``: names and folders turned into ``predict(lr, grid)``.

A method is given as one of:

* an interpolation baseline name (``bspline``, ``linear``, ``lanczos``, ...);
* ``default`` (or another bundled model name): the bundled network; when none is
  installed this fails with a clear message;
* ``ssr`` / ``ssr-nosaa``: self-super-resolution trained on each LR input itself
  (:func:`volsr.ssr.self_super_resolve`, with or without the anti-aliasing network) on
  a budget (``ssr_budget``, optionally ``ssr_steps`` / ``ssr_time_limit``);
* a training run folder, an exported weights folder, or a saved self-SR weights folder;
* ``LABEL=SPEC`` for any of these, to name the method in the report.

Every method is asked for an output on the truth's grid (``reference=``), so no method
gets an advantage from the output grid.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from volsr.errors import ConfigError, VolsrError
from volsr.geometry import Grid
from volsr.inference.protocol import VolumePredictor
from volsr.io.volume import Volume

__all__ = ["Method", "build_method", "parse_methods"]

log = logging.getLogger(__name__)

Predict = Callable[[Volume, Grid], Volume]


@dataclass
class Method:
    """A benchmark method.

    Attributes:
        label: name in tables and figures.
        spec: what the user wrote (name or folder).
        predict: ``predict(lr, reference_grid) -> Volume`` on ``reference_grid``.
        record: what the method is (model name, weights and sha256, settings).
    """

    label: str
    spec: str
    predict: Predict
    record: dict[str, Any] = field(default_factory=dict)


def parse_methods(text: str | list[str]) -> list[tuple[str, str]]:
    """Split ``"bspline,default,runs/x"`` (or a list of such strings) into
    ``(label, spec)`` pairs; ``LABEL=SPEC`` sets the label, else it is the name or the
    folder's name.

    Raises:
        ConfigError: no methods, or two methods with the same label.
    """
    items = text if isinstance(text, list) else [text]
    out: list[tuple[str, str]] = []
    for item in items:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            if "=" in part:
                label, spec = (s.strip() for s in part.split("=", 1))
            else:
                spec = part
                p = Path(spec)
                label = (p.parent.name if p.name == "model" and p.parent.name else p.name) \
                    if (p.exists() or "/" in spec) else spec
            if not label or not spec:
                raise ConfigError(f"bad method {part!r}; write NAME, FOLDER or LABEL=SPEC")
            out.append((label, spec))
    if not out:
        raise ConfigError("no methods given; e.g. --methods bspline,default,ssr")
    labels = [lab for lab, _ in out]
    dup = sorted({lab for lab in labels if labels.count(lab) > 1})
    if dup:
        raise ConfigError(f"method label(s) {', '.join(dup)} given twice; name them with "
                          "LABEL=SPEC")
    return out


def build_method(label: str, spec: str, *, device: Any = "cpu", ssr_budget: str = "fast",
                 ssr_steps: int | None = None, ssr_time_limit: float | None = None,
                 threads: int | None = None, seed: int = 0,
                 options: dict[str, Any] | None = None) -> Method:
    """Build one method once (weights are loaded here, not per case).

    Args:
        label: its name in the report.
        spec: interpolation name, ``default``/bundled name, ``ssr``/``ssr-nosaa``, or a
            run / weights / self-SR weights folder.
        device: torch device for networks.
        ssr_budget / ssr_steps / ssr_time_limit: training budget of ``ssr`` methods.
        threads: CPU threads for self-SR training (None: torch's setting).
        seed: self-SR seed.
        options: network predictor settings (patch_size, overlap, tta, ...).

    Raises:
        ConfigError: unknown name, ``default`` without a bundled model, bad folder.
    """
    from volsr.inference.records import InferSettings
    from volsr.predictors import load_predictor, resolve_settings

    opts = dict(options or {})
    low = spec.lower()
    if low in ("ssr", "ssr-nosaa"):
        from volsr.ssr.config import resolve_config

        resolve_config(ssr_budget, steps=ssr_steps, time_limit=ssr_time_limit)  # validate
        ssr = load_predictor("ssr", device=device, budget=ssr_budget, steps=ssr_steps,
                             time_limit=ssr_time_limit, saa=low == "ssr", seed=seed,
                             threads=threads)
        return Method(label, spec, _on_grid(ssr), ssr.record())

    path = Path(spec)
    if path.exists():
        from volsr.ssr.infer_hook import is_ssr_weights

        if not path.is_dir():
            raise ConfigError(f"method {spec!r}: give a run folder or weights folder, not a "
                              "file")
        model = "ssr" if is_ssr_weights(path) else None
        settings = InferSettings(model=model, weights=str(path), options=opts)
    elif "/" in spec or spec.startswith("."):
        raise ConfigError(f"method {spec!r}: no such folder")
    else:
        settings = InferSettings(model=spec, options=opts)
    try:
        predictor = load_predictor(settings.model, settings.weights, device=device, **opts)
    except VolsrError as exc:
        if spec.lower() == "default":
            raise ConfigError("method 'default': no bundled default model is installed in "
                              "this volsr; leave it out of --methods or give a training run "
                              "/ weights folder instead") from None
        raise type(exc)(f"method {spec!r}: {exc}") from None
    resolved = resolve_settings(settings, predictor)
    rec = {"name": resolved.model, "weights": resolved.weights,
           "weights_sha256": resolved.weights_sha256, "options": opts}
    info = predictor.record()
    if info:
        rec["predictor"] = {k: v for k, v in info.items() if k not in ("weights",)}
    return Method(label, spec, _on_grid(predictor), rec)


def _on_grid(predictor: VolumePredictor) -> Predict:
    """``predict(lr, grid)``: ``predictor`` asked for an output on ``grid``."""

    def predict(lr: Volume, grid: Grid) -> Volume:
        return predictor.run(lr, reference=grid)

    return predict
