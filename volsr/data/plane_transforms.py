"""MONAI map transforms that draw any-factor thick-slice plane pairs (geometry in
:mod:`volsr.data.grid_pairs`).

* :class:`PlaneChoicesd` (deterministic, cached with the volume): the plane orientations
  ``(a, b, k)`` a case offers (rows along the thick axis ``a``, columns along ``b``,
  slices across ``k``): from the manifest's ``hr_axes`` (two of the case's
  high-resolution axes, either as the thick axis), else the planes across
  ``data.slice_axis`` with the degradation's axes as thick axes. Bad ``hr_axes`` and
  planes smaller than the patch fail here, naming the file, before training starts.
* :class:`RandPlaneCropd`: the factor of the item's *group* (drawn from
  ``d["group_seed"]``, shared by a batch), the rest of the degradation from the item's
  own draw (profile, thickness, noise), an orientation, a foreground-weighted position,
  and the HR region around the patch (oriented ``(C, R, P_c, 1)``, flipped at random).
* :class:`DegradePlaned`: thick slices along the region's rows, the LR crop, noise; sets
  ``lr`` ``(C, lr_rows, P_c, 1)``, ``hr`` ``(C, P_r, P_c, 1)`` and ``grid``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from monai.transforms import MapTransform, Randomizable

from volsr.data.grid_pairs import (
    ThickSliceRange,
    case_planes,
    pair_geometry,
    thick_slice_along,
    thick_slice_rows,
)
from volsr.data.patches import crop, resolve_noise
from volsr.data.random_transforms import _generator
from volsr.degrade import Compose, ThickSlice
from volsr.errors import InputError

__all__ = ["DegradePlaned", "PlaneChoicesd", "RandPlaneCropd", "RandPlaned"]

log = logging.getLogger(__name__)

class PlaneChoicesd(MapTransform):
    """``d["planes"]``: the case's plane orientations (:func:`case_planes`), checked
    against the HR patch ``(P_r, P_c)`` (rows along the thick axis); ``d["hr_axes"]``:
    whether they come from the case's ``hr_axes``.

    Args:
        patch: HR patch rows and columns.
        slice_axis, thick_axes: used for cases without ``hr_axes``.
        pad_small: accept planes smaller than the patch (mirror-padded) with a warning.
        natural: the patch sizes are for the plane's axes in increasing order (the 2D
            pairs of other networks) instead of (thick axis, other axis).

    Raises:
        InputError: bad ``hr_axes``, or a plane smaller than the patch (unless
            ``pad_small``), naming the file.
    """

    def __init__(self, patch: Sequence[int], slice_axis: int, thick_axes: Sequence[int], *,
                 pad_small: bool = False, natural: bool = False) -> None:
        super().__init__(keys=("hr",))
        self.natural = bool(natural)
        self.patch = tuple(int(v) for v in patch)
        self.slice_axis, self.thick_axes = int(slice_axis), tuple(int(a) for a in thick_axes)
        self.pad_small = bool(pad_small)

    def __call__(self, data: Mapping[str, Any]) -> dict[str, Any]:
        d = dict(data)
        case = d.get("case")
        hr_axes = None if case is None else case.extra.get("hr_axes")
        planes = case_planes(hr_axes, self.slice_axis, self.thick_axes, path=d["hr_path"],
                             case_id=str(d["id"]))
        shape = tuple(int(n) for n in d["hr"].shape[1:])
        for a, b, _ in planes:
            if self.natural:
                a, b = min(a, b), max(a, b)
            if shape[a] < self.patch[0] or shape[b] < self.patch[1]:
                msg = (f"its planes along axes ({a}, {b}) have {shape[a]}x{shape[b]} voxels, "
                       f"smaller than the patch {self.patch[0]}x{self.patch[1]}")
                if not self.pad_small:
                    raise InputError(f"{msg}; use a smaller data.patch_size, fix the case's "
                                     "hr_axes, drop the case, or set data.pad_small_volumes: "
                                     "true", path=d["hr_path"])
                log.warning("%s: %s: its patches are mirror-padded", d["hr_path"], msg)
        d["planes"], d["hr_axes"] = planes, hr_axes is not None
        return d


class RandPlaneCropd(Randomizable, MapTransform):
    """Draw the degradation, orientation and position of a plane pair; crop its region.

    Reads ``hr`` ``(C, X, Y, Z)``, ``fg``, ``refs``, ``planes`` and ``group_seed``; writes
    ``region`` ``(C, R, P_c, 1)`` (rows along the thick axis), ``geometry``
    (:class:`~volsr.data.grid_pairs.PairGeometry`), ``degradation``/``params`` (thick
    slices along the volume's axis ``a`` at the group's factor), ``plane``, ``start``
    (HR patch origin in volume voxels, before flips) and ``flip`` (``[rows, cols]``).

    Args:
        compose: the (random) ``data.degradation``.
        spec: its thick-slice step (:func:`~volsr.data.grid_pairs.thick_slice_range`).
        patch: HR patch rows and columns.
        p_fg: probability of a foreground-centred patch.
        flip: random flips of the region's rows and columns.
    """

    def __init__(self, compose: Compose, spec: ThickSliceRange, patch: Sequence[int],
                 p_fg: float, *, flip: bool = True) -> None:
        MapTransform.__init__(self, keys=("hr",))
        self.compose, self.spec = compose, spec
        self.patch = (int(patch[0]), int(patch[1]))
        self.p_fg, self.flip = float(p_fg), bool(flip)
        self._gen: np.random.Generator | None = None

    def randomize(self, data: Any = None) -> None:
        self._gen = _generator(self.R)

    def group_factor(self, group_seed: int) -> float:
        """The thick-slice factor of a group (the same draw for every item of it)."""
        det = self.compose.sample(np.random.default_rng(int(group_seed)))
        return _thick_slice(det, self.spec.step).factor

    def __call__(self, data: Mapping[str, Any]) -> dict[str, Any]:
        d = dict(data)
        self.randomize()
        gen = self._gen
        assert gen is not None
        s = self.group_factor(d["group_seed"])
        geom = pair_geometry(s, self.patch, self.spec.reach)
        det = self.compose.sample(gen)
        ts = _thick_slice(det, self.spec.step)
        planes = d["planes"]
        if not d["hr_axes"]:  # the planes across data.slice_axis: the drawn slice axis
            planes = [p for p in planes if p[0] == ts.axis]
        a, b, k = planes[int(gen.integers(len(planes)))]
        d["degradation"] = resolve_noise(
            Compose([thick_slice_along(ts, a, s) if i == self.spec.step else t
                     for i, t in enumerate(det.transforms)]), lambda kind: d["refs"][kind])
        d["params"] = d["degradation"].params
        hr = d["hr"]
        n = hr.shape[1:]
        centre = self._centre(gen, d["fg"], n)
        p_r, p_c, rows, h0 = self.patch[0], self.patch[1], geom.region_rows, geom.hr_row0
        r0 = _place(int(centre[a]) - p_r // 2 - h0, n[a], rows, h0, p_r)
        c0 = _place(int(centre[b]) - p_c // 2, n[b], p_c, 0, p_c)
        start, size = [0, 0, 0], [1, 1, 1]
        start[a], start[b], start[k] = r0, c0, int(centre[k])
        size[a], size[b] = rows, p_c
        region = crop(hr, start, size).transpose(0, 1 + a, 1 + b, 1 + k)
        coins = gen.random(2)
        flips = [bool(c < 0.5) and self.flip for c in coins]
        axes = tuple(1 + i for i, f in enumerate(flips) if f)
        if axes:
            region = np.flip(region, axis=axes)
        d["region"] = np.ascontiguousarray(region, dtype=np.float32)
        start[a] = r0 + h0
        d.update(geometry=geom, plane=[a, b, k], start=start, flip=flips)
        return d

    def _centre(self, gen: np.random.Generator, fg: np.ndarray,
                shape: Sequence[int]) -> np.ndarray:
        if fg.shape[0] > 0 and gen.random() < self.p_fg:
            return fg[int(gen.integers(fg.shape[0]))].astype(np.int64)
        return np.array([int(gen.integers(max(int(m), 1))) for m in shape])


def _thick_slice(det: Compose, step: int) -> ThickSlice:
    """The (sampled) thick-slice step of ``det``."""
    ts = det.transforms[step]
    if not isinstance(ts, ThickSlice):  # thick_slice_range found it there
        raise TypeError(f"step {step} of the degradation is not a thick slice: {ts!r}")
    return ts


def _place(first: int, n: int, rows: int, inner: int, patch: int) -> int:
    """First region row: inside the axis of ``n`` voxels when the region fits, else with
    the patch (``inner`` rows into the region) inside, else the patch centred."""
    if n >= rows:
        return min(max(first, 0), n - rows)
    if n >= patch:
        return min(max(first + inner, 0), n - patch) - inner
    return (n - patch) // 2 - inner


class DegradePlaned(MapTransform):
    """Thick slices along the rows of ``d["region"]``, the LR crop and noise: sets ``lr``
    ``(C, lr_rows, P_c, 1)``, ``hr`` ``(C, P_r, P_c, 1)`` and ``grid`` (the geometry's)."""

    def __init__(self) -> None:
        super().__init__(keys=("region",))

    def __call__(self, data: Mapping[str, Any]) -> dict[str, Any]:
        d = dict(data)
        region = d.pop("region")
        g = d["geometry"]
        lr = region
        for t in d["degradation"].transforms:
            if isinstance(t, ThickSlice):
                lr = np.einsum("or,crxy->coxy", thick_slice_rows(t, g).astype(np.float32), lr)
            else:
                lr = t.apply_array(lr)
        h0, p_r = g.hr_row0, g.patch[0]
        d["hr"] = np.ascontiguousarray(region[:, h0:h0 + p_r])
        d["lr"] = np.ascontiguousarray(lr, dtype=np.float32)
        d["grid"] = g.grid
        d["scale"] = np.array([1.0 / g.factor, 1.0, 1.0])
        return d


class RandPlaned(Randomizable, MapTransform):
    """Per-case planes for the 2D thick-slice pairs of "pre" networks: a case with
    ``hr_axes`` (``d["hr_axes"]``, see :class:`PlaneChoicesd`) gets a random orientation
    ``d["plane"] = [a, b, k]`` (slices across ``k``, thick slices along ``a``) and its HR
    patch ``d["patch3d"]`` (``patch_size`` along the plane's axes in increasing order, 1
    across ``k``); :class:`~volsr.data.random_transforms.RandDegradationd` then puts the
    thick slices along ``a``. Other cases (and real LR pairs) pass unchanged.

    Args:
        patch_size: the two in-plane patch sizes.
    """

    def __init__(self, patch_size: Sequence[int]) -> None:
        MapTransform.__init__(self, keys=("hr",))
        self.patch_size = tuple(int(v) for v in patch_size)
        self._u = 0.0

    def randomize(self, data: Any = None) -> None:
        self._u = float(self.R.random_sample())

    def __call__(self, data: Mapping[str, Any]) -> dict[str, Any]:
        from volsr.data.slices import patch_shape_3d

        d = dict(data)
        self.randomize()  # one number per item, used or not
        if not d.get("hr_axes") or d.get("lr") is not None:
            return d
        planes = d["planes"]
        a, b, k = planes[int(self._u * len(planes))]
        d["plane"] = [a, b, k]
        d["patch3d"] = np.asarray(patch_shape_3d(self.patch_size, "2d", k), dtype=np.int64)
        return d
