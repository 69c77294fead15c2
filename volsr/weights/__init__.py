"""Bundled pretrained models shipped inside the package.

Each bundled model is a subfolder ``volsr/weights/<name>/`` holding ``model.safetensors``,
``model.json`` (see :mod:`volsr.checkpoint`) and ``MODEL_CARD.md``. The one-line text file
``volsr/weights/DEFAULT`` names the folder that the alias ``"default"`` stands for; without
it there is no default (``volsr infer`` then falls back to B-spline interpolation).

Example:
    >>> from volsr.weights import resolve_bundled
    >>> resolve_bundled("no-such-model") is None
    True
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

#: Where bundled models are searched (tests point this elsewhere).
WEIGHTS_ROOT = Path(__file__).resolve().parent
DEFAULT_ALIAS = "default"
_META = "model.json"


def bundled_models() -> dict[str, Path]:
    """Bundled models by folder name (folders under :data:`WEIGHTS_ROOT` with ``model.json``).

    The ``"default"`` alias is not listed; see :func:`default_model_name`.
    """
    root = Path(WEIGHTS_ROOT)
    if not root.is_dir():
        return {}
    return {p.name: p for p in sorted(root.iterdir())
            if p.is_dir() and not p.name.startswith((".", "_")) and (p / _META).is_file()}


def default_model_name() -> str | None:
    """Name in ``WEIGHTS_ROOT/DEFAULT`` if that bundled model exists, else None."""
    marker = Path(WEIGHTS_ROOT) / "DEFAULT"
    if not marker.is_file():
        return None
    name = marker.read_text(encoding="utf-8").strip()
    if not name:
        return None
    if name not in bundled_models():
        log.warning("volsr/weights/DEFAULT names %r, which is not a bundled model", name)
        return None
    return name


def resolve_bundled(name: str) -> Path | None:
    """Folder of bundled model ``name`` (or of the default for ``"default"``), else None."""
    if name == DEFAULT_ALIAS:
        name = default_model_name() or ""
        if not name:
            return None
    return bundled_models().get(name)


__all__ = ["DEFAULT_ALIAS", "WEIGHTS_ROOT", "bundled_models", "default_model_name",
           "resolve_bundled"]
