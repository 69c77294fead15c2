"""1D resampling operators as matrices: slice/blur profiles and interpolation kernels.

Two families of ``(n_out, n_in)`` matrices, both following the grid convention of
:mod:`volsr.geometry.grid` (output voxel ``o`` is centred at input continuous index
``c_o = (o + 1/2)/s - 1/2``):

* :func:`profile_matrix`: each output sample is the integral of a unit-area profile
  (``rect``, ``gaussian`` or a user ``custom`` kernel) over the input voxels, which are
  boxes of width 1 -- the acquisition model of a thick slice or a blurring PSF. The
  ``cubic`` and ``lanczos`` profiles are *point sampled* at the input voxel centres (as
  MATLAB ``imresize`` does with its antialiasing kernels) instead of integrated.
* :func:`interpolation_matrix`: interpolation at arbitrary continuous coordinates
  (``nearest``, ``linear``, ``cubic``, ``lanczos``, ``fourier``).

Boundaries: the local kernels use half-sample symmetric mirroring (input index ``-1``
reads voxel ``0``, ``n_in`` reads ``n_in - 1``, ``-2`` reads ``1`` ...), so a constant
signal stays constant up to the edges. ``fourier`` is periodic by construction.

References:
    R. Keys, "Cubic convolution interpolation for digital image processing",
    IEEE Trans. ASSP 29(6), 1981 (the a = -0.5 cubic kernel).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
from scipy.special import erf

from volsr.geometry.grid import output_size, source_coordinates

__all__ = [
    "PROFILES",
    "INTERPOLATIONS",
    "cubic_kernel",
    "fourier_kernel",
    "interpolation_matrix",
    "lanczos_kernel",
    "mirror_index",
    "profile_matrix",
]

PROFILES = ("rect", "gaussian", "cubic", "lanczos", "custom")
INTERPOLATIONS = ("nearest", "linear", "cubic", "lanczos", "fourier")
_FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))
_GAUSS_TRUNCATE = 4.0  # sigmas


def mirror_index(j: np.ndarray, n: int) -> np.ndarray:
    """Fold integer indices into ``[0, n)`` by half-sample symmetric mirroring.

    ``-1 -> 0``, ``-2 -> 1``, ``n -> n - 1``, ``n + 1 -> n - 2`` (period ``2 n``).
    """
    m = np.mod(np.asarray(j, dtype=np.int64), 2 * n)
    return np.where(m >= n, 2 * n - 1 - m, m)


def cubic_kernel(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    """Keys cubic convolution kernel (support ``|x| < 2``, ``a = -0.5``)."""
    ax = np.abs(np.asarray(x, dtype=np.float64))
    ax2, ax3 = ax * ax, ax * ax * ax
    inner = (a + 2.0) * ax3 - (a + 3.0) * ax2 + 1.0
    outer = a * ax3 - 5.0 * a * ax2 + 8.0 * a * ax - 4.0 * a
    return np.where(ax <= 1.0, inner, np.where(ax < 2.0, outer, 0.0))


def lanczos_kernel(x: np.ndarray, lobes: int = 3) -> np.ndarray:
    """Lanczos windowed sinc ``sinc(x) sinc(x / lobes)`` for ``|x| < lobes``, else 0."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(np.abs(x) < lobes, np.sinc(x) * np.sinc(x / lobes), 0.0)


def fourier_kernel(t: np.ndarray, n: int) -> np.ndarray:
    """Periodic Dirichlet kernel: trigonometric interpolation of ``n`` samples.

    For odd ``n`` it is ``sin(pi t) / (n sin(pi t / n))``; for even ``n`` the Nyquist
    frequency is split evenly between ``+n/2`` and ``-n/2`` (so real samples give a real
    interpolant): ``sin(pi t) cos(pi t / n) / (n sin(pi t / n))``. Period ``n``; 1 at 0.
    """
    t = np.asarray(t, dtype=np.float64)
    t = t - n * np.round(t / n)  # |t| <= n/2, so sinc(t/n) >= 2/pi (no 0/0 away from 0)
    val = np.sinc(t) / np.sinc(t / n)
    if n % 2 == 0:
        val = val * np.cos(np.pi * t / n)
    return val


def _custom_cdf(kernel: np.ndarray, step: float) -> tuple[Callable[[np.ndarray], np.ndarray],
                                                             float]:
    """Exact CDF of a piecewise-linear, unit-area profile through ``kernel`` samples.

    Samples sit at ``(i - (K - 1)/2) * step`` (centred); the profile is 0 outside them.
    """
    v = np.asarray(kernel, dtype=np.float64).ravel()
    if v.size < 2 or not np.all(np.isfinite(v)) or np.any(v < 0):
        raise ValueError("custom kernel needs >= 2 finite, non-negative samples, got "
                         f"{np.asarray(kernel).ravel()[:8].tolist()}")
    if not (np.isfinite(step) and step > 0):
        raise ValueError(f"kernel_step must be a positive number, got {step!r}")
    knots = (np.arange(v.size) - (v.size - 1) / 2.0) * step
    seg = 0.5 * (v[:-1] + v[1:]) * step
    area = float(seg.sum())
    if area <= 0:
        raise ValueError("custom kernel has zero area")
    v = v / area
    cum = np.concatenate([[0.0], np.cumsum(seg / area)])

    def cdf(x: np.ndarray) -> np.ndarray:
        xc = np.clip(x, knots[0], knots[-1])
        i = np.clip(np.floor((xc - knots[0]) / step).astype(np.int64), 0, v.size - 2)
        u = xc - knots[i]
        slope = (v[i + 1] - v[i]) / step
        return cum[i] + v[i] * u + 0.5 * slope * u * u

    return cdf, float(knots[-1])


def _profile_functions(profile: str, width: float, kernel: np.ndarray | None,
                       kernel_step: float) -> tuple[Callable[[np.ndarray], np.ndarray],
                                                    float, bool]:
    """(function, half support in input voxels, integrated?) for one profile."""
    if profile == "custom":
        if kernel is None:
            raise ValueError("profile='custom' needs kernel= (1D array) and kernel_step=")
        cdf, half = _custom_cdf(kernel, kernel_step)
        return cdf, half, True
    if not (np.isfinite(width) and width > 0):
        raise ValueError(f"profile width must be a positive number, got {width!r}")
    if profile == "rect":
        return (lambda x: np.clip(x / width + 0.5, 0.0, 1.0)), width / 2.0, True
    if profile == "gaussian":
        sigma = width * _FWHM_TO_SIGMA
        return (lambda x: 0.5 * (1.0 + erf(x / (sigma * math.sqrt(2.0))))), \
            _GAUSS_TRUNCATE * sigma, True
    if profile == "cubic":
        return (lambda x: cubic_kernel(x / width) / width), 2.0 * width, False
    if profile == "lanczos":
        return (lambda x: lanczos_kernel(x / width) / width), 3.0 * width, False
    raise ValueError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")


def _to_csr(rows: np.ndarray, cols: np.ndarray, w: np.ndarray, n_out: int, n_in: int,
            normalize: bool) -> sp.csr_matrix:
    """Sum duplicate (row, col) weights, optionally normalise rows to 1, return CSR."""
    mat = sp.coo_matrix((w.ravel(), (rows.ravel(), cols.ravel())), shape=(n_out, n_in)).tocsr()
    mat.sum_duplicates()
    mat.eliminate_zeros()
    if normalize:
        sums = np.asarray(mat.sum(axis=1)).ravel()
        if np.any(np.abs(sums) < 1e-12):
            bad = int(np.argmin(np.abs(sums)))
            raise ValueError(f"output sample {bad} receives no weight (all of its kernel "
                             "falls outside the input); use boundary='mirror'")
        mat = sp.diags(1.0 / sums) @ mat
    return sp.csr_matrix(mat)


def _windowed(n_in: int, centres: np.ndarray, half: float, boundary: str
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate input indices around each centre: (rows, raw j, folded j or -1)."""
    n_out = centres.size
    length = int(math.ceil(2.0 * half + 1.0)) + 2
    j = np.floor(centres - half - 0.5).astype(np.int64)[:, None] + np.arange(length)[None, :]
    rows = np.broadcast_to(np.arange(n_out)[:, None], j.shape)
    if boundary == "mirror":
        folded = mirror_index(j, n_in)
    elif boundary == "zero":
        folded = np.where((j >= 0) & (j < n_in), j, -1)
    else:
        raise ValueError(f"boundary must be 'mirror' or 'zero', got {boundary!r}")
    return rows, j, folded


def _weights_to_csr(rows: np.ndarray, folded: np.ndarray, w: np.ndarray, n_out: int,
                    n_in: int, normalize: bool) -> sp.csr_matrix:
    keep = folded >= 0
    return _to_csr(rows[keep], folded[keep], w[keep], n_out, n_in, normalize)


def profile_matrix(
    n_in: int,
    scale: float,
    *,
    profile: str,
    width: float | None = None,
    n_out: int | None = None,
    normalize_edges: bool = True,
    boundary: str = "mirror",
    kernel: np.ndarray | None = None,
    kernel_step: float = 1.0,
) -> sp.csr_matrix:
    """Matrix ``(n_out, n_in)`` averaging the input through a profile centred on each output.

    Output ``o`` is centred at ``c_o = (o + 1/2)/scale - 1/2`` input voxels. The weight of
    input voxel ``j`` is ``integral_{j-1/2}^{j+1/2} p(x - c_o) dx`` for the unit-area
    profile ``p`` whose width is ``width`` input voxels:

    * ``"rect"``: box of width ``width`` (a thick slice with no gap when ``width = 1/scale``);
    * ``"gaussian"``: Gaussian with FWHM ``width`` (erf differences, truncated at 4 sigma);
    * ``"custom"``: the piecewise-linear profile through ``kernel`` (samples ``kernel_step``
      input voxels apart, centred, normalised to unit area; ``width`` is ignored);
    * ``"cubic"`` / ``"lanczos"``: the Keys (a = -0.5) cubic / lanczos3 kernel stretched by
      ``width`` and *point sampled* at the input voxel centres, i.e. MATLAB ``imresize``
      antialiased downsampling when ``width = 1/scale``.

    Args:
        n_in: input samples.
        scale: output/input sampling ratio (``< 1`` downsamples).
        profile: one of ``rect``, ``gaussian``, ``cubic``, ``lanczos``, ``custom``.
        width: profile width in input voxels; default ``1/scale`` (``max(1, 1/scale)`` for
            cubic/lanczos, which then interpolate when upsampling).
        n_out: output samples; default ``output_size(n_in, scale)``.
        normalize_edges: renormalise every row to sum 1 (compensates truncated Gaussian
            tails, point-sampling error and, with ``boundary="zero"``, dropped weights).
        boundary: ``"mirror"`` (half-sample symmetric, default) or ``"zero"`` (weights
            outside ``[0, n_in)`` are dropped).
        kernel, kernel_step: the ``custom`` profile samples and their spacing (input voxels).

    Returns:
        ``scipy.sparse.csr_matrix`` of shape ``(n_out, n_in)``, float64.
    """
    if n_in < 1:
        raise ValueError(f"n_in must be >= 1, got {n_in}")
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    n_out = output_size(n_in, scale) if n_out is None else int(n_out)
    if n_out < 1:
        raise ValueError(f"n_out must be >= 1, got {n_out}")
    if width is None:
        width = 1.0 / scale if profile not in ("cubic", "lanczos") else max(1.0, 1.0 / scale)
    func, half, integrated = _profile_functions(profile, float(width), kernel, kernel_step)
    centres = source_coordinates(n_out, scale)
    rows, j, folded = _windowed(n_in, centres, half, boundary)
    rel = j - centres[:, None]
    w = func(rel + 0.5) - func(rel - 0.5) if integrated else func(rel)
    return _weights_to_csr(rows, folded, w, n_out, n_in, normalize_edges)


def interpolation_matrix(n_in: int, coords: np.ndarray, kind: str
                         ) -> sp.csr_matrix | np.ndarray:
    """Matrix ``(len(coords), n_in)`` interpolating samples at continuous input indices.

    Args:
        n_in: number of input samples (at indices ``0 .. n_in - 1``).
        coords: continuous input indices to evaluate at, e.g.
            :func:`volsr.geometry.source_coordinates`.
        kind: ``"nearest"`` (ties round up), ``"linear"``, ``"cubic"`` (Keys a = -0.5),
            ``"lanczos"`` (lanczos3, rows normalised) -- all with half-sample symmetric
            mirroring -- or ``"fourier"`` (periodic band-limited trigonometric
            interpolation, exact for sinusoids below Nyquist; returns a dense ndarray).

    Returns:
        CSR sparse matrix (local kernels) or dense float64 ndarray (``fourier``).
    """
    if n_in < 1:
        raise ValueError(f"n_in must be >= 1, got {n_in}")
    c = np.asarray(coords, dtype=np.float64).ravel()
    if not np.all(np.isfinite(c)):
        raise ValueError("coords must be finite")
    n_out = c.size
    if kind == "fourier":
        return fourier_kernel(c[:, None] - np.arange(n_in)[None, :], n_in)
    if kind == "nearest":
        j = mirror_index(np.floor(c + 0.5).astype(np.int64), n_in)
        return sp.csr_matrix((np.ones(n_out), (np.arange(n_out), j)), shape=(n_out, n_in))
    if kind == "linear":
        j0 = np.floor(c).astype(np.int64)
        t = c - j0
        j = np.stack([j0, j0 + 1], axis=1)
        w = np.stack([1.0 - t, t], axis=1)
    elif kind in ("cubic", "lanczos"):
        support = 2 if kind == "cubic" else 3
        j = np.floor(c).astype(np.int64)[:, None] + np.arange(1 - support, support + 1)[None, :]
        rel = j - c[:, None]
        w = cubic_kernel(rel) if kind == "cubic" else lanczos_kernel(rel)
    else:
        raise ValueError(f"unknown interpolation {kind!r}; expected one of "
                         f"{', '.join(INTERPOLATIONS)}")
    rows = np.broadcast_to(np.arange(n_out)[:, None], j.shape)
    return _to_csr(rows, mirror_index(j, n_in), w, n_out, n_in, normalize=kind == "lanczos")
