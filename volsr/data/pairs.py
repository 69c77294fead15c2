"""Training pairs for supervised super-resolution: a map-style torch Dataset.

Each item is one random patch pair, fully determined by ``(seed, epoch, index)``:

1. the volume is ``(index // patches_per_volume) % n_volumes``;
2. a numpy Generator seeded with ``[seed, epoch, index]`` draws, in order, the
   degradation parameters (random specs are sampled per patch), the patch position
   (centred on foreground with probability ``foreground_sampling``) and the augmentation;
3. synthetic LR: the HR region around the patch, normalised with the HR volume's fit
   (so background is ~0 for MR and CT alike, as Rician noise assumes), is degraded and
   reduced to the network input (see :mod:`volsr.data.patches`); relative noise is
   scaled by the whole volume's reference intensity, not the patch's. Real LR (a
   manifest case with ``lr``), normalised with the HR fit too: the matching LR voxels
   are cropped through the world-coordinate map ``inv(lr.affine) @ hr.affine``
   (axis-aligned pairs only);
4. random flips (any patch axis) and a rot90 only in planes whose two axes have the same
   LR/HR scale and HR voxel size (the thick-slice axis never swaps with an in-plane
   axis).

Worker and rank do not enter the seed: the same index gives the same pair whatever the
number of DataLoader workers or GPUs, and ``DistributedSampler`` hands each rank
different indices. Call :meth:`PairDataset.set_epoch` for fresh patches each epoch (or
pass a ``length`` covering the whole run).

Memory: with ``cache: true`` every (normalised) training volume is kept as float32
(4 bytes per voxel and channel, e.g. 140 MB for a 512 x 512 x 134 CT) plus up to 100k foreground
coordinates (1.2 MB). :func:`build_training_dataset` loads them all up front, so forked
DataLoader workers share the pages instead of loading their own copies. With
``cache: false`` only the most recently used volume is kept per process (indices of one
volume are consecutive, so a sequential order reloads rarely; a shuffled one often).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from volsr.config import DataConfig
from volsr.data.manifest import Case, load_manifest
from volsr.data.patches import (
    PAIRED_LR_MARGIN,
    apply_augment,
    crop,
    draw_augment,
    noise_kinds,
    pair_margin,
    patch_start,
    post_factor,
    resample_channels,
    resolve_noise,
    rot_planes,
    synthesize_lr,
)
from volsr.data.slices import in_plane_axes, patch_shape_3d, scale_3d, squeeze_slice
from volsr.data.volumes import (
    TrainingVolume,
    build_compose,
    degradation_specs,
    load_training_volume,
)
from volsr.errors import ConfigError, InputError

__all__ = ["PairDataset", "build_training_dataset"]

log = logging.getLogger(__name__)

UPSAMPLINGS = ("pre", "post", "progressive")


class PairDataset(Dataset):
    """Random LR/HR patch pairs drawn from manifest cases (see the module docstring).

    Args:
        cases: Manifest cases to draw from.
        data_cfg: Data settings (patch size, mode, degradation, normalisation, ...).
        upsampling: ``"pre"`` (input interpolated onto the HR patch grid), ``"post"`` or
            ``"progressive"`` (input is the LR patch; fixed integer ``model_scale``).
        model_scale: Per-axis model factor(s) (x, y, z); binding for post models, used
            for the default degradation otherwise.
        seed: Base seed.
        rank, world_size: Distributed position (recorded; sampling depends only on
            ``(seed, epoch, index)``).
        length: Items per epoch; default ``patches_per_volume * len(cases)``.

    Items are dicts: ``"lr"`` and ``"hr"`` float32 tensors ``(C, *spatial)`` (3 spatial
    axes in 3D mode, 2 in 2D mode), ``"params"`` (JSON of the applied degradation, a spec
    :func:`volsr.degrade.build_degradation` rebuilds; ``{"name": "paired"}`` for real LR)
    and ``"meta"`` (JSON: case id, index, epoch, HR patch start, augmentation). The
    degradation params act on normalised intensities (noise sigma made absolute).
    """

    def __init__(self, cases: Sequence[Case], data_cfg: DataConfig, *, upsampling: str,
                 model_scale: float | Sequence[float] | None, seed: int, rank: int = 0,
                 world_size: int = 1, length: int | None = None) -> None:
        if upsampling not in UPSAMPLINGS:
            raise ValueError(f"upsampling must be one of {UPSAMPLINGS}, got {upsampling!r}")
        if not cases:
            raise ConfigError("no training cases to draw patches from")
        if not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank {rank}, world_size "
                             f"{world_size}")
        self.cases = list(cases)
        self.cfg = data_cfg
        self.upsampling = "pre" if upsampling == "pre" else "post"
        self.seed, self.rank, self.world_size = int(seed), int(rank), int(world_size)
        self.epoch = 0
        self.mode, self.slice_axis = data_cfg.mode, int(data_cfg.slice_axis)
        self.patch = np.asarray(patch_shape_3d(data_cfg.patch_size, self.mode, self.slice_axis),
                                dtype=np.int64)
        self.axes = in_plane_axes(self.mode, self.slice_axis)
        self.model_scale = (None if model_scale is None
                            else scale_3d(model_scale, self.mode, self.slice_axis))
        self.length = (data_cfg.patches_per_volume * len(self.cases) if length is None
                       else int(length))
        if self.length < 1:
            raise ValueError(f"length must be >= 1, got {self.length}")
        self.post_f: np.ndarray | None = None
        if self.upsampling == "post":
            if self.model_scale is None:
                raise ValueError("post-upsampling models need model_scale")
            self.post_f = post_factor(1.0 / self.model_scale, np.rint(self.model_scale),
                                      "model_scale (post models need whole factors)")
            if np.any(self.patch % self.post_f):
                raise ValueError(f"HR patch size {self.patch.tolist()} must be divisible by "
                                 f"the model scale {self.post_f.tolist()}")
        self.specs = degradation_specs(data_cfg.degradation, self.model_scale)
        self.compose = build_compose(self.specs)
        self._noise_kinds = noise_kinds(self.compose)
        if self.post_f is not None and any(c.lr is None for c in self.cases):
            det = self.compose.sample(np.random.default_rng(self.seed))
            post_factor(det.output_scale(tuple(self.patch)), self.post_f,
                        "data.degradation")
        self._cache: dict[int, TrainingVolume] = {}

    # ----------------------------------------------------------------- volumes

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        """Draw different patches in epoch ``epoch`` (same index, new pair)."""
        self.epoch = int(epoch)

    def volume(self, k: int) -> TrainingVolume:
        """Case ``k`` loaded (cached per ``cfg.cache``: all volumes, else the last one)."""
        vol = self._cache.get(k)
        if vol is None:
            vol = load_training_volume(self.cases[k], self.cfg.normalization,
                                       noise_kinds=sorted(self._noise_kinds))
            if not self.cfg.cache:
                self._cache.clear()
            self._cache[k] = vol
        return vol

    def preload(self) -> int:
        """Load every case now (when caching); returns the bytes held."""
        if not self.cfg.cache:
            return 0
        total = sum(self.volume(k).nbytes for k in range(len(self.cases)))
        log.info("cached %d training volume(s): %.1f MB", len(self.cases), total / 2**20)
        return total

    # ----------------------------------------------------------------- items

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.sample(int(index))
        return {"lr": torch.from_numpy(item["lr"]), "hr": torch.from_numpy(item["hr"]),
                "params": item["params"], "meta": item["meta"]}

    def sample(self, index: int) -> dict[str, Any]:
        """Item ``index`` as numpy arrays (same content as ``dataset[index]``)."""
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} items")
        k = (index // self.cfg.patches_per_volume) % len(self.cases)
        vol = self.volume(k)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        if vol.lr is None:
            hr, lr, scale, params, start = self._synthetic(vol, rng)
        else:
            hr, lr, scale, start = self._paired(vol, rng)
            params = {"name": "paired", "lr": str(vol.case.lr)}
        planes = rot_planes(self.axes, self.patch, scale, vol.spacing)
        aug = draw_augment(rng, flip=self.cfg.augment.flip, rot90=self.cfg.augment.rot90,
                           axes=self.axes, planes=planes)
        hr = apply_augment(hr, aug).astype(np.float32, copy=False)
        lr = apply_augment(lr, aug).astype(np.float32, copy=False)
        meta = {"case": vol.case.id, "index": index, "epoch": self.epoch,
                "start": [int(v) for v in start], **aug.to_dict()}
        return {"lr": squeeze_slice(lr, self.mode, self.slice_axis),
                "hr": squeeze_slice(hr, self.mode, self.slice_axis),
                "params": json.dumps(params), "meta": json.dumps(meta)}

    def _synthetic(self, vol: TrainingVolume, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any], np.ndarray]:
        det = resolve_noise(self.compose.sample(rng), vol.reference)
        margin = pair_margin(det, self.patch, self.post_f)
        start = patch_start(rng, vol.hr.shape[1:], self.patch, margin, vol.fg,
                            self.cfg.foreground_sampling)
        region = crop(vol.hr, start - margin, self.patch + 2 * margin)
        lr, _, scale = synthesize_lr(region, det, margin, self.patch, self.upsampling,
                                     self.post_f)
        inner = tuple(slice(int(m), int(m + p)) for m, p in zip(margin, self.patch))
        hr = np.ascontiguousarray(region[(slice(None), *inner)])
        return hr, lr, scale, det.params, start

    def _paired(self, vol: TrainingVolume, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        assert vol.lr is not None and vol.lr_step is not None and vol.lr_offset is not None
        step, off, p = vol.lr_step, vol.lr_offset, self.patch
        n_hr = np.asarray(vol.hr.shape[1:], dtype=np.int64)
        start = patch_start(rng, n_hr, p, np.zeros(3, np.int64), vol.fg,
                            self.cfg.foreground_sampling)
        if self.post_f is not None:
            f = post_factor(step, self.post_f, f"the real LR/HR pair of case {vol.case.id!r}")
            b = (-0.5 - off) * f + 0.5  # HR index where LR voxel 0 begins
            if not np.allclose(b, np.rint(b), atol=1e-3):
                raise InputError(f"case {vol.case.id!r}: LR voxels do not tile the HR grid "
                                 f"(LR voxel 0 starts at HR index {np.round(b, 4).tolist()});"
                                 " post-upsampling models need aligned grids",
                                 path=vol.case.lr)
            b = np.rint(b).astype(np.int64)
            n_lr = np.asarray(vol.lr.shape[1:], dtype=np.int64)
            lo = np.maximum(0, -(b // f))
            hi = np.minimum(n_lr - p // f, (n_hr - p - b) // f)
            if np.any(hi < lo):
                raise InputError(f"case {vol.case.id!r}: the LR/HR overlap is smaller than "
                                 f"the patch {p.tolist()}", path=vol.case.lr)
            q = np.clip(np.rint((start - b) / f).astype(np.int64), lo, hi)
            start = q * f + b
            return crop(vol.hr, start, p), crop(vol.lr, q, p // f), step, start
        l0 = step * start + off
        first = np.floor(l0).astype(np.int64) - PAIRED_LR_MARGIN
        last = np.ceil(step * (start + p - 1) + off).astype(np.int64) + PAIRED_LR_MARGIN
        lr_crop = crop(vol.lr, first, last - first + 1)
        lr = resample_channels(lr_crop, step, l0 - first, tuple(int(v) for v in p))
        return crop(vol.hr, start, p), lr, step, start


def build_training_dataset(data_cfg: DataConfig, manifest_path: str | Path, *,
                           upsampling: str, model_scale: float | Sequence[float] | None,
                           seed: int, rank: int = 0, world_size: int = 1,
                           length: int | None = None, split: str = "training") -> PairDataset:
    """The training dataset of a manifest split (map-style, index-deterministic).

    Args:
        data_cfg: ``ExperimentConfig.data``.
        manifest_path: The manifest (the engine resolves ``data_cfg.manifest``).
        upsampling: The network's ``upsampling`` (``"pre"``, ``"post"``, ``"progressive"``).
        model_scale: ``ModelConfig.scale`` (x, y, z), or 2 in-plane factors in 2D mode.
        seed: Experiment seed.
        rank, world_size: Distributed position.
        length: Items per epoch (default ``patches_per_volume * n_volumes``).
        split: Manifest split to draw from.

    Returns:
        A :class:`PairDataset`, with every volume already loaded when ``data_cfg.cache``.

    Raises:
        ConfigError: bad manifest, empty split, bad degradation specs.
        InputError: unreadable volumes.
        ValueError: bad patch size / scale combination for a post-upsampling model.
    """
    manifest = load_manifest(manifest_path)
    cases = manifest.cases(split)
    if not cases:
        raise ConfigError(f"the manifest has no {split!r} cases", path=manifest_path)
    ds = PairDataset(cases, data_cfg, upsampling=upsampling, model_scale=model_scale,
                     seed=seed, rank=rank, world_size=world_size, length=length)
    ds.preload()
    return ds
