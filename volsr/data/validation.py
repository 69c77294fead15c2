"""Validation cases: whole LR/HR volume pairs, evaluated with sliding-window inference.

For a case with a real ``lr`` file the pair is the two files as they are. Otherwise the
LR volume is synthesised from the HR volume exactly as training patches are: the HR
volume is normalised with its own fit, degraded (random specs are sampled once per case
from ``[seed, crc32(case id)]``; relative noise is scaled by the whole volume's
reference intensity) and mapped back to the HR units with the inverse normalisation.
So the validation set is the same in every run and on every rank, and both volumes are
in the HR volume's units: the engine normalises the LR input as at inference and
compares in HR units.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from volsr.config import DataConfig
from volsr.data.loading import load_case_file
from volsr.data.manifest import load_manifest
from volsr.data.normalize import fit_normalization
from volsr.data.patches import noise_reference, resolve_noise
from volsr.data.volumes import build_compose, case_seed, degradation_specs
from volsr.errors import ConfigError
from volsr.io import Volume

__all__ = ["ValCase", "build_validation_cases"]

log = logging.getLogger(__name__)


@dataclass
class ValCase:
    """One validation pair.

    Attributes:
        id: Case id.
        lr: The LR input volume (its own grid and affine).
        hr: The HR reference volume.
        params: The degradation applied to the normalised HR volume (a rebuildable spec),
            or ``{"name": "paired"}``.
        modality: Case modality from the manifest, or None.
    """

    id: str
    lr: Volume
    hr: Volume
    params: dict[str, Any] = field(default_factory=dict)
    modality: str | None = None


def build_validation_cases(data_cfg: DataConfig, manifest_path: str | Path, *, seed: int = 0,
                           split: str = "validation",
                           model_scale: Sequence[float] | None = None,
                           multiple_of: Sequence[int] | None = None) -> list[ValCase]:
    """Load (and, without a real LR file, degrade) every case of a manifest split.

    Args:
        data_cfg: ``ExperimentConfig.data`` (its ``degradation``; ``mode`` is ignored:
            cases are whole 3D volumes).
        manifest_path: The manifest.
        seed: Seed of the per-case degradation draws.
        split: Manifest split.
        model_scale: Model scale (x, y, z); only used when ``data_cfg.degradation`` is
            empty, for the default degradation.
        multiple_of: Crop the HR volume (from the far end of each axis, keeping the
            affine) to a multiple of these voxel counts before degrading, e.g. the
            integer factors of a post-upsampling model, so that LR x factor = HR size.

    Returns:
        One :class:`ValCase` per case (empty list when the split is empty).

    Raises:
        ConfigError, InputError: bad manifest, specs or files.
    """
    manifest = load_manifest(manifest_path)
    cases = manifest.cases(split)
    compose = None
    spec = {"name": data_cfg.normalization.name, **data_cfg.normalization.kwargs}
    if any(c.lr is None for c in cases):
        compose = build_compose(degradation_specs(data_cfg.degradation, model_scale))
    out = []
    for case in cases:
        hr = load_case_file(case.hr)
        if case.lr is not None:
            out.append(ValCase(case.id, load_case_file(case.lr), hr, {"name": "paired"},
                               case.modality))
            continue
        if multiple_of is not None:
            hr = _crop_multiple(hr, multiple_of, case.id)
        norm = fit_normalization(hr.data, spec)
        hr_n = hr.with_data(np.asarray(norm.forward(hr.data), dtype=np.float32))
        rng = np.random.default_rng(case_seed(case.id, seed))
        det = compose.sample(rng)  # type: ignore[union-attr]
        det = resolve_noise(det, functools.partial(noise_reference, hr_n.data))
        lr_n = det.apply_volume(hr_n)
        lr = lr_n.with_data(np.asarray(norm.inverse(lr_n.data), dtype=np.float32))
        out.append(ValCase(case.id, lr, hr, det.params, case.modality))
        log.debug("validation case %s: %s -> %s", case.id, hr.describe(), lr.describe())
    return out


def _crop_multiple(hr: Volume, multiple_of: Sequence[int], case_id: str) -> Volume:
    m = np.atleast_1d(np.asarray(multiple_of, dtype=np.int64))
    m = np.repeat(m, 3) if m.size == 1 else m
    if m.shape != (3,) or np.any(m < 1):
        raise ConfigError(f"multiple_of needs 1 or 3 positive integers, got {list(multiple_of)}")
    shape = np.asarray(hr.spatial_shape)
    keep = shape // m * m
    if np.any(keep == 0):
        raise ConfigError(f"validation case {case_id!r} ({hr.describe()}) is smaller than "
                          f"{m.tolist()} voxels")
    if np.array_equal(keep, shape):
        return hr
    data = np.ascontiguousarray(hr.data[:, :keep[0], :keep[1], :keep[2]])
    return hr.with_data(data)
