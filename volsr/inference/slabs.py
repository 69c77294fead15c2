"""Running a local, same-shape operator over a volume slab by slab, in place.

A network that refines a volume already on the output grid (a ``"pre"`` 3D network, or
a 2D ``"pre"`` network on the planes of every orientation, fused by averaging) is a
*local* operator: output voxel ``i`` along any axis depends only on input voxels
``i - r .. i + r``, ``r`` being the network's receptive radius. So the volume can be
cut into slabs along one axis, each slab run with ``r`` voxels of real context on
each side that is not a volume border, and the slab results pasted together: the
result equals one pass over the whole volume (up to float rounding), at the memory
cost of a slab.

:func:`refine_in_slabs` also writes the result *into the input array*: the result of
slab ``k`` is held back until slab ``k + 1`` (whose context reaches ``r`` voxels back
into slab ``k``) has been computed, and only then overwrites slab ``k``. No slab after
that reads it as long as ``r`` does not exceed the slab thickness. Peak memory is then
the volume plus about two slab results and the network's working set, instead of
input + output + blending buffers; the input array may also be a ``numpy.memmap``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np

from volsr.inference.protocol import Network

__all__ = ["interpolate_in_slabs", "model_slab_thickness", "receptive_radius",
           "refine_in_slabs", "slab_budget", "slab_thickness"]

log = logging.getLogger(__name__)

DEFAULT_SLAB_BYTES = 256 * 2**20
MIN_SLAB_BYTES = 16 * 2**20
STREAM_SLAB_BYTES = 64 * 2**20  # thinner slabs when the volume is a memmap on disk


def slab_thickness(shape: tuple[int, ...], *, radius: int, axis: int = 1,
                   max_bytes: int | None = None) -> int:
    """Slab thickness (voxels along ``axis`` of the ``(C, X, Y, Z)`` ``shape``).

    About an eighth of the volume (so that two held-back slabs stay well under the
    volume's own size), between :data:`MIN_SLAB_BYTES` and ``max_bytes`` (default
    :data:`DEFAULT_SLAB_BYTES`) of float32, and never thinner than ``radius`` (the
    in-place write needs it) or than 1 voxel.

    Example:
        >>> slab_thickness((1, 512, 512, 400), radius=10)
        64
    """
    n = int(shape[axis])
    plane_bytes = 4 * math.prod(int(v) for i, v in enumerate(shape) if i != axis)
    cap = DEFAULT_SLAB_BYTES if max_bytes is None else int(max_bytes)
    want = min(cap, max(MIN_SLAB_BYTES, plane_bytes * n // 8))
    return int(min(n, max(1, int(radius), want // max(plane_bytes, 1))))


def slab_budget(arr: np.ndarray) -> int | None:
    """``max_bytes`` for :func:`slab_thickness` over ``arr``: thinner slabs for a memmap
    on disk (:data:`STREAM_SLAB_BYTES`), the default otherwise (None)."""
    return STREAM_SLAB_BYTES if isinstance(arr, np.memmap) else None


def receptive_radius(model: Network) -> int:
    """Largest receptive radius over the network's axes, in voxels (uncapped): the slab
    context that makes slab-wise refinement equal one pass."""
    rf = [int(v) for v in model.receptive_field()]
    return max(0, math.ceil((max(rf) - 1) / 2))


def model_slab_thickness(model: Network, shape: tuple[int, ...], *,
                         max_bytes: int | None = None) -> int:
    """:func:`slab_thickness` along axis 1 of ``shape`` for ``model``: at least its
    receptive radius and its minimum input size."""
    need = max(int(v) for v in model.min_input_size())
    t = slab_thickness(shape, radius=receptive_radius(model), axis=1, max_bytes=max_bytes)
    return max(t, need)


def refine_in_slabs(
    refine: Callable[[np.ndarray], np.ndarray],
    vol: np.ndarray,
    *,
    radius: int,
    axis: int = 1,
    thickness: int | None = None,
) -> np.ndarray:
    """Apply ``refine`` to ``vol`` slab by slab along ``axis``, writing into ``vol``.

    Args:
        refine: ``sub (C, ...) -> (C, ...)``, same shape as ``sub``; must be local with
            receptive radius ``<= radius`` along ``axis`` (and treat the borders of
            ``sub`` that are volume borders as the whole-volume pass would).
        vol: ``(C, X, Y, Z)`` float32 array (writable; a memmap works); overwritten.
        radius: context voxels on each side of a slab (the receptive radius).
        axis: the array axis to cut along (1, 2 or 3; 1 keeps slabs contiguous).
        thickness: slab thickness in voxels (default :func:`slab_thickness`); raised to
            ``radius`` when thinner.

    Returns:
        ``vol``, now holding the result.
    """
    n = int(vol.shape[axis])
    r = max(0, int(radius))
    t = (slab_thickness(vol.shape, radius=r, axis=axis, max_bytes=slab_budget(vol))
         if thickness is None else int(thickness))
    t = max(t, r, 1)
    starts = list(range(0, n, t))
    log.debug("refining %s in %d slab(s) of %d along axis %d (context %d)", vol.shape,
              len(starts), t, axis, r)

    def take(a: int, b: int) -> np.ndarray:
        idx = [slice(None)] * vol.ndim
        idx[axis] = slice(a, b)
        return vol[tuple(idx)]

    pending: tuple[int, np.ndarray] | None = None
    for a in starts:
        b = min(n, a + t)
        lo, hi = max(0, a - r), min(n, b + r)
        sub = np.ascontiguousarray(take(lo, hi), dtype=np.float32)
        res = refine(sub)
        if res.shape != sub.shape:
            raise ValueError(f"refine changed the shape: {sub.shape} -> {res.shape}")
        del sub
        idx = [slice(None)] * res.ndim
        idx[axis] = slice(a - lo, a - lo + (b - a))
        core = np.array(res[tuple(idx)], dtype=np.float32, copy=True)
        del res
        if pending is not None:  # slab k-1 is no longer needed as context: write it
            pa, pres = pending
            take(pa, pa + pres.shape[axis])[...] = pres
        pending = (a, core)
    if pending is not None:
        pa, pres = pending
        take(pa, pa + pres.shape[axis])[...] = pres
    return vol


_SPLINE_MARGIN = 24  # input voxels: the cubic B-spline prefilter's pole (0.268) ** 24 < 1e-13


def interpolate_in_slabs(arr: np.ndarray, step: np.ndarray, offset: np.ndarray,
                         out: np.ndarray, *, thickness: int | None = None,
                         kind: str = "bspline") -> np.ndarray:
    """Interpolate ``arr`` ``(C, X, Y, Z)`` onto ``out`` ``(C, X', Y', Z')`` slab by slab
    along X, so that no temporary is larger than a slab.

    Output voxel ``o`` samples input index ``step * o + offset`` per axis (the
    convention of :meth:`volsr.models.interpolation.Interpolator.resample_linear`). Each
    output slab reads the input rows it needs plus :data:`_SPLINE_MARGIN` rows on each
    side, so the cubic B-spline prefilter sees the same coefficients as on the whole
    axis to float rounding; an X axis that is not resampled is cut exactly.

    Returns:
        ``out`` (written in place; a memmap works).
    """
    from volsr.models.interpolation import Interpolator

    interp = Interpolator(kind)
    step = np.asarray(step, dtype=np.float64)
    offset = np.asarray(offset, dtype=np.float64)
    n_in, n_out = int(arr.shape[1]), int(out.shape[1])
    t = (slab_thickness(out.shape, radius=1, axis=1, max_bytes=slab_budget(out))
         if thickness is None else max(1, thickness))
    same_x = step[0] == 1.0 and offset[0] == 0.0 and n_in == n_out
    for a in range(0, n_out, t):
        b = min(n_out, a + t)
        if same_x:
            i0, i1 = a, b
        else:
            lo, hi = step[0] * a + offset[0], step[0] * (b - 1) + offset[0]
            i0 = max(0, math.floor(min(lo, hi)) - _SPLINE_MARGIN)
            i1 = min(n_in, math.ceil(max(lo, hi)) + _SPLINE_MARGIN + 1)
        off = offset.copy()
        off[0] = offset[0] + step[0] * a - i0
        for c in range(arr.shape[0]):
            out[c, a:b] = interp.resample_linear(arr[c, i0:i1], step, off,
                                                 (b - a, *out.shape[2:]))
    return out
