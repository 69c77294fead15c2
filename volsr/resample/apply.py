"""Applying 1D operators along axes of N-D arrays, and separable 3D resampling."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from volsr.geometry.grid import output_size, source_coordinates
from volsr.resample.kernels import interpolation_matrix, profile_matrix

__all__ = ["apply_along_axis", "resample_separable"]

log = logging.getLogger(__name__)

_CHUNK_ELEMENTS = 1 << 22  # bounds the temporaries of the sparse last-axis path


def _working_dtype(arr: np.ndarray) -> np.dtype:
    return arr.dtype if arr.dtype in (np.float32, np.float64) else np.dtype(np.float32)


def apply_along_axis(arr: np.ndarray, matrix: np.ndarray | sp.spmatrix | sp.sparray,
                     axis: int) -> np.ndarray:
    """Apply a ``(n_out, n_in)`` matrix along one axis of an N-D array.

    The array is viewed as ``(pre, n_in, post)`` without copying (when contiguous); dense
    matrices go through one broadcast ``matmul`` written straight into the output, sparse
    ones are applied per ``pre`` block (or in bounded chunks along the last axis).

    Args:
        arr: any shape with ``arr.shape[axis] == n_in``. float32 stays float32, float64
            stays float64, other dtypes become float32.
        matrix: dense ndarray or scipy sparse matrix, shape ``(n_out, n_in)``.
        axis: the axis to transform (negative values count from the end).

    Returns:
        New array with ``shape[axis] == n_out``.
    """
    arr = np.asarray(arr)
    if arr.ndim == 0:
        raise ValueError("apply_along_axis needs an array with at least one axis")
    axis = int(axis)
    if not -arr.ndim <= axis < arr.ndim:
        raise ValueError(f"axis {axis} is out of range for an array of shape {arr.shape}")
    axis %= arr.ndim
    n_out, n_in = matrix.shape
    if arr.shape[axis] != n_in:
        raise ValueError(f"matrix has {n_in} columns but axis {axis} of the array has "
                         f"{arr.shape[axis]} samples (shape {arr.shape})")
    dtype = _working_dtype(arr)
    a = np.ascontiguousarray(arr, dtype=dtype)
    pre = math.prod(a.shape[:axis])
    post = math.prod(a.shape[axis + 1:])
    a3 = a.reshape(pre, n_in, post)
    out_shape = a.shape[:axis] + (n_out,) + a.shape[axis + 1:]
    out = np.empty(out_shape, dtype=dtype)
    o3 = out.reshape(pre, n_out, post)
    if sp.issparse(matrix):
        m = sp.csr_matrix(matrix, dtype=dtype)
        if post == 1:
            a2, o2 = a3[:, :, 0], o3[:, :, 0]
            rows = max(1, _CHUNK_ELEMENTS // max(n_in, n_out))
            for start in range(0, pre, rows):
                o2[start:start + rows] = (m @ a2[start:start + rows].T).T
        else:
            for p in range(pre):
                o3[p] = m @ a3[p]
    else:
        m = np.asarray(matrix, dtype=dtype)
        if post == 1:
            np.matmul(a3[:, :, 0], m.T, out=o3[:, :, 0])
        else:
            np.matmul(m, a3, out=o3)
    return out


def _per_axis(value: Any, n: int, name: str) -> list[Any]:
    if value is None or isinstance(value, (str, int, float, np.number)):
        return [value] * n
    vals = list(value)
    if len(vals) == 1:
        return vals * n
    if len(vals) != n:
        raise ValueError(f"{name} needs 1 or {n} values, got {vals}")
    return vals


def resample_separable(
    arr: np.ndarray,
    scale: float | Sequence[float],
    *,
    kind: str | None = None,
    profile: str | None = None,
    width: float | Sequence[float | None] | None = None,
    out_shape: Sequence[int] | None = None,
    boundary: str = "mirror",
    **profile_kwargs: Any,
) -> np.ndarray:
    """Resample the last ``len(scale)`` axes of ``arr`` with 1D operators, one axis at a time.

    Output voxel ``o`` along axis ``i`` sits at input index ``(o + 1/2)/scale_i - 1/2``
    (the grid convention). Axes with ``scale == 1`` and unchanged size are skipped.

    Args:
        arr: ``(..., X, Y, Z)`` array (leading axes, e.g. channels, are batched).
        scale: one factor per spatial axis (or one for all three); ``< 1`` downsamples.
        kind: interpolation kind (see :func:`interpolation_matrix`), or
        profile: averaging profile (see :func:`profile_matrix`) -- give exactly one.
        width: profile width(s) in input voxels (per axis or one for all).
        out_shape: spatial output shape; default ``round(n_i * scale_i)``.
        boundary: ``"mirror"`` or ``"zero"`` (profiles only; interpolation mirrors).
        **profile_kwargs: passed to :func:`profile_matrix` (``normalize_edges``,
            ``kernel``, ``kernel_step``).

    Returns:
        The resampled array (float32 unless the input was float64).
    """
    if (kind is None) == (profile is None):
        raise ValueError("give exactly one of kind= (interpolation) or profile= (averaging)")
    s = np.atleast_1d(np.asarray(scale, dtype=np.float64))
    nd = 3 if s.size == 1 else s.size
    if s.size == 1:
        s = np.repeat(s, nd)
    if arr.ndim < nd:
        raise ValueError(f"array of shape {arr.shape} has fewer than {nd} spatial axes")
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ValueError(f"scale values must be positive, got {s.tolist()}")
    first = arr.ndim - nd
    sizes_in = arr.shape[first:]
    sizes_out = ([output_size(n, f) for n, f in zip(sizes_in, s)] if out_shape is None
                 else [int(v) for v in out_shape])
    if len(sizes_out) != nd:
        raise ValueError(f"out_shape needs {nd} values, got {list(out_shape or [])}")
    widths = _per_axis(width, nd, "width")
    todo = [i for i in range(nd) if not (s[i] == 1.0 and sizes_out[i] == sizes_in[i])]
    # Operators on different axes commute: shrink first to keep intermediates small.
    todo.sort(key=lambda i: sizes_out[i] / sizes_in[i])
    out = np.asarray(arr)
    if not todo:
        return np.array(out, dtype=_working_dtype(out))
    for i in todo:
        n_in, n_out = sizes_in[i], sizes_out[i]
        if kind is not None:
            mat = interpolation_matrix(n_in, source_coordinates(n_out, float(s[i])), kind)
        else:
            mat = profile_matrix(n_in, float(s[i]), profile=profile, width=widths[i],
                                 n_out=n_out, boundary=boundary, **profile_kwargs)
        out = apply_along_axis(out, mat, first + i)
    log.debug("resampled %s -> %s", tuple(sizes_in), out.shape[first:])
    return out
