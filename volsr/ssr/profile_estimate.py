"""Slice-profile estimation from the scan itself (``--profile auto``).

A thick-slice scan samples the same anatomy twice: finely and (nearly) alias-free along
its two in-plane axes, and through the unknown slice profile ``h`` at the slice spacing
``S`` along the slice axis. If the anatomy is statistically isotropic, acquiring an
in-plane axis through the right candidate ``h`` at spacing ``S`` gives lines whose power
spectrum matches the through-plane one, aliasing included. So, for each candidate (shape
family ``rect`` or ``gaussian``, width = thickness / FWHM from ``width_ratios`` times
``S``):

1. each in-plane axis of the scan is acquired through the candidate with
   :func:`volsr.ssr.pairs.thick_slice_along` (with its own pixel size, so anisotropic
   in-plane spacing needs no resampling; the decimation aliases as the real acquisition
   did);
2. the mean power spectrum of Hann-windowed, mean-removed segments of ``L`` samples is
   taken along that axis (the candidate) and along the slice axis *of the same
   candidate-acquired volume* (the reference): each direction is then acquired through
   one profile and blurred by the other, with the same sampling phase, so under
   isotropy the two agree exactly for the true profile. Only segments inside the Otsu
   foreground eroded by about one slice spacing count (the object's outline is a strong
   edge whose orientation says nothing about the profile); both in-plane axes are pooled;
3. the cost is the variance over frequency of ``log P_candidate - log P_reference``:
   the log makes it contrast-free and the variance ignores a constant offset.

Each family's best width is refined by a parabola through the best grid point and its
neighbours; widths whose costs tie (identical data, e.g. rect widths up to two pixels at
x2) resolve to the one nearest the slice spacing. The answer is the family with the
lower cost, with two confidences in ``[0, 1]``: ``confidence``, how sharply the best
width stands out (``m / (1 + m)``, ``m`` = the cost ``MARGIN_STEP`` spacings beyond the
best width over the best cost, minus 1; 0 when the best width is on the edge of the
searched range), and ``family_confidence``, ``1 - c_best / c_other``. A rect of width
``w`` and a Gaussian of FWHM ~0.68 ``w`` (equal standard deviation) blur alike in the
pass band, so the family is often uncertain when the blur's size is not. The gap
follows from the width: ``gap = S - thickness``.

Limits (see ``docs/ssr.md``): anatomy that is not isotropic (e.g. long vessels along
the slice axis) biases the width; noise added *after* the acquisition (white along the
slice axis, as in real MR) flattens the high through-plane frequencies, which reads as
a sharper profile. The estimate is a statistical match of spectra, not a measurement.

Related work: B. Han et al., "MR slice profile estimation by learning to match internal
patch distributions", IPMI 2021 (ESPRESO) matches patch distributions with a GAN; this
module matches second-order statistics only, which takes 1-3 s on one CPU core.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from volsr.ssr.header import Acquisition
from volsr.ssr.profile import SliceProfile, build_profile

__all__ = ["ESTIMATE_FAMILIES", "WIDTH_RATIOS", "ProfileEstimate", "estimate_profile",
           "profile_std"]

log = logging.getLogger(__name__)

ESTIMATE_FAMILIES = ("rect", "gaussian")
WIDTH_RATIOS = tuple(float(r) for r in np.round(np.arange(0.6, 1.4001, 0.05), 4))
MAX_SEGMENT = 32  # samples per spectral segment (fewer when the scan has fewer slices)
MIN_SEGMENT = 8
MIN_LINE = 4  # fewer samples per line (slices, or in-plane extent in slice spacings): no estimate
TIE = 1e-6  # relative cost difference below which two candidates tie
MARGIN_STEP = 0.1  # width confidence: cost this many slice spacings beyond the best width
MAX_VOXELS = 1_500_000  # per in-plane axis: every k-th plane across it is used beyond this


@dataclass(frozen=True)
class ProfileEstimate:
    """An estimated slice profile.

    Attributes:
        family: ``"rect"`` or ``"gaussian"``.
        thickness: rect width / Gaussian FWHM in mm.
        gap: ``slice_spacing - thickness`` in mm (negative: overlapping slices).
        slice_spacing: the scan's slice spacing in mm.
        confidence: in ``[0, 1]``, how sharply the best width stands out (see the module
            docstring; 0 when it is on the edge of the searched range); with a known
            thickness, ``family_confidence``.
        family_confidence: in ``[0, 1]``, ``1 - best cost / best cost of the other
            family``.
        costs: ``{family: [(thickness_mm, cost), ...]}`` over the searched widths.
        segment: samples per spectral segment; ``segments``: how many segments
            (through-plane, in-plane) entered the spectra.
    """

    family: str
    thickness: float
    gap: float
    slice_spacing: float
    confidence: float
    family_confidence: float = 0.0
    costs: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    segment: int = 0
    segments: tuple[int, int] = (0, 0)

    @property
    def std(self) -> float:
        """Standard deviation of the estimated profile in mm (see :func:`profile_std`)."""
        return profile_std(self.family, self.thickness)

    def profile(self) -> SliceProfile:
        """The estimate as a :class:`~volsr.ssr.profile.SliceProfile`."""
        return build_profile(self.family, thickness=self.thickness)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (for the sidecar)."""
        return {
            "family": self.family,
            "thickness_mm": round(self.thickness, 4),
            "gap_mm": round(self.gap, 4),
            "width_ratio": round(self.thickness / self.slice_spacing, 4),
            "std_mm": round(self.std, 4),
            "confidence": round(self.confidence, 4),
            "family_confidence": round(self.family_confidence, 4),
            "segment": self.segment,
            "segments": list(self.segments),
            "costs": {f: [[round(w, 4), round(c, 6)] for w, c in rows]
                      for f, rows in self.costs.items()},
        }


def profile_std(family: str, width: float) -> float:
    """Standard deviation of a unit-area profile: ``width / sqrt(12)`` for a rect of that
    width, ``FWHM / (2 sqrt(2 ln 2))`` for a Gaussian. A rect and a Gaussian of equal
    standard deviation (FWHM about 0.68x the rect width) blur alike in the pass band,
    so the standard deviation is what the spectra pin down best."""
    if family == "rect":
        return float(width) / np.sqrt(12.0)
    if family == "gaussian":
        return float(width) / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    raise ValueError(f"family must be rect or gaussian, got {family!r}")


def _segments(lines: np.ndarray, keep: np.ndarray, length: int) -> np.ndarray:
    """Segments ``(K, length)`` of ``lines`` (N, n) at half-overlap, where ``keep`` is all True."""
    n = lines.shape[1]
    starts = range(0, n - length + 1, max(1, length // 2))
    segs = [lines[:, s:s + length][keep[:, s:s + length].all(axis=1)] for s in starts]
    return np.concatenate(segs, axis=0) if segs else np.zeros((0, length))


def _spectrum(segs: np.ndarray) -> np.ndarray:
    """Mean power spectrum (bins 1..L/2) of mean-removed, Hann-windowed segments."""
    length = segs.shape[1]
    win = np.hanning(length + 2)[1:-1]
    x = segs.astype(np.float64)
    x = (x - x.mean(axis=1, keepdims=True)) * win
    return (np.abs(np.fft.rfft(x, axis=1)) ** 2).mean(axis=0)[1:]


def _lines(arr: np.ndarray, axis: int) -> np.ndarray:
    """All 1D lines along ``axis`` as rows ``(N, n)``."""
    moved = np.moveaxis(arr, axis, -1)
    return moved.reshape(-1, moved.shape[-1])


def _refine(widths: np.ndarray, costs: np.ndarray, spacing: float
            ) -> tuple[float, float, bool]:
    """The best width of one family: ``(width, cost, on_edge)``.

    Candidates whose costs tie with the minimum (the data cannot tell them apart, e.g.
    rect widths below two pixels at x2, which weight the pixels alike) resolve to the one
    nearest the slice spacing (no gap). A strict minimum is refined by a parabola through
    it and its neighbours.
    """
    tied = np.flatnonzero(costs <= costs.min() * (1 + TIE) + 1e-12)
    i = int(tied[np.argmin(np.abs(widths[tied] - spacing))])
    edge = i in (0, len(costs) - 1) and len(tied) == 1
    if len(tied) > 1 or i == 0 or i == len(costs) - 1:
        return float(widths[i]), float(costs[i]), edge
    c0, c1, c2 = costs[i - 1:i + 2]
    denom = c0 - 2 * c1 + c2
    shift = float(np.clip(0.5 * (c0 - c2) / denom, -0.5, 0.5)) if denom > 0 else 0.0
    step = 0.5 * (widths[i + 1] - widths[i - 1])
    return float(widths[i] + shift * step), float(c1 - 0.25 * (c0 - c2) * shift), False


def _width_margin(widths: np.ndarray, costs: np.ndarray, spacing: float) -> float:
    """How sharply the best width stands out: the cost ``MARGIN_STEP`` slice spacings
    beyond the best (tied) widths, over the best cost, minus 1 (the lower side where both
    are in range; 0 when neither is)."""
    best = float(costs.min())
    tied = widths[costs <= best * (1 + TIE) + 1e-12]
    probes = [w for w in (tied.min() - MARGIN_STEP * spacing, tied.max() + MARGIN_STEP * spacing)
              if widths[0] - 1e-9 <= w <= widths[-1] + 1e-9]
    if not probes or len(widths) < 2:
        return 0.0
    around = min(float(np.interp(w, widths, costs)) for w in probes)
    return around / best - 1.0 if best > 0 else float("inf")


def estimate_profile(
    data: np.ndarray,
    acq: Acquisition,
    *,
    families: Sequence[str] = ESTIMATE_FAMILIES,
    width_ratios: Sequence[float] = WIDTH_RATIOS,
    thickness: float | None = None,
    mask: np.ndarray | None = None,
) -> ProfileEstimate:
    """Estimate the slice profile's family and width (see the module docstring).

    Args:
        data: the scan, 3D ``(X, Y, Z)`` on its own grid (any intensity scale).
        acq: its geometry (:func:`volsr.ssr.header.analyze_header`); ``acq.thickness``
            is not used.
        families: candidate shape families.
        width_ratios: candidate widths as multiples of the slice spacing (widths below
            the coarser in-plane pixel are dropped).
        thickness: a known thickness in mm: only the family is estimated.
        mask: foreground mask of ``data`` (default: :func:`volsr.metrics.foreground_mask`,
            or everything when that fails).

    Returns:
        A :class:`ProfileEstimate`.

    Raises:
        ValueError: a non-3D array, no widths / families to search, or fewer than
            ``MIN_LINE`` slices (or in-plane extent in slice spacings).
    """
    arr = np.asarray(data, dtype=np.float32)
    if arr.ndim != 3:
        raise ValueError(f"expected a 3D array, got shape {arr.shape}")
    spacing = acq.slice_spacing
    if thickness is not None:
        widths = np.array([float(thickness)])
    else:
        floor = max(float(acq.spacing[a]) for a in acq.inplane_axes)
        widths = np.array([r * spacing for r in width_ratios if r * spacing >= floor])
    if widths.size == 0 or not families:
        raise ValueError("no candidate widths or families to search")
    fg = _interior(_mask(arr) if mask is None else np.asarray(mask, dtype=bool), acq)

    n_inplane = [max(1, round(float(arr.shape[a] * acq.spacing[a]) / spacing))
                 for a in acq.inplane_axes]
    length = int(min(MAX_SEGMENT, arr.shape[acq.axis], *n_inplane)) // 2 * 2
    if length < MIN_LINE:
        raise ValueError(f"too few samples per line for a spectrum ({arr.shape[acq.axis]} "
                         f"slices, in-plane lines of {min(n_inplane)} slice spacings; "
                         f"need {MIN_LINE})")
    if length < MIN_SEGMENT:
        log.warning("only %d samples per line for the slice-profile spectra: the estimate "
                    "is coarse", length)
    stride = int(np.ceil(arr.size / MAX_VOXELS))
    subsets = {}  # per in-plane axis a: every stride-th plane across the other one
    for a in acq.inplane_axes:
        b = acq.inplane_axes[0] if a == acq.inplane_axes[1] else acq.inplane_axes[1]
        take = np.arange(0, arr.shape[b], stride)
        subsets[a] = (np.take(arr, take, axis=b), np.take(fg, take, axis=b))
    costs: dict[str, np.ndarray] = {}
    counts = (0, 0)
    for fam in families:
        row = []
        for w in widths:
            prof = build_profile(fam, thickness=float(w))
            cand, ref = [], []
            for a, (sub, sub_fg) in subsets.items():
                c, r = _spectra(sub, sub_fg, a, acq, prof, length)
                cand.append(c)
                ref.append(r)
            counts = (sum(n for _, n in ref), sum(n for _, n in cand))
            d = np.log(_pool(cand) + 1e-30) - np.log(_pool(ref) + 1e-30)
            row.append(float(np.var(d)))
        costs[fam] = np.asarray(row)

    best: dict[str, tuple[float, float, bool]] = {}
    for fam, c in costs.items():
        best[fam] = _refine(widths, c, spacing)
    ranked = sorted(best, key=lambda f: best[f][1])
    family = ranked[0]
    width, cost, edge = best[family]
    other = best[ranked[1]][1] if len(ranked) > 1 else np.inf
    family_conf = 1.0 - cost / other if other > 0 else 0.0
    if thickness is not None:
        confidence = family_conf  # nothing else was estimated
    elif edge:
        confidence = 0.0
    else:
        m = _width_margin(widths, costs[family], spacing)
        confidence = m / (1.0 + m)
    table = {f: [(float(w), float(v)) for w, v in zip(widths, c)] for f, c in costs.items()}
    est = ProfileEstimate(family=family, thickness=width, gap=spacing - width,
                          slice_spacing=spacing, confidence=float(np.clip(confidence, 0, 1)),
                          family_confidence=float(np.clip(family_conf, 0, 1)),
                          costs=table, segment=length, segments=counts)
    log.info("slice profile estimate: %s %.3g mm (%.3gx the %.3g mm spacing), confidence %.2f",
             family, width, width / spacing, spacing, est.confidence)
    return est


def _pool(spectra: list[tuple[np.ndarray, int]]) -> np.ndarray:
    """Segment-count weighted mean of per-axis spectra."""
    return np.average(np.stack([s for s, _ in spectra]), axis=0,
                      weights=[max(n, 1) for _, n in spectra])


def _spectrum_of(arr: np.ndarray, keep: np.ndarray, axis: int, length: int
                 ) -> tuple[np.ndarray, int]:
    """Spectrum of the segments along ``axis`` inside ``keep`` (all segments if none is)."""
    lines = _lines(arr, axis)
    segs = _segments(lines, _lines(keep, axis), length)
    if len(segs) == 0:
        segs = _segments(lines, np.ones(lines.shape, dtype=bool), length)
    return _spectrum(segs), len(segs)


def _spectra(arr: np.ndarray, fg: np.ndarray, a: int, acq: Acquisition,
             prof: SliceProfile, length: int) -> tuple[tuple[np.ndarray, int], ...]:
    """In-plane axis ``a`` acquired through ``prof`` at the slice spacing: the spectra of its
    lines along ``a`` (the candidate) and along the slice axis (the reference).

    The scan's in-plane lines were blurred through-plane by the true profile, so the
    reference is taken from the same candidate-acquired volume: each direction is then
    acquired through one profile and blurred by the other, with the same sampling phase,
    and under isotropy the two spectra agree exactly when the candidate is the true
    profile.
    """
    from volsr.ssr.pairs import thick_slice_along

    pixel = float(acq.spacing[a])
    factor = acq.slice_spacing / pixel
    lr = thick_slice_along(arr, a, factor=factor, profile=prof, pixel_mm=pixel)
    keep = thick_slice_along(fg.astype(np.float32), a, factor=factor, profile=prof,
                             pixel_mm=pixel) > 0.999
    return _spectrum_of(lr, keep, a, length), _spectrum_of(lr, keep, acq.axis, length)


def _interior(fg: np.ndarray, acq: Acquisition) -> np.ndarray:
    """``fg`` eroded by about one slice spacing in every direction (by one slice along the
    slice axis), so that no spectral segment contains the object's outline: the outline is
    a strong edge whose orientation statistics say nothing about the slice profile. The
    mask is returned unchanged when the erosion leaves nothing."""
    from scipy import ndimage

    size = [1 + 2 * max(1, int(np.ceil(acq.slice_spacing / s))) for s in acq.spacing]
    size[acq.axis] = 3
    inner = ndimage.minimum_filter(fg.astype(np.uint8), size=size, mode="constant") > 0
    return inner if inner.any() else fg


def _mask(arr: np.ndarray) -> np.ndarray:
    from volsr.errors import InputError
    from volsr.metrics import foreground_mask

    try:
        return foreground_mask(arr)
    except (InputError, ValueError) as exc:
        log.info("no foreground mask for the profile estimate (%s): all voxels used", exc)
        return np.ones(arr.shape, dtype=bool)
