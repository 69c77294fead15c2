"""Training pairs on the low-resolution grid, for networks that take an output grid.

:mod:`volsr.ssr.pairs` makes SMORE's pairs for same-size refiners: an in-plane slice
degraded along one in-plane axis, *interpolated back* onto the pixel grid. A network that
works on the low-resolution grid itself (``any_factor`` networks such as
:class:`~volsr.models.networks.lraxis.LRAxisNet`) needs the degraded slice as it was
acquired, plus the grid of the target: this module gives ``(LR crop, HR patch, grid)``
triples, made with the same acquisition (:func:`volsr.ssr.pairs.thick_slice_along`, the
slice profile at the scan's slice spacing) and the same foreground sampling.

Layout: the degraded in-plane axis is the plane's FIRST axis (rows), as the network meets
the thick axis at inference (:func:`volsr.inference.lr_axis.predict_lr_axis`). An LR crop
has ``ceil(rows / factor) + 2 * context`` rows: the HR patch's rows plus ``context`` LR
rows of real anatomy on each side (no padding in training). All patches of a batch share
one grid ``((1 / factor, offset, rows), (1, 0, cols))``: one stack (in-plane axis), one LR
row window and one row flip per batch; slices, columns and column flips vary.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from volsr.ssr.header import Acquisition
from volsr.ssr.pairs import _foreground, _layout, thick_slice_along
from volsr.ssr.profile import SliceProfile

__all__ = ["MIN_PATCH", "LRBatch", "LRPairSampler", "build_lr_sampler", "fit_patch"]

MIN_PATCH = 16
"""Smallest HR patch side (pixels) worth training on."""

Grid2 = tuple[tuple[float, float, int], tuple[float, float, int]]


@dataclass
class LRBatch:
    """One batch: ``lr`` ``(B, 1, n_lr, cols)``, ``hr`` ``(B, 1, rows, cols)`` float32 and
    the ``grid`` that maps ``lr`` onto ``hr`` (``LRAxisNet.forward(lr, grid=grid)``)."""

    lr: np.ndarray
    hr: np.ndarray
    grid: Grid2
    factor: float


@dataclass
class _LRStack:
    """Slices of one degraded in-plane axis: ``hr`` ``(K, n, m)`` and its acquisition
    ``lr`` ``(K, n_lr, m)`` (rows degraded by ``factor``)."""

    hr: np.ndarray
    lr: np.ndarray
    factor: float
    centres: np.ndarray | None


def _crop_rows(j0: int, rows: int, context: int, factor: float) -> tuple[int, int]:
    """``(n_lr, o0)``: LR rows of a crop starting at LR row ``j0``, first HR row it covers."""
    n_lr = math.ceil(rows / factor) + 2 * context
    o0 = math.ceil((j0 + context + 0.5) * factor - 0.5)
    return n_lr, o0


def fit_patch(n_hr: int, n_lr: int, factor: float, n_cols: int, *, patch: int = 64,
              context: int = 3) -> tuple[int, int, int] | None:
    """The largest ``(rows, cols, context)`` (patch at most ``patch``, context at most
    ``context`` LR rows, both at least :data:`MIN_PATCH` / 1) that fits a slice of ``n_hr``
    HR rows (``n_lr`` acquired) and ``n_cols`` columns; None when none does."""
    cols = min(int(patch), int(n_cols))
    if cols < MIN_PATCH:
        return None
    for c in range(int(context), 0, -1):
        for rows in range(int(patch), MIN_PATCH - 1, -4):
            k, o0 = _crop_rows(0, rows, c, factor)
            if k <= n_lr and o0 + rows <= n_hr:
                return rows, cols, c
    return None


class LRPairSampler:
    """Draws :class:`LRBatch` es from precomputed stacks.

    Args:
        stacks: one per degraded in-plane axis.
        rows, cols, context: the patch (HR pixels) and LR context rows (:func:`fit_patch`).
        fg_fraction: probability that a patch is centred on a foreground pixel.
        flips: random row (per batch) and column (per patch) flips.
    """

    def __init__(self, stacks: Sequence[_LRStack], *, rows: int, cols: int, context: int,
                 fg_fraction: float = 0.8, flips: bool = True) -> None:
        if not stacks:
            raise ValueError("LRPairSampler needs at least one stack")
        self.stacks = list(stacks)
        self.rows, self.cols, self.context = int(rows), int(cols), int(context)
        self.fg_fraction = float(fg_fraction)
        self.flips = bool(flips)

    @property
    def slices(self) -> int:
        """Slices per stack."""
        return int(self.stacks[0].hr.shape[0])

    def sample(self, rng: np.random.Generator, batch: int) -> LRBatch:
        """One batch sharing a grid (see the module docstring)."""
        st = self.stacks[int(rng.integers(len(self.stacks)))]
        f, c, rows, cols = st.factor, self.context, self.rows, self.cols
        k_n, n_hr, n_cols = st.hr.shape
        n_lr = _crop_rows(0, rows, c, f)[0]
        j_max = 0
        while (j_max + 1 + n_lr <= st.lr.shape[1]
               and _crop_rows(j_max + 1, rows, c, f)[1] + rows <= n_hr):
            j_max += 1
        centre = self._centre(rng, st)
        if centre is not None:
            i = centre[1]
            j0 = int(np.clip(round((i + 0.5) / f - 0.5 - n_lr / 2), 0, j_max))
        else:
            j0 = int(rng.integers(j_max + 1))
        o0 = _crop_rows(j0, rows, c, f)[1]
        offset = (o0 + 0.5) / f - 0.5 - j0
        flip_rows = self.flips and bool(rng.random() < 0.5)
        if flip_rows:  # the reversed crop: same step, offset from the other end
            offset = n_lr - 0.5 + j0 - (o0 + rows - 0.5) / f
        lr = np.empty((batch, 1, n_lr, cols), np.float32)
        hr = np.empty((batch, 1, rows, cols), np.float32)
        for b in range(batch):
            pick = centre if b == 0 else self._centre(rng, st)
            if pick is not None:
                k = pick[0]
                c0 = int(np.clip(pick[2] - cols // 2, 0, n_cols - cols))
            else:
                k = int(rng.integers(k_n))
                c0 = int(rng.integers(n_cols - cols + 1))
            x = st.lr[k, j0:j0 + n_lr, c0:c0 + cols]
            y = st.hr[k, o0:o0 + rows, c0:c0 + cols]
            if flip_rows:
                x, y = x[::-1], y[::-1]
            if self.flips and rng.random() < 0.5:
                x, y = x[:, ::-1], y[:, ::-1]
            lr[b, 0], hr[b, 0] = x, y
        grid = ((1.0 / f, float(offset), rows), (1.0, 0.0, cols))
        return LRBatch(lr=lr, hr=hr, grid=grid, factor=f)

    def _centre(self, rng: np.random.Generator, st: _LRStack) -> tuple[int, int, int] | None:
        if st.centres is None or rng.random() >= self.fg_fraction:
            return None
        flat = int(st.centres[int(rng.integers(st.centres.size))])
        k, i, j = np.unravel_index(flat, st.hr.shape)
        return int(k), int(i), int(j)


def build_lr_sampler(hr: np.ndarray, acq: Acquisition,
                     profile: SliceProfile | Sequence[SliceProfile], *,
                     slices: Sequence[int] | np.ndarray | None = None, patch: int = 64,
                     context: int = 3, fg_fraction: float = 0.8, flips: bool = True,
                     mask: np.ndarray | None = None) -> LRPairSampler:
    """LR-grid pairs from a normalised scan's in-plane slices.

    Args:
        hr: the normalised scan ``(X, Y, Z)`` on its own grid.
        acq: its geometry (:func:`volsr.ssr.header.analyze_header`); each in-plane axis
            in turn is acquired at ``acq.slice_spacing`` through ``profile``.
        profile: the slice profile, or several (a stack per profile and axis: pairs of
            every profile, for a scan whose profile is not known).
        slices: indices along ``acq.axis`` to use (default all; a held-out split).
        patch, context: the largest HR patch side and LR context rows (reduced to fit,
            :func:`fit_patch`).
        fg_fraction, flips: see :class:`LRPairSampler`.
        mask: foreground of ``hr`` (default: :func:`volsr.metrics.foreground_mask`).

    Raises:
        ValueError: not 3D, no slices, or slices too small for a :data:`MIN_PATCH` patch.
    """
    if hr.ndim != 3:
        raise ValueError(f"expected a 3D array, got shape {hr.shape}")
    t = acq.axis
    idx = np.arange(hr.shape[t]) if slices is None else np.asarray(slices, dtype=int)
    if idx.size == 0:
        raise ValueError("no slices to make pairs from")
    sub = np.take(np.asarray(hr, np.float32), idx, axis=t)
    fg = _foreground(hr) if mask is None and fg_fraction > 0 else mask
    sub_fg = None if fg is None else np.take(fg, idx, axis=t)
    profiles = [profile] if isinstance(profile, SliceProfile) else list(profile)
    stacks, fits = [], []
    for prof, a in ((p, a) for p in profiles for a in acq.inplane_axes):
        other = acq.inplane_axes[0] if a == acq.inplane_axes[1] else acq.inplane_axes[1]
        pixel = float(acq.spacing[a])
        factor = acq.slice_spacing / pixel
        lr = thick_slice_along(sub, a, factor=factor, profile=prof, pixel_mm=pixel)
        order = (t, a, other)  # (slices, rows = the degraded axis, cols)
        centres = None
        if sub_fg is not None and sub_fg.any():
            centres = np.flatnonzero(_layout(sub_fg, order)).astype(np.int64)
        st = _LRStack(_layout(sub, order), _layout(np.asarray(lr, np.float32), order),
                      float(factor), centres)
        fit = fit_patch(st.hr.shape[1], st.lr.shape[1], factor, st.hr.shape[2], patch=patch,
                        context=context)
        if fit is None:
            raise ValueError(f"in-plane slices of {st.hr.shape[1]} x {st.hr.shape[2]} pixels "
                             f"are too small for {MIN_PATCH}-pixel training patches at "
                             f"factor {factor:.3g}")
        stacks.append(st)
        fits.append(fit)
    rows = min(f[0] for f in fits)
    cols = min(f[1] for f in fits)
    ctx = min(f[2] for f in fits)
    return LRPairSampler(stacks, rows=rows, cols=cols, context=ctx, fg_fraction=fg_fraction,
                         flips=flips)
