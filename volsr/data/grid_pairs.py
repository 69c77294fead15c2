"""Geometry of any-factor thick-slice pairs (networks that take their output grid).

An ``any_factor`` 2D network (:class:`~volsr.models.networks.lraxis.LRAxisNet`) reads a
plane on its low-resolution grid and writes it onto any grid along the plane's rows, the
thick axis. Its training pairs are planes of a case with the thick axis as rows (as
:mod:`volsr.inference.lr_axis` presents them at inference):

* ``hr``: an HR patch ``(P_r, P_c)``;
* ``lr``: the LR rows that cover it, plus :data:`LR_CONTEXT` LR rows each side, at a real
  factor ``s`` (the thick-slice spacing in HR rows);
* ``grid``: ``((1/s, offset, P_r), (1, 0, P_c))``, the exact position of every HR patch
  row in LR-crop rows (the volsr convention ``x(o) = (o + 1/2)/s - 1/2`` of the LR grid).

Only a *region* of ``R`` HR rows around the patch is degraded, never the whole plane.
The region's LR grid starts at its first HR row (LR row ``o`` centred at region row
``(o + 1/2) s - 1/2``); its first :attr:`PairGeometry.margin` LR rows would reach past
the region (mirrored voxels) and are dropped, the next ``lr_rows`` are the LR crop, and
the HR patch starts at region row ``h0 = ceil((margin + context + 1/2) s - 1/2)``, the
first HR row whose centre is at least ``context`` LR rows inside the crop. So

    offset = (h0 + 1/2) / s - 1/2 - margin,

which depends on ``s`` only (the margin is taken for the widest profile the degradation
can draw): every pair at the same factor has the same grid, and a batch of one factor
shares it. The region's phase against the patch varies with the patch position, as a
real acquisition's slice positions do.

This module is the arithmetic and the reading of ``data.degradation``; the MONAI
transforms that draw the pairs are in :mod:`volsr.data.plane_transforms`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from volsr.degrade import Compose, RandomNoise, RandomThickSlice, ThickSlice
from volsr.degrade.noise import GaussianNoise, RicianNoise
from volsr.errors import ConfigError, InputError

__all__ = [
    "LR_CONTEXT",
    "PairGeometry",
    "ThickSliceRange",
    "case_planes",
    "pair_geometry",
    "thick_slice_range",
    "thick_slice_rows",
    "uses_grid_pairs",
]

#: LR rows of context kept each side of the LR rows that cover the HR patch.
LR_CONTEXT = 3
#: Half-support of a Gaussian slice profile (truncated at 4 sigma) per unit of FWHM.
GAUSS_REACH = 4.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))

_NOISE = (RandomNoise, GaussianNoise, RicianNoise)
_EPS = 1e-9


@dataclass(frozen=True)
class ThickSliceRange:
    """What a thick-slice degradation spec can draw (read by :func:`thick_slice_range`).

    Attributes:
        step: index of the thick-slice step in the Compose.
        factor: ``(low, high)`` slice spacing in HR voxels (equal when fixed).
        axes: the spec's candidate slice axes (used without ``hr_axes``).
        reach: largest half-support of the slice profile, in units of the factor
            (``thickness / factor`` times the profile's reach per unit width).
    """

    step: int
    factor: tuple[float, float]
    axes: tuple[int, ...]
    reach: float


@dataclass(frozen=True)
class PairGeometry:
    """The shared geometry of every pair at one factor (see the module docstring).

    Attributes:
        factor: ``s``, LR slice spacing in HR rows.
        patch: HR patch ``(P_r, P_c)``; rows are the thick axis.
        margin: LR rows of the region dropped before the LR crop.
        lr_rows: LR rows of the crop, ``ceil(P_r / s) + 2 * context``.
        region_rows: HR rows degraded, ``R``.
        hr_row0: first HR patch row in the region, ``h0``.
    """

    factor: float
    patch: tuple[int, int]
    margin: int
    lr_rows: int
    region_rows: int
    hr_row0: int

    @property
    def offset(self) -> float:
        """LR-crop row index of HR patch row 0."""
        return (self.hr_row0 + 0.5) / self.factor - 0.5 - self.margin

    @property
    def grid(self) -> tuple[tuple[float, float, int], tuple[float, float, int]]:
        """``((1/s, offset, P_r), (1, 0, P_c))``: the network's ``grid=`` argument."""
        return ((1.0 / self.factor, self.offset, int(self.patch[0])),
                (1.0, 0.0, int(self.patch[1])))


def pair_geometry(factor: float, patch: Sequence[int], reach: float,
                  context: int = LR_CONTEXT) -> PairGeometry:
    """The :class:`PairGeometry` of factor ``factor`` for an HR patch ``(P_r, P_c)``.

    Args:
        factor: ``s >= 1``.
        patch: HR patch rows (thick axis) and columns.
        reach: half-support of the widest slice profile, in units of ``s``.
        context: LR rows of context each side.

    Raises:
        ValueError: ``factor < 1`` or a bad patch.
    """
    s = float(factor)
    p_r, p_c = (int(v) for v in patch)
    if not (math.isfinite(s) and s >= 1.0) or p_r < 1 or p_c < 1 or context < 0:
        raise ValueError(f"bad pair geometry: factor {factor}, patch {list(patch)}, "
                         f"context {context}")
    half = float(reach) * s  # HR voxels
    # LR row m (centre c = (m + 1/2) s - 1/2) reads the HR voxels from floor(c - half -
    # 1/2) on (the window of volsr.resample.profile_matrix): none before the region
    margin = max(0, math.ceil((half + 2.0) / s - 0.5 - _EPS))
    lr_rows = math.ceil(p_r / s - _EPS) + 2 * int(context)
    h0 = math.ceil((margin + context + 0.5) * s - 0.5 - _EPS)
    rows = math.ceil((2 * margin + lr_rows) * s - _EPS) + 1
    return PairGeometry(s, (p_r, p_c), margin, lr_rows, max(rows, h0 + p_r), h0)


def thick_slice_rows(ts: ThickSlice, geom: PairGeometry) -> np.ndarray:
    """Dense ``(lr_rows, region_rows)`` float64 matrix: the LR crop's rows of
    ``ts.matrix(region_rows)`` (the region's thick-slice operator), computed directly.

    ``ts.factor`` must be the geometry's. Equal to the sparse operator's rows (same
    profile integrals, window and row normalisation; the margin keeps every window inside
    the region, so nothing is mirrored), at a fraction of its cost for one small crop.
    """
    from volsr.resample.kernels import _profile_functions

    width = 0.0 if ts.thickness is None else float(ts.thickness)
    func, half, _ = _profile_functions(ts.profile, width, ts.kernel, ts.kernel_step)
    s, n = geom.factor, geom.region_rows
    centres = (np.arange(geom.margin, geom.margin + geom.lr_rows) + 0.5) * s - 0.5
    j = np.arange(n, dtype=np.float64)[None, :]
    lo = np.floor(centres - half - 0.5)[:, None]
    length = math.ceil(2.0 * half + 1.0) + 2  # profile_matrix's window
    inside = (j >= lo) & (j < lo + length)
    rel = j - centres[:, None]
    w = np.where(inside, func(rel + 0.5) - func(rel - 0.5), 0.0)
    if lo.min() < 0 or (lo + length).max() > n:
        raise ValueError(f"the slice profile reaches past the region (factor {s}, profile "
                         f"{ts.profile}, thickness {ts.thickness}); the margin is too small")
    return w / w.sum(axis=1, keepdims=True)


def case_planes(hr_axes: Any, slice_axis: int, thick_axes: Sequence[int], *,
                path: Any = None, case_id: str = "") -> list[tuple[int, int, int]]:
    """Orientations ``(thick axis, other axis, slice axis)`` of a case's training planes.

    Args:
        hr_axes: the case's ``hr_axes`` (None: use ``slice_axis`` and ``thick_axes``).
        slice_axis: ``data.slice_axis``.
        thick_axes: the degradation's candidate slice axes (in the plane).
        path, case_id: for messages.

    Raises:
        InputError: ``hr_axes`` is not 2 or 3 distinct voxel axes (0, 1, 2).
    """
    if hr_axes is None:
        k = int(slice_axis)
        return [(int(a), 3 - k - int(a), k) for a in thick_axes]
    axes = list(hr_axes) if isinstance(hr_axes, (list, tuple)) else [hr_axes]
    if (not 2 <= len(axes) <= 3 or any(isinstance(a, bool) or not isinstance(a, int)
                                       for a in axes)
            or len(set(axes)) != len(axes) or any(a not in (0, 1, 2) for a in axes)):
        raise InputError(f"case {case_id!r}: hr_axes must list 2 or 3 distinct voxel axes "
                         f"(0, 1, 2), got {hr_axes!r}", path=path)
    return [(a, b, 3 - a - b) for a in axes for b in axes if a != b]


def thick_slice_along(ts: ThickSlice, axis: int, factor: float | None = None) -> ThickSlice:
    """``ts`` along ``axis`` (at ``factor``, default its own), keeping its profile and
    its thickness relative to the factor."""
    f = ts.factor if factor is None else float(factor)
    if ts.profile == "custom":
        return ThickSlice(axis=axis, factor=f, profile="custom", kernel=ts.kernel,
                          kernel_step=ts.kernel_step * f / ts.factor)
    assert ts.thickness is not None  # rect / gaussian
    return ThickSlice(axis=axis, factor=f, profile=ts.profile,
                      thickness=ts.thickness * f / ts.factor)


def _profile_reach(profile: Any) -> float:
    """Half-support per unit of slice thickness of the drawable profiles."""
    names = [str(p) for p in np.atleast_1d(np.asarray(profile, dtype=object)).tolist()]
    return GAUSS_REACH if "gaussian" in names else 0.5


def thick_slice_range(compose: Compose) -> ThickSliceRange:
    """Read the one thick-slice step of ``data.degradation`` (others must be noise).

    Raises:
        ConfigError: no thick-slice step, several, or a step that changes the grid
            otherwise (blur, k-space, resize: any-factor pairs are thick-slice pairs).
    """
    found: list[ThickSliceRange] = []
    for i, t in enumerate(compose.transforms):
        if isinstance(t, RandomThickSlice):
            f = np.atleast_1d(np.asarray(t.factor, dtype=np.float64))
            lo, hi = float(f.min()), float(f.max())
            gap = np.atleast_1d(np.asarray(t.gap, dtype=np.float64))
            ratio = 1.0 - float(gap.min())
            found.append(ThickSliceRange(i, (lo, hi), tuple(t.axes),
                                         ratio * _profile_reach(t.profile)))
        elif isinstance(t, ThickSlice):
            if t.profile == "custom":
                assert t.kernel is not None
                reach = 0.5 * (len(t.kernel) + 1) * t.kernel_step / t.factor
            else:
                assert t.thickness is not None  # rect / gaussian
                reach = t.thickness / t.factor * _profile_reach(t.profile)
            found.append(ThickSliceRange(i, (t.factor, t.factor), (int(t.axis),), reach))
        elif not isinstance(t, _NOISE):
            raise ConfigError(f"data.degradation: any-factor networks train on thick-slice "
                              f"pairs (one thick_slice or random_thick_slice step, then "
                              f"noise); {t.name!r} is not supported there")
    if len(found) != 1:
        raise ConfigError("data.degradation: any-factor networks need exactly one "
                          f"thick_slice or random_thick_slice step, got {len(found)}")
    if found[0].factor[0] < 1.0:
        raise ConfigError(f"data.degradation: thick-slice factors must be >= 1, got "
                          f"{list(found[0].factor)}")
    return found[0]


def uses_grid_pairs(any_factor: bool, mode: str, degradation: Sequence[Any]) -> bool:
    """Whether a run trains on any-factor grid pairs: an ``any_factor`` network, 2D
    mode, and a thick-slice degradation (``thick_slice``/``random_thick_slice``).

    Other degradations of an ``any_factor`` network (e.g. the zoo's in-plane x2 resize)
    keep the fixed-factor "post" pairs.
    """
    if not any_factor or mode != "2d":
        return False
    names = {str(s.name if hasattr(s, "name") else dict(s).get("name", "")).lower()
             for s in degradation}
    return bool(names & {"thick_slice", "random_thick_slice"})
