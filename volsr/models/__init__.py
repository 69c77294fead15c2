"""The model registry: interpolation baselines and networks under one set of names.

Every entry declares its spatial dims and its upsampling kind:

* ``"interpolation"``: a fixed resampling kernel (nearest, linear, B-spline, ...);
* ``"pre"``: a network that refines an input already interpolated to the output grid
  (SRCNN, VDSR, DCSRN, ...), so any per-axis, non-integer factor works;
* ``"post"``: a network that upsamples inside (sub-pixel / transposed conv), trained for
  fixed integer factors;
* ``"progressive"``: a network that upsamples in x2 stages (LapSRN).

Example:
    >>> from volsr.models import create_model, list_models
    >>> "bspline" in list_models()
    True
    >>> create_model("bspline").upsampling
    'interpolation'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from volsr._registry import Entry, Registry

UpsamplingKind = Literal["interpolation", "pre", "post", "progressive"]
UPSAMPLING_KINDS = ("interpolation", "pre", "post", "progressive")

MODELS: Registry[Any] = Registry("model")

# Families are imported on first use so that `import volsr` stays light; each module
# registers its entries with @register_model when imported.
_FAMILY_MODULES = ("volsr.models.interpolation", "volsr.models.networks")
_loaded = False


def register_model(
    name: str,
    *,
    dims: int,
    upsampling: UpsamplingKind,
    family: str,
    paper: str = "",
    tags: Iterable[str] = (),
    test_kwargs: Mapping[str, Any] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a model factory with its dims, upsampling kind, family and paper.

    ``test_kwargs``: overrides giving a small variant for the registry-wide tests
    (networks must declare them, see
    :func:`~volsr.models.networks._base.register_network`); kept in ``info``.
    """
    if upsampling not in UPSAMPLING_KINDS:
        raise ValueError(f"upsampling must be one of {UPSAMPLING_KINDS}, got {upsampling!r}")
    extra = {} if test_kwargs is None else {"test_kwargs": dict(test_kwargs)}
    return MODELS.register(
        name,
        tags={f"{dims}d", upsampling, family, *tags},
        dims=dims,
        upsampling=upsampling,
        family=family,
        paper=paper,
        **extra,
    )


def _ensure_loaded() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for mod in _FAMILY_MODULES:
            try:
                importlib.import_module(mod)
            except ModuleNotFoundError as exc:
                if exc.name != mod:
                    raise


def create_model(name: str, **kwargs: Any) -> Any:
    """Build a registered model; ``None`` kwargs are dropped so model defaults stay in force."""
    _ensure_loaded()
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    return MODELS.build(name, **kwargs)


def list_models(pattern: str = "*", *, tag: str | None = None) -> list[str]:
    """Registered names matching an fnmatch pattern (e.g. ``"*_3d"``) and optional tag."""
    _ensure_loaded()
    return MODELS.names(pattern, tag=tag)


def model_entry(name: str) -> Entry[Any]:
    """Registry entry (factory, tags and info: dims, upsampling, family, paper)."""
    _ensure_loaded()
    return MODELS.entry(name)


__all__ = [
    "MODELS",
    "UPSAMPLING_KINDS",
    "UpsamplingKind",
    "create_model",
    "list_models",
    "model_entry",
    "register_model",
]
