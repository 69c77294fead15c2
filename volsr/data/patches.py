"""Numpy kernels of training pairs: crops, foreground, on-the-fly degradation of a crop.

The MONAI transforms of :mod:`volsr.data.random_transforms` call these.

Everything works on channel-first arrays ``(C, X, Y, Z)`` in HR voxel units.

Synthetic pairs: an HR *region* = the HR patch plus a margin on each side of every axis
the degradation touches is degraded as a whole, and the LR voxels belonging to the patch
are then taken from the middle, so the patch never sees the mirrored edges of the
degradation's boundary handling. The LR grid of a region follows the grid convention
(LR voxel ``o`` at region index ``(o + 1/2)/s - 1/2`` for a per-axis scale ``s < 1``):

* ``"pre"`` models: the LR region is interpolated back onto the HR patch voxels with the
  cubic B-spline, sampling LR index ``s * j + (m + 1/2) * s - 1/2`` for patch voxel ``j``
  (``m`` = margin), i.e. step ``1/f`` and offset ``(1/f - 1)/2`` relative to the region
  start -- the exact inverse map, so input and target are voxel-aligned for any factor.
* ``"post"`` models: the factor ``f = 1/s`` must be a whole number, margins and the
  patch size multiples of it, and the LR patch is LR voxels ``m/f .. (m + P)/f`` of the
  LR region: each covers exactly ``f`` HR voxels of the patch.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from volsr.degrade import Compose, Degradation

__all__ = [
    "crop",
    "degradation_extent",
    "foreground_coords",
    "noise_kinds",
    "noise_reference",
    "pair_margin",
    "patch_start",
    "post_factor",
    "resample_channels",
    "resolve_noise",
    "synthesize_lr",
]

#: Margin (in units of the degradation's reach, ~ the LR voxel size) kept around a patch.
MARGIN_REACH = 3.0
#: Extra LR voxels cropped around a real LR patch before interpolation.
PAIRED_LR_MARGIN = 3


def crop(arr: np.ndarray, start: Sequence[int], size: Sequence[int]) -> np.ndarray:
    """``arr[:, start:start+size]`` per spatial axis, mirroring (half-sample) outside.

    Args:
        arr: ``(C, X, Y, Z)`` array.
        start: first voxel per spatial axis (may be negative).
        size: voxels per spatial axis.

    Returns:
        A new ``(C, *size)`` array.
    """
    idx = []
    for a, (s, n) in enumerate(zip(start, size)):
        dim = arr.shape[1 + a]
        j = np.arange(int(s), int(s) + int(n))
        if j.size and (j[0] < 0 or j[-1] >= dim):
            j = np.mod(j, 2 * dim)
            j = np.where(j >= dim, 2 * dim - 1 - j, j)
            idx.append(j)
        else:
            idx.append(slice(int(s), int(s) + int(n)))
    if all(isinstance(i, slice) for i in idx):
        return np.array(arr[(slice(None), *idx)])
    out = arr
    for a, i in enumerate(idx):
        out = out[(slice(None),) * (1 + a) + (i,)]
    return np.array(out)


def _steps(det: Degradation) -> list[Degradation]:
    if isinstance(det, Compose):
        return [s for t in det.transforms for s in _steps(t)]
    return [det]


def degradation_extent(det: Degradation, shape: Sequence[int]) -> np.ndarray:
    """Reach of a deterministic degradation per axis, in HR voxels (0: axis untouched).

    The largest of the LR voxel size (``1/scale``), a resolution-loss ``factor`` (also
    for steps that keep the grid), a blur FWHM or a slab thickness over the chained
    steps, converted to HR voxels through the preceding steps' scales.
    """
    ext = np.zeros(3)
    cum = np.ones(3)
    cur = tuple(int(n) for n in shape)
    for t in _steps(det):
        s = np.asarray(t.output_scale(cur), dtype=np.float64)
        e = np.where(np.abs(s - 1.0) > 1e-9, 1.0 / np.minimum(s, 1.0), 0.0)
        fwhm = getattr(t, "fwhm", None)
        if fwhm is not None:
            e = np.maximum(e, np.asarray(fwhm, dtype=np.float64))
        axis = getattr(t, "axis", None)
        factor = getattr(t, "factor", None)
        if factor is not None and axis is None:  # e.g. k-space truncation on the HR grid
            fa = np.broadcast_to(np.asarray(factor, dtype=np.float64), (3,))
            e = np.maximum(e, np.where(np.abs(fa - 1.0) > 1e-9, fa, 0.0))
        if axis is not None:
            kernel = getattr(t, "kernel", None)
            thick = getattr(t, "thickness", None)
            if kernel is not None:
                thick = len(kernel) * float(getattr(t, "kernel_step", 1.0))
            if thick is not None:
                e[axis] = max(e[axis], float(thick))
        ext = np.maximum(ext, e / cum)
        cum = cum * s
        cur = t.output_shape(cur)
    return ext


def pair_margin(det: Degradation, patch: Sequence[int],
                post_f: Sequence[int] | None = None) -> np.ndarray:
    """Margin per axis (HR voxels) to degrade around a patch: ``ceil(3 * reach)``.

    For post-upsampling models (``post_f`` = integer factors) it is rounded up to a
    multiple of the factor, so the LR grid of the region aligns with the patch.
    """
    ext = degradation_extent(det, patch)
    m = np.ceil(MARGIN_REACH * ext - 1e-9).astype(np.int64)
    if post_f is not None:
        f = np.asarray(post_f, dtype=np.int64)
        m = -(-m // f) * f
    return m


def post_factor(scale: np.ndarray, model_scale: Sequence[float], what: str) -> np.ndarray:
    """Check that a degradation's grid ``scale`` is exactly ``1/model_scale`` (post models).

    Raises:
        ValueError: a factor differs from the model's (post models upsample by fixed
            integer factors, so the LR grid must match them exactly).
    """
    f = np.asarray(model_scale, dtype=np.float64)
    got = 1.0 / np.asarray(scale, dtype=np.float64)
    if not np.allclose(got, f, rtol=1e-6, atol=1e-6):
        raise ValueError(f"a post-upsampling model with scale {f.tolist()} needs LR data at "
                         f"exactly that factor, but {what} gives {np.round(got, 6).tolist()}; "
                         "use fixed degradation factors equal to model.scale")
    return np.rint(f).astype(np.int64)


def foreground_coords(data: np.ndarray, *, max_points: int = 100_000,
                      seed: int = 0) -> np.ndarray:
    """Voxel coordinates ``(K, 3)`` (int32) of up to ``max_points`` foreground voxels.

    Foreground: the channel mean above Otsu's threshold (:func:`volsr.metrics.mask.
    otsu_threshold`, computed on a strided subsample), which separates air from tissue
    for MR and CT alike. Empty when the volume is constant.
    """
    from volsr.errors import InputError
    from volsr.metrics.mask import otsu_threshold

    img = data.mean(axis=0) if data.shape[0] > 1 else data[0]
    step = max(1, int(np.rint((img.size / 2_000_000) ** (1 / 3))))
    try:
        t = otsu_threshold(img[::step, ::step, ::step])
    except InputError:
        return np.zeros((0, 3), dtype=np.int32)
    flat = np.flatnonzero(img > t)
    if flat.size > max_points:  # a Bernoulli subset (O(n), unlike choice without replacement)
        keep = np.random.default_rng(seed).random(flat.size) < 1.05 * max_points / flat.size
        flat = flat[keep][:max_points]
    return np.stack(np.unravel_index(flat, img.shape), axis=1).astype(np.int32)


def noise_kinds(deg: Any) -> set[str]:
    """The ``relative_to`` references used by the noise steps of a (random) degradation."""
    if isinstance(deg, Compose):
        return set().union(*(noise_kinds(t) for t in deg.transforms))
    kind = getattr(deg, "relative_to", None)
    return {kind} if isinstance(kind, str) else set()


def noise_reference(data: np.ndarray, kind: str, *, max_voxels: int = 4_000_000) -> float:
    """Reference intensity ``kind`` (see :mod:`volsr.degrade.noise`) of a whole volume.

    Computed on an evenly strided subset of at most ``max_voxels`` voxels (the
    percentiles of a scan barely change).
    """
    from volsr.degrade.noise import reference_intensity

    flat = np.asarray(data).reshape(-1)
    step = max(1, -(-flat.size // max_voxels))
    return reference_intensity(flat[::step], kind)


def resolve_noise(det: Degradation, reference: Any) -> Degradation:
    """``det`` with every relative noise step made absolute: ``sigma * reference(kind)``.

    A patch's own percentiles say little about the scan (a background patch has p99 = 0),
    so training and validation scale noise by the whole volume's reference intensity,
    ``reference(kind) -> float``. The returned params record the absolute sigma, so they
    still replay the draw exactly. Non-positive references give no noise.
    """
    if isinstance(det, Compose):
        return Compose([resolve_noise(t, reference) for t in det.transforms])
    kind = getattr(det, "relative_to", None)
    if not isinstance(kind, str):
        return det
    ref = float(reference(kind))
    noise: Any = det  # a GaussianNoise / RicianNoise
    sigma = float(noise.sigma) * ref if ref > 0 else 0.0
    return type(noise)(sigma=sigma, relative_to=None, seed=noise.seed)


def patch_start(rng: np.random.Generator, shape: Sequence[int], patch: Sequence[int],
                margin: Sequence[int], fg: np.ndarray, p_fg: float) -> np.ndarray:
    """First voxel of a random patch: centred on a foreground voxel with probability
    ``p_fg`` (else anywhere), then moved so that the patch *and its margin* lie inside
    the volume where the volume is large enough (else the patch alone; else centred).
    """
    n, p, m = (np.asarray(v, dtype=np.int64) for v in (shape, patch, margin))
    use_fg = fg.shape[0] > 0 and rng.random() < p_fg
    if use_fg:
        centre = fg[int(rng.integers(fg.shape[0]))].astype(np.int64)
    else:
        centre = np.array([int(rng.integers(max(int(k), 1))) for k in n])
    start = centre - p // 2
    out = np.empty(3, dtype=np.int64)
    for a in range(3):
        if n[a] >= p[a] + 2 * m[a]:
            lo, hi = m[a], n[a] - p[a] - m[a]
        elif n[a] >= p[a]:
            lo, hi = 0, n[a] - p[a]
        else:
            lo = hi = (n[a] - p[a]) // 2
        out[a] = min(max(start[a], lo), hi)
    return out


def resample_channels(arr: np.ndarray, step: Sequence[float], offset: Sequence[float],
                      out_shape: Sequence[int]) -> np.ndarray:
    """Cubic B-spline sampling of every channel of ``arr`` at ``step * o + offset``.

    The same operations as :meth:`volsr.models.interpolation.Interpolator.resample_linear`
    with ``"bspline"`` (prefilter along an axis, then a sparse evaluation matrix; axes
    that shrink first), so the result is identical, but the evaluation matrices are
    cached: training pairs of a fixed degradation reuse the same few.
    """
    from scipy.ndimage import spline_filter1d

    from volsr.resample import apply_along_axis

    st = np.asarray(step, dtype=np.float64)
    off = np.asarray(offset, dtype=np.float64)
    shape = tuple(int(n) for n in out_shape)
    out_ch = []
    for c in np.asarray(arr, dtype=np.float32):
        out = c
        for axis in np.argsort(st)[::-1]:
            a = int(axis)
            if st[a] == 1.0 and off[a] == 0.0 and shape[a] == c.shape[a]:
                continue
            coeffs = spline_filter1d(out, order=3, axis=a, mode="reflect", output=np.float32)
            matrix = _bspline_operator(out.shape[a], float(st[a]), float(off[a]), shape[a])
            out = apply_along_axis(coeffs, matrix, a)
        out_ch.append(np.asarray(out, dtype=np.float32))
    return np.stack(out_ch)


@functools.lru_cache(maxsize=512)
def _bspline_operator(n_in: int, step: float, offset: float, n_out: int) -> Any:
    """The (cached, read-only) sparse B-spline evaluation matrix ``(n_out, n_in)``."""
    from volsr.models.interpolation import bspline_matrix

    return bspline_matrix(n_in, step * np.arange(n_out, dtype=np.float64) + offset)


def synthesize_lr(region: np.ndarray, det: Degradation, margin: Sequence[int],
                  patch: Sequence[int], upsampling: str,
                  model_scale: Sequence[float] | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Degrade an HR region and return the network input of the patch in its middle.

    Args:
        region: HR voxels ``(C, *(patch + 2 * margin))``.
        det: a deterministic degradation (already sampled).
        margin: margin per axis (HR voxels) on each side of the patch.
        patch: HR patch size per axis.
        upsampling: ``"pre"`` (return LR interpolated onto the HR patch voxels) or
            ``"post"`` (return the LR patch; needs ``model_scale``).
        model_scale: integer factors of a post-upsampling model.

    Returns:
        ``(lr_input, lr_region, scale)``: the network input (``(C, *patch)`` for pre,
        ``(C, *(patch / f))`` for post), the whole degraded region and the per-axis grid
        scale of the degradation.
    """
    m = np.asarray(margin, dtype=np.int64)
    p = np.asarray(patch, dtype=np.int64)
    region_shape = tuple(int(v) for v in region.shape[1:])
    scale = np.asarray(det.output_scale(region_shape), dtype=np.float64)
    lr_region = det.apply_array(region)
    if upsampling == "post":
        f = post_factor(scale, model_scale if model_scale is not None else 1.0 / scale,
                        "the degradation")
        if np.any(p % f) or np.any(m % f):
            raise ValueError(f"HR patch size {p.tolist()} and margin {m.tolist()} must be "
                             f"multiples of the model scale {f.tolist()}")
        lo, size = m // f, p // f
        sl = tuple(slice(int(a), int(a + b)) for a, b in zip(lo, size))
        return np.array(lr_region[(slice(None), *sl)]), lr_region, scale
    step = scale
    offset = (m + 0.5) * scale - 0.5
    lr_in = resample_channels(lr_region, step, offset, tuple(int(v) for v in p))
    return lr_in, lr_region, scale


def rot_planes(axes: Sequence[int], patch: Sequence[int], scale: Sequence[float],
               spacing: Sequence[float], *, rtol: float = 0.05) -> list[tuple[int, int]]:
    """Planes ``(a, b)`` where a 90 degree rotation keeps the data's meaning.

    Both axes must have the same patch size, the same LR/HR grid scale (so the
    thick-slice / degraded axis is never swapped with an in-plane axis) and the same HR
    voxel size (within ``rtol``).
    """
    out = []
    for i, a in enumerate(axes):
        for b in axes[i + 1:]:
            if (patch[a] == patch[b] and math.isclose(scale[a], scale[b], rel_tol=1e-6)
                    and math.isclose(spacing[a], spacing[b], rel_tol=rtol)):
                out.append((int(a), int(b)))
    return out
