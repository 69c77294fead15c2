"""Training pairs for supervised super-resolution, built from MONAI map transforms.

Two chains of :mod:`monai.transforms` make every pair, in 3D (patches) and 2D (slices,
1-voxel-thick patches across ``slice_axis``) alike, for pre- and post-upsampling networks:

* **prepare** (deterministic, once per case, cached by :class:`monai.data.CacheDataset`
  when ``data.cache``): load, channel-first, normalise with the HR fit (inverse recorded),
  foreground coordinates and noise references (:mod:`volsr.data.transforms`). Bad cases
  (unreadable file, volume smaller than the patch, no foreground, LR/HR fields of view
  that differ) raise an :class:`~volsr.errors.InputError` naming the file when the
  dataset is built, before training starts.
* **draw** (random, per item): degradation parameters, foreground-weighted crop of the
  patch plus margin, degradation of that crop only (:mod:`volsr.data.random_transforms`),
  the extra ``data.transforms`` (:mod:`volsr.data.registry`), flips along the in-plane
  axes and a rot90 in a plane that keeps the data's meaning; then the slice axis is
  dropped in 2D mode and the pair becomes float32 tensors.

``any_factor`` networks with a thick-slice degradation in 2D mode get plane pairs at any
real factor instead (:mod:`volsr.data.grid_pairs`, :mod:`volsr.data.plane_transforms`):
planes from the case's ``hr_axes``, the thick axis as rows, an LR crop with context and
the exact ``grid`` of the HR patch; the items of a group (``index // group_size``, one
batch) share one factor.

Item ``index`` comes from volume ``(index // patches_per_volume) % n_volumes``; the
random steps share one MONAI ``RandomState`` (``set_random_state(state=...)``), reseeded
per item with a seed derived from ``(seed, epoch, index)``: the same index gives the same
pair whatever the number of DataLoader workers or GPUs, and
:class:`~volsr.engine.distributed.StepBatchSampler` hands each DDP rank its own indices,
i.e. different, deterministic streams.

Memory: with ``cache: true`` every normalised volume is held as float32 (4 bytes per voxel
and channel) plus up to 100k foreground coordinates, loaded up front so that forked
DataLoader workers share the pages. With ``cache: false`` every case is still prepared
once up front (to find bad input before training) and then only the most recently used
volume is kept per process.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.data import CacheDataset, get_track_meta, set_track_meta
from monai.transforms import Compose, Randomizable
from torch.utils.data import Dataset

from volsr.config import DataConfig
from volsr.data.grid_pairs import thick_slice_range, uses_grid_pairs
from volsr.data.manifest import Case, load_manifest
from volsr.data.patches import noise_kinds, post_factor
from volsr.data.plane_transforms import (
    DegradePlaned,
    PlaneChoicesd,
    RandPlaneCropd,
    RandPlaned,
)
from volsr.data.random_transforms import (
    DegradeCropd,
    RandDegradationd,
    RandFlipRot90d,
    RandPatchCropd,
)
from volsr.data.registry import build_extra_transforms, build_region_transforms
from volsr.data.slices import in_plane_axes, patch_shape_3d, scale_3d, squeeze_slice
from volsr.data.transforms import case_dict, prepare_transforms
from volsr.data.volumes import _spec_dict, build_compose, degradation_specs
from volsr.errors import ConfigError, VolsrError

__all__ = ["PairDataset", "build_training_dataset", "group_seed", "item_seed"]

log = logging.getLogger(__name__)

UPSAMPLINGS = ("pre", "post", "progressive")


def item_seed(seed: int, epoch: int, index: int) -> int:
    """The MONAI random-state seed of item ``index`` (a 32-bit integer)."""
    return int(np.random.SeedSequence([int(seed), int(epoch), int(index)]).generate_state(1)[0])


def group_seed(seed: int, epoch: int, group: int) -> int:
    """The seed of the factor shared by the items of ``group`` (any-factor pairs)."""
    return int(np.random.SeedSequence([int(seed), int(epoch), int(group), 1]).generate_state(1)[0])


def _unwrap(exc: BaseException) -> BaseException:
    """The volsr error MONAI's ``apply_transform`` wrapped into a RuntimeError, if any."""
    cur: BaseException | None = exc
    while cur is not None:
        if isinstance(cur, (VolsrError, ValueError)) and cur is not exc:
            return cur
        cur = cur.__cause__
    return exc


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
        any_factor: The network takes its output grid (``any_factor``); with a
            thick-slice degradation in 2D mode the items are any-factor plane pairs
            (:mod:`volsr.data.grid_pairs`) with a ``"grid"`` entry.
        group_size: Any-factor pairs: items ``i`` with the same ``i // group_size`` share
            one factor (one batch; the sampler keeps groups together).

    Items are dicts: ``"lr"`` and ``"hr"`` float32 tensors ``(C, *spatial)`` (3 spatial
    axes in 3D mode, 2 in 2D mode), ``"params"`` (JSON of the applied degradation, a spec
    :func:`volsr.degrade.build_degradation` rebuilds; ``{"name": "paired"}`` for real LR)
    and ``"meta"`` (JSON: case id, index, epoch, HR patch start, flips, rot90, the
    normalisation ``{"offset", "scale"}`` whose inverse maps back to input units).

    Raises:
        InputError: a bad case (see the module docstring), naming its file.
    """

    def __init__(self, cases: Sequence[Case], data_cfg: DataConfig, *, upsampling: str,
                 model_scale: float | Sequence[float] | None, seed: int, rank: int = 0,
                 world_size: int = 1, length: int | None = None, any_factor: bool = False,
                 group_size: int = 1) -> None:
        if upsampling not in UPSAMPLINGS:
            raise ValueError(f"upsampling must be one of {UPSAMPLINGS}, got {upsampling!r}")
        if not cases:
            raise ConfigError("no training cases to draw patches from")
        if not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank {rank}, world_size "
                             f"{world_size}")
        self.cases, self.cfg = list(cases), data_cfg
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
        self.grid_pairs = uses_grid_pairs(any_factor, self.mode, data_cfg.degradation)
        self.group_size = max(1, int(group_size)) if self.grid_pairs else 1
        self.post_f = None if self.grid_pairs else self._post_factors()
        self.compose = build_compose(degradation_specs(data_cfg.degradation, self.model_scale))
        if self.post_f is not None and any(c.lr is None for c in self.cases):
            det = self.compose.sample(np.random.default_rng(self.seed))
            post_factor(det.output_scale(tuple(self.patch)), self.post_f, "data.degradation")
        self.case_planes = not self.grid_pairs and self._case_planes()
        self.prepare = prepare_transforms(
            _spec_dict(data_cfg.normalization),
            (1, 1, 1) if self.grid_pairs or self.case_planes else tuple(self.patch),
            noise_kinds=sorted(noise_kinds(self.compose)),
            need_foreground=data_cfg.foreground_sampling > 0,
            pad_small=data_cfg.pad_small_volumes)
        if self.grid_pairs:
            self._grid_prepare()
        elif self.case_planes:  # planes checked per case (PlaneChoicesd)
            self.prepare = Compose([*self.prepare.transforms, PlaneChoicesd(
                self.cfg.patch_size, self.slice_axis, self.axes,
                pad_small=self.cfg.pad_small_volumes, natural=True)])
        elif self.mode == "2d" and any("hr_axes" in c.extra for c in self.cases):
            log.info("the manifest's hr_axes choose the planes of 2D thick-slice training "
                     "only; this run takes slices across data.slice_axis %d", self.slice_axis)
        self.draw = self._draw_transforms()
        self._cache: CacheDataset | None = None
        self._volumes: list[dict[str, Any]] = []
        self._last: tuple[int, dict[str, Any]] | None = None

    def _post_factors(self) -> np.ndarray | None:
        if self.upsampling != "post":
            return None
        if self.model_scale is None:
            raise ValueError("post-upsampling models need model_scale")
        f = post_factor(1.0 / self.model_scale, np.rint(self.model_scale),
                        "model_scale (post models need whole factors)")
        if np.any(self.patch % f):
            raise ValueError(f"HR patch size {self.patch.tolist()} must be divisible by "
                             f"the model scale {f.tolist()}")
        return f

    def _case_planes(self) -> bool:
        """2D thick-slice pairs of a "pre" network with cases listing ``hr_axes``: each
        such case draws its planes from them (:class:`RandPlaned`)."""
        if (self.mode != "2d" or self.upsampling != "pre"
                or not any("hr_axes" in c.extra for c in self.cases)):
            return False
        try:
            thick_slice_range(self.compose)
        except ConfigError:
            return False
        return True

    def _grid_prepare(self) -> None:
        """Any-factor pairs: the thick-slice spec, and the plane check per case."""
        if any(c.lr is not None for c in self.cases):
            raise ConfigError("any-factor networks train on synthetic thick-slice pairs; "
                              "the manifest's real LR volumes are not supported there")
        self.spec = thick_slice_range(self.compose)
        thick = [a for a in self.spec.axes if a != self.slice_axis]
        if len(thick) < len(self.spec.axes) and any("hr_axes" not in c.extra
                                                    for c in self.cases):
            raise ConfigError(f"data.degradation: the thick-slice axes {list(self.spec.axes)} "
                              f"must lie in the planes across data.slice_axis "
                              f"{self.slice_axis} (cases without hr_axes)")
        self.prepare = Compose([*self.prepare.transforms, PlaneChoicesd(
            self.cfg.patch_size, self.slice_axis, thick, pad_small=self.cfg.pad_small_volumes)])

    def _draw_transforms(self) -> Compose:
        aug = self.cfg.augment
        if self.grid_pairs:
            region, inputs = build_region_transforms(self.cfg.transforms)
            steps: list[Any] = [
                RandPlaneCropd(self.compose, self.spec, self.cfg.patch_size,
                               self.cfg.foreground_sampling, flip=aug.flip),
                *region, DegradePlaned(), *inputs]
            return self._shared_state(steps)
        steps = [
            *([RandPlaned(self.cfg.patch_size)] if self.case_planes else []),
            RandDegradationd(self.compose, self.patch, self.post_f),
            RandPatchCropd(self.patch, self.cfg.foreground_sampling, self.post_f),
            DegradeCropd(self.patch, self.upsampling, self.post_f),
            *build_extra_transforms(self.cfg.transforms),
            RandFlipRot90d(self.axes, tuple(self.patch), flip=aug.flip, rot90=aug.rot90),
        ]
        return self._shared_state(steps)

    def _shared_state(self, steps: list[Any]) -> Compose:
        # one MONAI RandomState shared by every random step, reseeded per item (one
        # seeding per item instead of one per transform)
        # (after building the Compose, which gives its steps states of their own)
        draw = Compose(steps)
        self._state = np.random.RandomState(0)
        for t in draw.transforms:
            if isinstance(t, Randomizable):
                t.set_random_state(state=self._state)
        return draw

    # ----------------------------------------------------------------- volumes

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        """Draw different patches in epoch ``epoch`` (same index, new pair)."""
        self.epoch = int(epoch)

    def preload(self) -> int:
        """Prepare every case now: cached (``cache: true``) or checked and dropped.

        Returns:
            The bytes held by the cache (0 without caching).

        Raises:
            InputError: the first bad case, naming its file.
        """
        data = [case_dict(c) for c in self.cases]
        try:
            if self.cfg.cache:
                self._cache = CacheDataset(data, self.prepare, cache_rate=1.0, num_workers=1,
                                           progress=False, copy_cache=False)
            else:
                for k, item in enumerate(data):
                    self._last = (k, self.prepare(item))
        except RuntimeError as exc:
            raise _unwrap(exc) from None
        if self._cache is None:
            return 0
        # the cached dicts themselves (copy_cache=False): no per-item lookup through
        # CacheDataset.__getitem__, whose transform bookkeeping costs ~30 us a pair
        self._volumes = [self._cache[k] for k in range(len(self.cases))]
        total = sum(v["hr"].nbytes + v["fg"].nbytes + (0 if v["lr"] is None else v["lr"].nbytes)
                    for v in self._volumes)
        log.info("cached %d training volume(s): %.1f MB", len(self.cases), total / 2**20)
        return total

    def volume(self, k: int) -> dict[str, Any]:
        """The prepared data dict of case ``k`` (``hr``, ``lr``, ``fg``, ``norm``...)."""
        if self._volumes:
            return self._volumes[k]
        if self._last is None or self._last[0] != k:
            try:
                self._last = (k, self.prepare(case_dict(self.cases[k])))
            except RuntimeError as exc:
                raise _unwrap(exc) from None
        return self._last[1]

    # ----------------------------------------------------------------- items

    def __getitem__(self, index: int) -> dict[str, Any]:
        index = int(index)
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} items")
        self._state.seed(item_seed(self.seed, self.epoch, index))
        if self.grid_pairs and self.cfg.cache:  # a batch (consecutive items) spans volumes
            vol = dict(self.volume(index % len(self.cases)))
        else:
            vol = dict(self.volume((index // self.cfg.patches_per_volume) % len(self.cases)))
        if self.grid_pairs:
            vol["group_seed"] = group_seed(self.seed, self.epoch, index // self.group_size)
        track = get_track_meta()
        set_track_meta(False)  # plain tensors: no MetaTensor bookkeeping per patch
        try:
            d = dict(vol)
            # the Compose's steps called directly: no per-step apply_transform bookkeeping,
            # and a volsr error reaches the user as itself, not wrapped in a RuntimeError
            for t in self.draw.transforms:
                d = t(d)
        finally:
            set_track_meta(track)
        return self._pack(d, index)

    def _pack(self, d: Mapping[str, Any], index: int) -> dict[str, Any]:
        meta = {"case": d["id"], "index": index, "epoch": self.epoch,
                "start": [int(v) for v in d["start"]], "flip": d["flip"],
                "rot90": d.get("rot90"), "norm": d["norm"]}
        if self.grid_pairs:  # (C, rows, cols, 1): rows along the thick axis
            meta.update(plane=d["plane"], factor=d["geometry"].factor)
            return {"lr": _tensor(d["lr"][..., 0]), "hr": _tensor(d["hr"][..., 0]),
                    "grid": d["grid"], "params": json.dumps(d["params"]),
                    "meta": json.dumps(meta)}
        k_axis = self.slice_axis
        if "plane" in d:
            meta["plane"], k_axis = d["plane"], d["plane"][2]
        lr, hr = (squeeze_slice(np.asarray(d[k]), self.mode, k_axis) for k in ("lr", "hr"))
        return {"lr": _tensor(lr), "hr": _tensor(hr),
                "params": json.dumps(d["params"]), "meta": json.dumps(meta)}


def _tensor(x: np.ndarray) -> torch.Tensor:
    """A contiguous float32 CPU tensor sharing ``x``'s memory where possible."""
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def build_training_dataset(data_cfg: DataConfig, manifest_path: str | Path, *,
                           upsampling: str, model_scale: float | Sequence[float] | None,
                           seed: int, rank: int = 0, world_size: int = 1,
                           length: int | None = None, split: str = "training",
                           any_factor: bool = False, group_size: int = 1) -> PairDataset:
    """The training dataset of a manifest split (map-style, index-deterministic).

    The same builder serves 3D networks (``mode: 3d``), the 2D zoo (``mode: 2d``) and
    thick-slice recipes (a ``thick_slice`` degradation, or the default for a one-axis
    ``model_scale``).

    Args:
        data_cfg: ``ExperimentConfig.data``.
        manifest_path: The manifest (the engine resolves ``data_cfg.manifest``).
        upsampling: The network's ``upsampling`` (``"pre"``, ``"post"``, ``"progressive"``).
        model_scale: ``ModelConfig.scale`` (x, y, z), or 2 in-plane factors in 2D mode.
        seed: Experiment seed.
        rank, world_size: Distributed position.
        length: Items per epoch (default ``patches_per_volume * n_volumes``).
        split: Manifest split to draw from.
        any_factor, group_size: see :class:`PairDataset`.

    Returns:
        A :class:`PairDataset` whose cases are all prepared (and cached when
        ``data_cfg.cache``).

    Raises:
        ConfigError: bad manifest, empty split, bad degradation or transform specs.
        InputError: a bad case (unreadable, smaller than the patch, no foreground, LR/HR
            fields of view that differ), naming its file.
        ValueError: bad patch size / scale combination for a post-upsampling model.
    """
    manifest = load_manifest(manifest_path)
    cases = manifest.cases(split)
    if not cases:
        raise ConfigError(f"the manifest has no {split!r} cases", path=manifest_path)
    ds = PairDataset(cases, data_cfg, upsampling=upsampling, model_scale=model_scale,
                     seed=seed, rank=rank, world_size=world_size, length=length,
                     any_factor=any_factor, group_size=group_size)
    ds.preload()
    return ds
