"""Running a network over a whole volume in overlapping windows.

A thin wrapper over :func:`monai.inferers.sliding_window_inference` that adds:

* **scale awareness**: ``"pre"`` networks keep the size, ``"post"``/``"progressive"``
  networks multiply it by their integer scale per axis; windows are placed on the input
  and MONAI stitches the zoomed outputs;
* **halo context**: each window is run with up to ``halo`` extra input voxels of real
  context on every side that is not a volume border, and only its central part is kept.
  When the halo covers the network's receptive radius, every window predicts exactly
  what one pass over the whole volume would, so the stitched result does not depend on
  the patch size, the overlap or the blending (up to float rounding);
* test-time augmentation (flips; for 2D networks flips and transposes), autocast
  (``precision``, :func:`compute_dtype`), 2D networks run slice by slice (along the last
  axis; see :mod:`volsr.inference.slicewise` for the other orientations) in batches of
  planes, channels-last, and an output buffer on the CPU when the output would not fit
  the GPU.

Shapes: input ``(1, C, X, Y, Z)`` -> output ``(1, C_out, X*sx, Y*sy, Z*sz)`` (float32, CPU).
"""

from __future__ import annotations

import itertools
import logging
import math
from typing import cast

import torch

from volsr.inference.protocol import Network
from volsr.inference.settings import BLENDS, WindowSettings

log = logging.getLogger(__name__)

MAX_AUTO_HALO = 16
PIXELS_PER_BATCH = 1 << 21  # 2D networks: slices per forward pass bounded by pixel count


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX), as oneDNN needs
    for bf16 to be faster than float32 (elsewhere it is emulated, and slower)."""
    probe = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    try:
        native = bool(probe and probe()) or bool(amx and amx())
        return native and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (RuntimeError, AttributeError):  # a build without these probes
        return False


def compute_dtype(precision: str, device: torch.device, *, amp: bool = True,
                  two_d: bool = True) -> torch.dtype | None:
    """The autocast dtype of a network run, or None for plain float32.

    ``"fp32"``: None. ``"bf16"``: bfloat16 on any device. ``"auto"``: None unless ``amp``;
    then float16 on CUDA (the behaviour before ``precision`` existed), bfloat16 for 2D
    networks on a CPU with native bfloat16 (:func:`cpu_has_native_bf16`; the change of output was
    measured below 0.02 dB PSNR on a MR and a CT scan for thickslice_v1, see
    ``benchmarks/infer_speed.py``); float32 otherwise (3D networks on the CPU, CPUs
    without native bfloat16, MPS).

    Example:
        >>> compute_dtype("fp32", torch.device("cpu")) is None
        True
        >>> compute_dtype("auto", torch.device("cpu"), two_d=False) is None
        True
    """
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if not amp:  # e.g. self-SR, which runs its networks in float32
        return None
    if device.type == "cuda":
        return torch.float16
    if device.type == "cpu" and two_d and cpu_has_native_bf16():
        return torch.bfloat16
    return None


def model_device(model: Network) -> torch.device:
    """Device of the model's first parameter (CPU for parameter-free modules)."""
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def volume_scale(model: Network) -> tuple[int, int, int]:
    """Integer output/input size ratio per axis of a 3D volume (1 for ``"pre"`` models)."""
    if model.upsampling == "pre":
        return (1, 1, 1)
    s = tuple(int(v) for v in model.integer_scale())
    return (*s, 1) if model.spatial_dims == 2 else s  # type: ignore[return-value]


def min_volume_size(model: Network) -> tuple[int, int, int]:
    """Smallest input size per axis (3D; 2D networks need nothing along Z)."""
    m = tuple(int(v) for v in model.min_input_size())
    return (*m, 1) if len(m) == 2 else m  # type: ignore[return-value]


def auto_halo(model: Network) -> tuple[int, int, int]:
    """Receptive radius per axis in input voxels, capped at :data:`MAX_AUTO_HALO`."""
    rf = [int(v) for v in model.receptive_field()]
    if len(rf) == 2:
        rf.append(1)
    return tuple(min(MAX_AUTO_HALO, max(0, math.ceil((r - 1) / 2))) for r in rf)  # type: ignore


def tta_transforms(two_d: bool, transpose: bool = True) -> list[tuple[tuple[int, ...], bool]]:
    """The test-time augmentations as ``(flipped dims, transposed)`` pairs.

    3D: the 8 flips of ``(B, C, X, Y, Z)`` along X, Y, Z and their combinations. 2D (the
    network's plane is X, Y): the 4 flips times {identity, X/Y transpose}, i.e. the 8
    symmetries of the square (the self-ensemble "+" of EDSR+/RDN+); without
    ``transpose`` (planes whose two axes have different scales) only the 4 flips.

    Example:
        >>> len(tta_transforms(True)), len(tta_transforms(True, transpose=False))
        (8, 4)
    """
    dims = (2, 3) if two_d else (2, 3, 4)
    flips = [c for r in range(len(dims) + 1) for c in itertools.combinations(dims, r)]
    swaps = (False, True) if two_d and transpose else (False,)
    return [(f, t) for t in swaps for f in flips]


class _Forward:
    """The model as a batch function with 2D-slicing, dihedral/flip TTA and autocast."""

    def __init__(self, model: Network, *, tta: bool, amp: bool, transpose: bool = True,
                 precision: str = "auto") -> None:
        self.model = model
        self.device = model_device(model)
        self.two_d = model.spatial_dims == 2
        self.dtype = compute_dtype(precision, self.device, amp=amp, two_d=self.two_d)
        # channels-last planes: oneDNN's fast layout (1.4-1.8x in float32 on the CPU), but
        # not bit-identical to NCHW; "fp32" stays the bit-exact reference path
        self.channels_last = self.two_d and precision != "fp32"
        if self.two_d and model.upsampling != "pre":
            s = tuple(int(v) for v in model.integer_scale())
            transpose = transpose and s[0] == s[1]  # a transposed (s0, s1) net is (s1, s0)
        self.flips: list[tuple[tuple[int, ...], bool]] = [((), False)]
        if tta:
            self.flips = tta_transforms(self.two_d, transpose)

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        if self.two_d:  # slices in batches of about PIXELS_PER_BATCH input pixels
            b, c, nx, ny, nz = x.shape
            xs = x.permute(0, 4, 1, 2, 3).reshape(b * nz, c, nx, ny)
            if self.channels_last:
                xs = xs.contiguous(memory_format=torch.channels_last)
            per = max(1, PIXELS_PER_BATCH // max(1, nx * ny))
            ys = (self.model(xs) if xs.shape[0] <= per else
                  torch.cat([self.model(xs[i:i + per]) for i in range(0, xs.shape[0], per)]))
            ys = ys.reshape(b, nz, *ys.shape[1:])
            return ys.permute(0, 2, 3, 4, 1)
        return self.model(x)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device)
        total = None
        on = self.dtype is not None
        with torch.inference_mode(), torch.autocast(self.device.type if on else "cpu",
                                                    dtype=self.dtype or torch.bfloat16,
                                                    enabled=on):
            for dims, swap in self.flips:
                xt = torch.flip(x, dims) if dims else x
                y = self._run(xt.transpose(2, 3) if swap else xt).float()
                y = y.transpose(2, 3) if swap else y
                y = torch.flip(y, dims) if dims else y
                total = y if total is None else total + y
        return total / len(self.flips) if len(self.flips) > 1 else total  # type: ignore


def sliding_window_predict(
    model: Network,
    x: torch.Tensor,
    window: WindowSettings | None = None,
    *,
    device: torch.device | str | None = None,
    progress: bool = False,
    transpose: bool = True,
) -> torch.Tensor:
    """Predict a whole volume, window by window.

    Args:
        model: a network in eval mode, on its compute device (windows run there).
        x: ``(1, C, X, Y, Z)`` float tensor (CPU or the model's device).
        window: the settings (:class:`~volsr.inference.settings.WindowSettings`; default:
            whole volume in one pass). ``patch_size`` is in *output* voxels per axis
            (divided by the model's scale for post-upsampling networks, clipped to the
            volume); ``tta`` (:func:`tta_transforms`): 3D networks average the 8 flips,
            2D networks the 8 flips/transposes of their plane (4 flips when
            ``transpose`` is False or a post network's two factors differ); ``halo``
            ``"auto"`` is the receptive radius, at most 16, 0 leaves it to blending
            alone; ``amp`` and ``precision`` choose the autocast dtype
            (:func:`compute_dtype`). ``device`` and ``fusion``
            are not used here (the model is already on its device).
        device: where the stitched output is kept; default: the model's device when it
            fits in half the free GPU memory, else the CPU.
        progress: show MONAI's window progress bar.
        transpose: allow the X/Y transposes in 2D TTA (only valid when the two plane
            axes have the same scale).

    Returns:
        ``(1, C_out, *output_spatial)`` float32 tensor on the CPU.
    """
    w = window if window is not None else WindowSettings()
    if x.ndim != 5 or x.shape[0] != 1:
        raise ValueError(f"expected a (1, C, X, Y, Z) tensor, got shape {tuple(x.shape)}")
    fwd = _Forward(model, tta=w.tta, amp=w.amp, transpose=transpose, precision=w.precision)
    x = x.float()
    shape = tuple(int(n) for n in x.shape[2:])
    scale = volume_scale(model)
    out_shape = tuple(n * s for n, s in zip(shape, scale))
    roi = _roi(w.patch_size, shape, scale, min_volume_size(model))
    if roi == shape:
        log.debug("whole volume %s in one pass", shape)
        return fwd(x).cpu()
    from monai.inferers import sliding_window_inference  # only needed for windows

    c_out = int(model.out_channels)
    out_device = torch.device(device) if device is not None else _output_device(
        fwd.device, (c_out + 1) * math.prod(out_shape) + x.numel())
    halo3 = auto_halo(model) if w.halo == "auto" else cast(tuple[int, int, int], w.halo)
    if fwd.two_d:
        halo3 = (halo3[0], halo3[1], 0)
    source = x.to(out_device) if out_device == fwd.device else x
    ctx = tuple(min(n, r + 2 * h) for n, r, h in zip(shape, roi, halo3))
    log.debug("sliding window: roi %s, context %s, overlap %s, %s", roi, ctx, w.overlap,
              w.blend)

    def one_window(_: torch.Tensor, slices: list[list[slice]]) -> torch.Tensor:
        batch, crops = [], []
        for sl in slices:
            starts = [min(max(s.start - h, 0), n - c)
                      for s, h, n, c in zip(sl[2:], halo3, shape, ctx)]
            idx = (sl[0], slice(None), *(slice(a, a + c) for a, c in zip(starts, ctx)))
            batch.append(source[idx])
            crops.append(tuple(slice((s.start - a) * f, (s.start - a + r) * f)
                               for s, a, r, f in zip(sl[2:], starts, roi, scale)))
        y = fwd(torch.cat(batch))
        return torch.stack([y[i][(slice(None), *c)] for i, c in enumerate(crops)])

    out = sliding_window_inference(
        source, roi, w.sw_batch_size, one_window, overlap=w.overlap, mode=w.blend,
        sw_device=fwd.device, device=out_device, progress=progress, with_coord=True,
    )
    return out.float().cpu()


def _roi(patch: tuple[int, int, int] | None, shape: tuple[int, ...], scale: tuple[int, ...],
         minimum: tuple[int, ...]) -> tuple[int, ...]:
    if patch is None:
        return shape
    roi = tuple(min(n, max(m, v // s, 1)) for v, s, n, m in zip(patch, scale, shape, minimum))
    if any(v > n * s for v, s, n in zip(patch, scale, shape)):
        log.info("patch %s is larger than the volume %s along some axis; using %s",
                 list(patch), list(shape), list(roi))
    return roi


def _output_device(sw_device: torch.device, values: int) -> torch.device:
    """The GPU if ``values`` float32 numbers (output, weights, input) fit half its free memory."""
    if sw_device.type != "cuda":
        return torch.device("cpu")
    need = values * 4
    free, _ = torch.cuda.mem_get_info(sw_device)
    if need < free // 2:
        return sw_device
    log.info("output (%.1f GiB) kept on the CPU: not enough free GPU memory", need / 2**30)
    return torch.device("cpu")


__all__ = ["BLENDS", "auto_halo", "compute_dtype", "cpu_has_native_bf16", "min_volume_size", "model_device", "sliding_window_predict",
           "tta_transforms", "volume_scale"]
