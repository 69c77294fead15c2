"""volsr: volumetric MRI/CT super-resolution with correct geometry.

The public API is small and loaded lazily (``import volsr`` does not import torch):

>>> import volsr
>>> {"Volume", "load_volume", "create_model", "super_resolve"} <= set(volsr.__all__)
True
"""

from __future__ import annotations

import importlib
from typing import Any

from volsr._version import __version__

_LAZY = {
    "Volume": "volsr.io",
    "load_volume": "volsr.io",
    "save_volume": "volsr.io",
    "super_resolve": "volsr.predictors",
    "load_predictor": "volsr.predictors",
    "Predictor": "volsr.inference",
    "create_model": "volsr.models",
    "list_models": "volsr.models",
    "evaluate": "volsr.metrics",
    "degrade_volume": "volsr.degrade",
    "phantom_volume": "volsr.phantom",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'volsr' has no attribute {name!r}")
