"""Full-reference image-quality metrics on plain numpy arrays.

All functions take the reference (``truth``) first and the image under test
(``cand``) second, accept 2D or 3D arrays of the same shape, accumulate in float64
and take an optional boolean ``mask`` of the same shape that selects the voxels the
metric is averaged over. Filters (SSIM windows, HFEN's Laplacian of Gaussian) always
run on the full arrays; the mask only selects which values of the result are averaged.

These functions never guess an intensity range from the dtype: PSNR and SSIM need an
explicit ``data_range``. :func:`volsr.metrics.evaluate` supplies the default
(``truth.max() - truth.min()``) at the Volume level.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

SSIM_TRUNCATE = 3.5
"""Gaussian SSIM window truncation, in standard deviations (Wang et al. 2004; skimage)."""

NRMSE_NORMALIZATIONS = ("range", "euclidean", "mean")


def _pair(truth: np.ndarray, cand: np.ndarray, mask: np.ndarray | None) -> tuple:
    """Both arrays as float64 plus the validated mask (or None)."""
    t = np.asarray(truth, dtype=np.float64)
    c = np.asarray(cand, dtype=np.float64)
    if t.shape != c.shape:
        raise ValueError(f"truth and candidate shapes differ: {t.shape} vs {c.shape}")
    if t.ndim not in (2, 3):
        raise ValueError(f"expected 2D or 3D arrays, got {t.ndim}D with shape {t.shape}")
    if mask is not None:
        m = np.asarray(mask)
        if m.shape != t.shape:
            raise ValueError(f"mask shape {m.shape} differs from image shape {t.shape}")
        mask = m.astype(bool, copy=False)
        if not mask.any():
            raise ValueError("mask selects no voxels")
    return t, c, mask


def _select(values: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    return values.ravel() if mask is None else values[mask]


def _check_range(data_range: float | None) -> float:
    if data_range is None:
        raise ValueError("data_range is required (e.g. truth.max() - truth.min())")
    r = float(data_range)
    if not math.isfinite(r) or r <= 0:
        raise ValueError(f"data_range must be a positive finite number, got {data_range!r}")
    return r


def mse(truth: np.ndarray, cand: np.ndarray, *, mask: np.ndarray | None = None) -> float:
    """Mean squared error over ``mask`` (or every voxel)."""
    t, c, mask = _pair(truth, cand, mask)
    d = _select(t - c, mask)
    return float(np.mean(d * d))


def psnr(
    truth: np.ndarray,
    cand: np.ndarray,
    *,
    data_range: float,
    mask: np.ndarray | None = None,
) -> float:
    """Peak signal-to-noise ratio ``10 log10(data_range^2 / MSE)`` in dB.

    Args:
        truth: reference image, shape ``(X, Y[, Z])``.
        cand: image under test, same shape.
        data_range: the intensity range ``R`` of the reference (required; never
            inferred from the dtype).
        mask: boolean array of the same shape; the MSE is taken over its voxels.

    Returns:
        PSNR in dB; ``inf`` when the images agree exactly on the mask.
    """
    r = _check_range(data_range)
    err = mse(truth, cand, mask=mask)
    if err == 0.0:
        return math.inf
    return float(10.0 * math.log10(r * r / err))


def _sigmas(sigma: float, spacing: Sequence[float] | None, ndim: int) -> np.ndarray:
    if not math.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"sigma must be a positive number, got {sigma!r}")
    if spacing is None:
        return np.full(ndim, float(sigma))
    sp = np.asarray(spacing, dtype=np.float64).ravel()
    if sp.shape != (ndim,) or not np.all(np.isfinite(sp)) or np.any(sp <= 0):
        raise ValueError(f"spacing must be {ndim} positive numbers, got {spacing!r}")
    return float(sigma) / sp


def ssim_map(
    truth: np.ndarray,
    cand: np.ndarray,
    *,
    data_range: float,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    spacing: Sequence[float] | None = None,
    use_sample_covariance: bool = True,
) -> np.ndarray:
    """Local SSIM values with a Gaussian window (Wang et al., IEEE TIP 13(4), 2004).

    The local means, variances and covariance are Gaussian-weighted averages computed
    with :func:`scipy.ndimage.gaussian_filter` (mode ``"reflect"``, truncated at
    :data:`SSIM_TRUNCATE` = 3.5 sigma, i.e. an 11-voxel window for sigma 1.5), in 2D or
    3D. With ``use_sample_covariance`` (the default, as in scikit-image's
    ``structural_similarity``) the variances and covariance are multiplied by
    ``N / (N - 1)`` with ``N`` the number of voxels in the truncated window
    (``11**3 = 1331`` in 3D); set it to False for the population statistics of Wang et
    al.'s reference implementation. The difference is below 1e-3 for typical images.

    Args:
        truth: reference image, shape ``(X, Y[, Z])``.
        cand: image under test, same shape.
        data_range: intensity range ``R``; ``C1 = (k1 R)^2``, ``C2 = (k2 R)^2``.
        sigma: window standard deviation, in voxels (in mm when ``spacing`` is given).
        k1, k2: the SSIM stabilising constants.
        spacing: voxel size per axis; when given, ``sigma`` is in mm, so anisotropic
            voxels get a window that is round in world space.
        use_sample_covariance: apply the ``N / (N - 1)`` correction (see above).

    Returns:
        Array of the input shape with the local SSIM (1 where the images agree).
    """
    r = _check_range(data_range)
    t, c, _ = _pair(truth, cand, None)
    sig = _sigmas(sigma, spacing, t.ndim)

    def blur(a: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(a, sigma=sig, mode="reflect", truncate=SSIM_TRUNCATE)

    if use_sample_covariance:
        n = float(np.prod([2 * int(SSIM_TRUNCATE * s + 0.5) + 1 for s in sig]))
        norm = n / (n - 1.0)
    else:
        norm = 1.0
    mu_t, mu_c = blur(t), blur(c)
    var_t = norm * (blur(t * t) - mu_t * mu_t)
    var_c = norm * (blur(c * c) - mu_c * mu_c)
    cov = norm * (blur(t * c) - mu_t * mu_c)
    c1 = (k1 * r) ** 2
    c2 = (k2 * r) ** 2
    num = (2.0 * mu_t * mu_c + c1) * (2.0 * cov + c2)
    den = (mu_t * mu_t + mu_c * mu_c + c1) * (var_t + var_c + c2)
    return num / den


def ssim(
    truth: np.ndarray,
    cand: np.ndarray,
    *,
    data_range: float,
    mask: np.ndarray | None = None,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    spacing: Sequence[float] | None = None,
    use_sample_covariance: bool = True,
) -> float:
    """Mean structural similarity over ``mask`` (Wang et al., IEEE TIP 13(4), 2004).

    The SSIM map of :func:`ssim_map` is computed on the full arrays and averaged over
    the mask (or all voxels). Unlike scikit-image, the border of the map is not cropped:
    the ``"reflect"`` boundary is used instead, and with a mask the border rarely
    matters. scikit-image's ``structural_similarity(..., gaussian_weights=True,
    sigma=1.5, full=True)`` map equals :func:`ssim_map`.

    Args: see :func:`ssim_map`; ``mask`` is a boolean array of the image shape.

    Returns:
        Mean SSIM, at most 1 (exactly 1 for identical images).
    """
    t, c, mask = _pair(truth, cand, mask)
    smap = ssim_map(
        t, c, data_range=data_range, sigma=sigma, k1=k1, k2=k2, spacing=spacing,
        use_sample_covariance=use_sample_covariance,
    )
    return float(np.mean(_select(smap, mask)))


def nrmse(
    truth: np.ndarray,
    cand: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    normalization: str = "range",
    data_range: float | None = None,
) -> float:
    """Normalised root-mean-square error.

    ``RMSE`` is taken over the mask. The normalisation (default ``"range"``) is:

    - ``"range"``: ``RMSE / data_range``; when ``data_range`` is None it is
      ``truth.max() - truth.min()`` over the whole truth array (not just the mask).
      Invariant to intensity offsets, so it suits CT in HU as well as MR.
    - ``"euclidean"``: ``||truth - cand|| / ||truth||`` over the mask (scikit-image's
      default; depends on the intensity offset).
    - ``"mean"``: ``RMSE / mean(truth)`` over the mask.

    Returns:
        The NRMSE (0 for identical images).

    Raises:
        ValueError: unknown normalization, or a zero normaliser.
    """
    if normalization not in NRMSE_NORMALIZATIONS:
        raise ValueError(
            f"normalization must be one of {NRMSE_NORMALIZATIONS}, got {normalization!r}"
        )
    t, c, mask = _pair(truth, cand, mask)
    d = _select(t - c, mask)
    rmse = float(np.sqrt(np.mean(d * d)))
    if normalization == "range":
        r = float(t.max() - t.min()) if data_range is None else _check_range(data_range)
        denom = r
    elif normalization == "euclidean":
        denom = float(np.sqrt(np.mean(_select(t, mask) ** 2)))
    else:
        denom = float(np.mean(_select(t, mask)))
    if denom == 0.0:
        raise ValueError(f"nrmse with normalization={normalization!r}: the normaliser is zero")
    return rmse / denom


def _log_filter(a: np.ndarray, sigma: float) -> np.ndarray:
    """Laplacian of Gaussian with the kernel's DC response removed.

    scipy's sampled, truncated second-derivative kernels sum to about ``-1e-4`` instead
    of 0, so :func:`scipy.ndimage.gaussian_laplace` leaks a little of the smoothed
    image itself (an offset of 5 on a [0, 1] image changes HFEN by 0.05). As in the
    zero-sum ``fspecial('log')`` kernel used by Ravishankar & Bresler, the leak
    ``dc * G(a)`` (``dc`` = the response to a constant 1) is subtracted.
    """
    ones = np.ones((1,) * a.ndim)
    dc = float(ndimage.gaussian_laplace(ones, sigma=sigma, mode="reflect").flat[0])
    log = ndimage.gaussian_laplace(a, sigma=sigma, mode="reflect")
    return log - dc * ndimage.gaussian_filter(a, sigma=sigma, mode="reflect")


def hfen(
    truth: np.ndarray,
    cand: np.ndarray,
    *,
    sigma: float = 1.5,
    mask: np.ndarray | None = None,
) -> float:
    """High-frequency error norm (Ravishankar & Bresler, IEEE TMI 30(5), 2011).

    ``||LoG(truth) - LoG(cand)||_2 / ||LoG(truth)||_2`` with the Laplacian of Gaussian
    of :func:`scipy.ndimage.gaussian_laplace` (``sigma`` in voxels, mode ``"reflect"``,
    made exactly blind to constants, see :func:`_log_filter`) computed on the full
    arrays; the norms are taken over the mask.

    Returns:
        HFEN (0 for identical images); ``inf`` when ``LoG(truth)`` vanishes on the
        mask but the candidate's does not.
    """
    t, c, mask = _pair(truth, cand, mask)
    if not math.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"sigma must be a positive number, got {sigma!r}")
    log_t = _log_filter(t, sigma)
    log_c = _log_filter(c, sigma)
    num = float(np.linalg.norm(_select(log_t - log_c, mask)))
    den = float(np.linalg.norm(_select(log_t, mask)))
    if den == 0.0:
        return 0.0 if num == 0.0 else math.inf
    return num / den
