"""Random MONAI map transforms that draw one training pair from a prepared volume.

Every transform here is :class:`monai.transforms.Randomizable`: its numbers come from
its own ``self.R`` (seeded through ``set_random_state``), and what it drew is recorded
in the data dictionary, so an item is a pure function of the seed it is given. The
degradation kernels themselves are volsr's (:mod:`volsr.data.patches`), applied to the
patch plus a margin, never to the whole volume.

Keys read: ``hr`` ``(C, X, Y, Z)`` normalised HR volume, ``fg``, ``refs``, ``spacing``
and for a real pair ``lr``, ``lr_step``, ``lr_offset`` (see :mod:`volsr.data.transforms`).
Keys written: ``hr``/``lr`` patches (the HR target ``(C, *patch)`` and the network input),
``params`` (the applied degradation, rebuildable with
:func:`volsr.degrade.build_degradation`), ``start`` (HR patch origin), ``scale`` (LR/HR
grid scale per axis), ``flip`` and ``rot90`` (the applied augmentation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from monai.transforms import MapTransform, Randomizable

from volsr.data.grid_pairs import thick_slice_along
from volsr.data.patches import (
    PAIRED_LR_MARGIN,
    crop,
    pair_margin,
    patch_start,
    post_factor,
    resample_channels,
    resolve_noise,
    rot_planes,
    synthesize_lr,
)
from volsr.degrade import Compose, Degradation, ThickSlice
from volsr.errors import InputError

__all__ = ["DegradeCropd", "RandDegradationd", "RandFlipRot90d", "RandPatchCropd"]

MAX_SEED = 2**31 - 1


def _flat(det: Degradation) -> list[Degradation]:
    """The steps of a (nested) Compose."""
    if isinstance(det, Compose):
        return [s for t in det.transforms for s in _flat(t)]
    return [det]


def _generator(r: np.random.RandomState) -> np.random.Generator:
    """A numpy Generator seeded from a MONAI transform's ``RandomState``."""
    return np.random.default_rng(int(r.randint(MAX_SEED)))


class RandDegradationd(Randomizable, MapTransform):
    """Draw the degradation of a synthetic pair: ``d["degradation"]`` and ``d["params"]``.

    Random specs (``random_thick_slice``, ``random_noise``...) are sampled from
    ``self.R``; relative noise becomes absolute through the whole volume's reference
    intensity ``d["refs"]``. Also sets ``d["margin"]``, the HR voxels to degrade around
    the patch. A real pair gets ``params = {"name": "paired", "lr": <path>}``.

    Args:
        compose: The (random) degradation of ``data.degradation``.
        patch: HR patch shape ``(3,)``.
        post_f: Integer model factors of a post-upsampling model, else None.
    """

    def __init__(self, compose: Compose, patch: Sequence[int],
                 post_f: np.ndarray | None) -> None:
        MapTransform.__init__(self, keys=("hr",))
        self.compose, self.patch, self.post_f = compose, np.asarray(patch), post_f
        self._det: Any = None

    def randomize(self, data: Any = None) -> None:
        self._det = self.compose.sample(_generator(self.R))

    def __call__(self, data: Mapping[str, Any]) -> dict[str, Any]:
        d = dict(data)
        self.randomize()
        if d.get("lr") is not None:
            d["degradation"], d["margin"] = None, np.zeros(3, np.int64)
            d["params"] = {"name": "paired", "lr": str(d["lr_path"])}
            return d
        refs = d["refs"]
        det = resolve_noise(self._det, lambda kind: refs[kind])
        patch = self.patch
        if "plane" in d:  # a plane of the case's hr_axes (plane_transforms.RandPlaned)
            det = Compose([thick_slice_along(t, d["plane"][0]) if isinstance(t, ThickSlice)
                           else t for t in _flat(det)])
            patch = d["patch3d"]
        d["degradation"], d["params"] = det, det.params
        d["margin"] = pair_margin(det, patch, self.post_f)
        return d


class RandPatchCropd(Randomizable, MapTransform):
    """Foreground-weighted random crop of the HR patch (plus margin) and of a real LR.

    With probability ``p_fg`` the patch is centred on a random foreground voxel
    (``d["fg"]``), else anywhere; it is then moved inside the volume (with its margin
    where the volume is large enough; outside voxels are mirrored). A synthetic pair
    gets ``d["region"]`` (HR patch + margin, to be degraded by :class:`DegradeCropd`);
    a real pair gets ``hr`` and ``lr`` directly: the matching LR voxels, through the
    world-coordinate map ``lr_step * x + lr_offset``, cropped (post models; the LR voxels
    must tile the HR grid) or B-spline interpolated onto the HR patch voxels (pre models).

    Args:
        patch: HR patch shape ``(3,)``.
        p_fg: Probability of a foreground-centred patch.
        post_f: Integer model factors of a post-upsampling model, else None.
    """

    def __init__(self, patch: Sequence[int], p_fg: float, post_f: np.ndarray | None) -> None:
        MapTransform.__init__(self, keys=("hr",))
        self.patch = np.asarray(patch, dtype=np.int64)
        self.p_fg, self.post_f = float(p_fg), post_f
        self._gen: np.random.Generator | None = None

    def randomize(self, data: Any = None) -> None:
        self._gen = _generator(self.R)

    def __call__(self, data: Mapping[str, Any]) -> dict[str, Any]:
        d = dict(data)
        self.randomize()
        assert self._gen is not None
        hr, m = d["hr"], np.asarray(d["margin"], dtype=np.int64)
        p = d.get("patch3d", self.patch)
        start = patch_start(self._gen, hr.shape[1:], p, m, d["fg"], self.p_fg)
        if d.get("lr") is None:
            d["region"] = crop(hr, start - m, p + 2 * m)
            d["start"] = start
            return d
        return self._paired(d, start)

    def _paired(self, d: dict[str, Any], start: np.ndarray) -> dict[str, Any]:
        step, off, p, hr, lr = d["lr_step"], d["lr_offset"], self.patch, d["hr"], d["lr"]
        n_hr = np.asarray(hr.shape[1:], dtype=np.int64)
        d["scale"] = step
        if self.post_f is not None:
            f = post_factor(step, self.post_f, f"the real LR/HR pair of case {d['id']!r}")
            b = (-0.5 - off) * f + 0.5  # HR index where LR voxel 0 begins
            if not np.allclose(b, np.rint(b), atol=1e-3):
                raise InputError(f"case {d['id']!r}: LR voxels do not tile the HR grid "
                                 f"(LR voxel 0 starts at HR index {np.round(b, 4).tolist()});"
                                 " post-upsampling models need aligned grids",
                                 path=d["lr_path"])
            b = np.rint(b).astype(np.int64)
            n_lr = np.asarray(lr.shape[1:], dtype=np.int64)
            lo = np.maximum(0, -(b // f))
            hi = np.minimum(n_lr - p // f, (n_hr - p - b) // f)
            if np.any(hi < lo):
                raise InputError(f"case {d['id']!r}: the LR/HR overlap is smaller than "
                                 f"the patch {p.tolist()}", path=d["lr_path"])
            q = np.clip(np.rint((start - b) / f).astype(np.int64), lo, hi)
            start = q * f + b
            d["hr"], d["lr"], d["start"] = crop(hr, start, p), crop(lr, q, p // f), start
            return d
        l0 = step * start + off
        first = np.floor(l0).astype(np.int64) - PAIRED_LR_MARGIN
        last = np.ceil(step * (start + p - 1) + off).astype(np.int64) + PAIRED_LR_MARGIN
        lr_crop = crop(lr, first, last - first + 1)
        d["lr"] = resample_channels(lr_crop, step, l0 - first, tuple(int(v) for v in p))
        d["hr"], d["start"] = crop(hr, start, p), start
        return d


class DegradeCropd(MapTransform):
    """Degrade ``d["region"]`` with the drawn ``d["degradation"]``: sets ``hr`` (the
    patch in the middle of the region) and ``lr`` (the network input; see
    :func:`volsr.data.patches.synthesize_lr`). Real pairs pass through unchanged.

    Args:
        patch: HR patch shape ``(3,)``.
        upsampling: ``"pre"`` or ``"post"``.
        post_f: Integer model factors of a post-upsampling model, else None.
    """

    def __init__(self, patch: Sequence[int], upsampling: str,
                 post_f: np.ndarray | None) -> None:
        super().__init__(keys=("region",), allow_missing_keys=True)
        self.patch = np.asarray(patch, dtype=np.int64)
        self.upsampling, self.post_f = upsampling, post_f

    def __call__(self, data: Mapping[str, Any]) -> dict[str, Any]:
        d = dict(data)
        region = d.pop("region", None)
        if region is None:
            return d
        m, p = np.asarray(d["margin"], dtype=np.int64), d.get("patch3d", self.patch)
        lr, _, scale = synthesize_lr(region, d["degradation"], m, p, self.upsampling,
                                     self.post_f)
        inner = tuple(slice(int(a), int(a + b)) for a, b in zip(m, p))
        d["hr"] = np.ascontiguousarray(region[(slice(None), *inner)])
        d["lr"], d["scale"] = lr, scale
        return d


class RandFlipRot90d(Randomizable, MapTransform):
    """Random flips along the in-plane axes and a random 90-degree rotation of ``lr`` and
    ``hr`` (the same for both), recorded in ``d["flip"]`` and ``d["rot90"]``.

    Each axis of ``axes`` is flipped with probability 1/2; then a rotation by ``k``
    (uniform in 0..3) quarter turns in one of the planes where it keeps the data's
    meaning (:func:`volsr.data.patches.rot_planes`: equal patch size, equal LR/HR scale
    and equal HR voxel size, so the thick-slice axis never swaps with an in-plane axis).
    The same numbers are drawn whatever is enabled. Flips and rotation are numpy views
    followed by one copy: MONAI's ``Flip``/``Rotate90`` cost 60-140 us per call on a
    32^3 patch against about 10 us here, which is most of a pair's budget.

    Args:
        axes: Spatial axes a patch extends along.
        patch: HR patch shape ``(3,)``.
        flip: Enable the flips.
        rot90: Enable the rotations.
    """

    def __init__(self, axes: Sequence[int], patch: Sequence[int], *, flip: bool = True,
                 rot90: bool = True) -> None:
        MapTransform.__init__(self, keys=("lr", "hr"))
        self.axes, self.patch = tuple(int(a) for a in axes), tuple(patch)
        self.flip, self.rot90 = bool(flip), bool(rot90)
        self._coins = np.zeros(len(self.axes))
        self._pick, self._k = 0.0, 0

    def randomize(self, data: Any = None) -> None:
        self._coins = self.R.random_sample(len(self.axes))
        self._pick, self._k = float(self.R.random_sample()), int(self.R.randint(4))

    def __call__(self, data: Mapping[str, Any]) -> dict[str, Any]:
        d = dict(data)
        self.randomize()
        axes, patch = self.axes, self.patch
        if "plane" in d:  # a plane of the case's hr_axes: its own axes and patch
            axes, patch = tuple(sorted(d["plane"][:2])), tuple(d["patch3d"])
        flips = [a for a, c in zip(axes, self._coins) if c < 0.5] if self.flip else []
        planes = rot_planes(axes, patch, d["scale"], d["spacing"])
        plane = (planes[int(self._pick * len(planes))]
                 if self.rot90 and planes and self._k else None)
        for key in self.key_iterator(d):
            arr = np.asarray(d[key])
            if flips:
                arr = np.flip(arr, axis=tuple(1 + a for a in flips))
            if plane is not None:
                arr = np.rot90(arr, k=self._k, axes=(1 + plane[0], 1 + plane[1]))
            d[key] = np.ascontiguousarray(arr, dtype=np.float32)
        d["flip"] = flips
        d["rot90"] = None if plane is None else [int(plane[0]), int(plane[1]), self._k]
        return d
