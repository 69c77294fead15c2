"""Through-plane SR with 2D networks that take an output grid (``any_factor`` networks).

Such a network (:class:`~volsr.models.networks.lraxis.LRAxisNet`) reads planes on the
*input* grid and writes them onto any grid along one plane axis, given as ``(step,
offset, size)``: output ``o`` at input index ``offset + o * step``. For thick slices along
voxel axis ``a`` it runs on the two plane families that contain ``a`` (slices across
each other axis), with ``a`` as the plane's first axis (rows, where the network's
nominal factor is), and the two estimates are fused (``average`` or ``fba``) as for
the other 2D networks (:mod:`volsr.inference.slicewise`). The planned grid is passed
through unchanged, so the output lands exactly where B-spline would put it (any factor,
``--reference`` and ``--target-spacing`` grids included).
"""

from __future__ import annotations

import logging

import numpy as np

from volsr.errors import ConfigError, InputError
from volsr.inference.grid import GridPlan
from volsr.inference.protocol import Network
from volsr.inference.settings import WindowSettings

__all__ = ["PIXELS_PER_BATCH", "predict_lr_axis"]

log = logging.getLogger(__name__)

PIXELS_PER_BATCH = 1 << 18
"""About this many input pixels per network call (planes are batched)."""


def predict_lr_axis(model: Network, arr: np.ndarray, plan: GridPlan, window: WindowSettings,
                    name: str) -> np.ndarray:
    """Run an ``any_factor`` 2D network on the planes containing the one scaled axis
    (fused), or on the slices across the one unchanged axis (in-plane SR).

    Args:
        model: the network (eval mode, on its device).
        arr: ``(C, X, Y, Z)`` float32 normalised input on the input grid.
        plan: the output grid; one or two axes may change (step, offset or size).
        window: ``fusion`` and ``precision`` apply (whole planes, no windows, no TTA).
        name: the model's name, for messages.

    Returns:
        ``(C_out, *plan.grid.shape)`` float32 array.

    Raises:
        ConfigError: no axis or all three axes change.
        InputError: planes smaller than the network's minimum input size.
    """
    from volsr.inference.slicewise import _fuse

    shape = tuple(int(n) for n in arr.shape[1:])
    out_shape = tuple(int(n) for n in plan.grid.shape)
    grids = [(float(plan.step[i]), float(plan.offset[i]), out_shape[i]) for i in range(3)]
    changed = [i for i in range(3) if not _unchanged(grids[i], shape[i])]
    grids = [g if i in changed else (1.0, 0.0, shape[i]) for i, g in enumerate(grids)]
    if len(changed) not in (1, 2):
        raise ConfigError(
            f"model {name} is a 2D network: it changes one axis (thick slices) or the two "
            f"axes of a plane; the requested grid changes {len(changed)} axes (factor "
            f"{tuple(round(float(v), 4) for v in plan.scale)}); use --scale with one factor "
            "along the slice axis, or a 'pre' model")
    if len(changed) == 2:  # in-plane: the slices across the unchanged axis
        r, c = changed
        k = 3 - r - c
        return _planes(model, arr, (r, c, k), (grids[r], grids[c]), window, name)
    a = changed[0]
    ests = []
    for k in (i for i in range(3) if i != a):
        other = 3 - a - k
        ests.append(_planes(model, arr, (a, other, k), (grids[a], grids[other]), window, name))
    log.debug("%s: thick axis %d on the low-resolution grid, %d plane families fused",
              name, a, len(ests))
    return _fuse(ests, window.fusion)


IDENTITY_TOL = 1e-3
"""Largest position error, in input voxels over the whole axis, of an axis treated as
unchanged. A file's float32 affine makes ``--isotropic`` ask for in-plane factors like
1.0000001; taken literally, two axes "change" and the planes would be run the wrong way
round (measured: 1 dB lost on a phantom)."""


def _unchanged(grid: tuple[float, float, int], n: int) -> bool:
    """True when an axis grid is the identity up to :data:`IDENTITY_TOL` voxels."""
    step, offset, size = grid
    drift = abs(step - 1.0) * max(n - 1, 1) + abs(offset)
    return size == n and drift < IDENTITY_TOL


def _planes(model: Network, arr: np.ndarray, axes: tuple[int, int, int],
            grid: tuple[tuple[float, float, int], tuple[float, float, int]],
            w: WindowSettings, name: str) -> np.ndarray:
    """The network on every slice across axis ``axes[2]``, rows along ``axes[0]`` and
    columns along ``axes[1]``, each onto its ``grid``."""
    import torch

    from volsr.inference.sliding import compute_dtype

    a, other, k = axes
    need = tuple(int(v) for v in model.min_input_size())
    have = (arr.shape[1 + a], arr.shape[1 + other])
    if have[0] < need[0] or have[1] < need[1]:
        raise InputError(f"slices are smaller than the model's minimum: {name} needs at least "
                         f"{list(need)} pixels, the slices across axis {k} have {list(have)}")
    order = (1 + k, 0, 1 + a, 1 + other)  # (slices, C, rows, cols)
    planes = np.ascontiguousarray(arr.transpose(order))
    device = next(model.parameters()).device  # type: ignore[attr-defined]
    dtype = compute_dtype(w.precision, device, amp=w.amp, two_d=True)
    per = max(1, PIXELS_PER_BATCH // max(1, have[0] * have[1]))
    outs = []
    with torch.inference_mode(), torch.autocast(device.type, dtype=dtype or torch.bfloat16,
                                                enabled=dtype is not None):
        for i in range(0, planes.shape[0], per):
            x = torch.from_numpy(planes[i:i + per]).to(device)
            if w.precision != "fp32":  # as sliding_window_predict: fp32 stays NCHW
                x = x.contiguous(memory_format=torch.channels_last)
            y = model(x, grid=grid, pad_ends=True)  # type: ignore[call-arg]
            outs.append(y.float().cpu().numpy())
    res = np.concatenate(outs, axis=0)  # (slices, C_out, rows, cols)
    back = np.argsort(order)
    return np.ascontiguousarray(res.transpose(back), dtype=np.float32)
