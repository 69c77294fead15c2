"""``volsr infer --model ssr --weights DIR``: saved self-SR weights as a Predictor-like object.

The inference runner needs ``predictor(volume, **grid) -> Volume`` (also ``.run``),
``.record() -> dict`` (with ``weights`` and ``weights_sha256``) and ``.model_name``;
:class:`~volsr.ssr.model.SSRModel` provides all three. Wiring (in
``volsr.inference.runner.build_predictor`` and ``volsr.inference.api.resolve_model``):
when the model name is ``"ssr"``, build the predictor with :func:`ssr_predictor` instead
of ``Predictor.from_pretrained``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from volsr.errors import ConfigError
from volsr.ssr.model import META_FILE, SSRModel

__all__ = ["is_ssr_weights", "ssr_predictor"]

_NOT_APPLICABLE = {"patch_size": "--patch", "overlap": "--overlap", "blend": "blend",
                   "sw_batch_size": "--sw-batch-size", "halo": "halo", "amp": "amp",
                   "normalization": "normalization"}


def is_ssr_weights(path: str | Path) -> bool:
    """True when ``path`` is a folder written by ``volsr ssr --save-weights``."""
    return (Path(path) / META_FILE).is_file()


def ssr_predictor(weights_dir: str | Path | None, **opts: Any) -> SSRModel:
    """Load saved self-SR weights for the inference runner.

    Args:
        weights_dir: folder written by ``volsr ssr --save-weights`` /
            :meth:`SSRModel.save`.
        **opts: ``device`` (default ``auto``), ``fusion`` (``fba``/``average``),
            ``orientations`` (2/4), ``tta`` (True = 4 orientations, each stack also
            flipped). Sliding-window options do not apply (each 2D slice is processed
            whole) and are refused; ``None`` values are ignored.

    Returns:
        An :class:`SSRModel` (``model(volume, **grid)``, ``.run``, ``.record()``).

    Raises:
        ConfigError: no weights folder given, or options that do not apply.
        InputError: not a self-SR weights folder.
    """
    if weights_dir is None:
        raise ConfigError("--model ssr needs --weights DIR (a folder written by 'volsr ssr "
                          "--save-weights DIR')")
    opts = {k: v for k, v in opts.items() if v is not None}
    bad = [_NOT_APPLICABLE[k] for k in sorted(opts) if k in _NOT_APPLICABLE]
    if bad:
        raise ConfigError(f"{', '.join(bad)}: not used by --model ssr (it runs its 2D networks "
                          "on whole slices)")
    tta = opts.pop("tta", None)
    unknown = sorted(set(opts) - {"device", "fusion", "orientations"})
    if unknown:
        raise ConfigError(f"unknown option(s) for --model ssr: {', '.join(unknown)}")
    orientations = opts.get("orientations") or (4 if tta else None)
    return SSRModel.load(weights_dir, device=opts.get("device", "auto"),
                         fusion=opts.get("fusion"), orientations=orientations)
