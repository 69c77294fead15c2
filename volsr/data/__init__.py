"""The data layer of supervised training: manifests, training pairs, validation cases.

* :mod:`volsr.data.manifest`: MONAI-datalist-compatible JSON manifests
  (:func:`load_manifest`, :func:`write_manifest`, :func:`manifest_from_folder`) and
  :func:`check_manifest` (files exist, headers read, sha256, LR/HR field of view).
* :mod:`volsr.data.pairs`: :func:`build_training_dataset`, random LR/HR patch pairs
  synthesised on the fly (or cropped from real pairs), 3D or 2D, built from MONAI map
  transforms (:mod:`~volsr.data.transforms`, :mod:`~volsr.data.random_transforms`)
  plus allow-listed MONAI/torchio extras (:mod:`~volsr.data.registry`).
* :mod:`volsr.data.validation`: :func:`build_validation_cases`, whole-volume pairs.
* :mod:`volsr.data.normalize`: intensity normalisation with an exact inverse.

Names are loaded lazily, so ``import volsr.data`` does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Case": "volsr.data.manifest",
    "Manifest": "volsr.data.manifest",
    "load_manifest": "volsr.data.manifest",
    "write_manifest": "volsr.data.manifest_build",
    "manifest_from_folder": "volsr.data.manifest_build",
    "CaseCheck": "volsr.data.check",
    "CheckReport": "volsr.data.check",
    "check_manifest": "volsr.data.check",
    "PairDataset": "volsr.data.pairs",
    "build_training_dataset": "volsr.data.pairs",
    "ValCase": "volsr.data.validation",
    "build_validation_cases": "volsr.data.validation",
    "Normalization": "volsr.data.normalize",
    "fit_normalization": "volsr.data.normalize",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'volsr.data' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
