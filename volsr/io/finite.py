"""Refuse to write outputs holding NaN or infinite values (e.g. from broken weights)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from volsr.errors import OutputError


def count_nonfinite(data: np.ndarray, slab: int = 1 << 24) -> int:
    """Number of NaN/inf values in ``data`` (any shape), scanned in slabs of about
    ``slab`` values so that a memory-mapped output is not loaded whole."""
    flat = data.reshape(-1) if data.flags.c_contiguous else np.asarray(data).reshape(-1)
    bad = 0
    for start in range(0, flat.size, slab):
        part = flat[start:start + slab]
        bad += int(part.size - np.count_nonzero(np.isfinite(part)))
    return bad


def check_output_finite(data: np.ndarray, path: str | Path) -> None:
    """Raise :class:`OutputError` (nothing is written) when ``data`` has non-finite values.

    Args:
        data: the output voxels, e.g. ``(C, X, Y, Z)``.
    """
    if np.asarray(data[..., :0]).dtype.kind not in "fc":
        return
    bad = count_nonfinite(data)
    if bad:
        share = 100.0 * bad / max(data.size, 1)
        raise OutputError(f"the result has {bad} NaN or infinite voxel(s) ({share:.3g} %), "
                          "so it was not written; the model's weights may be broken", path=path)
