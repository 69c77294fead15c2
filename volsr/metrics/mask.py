"""Automatic foreground (head/body) masks for evaluating metrics where the anatomy is.

The mask is deliberately generous: it should contain the whole object, including
dark structures inside it (CSF, sinuses, lungs), and little of the background.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from volsr.errors import InputError

MASK_METHODS = ("otsu",)


def otsu_threshold(values: np.ndarray, *, bins: int = 256) -> float:
    """Otsu's threshold (IEEE Trans. SMC 9(1), 1979) from a numpy histogram.

    Maximises the between-class variance ``w0 w1 (mu0 - mu1)^2`` over the ``bins - 1``
    inner bin edges of a histogram spanning the 0.5th to 99.5th percentile of the
    finite values (so a few extreme voxels, e.g. metal or padding, do not squeeze the
    histogram). Voxels strictly above the returned value are class 1.

    Raises:
        InputError: the values are (nearly) constant, so there is nothing to split.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise InputError("empty foreground: the image has no finite values")
    lo, hi = np.percentile(v, [0.5, 99.5])
    if not hi > lo:
        lo, hi = float(v.min()), float(v.max())
    if not hi > lo:
        raise InputError("empty foreground: the image is constant")
    hist, edges = np.histogram(np.clip(v, lo, hi), bins=bins, range=(lo, hi))
    centers = 0.5 * (edges[:-1] + edges[1:])
    hist = hist.astype(np.float64)
    w0 = np.cumsum(hist)[:-1]
    s0 = np.cumsum(hist * centers)[:-1]
    total, total_sum = hist.sum(), float(np.sum(hist * centers))
    w1 = total - w0
    valid = (w0 > 0) & (w1 > 0)
    between = np.zeros_like(w0)
    mu0 = np.divide(s0, w0, out=np.zeros_like(s0), where=valid)
    mu1 = np.divide(total_sum - s0, w1, out=np.zeros_like(s0), where=valid)
    between[valid] = w0[valid] * w1[valid] * (mu0[valid] - mu1[valid]) ** 2
    return float(edges[1 + int(np.argmax(between))])


def _ball(ndim: int, radius: int) -> np.ndarray:
    grids = np.ogrid[tuple(slice(-radius, radius + 1) for _ in range(ndim))]
    return sum(g * g for g in grids) <= radius * radius


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """3D hole filling, then 2D filling of every slice along each axis (for cavities
    such as sinuses that reach the outside in 3D but are enclosed in a slice)."""
    mask = ndimage.binary_fill_holes(mask)
    if mask.ndim != 3:
        return mask
    for axis in range(3):
        moved = np.moveaxis(mask, axis, 0)
        for k in range(moved.shape[0]):
            if moved[k].any():
                moved[k] = ndimage.binary_fill_holes(moved[k])
    return mask


def foreground_mask(
    arr: np.ndarray,
    *,
    method: str = "otsu",
    smooth_sigma: float = 1.0,
    closing_radius: int = 2,
    dilation: int = 1,
) -> np.ndarray:
    """Boolean mask of the object (head/body) in a 2D or 3D image.

    Steps: Gaussian smoothing (``smooth_sigma`` voxels); Otsu threshold
    (:func:`otsu_threshold`); binary closing with a ball of ``closing_radius`` voxels;
    the largest connected component (face connectivity); hole filling in 3D and slice
    by slice; ``dilation`` voxels of binary dilation. It only uses the intensity
    histogram, so it works for MR (background near 0) and CT in HU (air at -1000) alike.
    Non-finite voxels are treated as background.

    Args:
        arr: image, shape ``(X, Y[, Z])``.
        method: only ``"otsu"`` for now.

    Returns:
        Boolean array of ``arr``'s shape.

    Raises:
        InputError: the mask comes out empty (e.g. a constant image).
        ValueError: unknown ``method`` or a bad array.
    """
    if method not in MASK_METHODS:
        raise ValueError(f"foreground mask method must be one of {MASK_METHODS}, got {method!r}")
    a = np.asarray(arr, dtype=np.float64)
    if a.ndim not in (2, 3):
        raise ValueError(f"foreground_mask needs a 2D or 3D array, got shape {a.shape}")
    finite = np.isfinite(a)
    if not finite.any():
        raise InputError("empty foreground: the image has no finite values")
    if not finite.all():
        a = np.where(finite, a, a[finite].min())
    if smooth_sigma > 0:
        a = ndimage.gaussian_filter(a, smooth_sigma, mode="nearest")
    mask = a > otsu_threshold(a)
    if closing_radius > 0:
        pad = closing_radius
        padded = np.pad(mask, pad)
        padded = ndimage.binary_closing(padded, structure=_ball(mask.ndim, closing_radius))
        mask = padded[tuple(slice(pad, -pad) for _ in range(mask.ndim))]
    labels, n = ndimage.label(mask)
    if n == 0:
        raise InputError("empty foreground: no voxel is above the Otsu threshold")
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    mask = labels == int(np.argmax(sizes))
    mask = _fill_holes(mask)
    if dilation > 0:
        mask = ndimage.binary_dilation(mask, iterations=int(dilation))
    if not mask.any():
        raise InputError("empty foreground: the automatic mask selects no voxel")
    return mask
