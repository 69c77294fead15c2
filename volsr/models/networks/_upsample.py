"""Shared up-sampling tails of the ``"post"`` networks, dims-generic and per-axis.

A post-upsampling network computes features on the low-resolution grid and enlarges
them at the end by integer factors, one per axis (``(2, 2)`` in 2D, ``(1, 1, 2)`` for
slice-direction-only 3D up-sampling). :class:`Upsampler` splits the factors into
stages of prime factors, as EDSR does (x4 = two x2 stages, x3 = one x3 stage), and
runs one stage per factor with one of three mechanisms:

* ``"subpixel"`` (EDSR, SRResNet, RDN): ``conv -> pixel_shuffle_nd`` (Shi et al.,
  "Real-time single image and video super-resolution using an efficient sub-pixel
  convolutional neural network", CVPR 2016), ICNR-initialised so that it starts out as
  a nearest-neighbour up-sampler, free of checkerboard artefacts (Aitken et al.,
  arXiv:1707.02937, 2017);
* ``"nearest"`` (ESRGAN's RRDBNet): nearest-neighbour enlargement then a ``conv``;
* ``"deconv"`` (SRDenseNet): a transposed convolution with stride ``r`` and kernel
  ``r + 2`` (padding 1), whose footprint is centred on the voxel-grid convention of
  :mod:`volsr.geometry.grid` (output ``o`` sits at input ``(o + 1/2) / r - 1/2``);
  along axes with factor 1 it is a plain ``3``-kernel convolution.

Each stage may end with an activation (PReLU in SRResNet, leaky ReLU in RRDBNet, ...).
:class:`SubPixelConv` (one conv + shuffle) is also used directly as a single-stage
tail (FMEN maps features straight to ``C_out * prod(r)`` channels). :class:`UpConvND`
(FSRCNN, LapSRN) is one transposed convolution by the whole factor, with any kernel
size, border-padded and cropped onto the same grid convention (see :mod:`.fsrcnn`).
All transposed convolutions come from :func:`~volsr.models.networks._layers.
conv_transpose_nd`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from volsr.models.networks._base import conv_extent
from volsr.models.networks._checks import as_int_tuple, check_spatial_dims
from volsr.models.networks._layers import (
    PADDING_MODES,
    PixelShuffleND,
    canonical_activation,
    conv_nd,
    conv_transpose_nd,
    icnr_,
)
from volsr.models.networks._layers import activation as make_activation

UPSAMPLE_MODES = ("subpixel", "nearest", "deconv")

def _default_conv_init(weight: torch.Tensor) -> torch.Tensor:
    """PyTorch's default convolution initialisation (Kaiming-uniform, ``a = sqrt(5)``)."""
    return nn.init.kaiming_uniform_(weight, a=math.sqrt(5))


def _prime_factors(n: int) -> list[int]:
    out: list[int] = []
    p = 2
    while n > 1:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    return out


def upsample_stages(factors: Sequence[int]) -> list[tuple[int, ...]]:
    """Split per-axis integer factors into stages of prime factors, smallest first.

    Stage ``i`` up-samples every axis by its ``i``-th prime factor (1 once an axis
    has none left), so x4 becomes two x2 stages and x3 one x3 stage.

    Example:
        >>> upsample_stages((4, 4)), upsample_stages((1, 1, 2)), upsample_stages((4, 3))
        ([(2, 2), (2, 2)], [(1, 1, 2)], [(2, 3), (2, 1)])
        >>> upsample_stages((1, 1))
        []
    """
    per_axis = [_prime_factors(int(f)) for f in factors]
    n = max((len(p) for p in per_axis), default=0)
    return [tuple(p[i] if i < len(p) else 1 for p in per_axis) for i in range(n)]


class SubPixelConv(nn.Module):
    """``conv (C_in -> C_out * prod(r)) -> pixel_shuffle_nd(r)``, ICNR-initialised.

    Shapes: ``(B, C_in, *S)`` -> ``(B, C_out, *(s * r for s, r in zip(S, factors)))``.

    Example:
        >>> sp = SubPixelConv(3, 8, 2, (1, 1, 3))
        >>> sp(torch.zeros(1, 8, 4, 5, 6)).shape
        torch.Size([1, 2, 4, 5, 18])
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        factors: int | Sequence[int],
        *,
        kernel_size: int = 3,
        icnr: bool = True,
    ) -> None:
        super().__init__()
        d = check_spatial_dims(spatial_dims)
        self.factors = as_int_tuple(factors, d, "factors")
        n = math.prod(self.factors)
        self.conv = conv_nd(d, in_channels, out_channels * n, kernel_size)
        self.shuffle = PixelShuffleND(self.factors)
        if icnr:
            icnr_(self.conv.weight, self.factors, init=_default_conv_init)
            nn.init.zeros_(self.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.conv(x))


class NearestUp(nn.Module):
    """Nearest-neighbour enlargement by integer factors per axis (output ``o`` copies
    input ``floor(o / r)``, the voxel nearest to ``(o + 1/2) / r - 1/2``)."""

    def __init__(self, factors: Sequence[int]) -> None:
        super().__init__()
        self.factors = tuple(int(f) for f in factors)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = [int(s) * r for s, r in zip(x.shape[2:], self.factors)]
        return F.interpolate(x, size=size, mode="nearest")

    def extra_repr(self) -> str:
        return f"factors={self.factors}"


def deconv_nd(
    spatial_dims: int, in_channels: int, out_channels: int, factors: Sequence[int]
) -> nn.Module:
    """Grid-centred transposed convolution: stride ``r``, kernel ``r + 2`` (3 where
    ``r == 1``), padding 1, so that the output size is exactly ``r * n`` per axis."""
    kernel = tuple(r + 2 if r > 1 else 3 for r in factors)
    return conv_transpose_nd(
        spatial_dims, in_channels, out_channels, kernel, stride=tuple(factors), padding=1
    )


def _hat(t: float) -> float:
    return max(0.0, 1.0 - abs(t))


class UpConvND(nn.Module):
    """Transposed convolution up-sampling by an integer factor per axis, grid-aligned.

    Shapes: ``(B, in_channels, *S)`` -> ``(B, out_channels, *(n * f for n, f in zip(S,
    factors)))``.

    Args:
        spatial_dims: 1, 2 or 3.
        in_channels: Input channels.
        out_channels: Output channels.
        factors: Integer up-sampling factor (stride) per axis (1 keeps the axis).
        kernel_size: Kernel per axis; needs ``kernel >= factor``.
        bias: Whether the layer has a bias.
        padding_mode: How the input is extended before the transposed convolution:
            ``"replicate"``, ``"reflect"``, ``"circular"`` or ``"zeros"`` (no extension,
            i.e. a plain transposed convolution).

    Example:
        >>> up = UpConvND(2, 1, 1, (2, 3), (4, 9), bias=False)
        >>> _ = up.init_linear_()
        >>> y = up(torch.arange(5.0).reshape(1, 1, 5, 1).expand(1, 1, 5, 4))
        >>> y.shape, y[0, 0, 2:8, 0].tolist()  # ramp i -> ramp x(o) = (o + 0.5)/2 - 0.5
        (torch.Size([1, 1, 10, 12]), [0.75, 1.25, 1.75, 2.25, 2.75, 3.25])
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        factors: int | Sequence[int],
        kernel_size: int | Sequence[int],
        *,
        bias: bool = True,
        padding_mode: str = "replicate",
    ) -> None:
        super().__init__()
        d = check_spatial_dims(spatial_dims)
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
        self.factors = as_int_tuple(factors, d, "factors")
        self.kernel_size = as_int_tuple(kernel_size, d, "kernel_size")
        if any(k < s for k, s in zip(self.kernel_size, self.factors)):
            raise ValueError(
                f"kernel_size {self.kernel_size} must be >= factors {self.factors} per axis"
            )
        self.padding_mode = padding_mode
        self.crop = tuple((k - s) // 2 for k, s in zip(self.kernel_size, self.factors))
        if padding_mode == "zeros":
            self.pad_lr = tuple((0, 0) for _ in range(d))
        else:
            self.pad_lr = tuple(
                ((k - 1 - c) // s, (s - 1 + c) // s)
                for k, s, c in zip(self.kernel_size, self.factors, self.crop)
            )
        self.conv = conv_transpose_nd(
            d, in_channels, out_channels, self.kernel_size, stride=self.factors, bias=bias
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Up-sample ``(B, C_in, *S)`` to ``(B, C_out, *(S * factors))``."""
        spatial = x.shape[2:]
        if self.padding_mode != "zeros" and any(p for lr in self.pad_lr for p in lr):
            pads: list[int] = []
            for left, right in reversed(self.pad_lr):  # F.pad wants the last axis first
                pads += [left, right]
            x = F.pad(x, pads, mode=self.padding_mode)
        y = self.conv(x)
        index = [slice(None), slice(None)]
        for n, s, c, (left, _) in zip(spatial, self.factors, self.crop, self.pad_lr):
            start = c + left * s
            index.append(slice(start, start + n * s))
        return y[tuple(index)]

    def radius(self) -> tuple[float, ...]:
        """Largest distance, in input voxels, from ``x(o)`` to an input feeding output ``o``."""
        out = []
        for s, k, c in zip(self.factors, self.kernel_size, self.crop):
            r = 0.0
            for o in range(s):  # one period of output phases
                x = (o + 0.5) / s - 0.5
                lo, hi = math.ceil((o + c - k + 1) / s), (o + c) // s
                r = max(r, x - lo, hi - x)
            out.append(r)
        return tuple(out)

    def min_input_size(self) -> tuple[int, ...]:
        """Smallest input size per axis (reflect padding needs ``size > pad``)."""
        if self.padding_mode != "reflect":
            return (1,) * len(self.factors)
        return tuple(max(left, right) + 1 for left, right in self.pad_lr)

    def linear_kernel(self) -> torch.Tensor:
        """Separable linear-interpolation kernel on the volsr grid, shape ``kernel_size``."""
        kernel = torch.ones((), dtype=torch.float64)
        for s, k, c in zip(self.factors, self.kernel_size, self.crop):
            taps = torch.tensor(
                [_hat((j - c + 0.5) / s - 0.5) for j in range(k)], dtype=torch.float64
            )
            kernel = kernel[..., None] * taps
        return kernel

    @torch.no_grad()
    def init_linear_(self) -> UpConvND:
        """Make the layer linear interpolation per channel (needs ``in == out`` channels).

        Exact wherever the kernel covers the two neighbours of every ``x(o)``, i.e. for
        ``kernel >= 2 * factor`` (FSRCNN's 9 up to x4, LapSRN's 4 at x2).
        """
        w = self.conv.weight  # (C_in, C_out, *k)
        if w.shape[0] != w.shape[1]:
            raise ValueError(f"linear init needs in == out channels, got {tuple(w.shape[:2])}")
        w.zero_()
        kernel = self.linear_kernel().to(w)
        for ch in range(w.shape[0]):
            w[ch, ch] = kernel
        if self.conv.bias is not None:
            self.conv.bias.zero_()
        return self

    def extra_repr(self) -> str:
        return (
            f"factors={self.factors}, kernel_size={self.kernel_size}, crop={self.crop}, "
            f"pad={self.pad_lr}, padding_mode={self.padding_mode!r}"
        )


class Upsampler(nn.Module):
    """Multi-stage up-sampler by integer factors per axis (see the module docstring).

    Args:
        spatial_dims: 1, 2 or 3.
        in_channels: Channels of the low-resolution features.
        factors: One int or one per axis (``>= 1``); e.g. ``4`` or ``(1, 1, 2)``.
        features: Channels of every stage output (default ``in_channels``).
        mode: ``"subpixel"``, ``"nearest"`` or ``"deconv"``.
        activation: Activation after every stage (``None``: none), by name as in
            :func:`~volsr.models.networks._layers.activation`.
        negative_slope: Slope of a ``"leaky"`` activation.
        kernel_size: Kernel of the stage convolutions (``"subpixel"``/``"nearest"``).
        icnr: ICNR-initialise the sub-pixel convolutions (zero bias).

    Shapes: ``(B, in_channels, *S)`` -> ``(B, features, *(s * r))``; with all factors 1
    it is the identity (and ``in_channels`` must equal ``features``).

    Example:
        >>> up = Upsampler(2, 16, 4, activation="prelu")
        >>> up.plan, up(torch.zeros(1, 16, 5, 6)).shape
        ([(2, 2), (2, 2)], torch.Size([1, 16, 20, 24]))
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        factors: int | Sequence[int],
        *,
        features: int | None = None,
        mode: str = "subpixel",
        activation: str | None = None,
        negative_slope: float = 0.2,
        kernel_size: int = 3,
        icnr: bool = True,
    ) -> None:
        super().__init__()
        d = check_spatial_dims(spatial_dims)
        if mode not in UPSAMPLE_MODES:
            raise ValueError(f"mode must be one of {UPSAMPLE_MODES}, got {mode!r}")
        self.spatial_dims = d
        self.factors = as_int_tuple(factors, d, "factors")
        self.features = in_channels if features is None else int(features)
        self.mode = mode
        self.activation = None if activation is None else canonical_activation(activation)
        plan = upsample_stages(self.factors)
        if not plan and in_channels != self.features:
            raise ValueError(
                f"factors {self.factors} need no up-sampling stage, so in_channels "
                f"({in_channels}) must equal features ({self.features})"
            )
        self.stages = nn.ModuleList()
        self.plan = plan
        c = in_channels
        for r in plan:
            layers: list[nn.Module] = []
            if mode == "subpixel":
                layers.append(SubPixelConv(d, c, self.features, r, kernel_size=kernel_size,
                                           icnr=icnr))
            elif mode == "nearest":
                layers += [NearestUp(r), conv_nd(d, c, self.features, kernel_size)]
            else:
                layers.append(deconv_nd(d, c, self.features, r))
            if self.activation is not None:
                layers.append(make_activation(self.activation, negative_slope=negative_slope))
            self.stages.append(nn.Sequential(*layers))
            c = self.features

    def extent(self) -> list[float]:
        """Kernel reach per axis in voxels of the low-resolution input grid."""
        ext = [0.0] * self.spatial_dims
        cum = [1.0] * self.spatial_dims
        for r, stage in zip(self.plan, self.stages):
            after = [c * f for c, f in zip(cum, r)]
            # sub-pixel convs run before their shuffle; "nearest" convs after the
            # enlargement; transposed convs count in units of their input grid
            at = after if self.mode == "nearest" else cum
            for i, e in enumerate(conv_extent([stage], self.spatial_dims, at)):
                ext[i] += e
            cum = after
        return ext

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.stages:
            x = stage(x)
        return x

    def extra_repr(self) -> str:
        return f"factors={self.factors}, mode={self.mode!r}, stages={self.plan}"


__all__ = [
    "UPSAMPLE_MODES",
    "NearestUp",
    "SubPixelConv",
    "UpConvND",
    "Upsampler",
    "deconv_nd",
    "upsample_stages",
]
