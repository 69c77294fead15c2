"""Fusing several estimates of the same volume: Fourier burst accumulation or the mean.

Each 2D pass of a self-super-resolution network (through-plane slices cut along one
in-plane axis, possibly flipped) restores the frequencies it sees well and smears the
others. Fourier burst accumulation (FBA) keeps, per 3D frequency, mostly the estimate
with the largest magnitude there:

    F = sum_i w_i F_i,    w_i = |F_i|^p / sum_j |F_j|^p,

with ``F_i`` the 3D DFT of estimate ``i`` and ``p`` about 11 (``p = 0`` is the plain
average, ``p -> inf`` the per-frequency maximum). SMORE fuses its orientations this way.

Reference:
    M. Delbracio and G. Sapiro, "Burst deblurring: removing camera shake through
    Fourier burst accumulation", CVPR 2015 (and "Hand-held video deblurring via
    efficient Fourier aggregation", IEEE TCI 2015).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["FUSIONS", "average_fusion", "fourier_burst_fusion", "fuse"]

FUSIONS = ("fba", "average")


def _check(estimates: Sequence[np.ndarray]) -> list[np.ndarray]:
    ests = [np.asarray(e) for e in estimates]
    if not ests:
        raise ValueError("need at least one estimate to fuse")
    shape = ests[0].shape
    for e in ests[1:]:
        if e.shape != shape:
            raise ValueError(f"estimates differ in shape: {shape} vs {e.shape}")
    return ests


def average_fusion(estimates: Sequence[np.ndarray]) -> np.ndarray:
    """Voxel-wise mean of same-shape arrays (float32).

    Example:
        >>> average_fusion([np.zeros(3), np.full(3, 2.0)]).tolist()
        [1.0, 1.0, 1.0]
    """
    ests = _check(estimates)
    acc = np.zeros(ests[0].shape, np.float64)
    for e in ests:
        acc += e
    return (acc / len(ests)).astype(np.float32)


def fourier_burst_fusion(estimates: Sequence[np.ndarray], p: float = 11.0, *,
                         workers: int | None = None) -> np.ndarray:
    """Fourier burst accumulation of same-shape real arrays (any dimension).

    Args:
        estimates: the arrays to fuse (e.g. one 3D volume per network orientation).
        p: magnitude exponent (``>= 0``); 11 as in Delbracio & Sapiro; 0 = average.
        workers: FFT threads (scipy.fft), default all.

    Returns:
        float32 array of the common shape. Identical estimates come back unchanged (to
        float rounding); frequencies where every estimate is zero get the plain mean.

    Memory: the estimates are transformed one at a time (single precision); the
    weights and accumulators are double precision half-spectra (about 12 bytes per
    voxel), so ``|F|^p`` neither overflows nor underflows for realistic images.

    Example:
        >>> x = np.random.default_rng(0).normal(size=(8, 8, 8)).astype(np.float32)
        >>> bool(np.allclose(fourier_burst_fusion([x, x]), x, atol=1e-5))
        True
    """
    from scipy import fft

    ests = _check(estimates)
    if not (np.isfinite(p) and p >= 0):
        raise ValueError(f"FBA exponent p must be a finite number >= 0, got {p!r}")
    if len(ests) == 1:
        return np.asarray(ests[0], np.float32).copy()
    shape = ests[0].shape
    num: np.ndarray | None = None
    den: np.ndarray | None = None
    ref = 1.0
    for i, e in enumerate(ests):
        f = fft.rfftn(np.asarray(e, np.float32), workers=workers)  # complex64
        mag = np.abs(f).astype(np.float64)
        if i == 0:  # one global scale so that the weights neither overflow nor underflow
            ref = float(mag.max()) or 1.0
        w = (mag / ref) ** p
        if num is None:
            num, den = w * f, w
        else:
            num += w * f
            den += w
    empty = den <= 0
    if np.any(empty):  # every estimate vanishes there: take the plain mean (all ~0 anyway)
        total = sum(fft.rfftn(np.asarray(e, np.float32), workers=workers) for e in ests)
        num[empty] = total[empty] / len(ests)
        den[empty] = 1.0
    num /= den
    return fft.irfftn(num, s=shape, workers=workers).astype(np.float32)


def fuse(estimates: Sequence[np.ndarray], method: str = "fba", *, p: float = 11.0
         ) -> np.ndarray:
    """Fuse with ``"fba"`` (:func:`fourier_burst_fusion`) or ``"average"``."""
    if method == "fba":
        return fourier_burst_fusion(estimates, p)
    if method == "average":
        return average_fusion(estimates)
    raise ValueError(f"fusion must be one of {FUSIONS}, got {method!r}")
