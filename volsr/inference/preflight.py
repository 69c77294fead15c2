"""Memory preflight for interpolation (B-spline and the other baselines): refuse a grid
whose output cannot fit in memory with one line that names the grid and the sizes,
before anything is allocated (networks have their own plan in
:mod:`volsr.inference.memory`)."""

from __future__ import annotations

import logging

import numpy as np

from volsr.errors import ResourceError

log = logging.getLogger(__name__)

SAFETY = 0.85  # use at most this share of the available memory
SLAB_ROOM = 0.15  # temporaries of the slab-wise interpolation, as a share of the output


def interpolation_bytes(in_shape: tuple[int, ...], out_shape: tuple[int, ...],
                        channels: int = 1, *, global_kind: bool = False) -> int:
    """Estimated peak bytes of interpolating ``(C, *in_shape)`` onto ``out_shape`` (float32).

    Local kernels fill one output array slab by slab (+ slab temporaries); the global
    (Fourier) kind needs complex spectra of about twice the output on top.
    """
    out = channels * float(np.prod(out_shape, dtype=np.float64)) * 4
    inp = channels * float(np.prod(in_shape, dtype=np.float64)) * 4
    extra = 4.0 * out if global_kind else SLAB_ROOM * out
    return int(out + inp + extra)


def check_interpolation_memory(in_shape: tuple[int, ...], out_shape: tuple[int, ...],
                               channels: int = 1, *, global_kind: bool = False,
                               available: int | None = None) -> int:
    """Raise :class:`ResourceError` when the interpolation cannot fit; return the estimate.

    Args:
        available: bytes that may be used (default: :func:`volsr.sysmem.available_memory`,
            cgroup-aware).
    """
    from volsr.sysmem import available_memory

    need = interpolation_bytes(in_shape, out_shape, channels, global_kind=global_kind)
    avail = available_memory() if available is None else int(available)
    if need > SAFETY * avail:
        grid = "x".join(str(int(n)) for n in out_shape)
        raise ResourceError(f"the output grid {grid} needs about {_gib(need)} of memory for "
                            f"interpolation, more than the {_gib(avail)} available; choose a "
                            "coarser grid (--scale / --target-spacing)")
    log.debug("interpolation onto %s: about %s of %s", out_shape, _gib(need), _gib(avail))
    return need


def _gib(n: float) -> str:
    return f"{n / 2**30:.3g} GiB" if n < 2**60 else f"{n / 2**50:.3g} PiB"
