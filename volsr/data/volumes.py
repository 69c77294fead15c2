"""Case seeds, the LR/HR voxel map of a real pair, and resolving degradation specs.

Torch-free: used by both the training datasets (:mod:`volsr.data.pairs`,
:mod:`volsr.data.transforms`) and the validation cases (:mod:`volsr.data.validation`).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from volsr.config import Spec
from volsr.degrade import Compose, build_degradation
from volsr.errors import ConfigError, InputError
from volsr.io import Volume

__all__ = [
    "build_compose",
    "case_seed",
    "default_degradation",
    "degradation_specs",
    "pair_map",
]

log = logging.getLogger(__name__)


def case_seed(case_id: str, seed: int = 0) -> list[int]:
    """Seed entropy of a case (stable across processes, unlike ``hash``)."""
    return [int(seed), zlib.crc32(case_id.encode("utf-8"))]


def pair_map(hr: Volume, lr: Volume) -> tuple[np.ndarray, np.ndarray]:
    """``(step, offset)`` mapping HR voxel indices to LR continuous indices per axis.

    Raises:
        InputError: the LR voxel axes are rotated, permuted or flipped relative to HR
            (only axis-aligned pairs are supported).
    """
    m = np.linalg.inv(lr.affine) @ hr.affine
    lin = m[:3, :3]
    diag = np.diag(lin).copy()
    if (np.abs(lin - np.diag(diag)).max() > 1e-4 * max(1.0, float(np.abs(diag).max()))
            or np.any(diag <= 0)):
        raise InputError("the LR volume's voxel axes are not aligned with the HR volume's "
                         "(rotated, permuted or flipped); paired training supports "
                         "axis-aligned pairs only — resample one onto the other's axes first",
                         path=lr.meta.path)
    return diag, m[:3, 3].copy()


def _spec_dict(spec: Spec | Mapping[str, Any] | None) -> dict[str, Any] | None:
    if spec is None:
        return None
    if isinstance(spec, Spec):
        return {"name": spec.name, **spec.kwargs}
    return dict(spec)


def default_degradation(model_scale: Sequence[float]) -> list[dict[str, Any]]:
    """Degradation used when the config gives none, from the model scale (x, y, z).

    One upsampled axis: thick slices along it (Gaussian profile, FWHM = factor); several:
    Gaussian blur (FWHM = factor) + downsampling. All factors 1: no degradation.
    """
    s = np.asarray(model_scale, dtype=np.float64)
    axes = [a for a in range(3) if s[a] > 1.0 + 1e-9]
    if not axes:
        return []
    if len(axes) == 1:
        return [{"name": "thick_slice", "axis": axes[0], "factor": float(s[axes[0]]),
                 "profile": "gaussian"}]
    return [{"name": "gaussian_blur_downsample", "factor": [max(1.0, float(v)) for v in s]}]


def degradation_specs(degradation: Sequence[Spec | Mapping[str, Any]],
                      model_scale: Sequence[float] | None) -> list[dict[str, Any]]:
    """Spec dicts from ``DataConfig.degradation`` (or the default for ``model_scale``).

    Raises:
        ConfigError: no degradation given and no model scale to derive one from.
    """
    specs = [_spec_dict(s) for s in degradation]
    if specs:
        return specs  # type: ignore[return-value]
    if model_scale is None:
        raise ConfigError("data.degradation is empty and no model scale was given to "
                          "derive the default degradation from")
    specs = default_degradation(model_scale)
    if not specs:
        raise ConfigError(f"data.degradation is empty and the model scale "
                          f"{list(model_scale)} is 1 on every axis: LR would equal HR; "
                          "give a degradation (e.g. noise)")
    log.info("data.degradation is empty; using the default for scale %s: %s",
             list(model_scale), specs)
    return specs


def build_compose(specs: Sequence[Mapping[str, Any]]) -> Compose:
    """A :class:`~volsr.degrade.Compose` of the (non-empty) specs."""
    deg = build_degradation([dict(s) for s in specs])
    return deg if isinstance(deg, Compose) else Compose([deg])
