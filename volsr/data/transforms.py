"""Deterministic MONAI map transforms that turn a manifest case into a cached training volume.

The chain (:func:`prepare_transforms`) runs once per case and its output is what
:class:`monai.data.CacheDataset` keeps in memory:

1. :class:`LoadPaird` loads ``hr`` (and a real ``lr``) with
   :func:`volsr.data.loading.load_case_file` (volumes, or 2D images as one-slice volumes),
   channel-first ``(C, X, Y, Z)`` float32 in the file's own voxel axes (no reorientation:
   ``data.slice_axis`` and the degradation axes name voxel axes of the file). A real LR
   volume is related to HR through its affine (``lr_step``/``lr_offset``); its field of
   view must match HR's (as ``volsr data check`` tests) and its axes be aligned with HR's.
2. :class:`NormalizeIntensityHRd` fits the HR normaliser, applies it to ``hr`` and ``lr``
   and records the fitted map in ``d["norm"]`` (its :meth:`inverse` undoes it).
3. :class:`ForegroundCoordsd` finds the foreground voxels patch centres are drawn from
   and the whole-volume noise reference intensities, and refuses a volume smaller than
   the patch (unless ``data.pad_small_volumes``) or without foreground.

Each step raises :class:`~volsr.errors.InputError` naming the offending file.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from monai.transforms import MapTransform

from volsr.data.manifest import Case
from volsr.data.normalize import Normalization, fit_normalization
from volsr.data.patches import foreground_coords, noise_reference
from volsr.data.volumes import case_seed, pair_map
from volsr.errors import InputError, VolsrError

__all__ = ["ForegroundCoordsd", "LoadPaird", "NormalizeIntensityHRd", "case_dict",
           "prepare_transforms"]

log = logging.getLogger(__name__)


def case_dict(case: Case) -> dict[str, Any]:
    """The MONAI data dictionary of a manifest case (paths only, before loading)."""
    return {"case": case, "id": case.id, "hr_path": case.hr, "lr_path": case.lr}


class LoadPaird(MapTransform):
    """Load ``hr`` (and ``lr`` when the case has one) as channel-first float32 arrays.

    Adds ``hr`` ``(C, X, Y, Z)``, ``spacing`` (HR voxel size, mm), ``lr`` (``(C, x, y,
    z)`` or None) and ``lr_step``/``lr_offset`` (HR voxel index -> LR continuous index).

    Raises:
        InputError: unreadable file, channel mismatch, LR axes not aligned with HR, or an
            LR field of view that differs from HR's by more than half an LR voxel.
    """

    def __init__(self) -> None:
        super().__init__(keys=("hr_path", "lr_path"), allow_missing_keys=True)

    def __call__(self, data: Mapping[str, Any]) -> dict[str, Any]:
        from volsr.data.loading import load_case_file

        d = dict(data)
        hr = _load(load_case_file, d["hr_path"])
        d["hr"] = np.asarray(hr.data, dtype=np.float32)
        d["spacing"] = np.asarray(hr.spacing, dtype=np.float64)
        d["lr"] = d["lr_step"] = d["lr_offset"] = None
        if d.get("lr_path") is not None:
            lr = _load(load_case_file, d["lr_path"])
            if lr.channels != hr.channels:
                raise InputError(f"LR has {lr.channels} channel(s), HR {hr.channels}",
                                 path=d["lr_path"])
            _check_fov(hr, lr, d["lr_path"])
            d["lr_step"], d["lr_offset"] = pair_map(hr, lr)
            d["lr"] = np.asarray(lr.data, dtype=np.float32)
        return d


def _load(load_volume: Any, path: Any) -> Any:
    try:
        return load_volume(path)
    except VolsrError as exc:
        if getattr(exc, "path", None) is None:
            raise InputError(f"cannot read the training volume: {exc}", path=path) from None
        raise


def _check_fov(hr: Any, lr: Any, path: Any) -> None:
    from volsr.data.check import FOV_TOLERANCE_MM

    tol = float(lr.grid.spacing.max()) / 2.0 + FOV_TOLERANCE_MM
    a, b = hr.grid.world_bounds(), lr.grid.world_bounds()
    d = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)
    dist = float(max(d.min(axis=1).max(), d.min(axis=0).max()))
    if dist > tol:
        raise InputError(f"the LR and HR fields of view differ: a corner is {dist:.3g} mm "
                         f"away (tolerance {tol:.3g} mm); crop or resample the pair onto "
                         "the same field of view", path=path)


class NormalizeIntensityHRd(MapTransform):
    """Fit the intensity normaliser to ``hr``; apply it to ``hr`` and ``lr``.

    Records ``d["norm"] = {"offset", "scale"}`` (``y = (x - offset) / scale``), which
    :meth:`inverse` uses to map ``hr``/``lr`` (arrays or tensors) back to input units.

    Args:
        spec: A normalisation spec (see :func:`volsr.data.normalize.fit_normalization`).
    """

    def __init__(self, spec: Mapping[str, Any] | None) -> None:
        super().__init__(keys=("hr", "lr"), allow_missing_keys=True)
        self.spec = None if spec is None else dict(spec)

    def __call__(self, data: Mapping[str, Any]) -> dict[str, Any]:
        d = dict(data)
        try:
            norm = fit_normalization(d["hr"], self.spec)
        except InputError as exc:
            raise InputError(str(exc), path=d["hr_path"]) from None
        for key in self.key_iterator(d):
            if d[key] is not None:
                d[key] = np.asarray(norm.forward(d[key]), dtype=np.float32)
        d["norm"] = norm.to_dict()
        return d

    def inverse(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """``hr`` and ``lr`` back in the input's units (from the recorded ``norm``)."""
        d = dict(data)
        norm = Normalization(**d["norm"])
        for key in self.key_iterator(d):
            if d[key] is not None:
                d[key] = norm.inverse(d[key])
        return d


class ForegroundCoordsd(MapTransform):
    """Foreground voxel coordinates ``fg`` ``(K, 3)`` and noise references ``refs``.

    Args:
        patch: HR patch shape ``(3,)`` (1 along the slice axis in 2D mode).
        noise_kinds: Reference intensities needed by relative noise steps (``"p99"``...).
        need_foreground: Refuse a volume without foreground (when patches are centred on
            foreground with a non-zero probability).
        pad_small: Accept a volume smaller than the patch (its patches are mirror-padded)
            with a warning, instead of refusing it.
        max_points: Coordinates kept at most.

    Raises:
        InputError: the HR volume is smaller than the patch along an axis (unless
            ``pad_small``), or has no foreground voxel.
    """

    def __init__(self, patch: Sequence[int], *, noise_kinds: Sequence[str] = (),
                 need_foreground: bool = True, pad_small: bool = False,
                 max_points: int = 100_000) -> None:
        super().__init__(keys=("hr",))
        self.patch = tuple(int(v) for v in patch)
        self.pad_small = bool(pad_small)
        self.noise_kinds = tuple(noise_kinds)
        self.need_foreground = bool(need_foreground)
        self.max_points = int(max_points)

    def __call__(self, data: Mapping[str, Any]) -> dict[str, Any]:
        d = dict(data)
        shape = tuple(int(v) for v in d["hr"].shape[1:])
        if any(n < p for n, p in zip(shape, self.patch)):
            sizes = f"({'x'.join(map(str, shape))} voxels, patch {'x'.join(map(str, self.patch))})"
            if not self.pad_small:
                raise InputError(f"the volume is smaller than the training patch {sizes}; use "
                                 "a smaller data.patch_size, drop the case, or set "
                                 "data.pad_small_volumes: true", path=d["hr_path"])
            log.warning("%s is smaller than the training patch %s: its patches are "
                        "mirror-padded", d["hr_path"], sizes)
        d["fg"] = foreground_coords(d["hr"], max_points=self.max_points,
                                    seed=case_seed(d["id"])[1])
        if self.need_foreground and d["fg"].shape[0] == 0:
            raise InputError("the volume has no foreground (it is constant), so no patch "
                             "can be centred on tissue; drop the case or set "
                             "data.foreground_sampling: 0", path=d["hr_path"])
        d["refs"] = {k: noise_reference(d["hr"], k) for k in self.noise_kinds}
        log.debug("prepared %s: %s voxels, %d foreground points", d["id"], shape,
                  d["fg"].shape[0])
        return d


def prepare_transforms(normalization: Mapping[str, Any] | None, patch: Sequence[int], *,
                       noise_kinds: Sequence[str] = (), need_foreground: bool = True,
                       pad_small: bool = False) -> Any:
    """The deterministic chain (a :class:`monai.transforms.Compose`) cached per case."""
    from monai.transforms import Compose

    return Compose([LoadPaird(), NormalizeIntensityHRd(normalization),
                    ForegroundCoordsd(patch, noise_kinds=noise_kinds,
                                      need_foreground=need_foreground, pad_small=pad_small)])
