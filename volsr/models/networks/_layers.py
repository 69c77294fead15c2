"""Dims-generic building blocks shared by the super-resolution networks.

Everything here works for 1D, 2D and 3D tensors laid out as ``(B, C, *spatial)``:

* :func:`conv_nd` builds ``nn.Conv{1,2,3}d`` with size-preserving ("same") padding,
  :func:`conv_transpose_nd` the matching ``nn.ConvTranspose{1,2,3}d``;
* :func:`activation` / :func:`norm_nd` build activations and normalisations by name;
* :func:`pixel_shuffle_nd` / :func:`pixel_unshuffle_nd` move channels into space (and
  back) with one integer factor per axis, e.g. ``(1, 1, 4)`` for slice-direction-only
  up-sampling; in 2D with equal factors they match ``torch.nn.functional.pixel_shuffle``;
* :func:`icnr_` initialises a sub-pixel convolution so that it starts out as a
  nearest-neighbour up-sampler (Aitken et al., "Checkerboard artifact free sub-pixel
  convolution", arXiv:1707.02937, 2017), which avoids checkerboard artefacts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from volsr.models.networks._checks import as_int_tuple, check_spatial_dims

PADDING_MODES = ("zeros", "replicate", "reflect", "circular")
NORMS = ("none", "batch", "instance")

_ACTIVATION_ALIASES = {
    "relu": "relu",
    "rrelu": "rrelu",
    "prelu": "prelu",
    "leaky": "leaky",
    "leaky_relu": "leaky",
    "leakyrelu": "leaky",
    "lrelu": "leaky",
    "elu": "elu",
    "identity": "identity",
    "none": "identity",
}
ACTIVATIONS = ("relu", "rrelu", "prelu", "leaky", "elu", "identity")

_CONV: dict[int, type[nn.Module]] = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_BATCH: dict[int, type[nn.Module]] = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
_CONV_T: dict[int, type[nn.Module]] = {
    1: nn.ConvTranspose1d,
    2: nn.ConvTranspose2d,
    3: nn.ConvTranspose3d,
}
_INSTANCE: dict[int, type[nn.Module]] = {
    1: nn.InstanceNorm1d,
    2: nn.InstanceNorm2d,
    3: nn.InstanceNorm3d,
}


def conv_nd(
    spatial_dims: int,
    in_channels: int,
    out_channels: int,
    kernel_size: int | Sequence[int] = 3,
    *,
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    padding: int | Sequence[int] | None = None,
    padding_mode: str = "zeros",
    bias: bool = True,
    groups: int = 1,
) -> nn.Module:
    """A ``spatial_dims``-D convolution; by default padded so stride 1 keeps the size.

    Args:
        spatial_dims: 1, 2 or 3.
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: One int or one per axis.
        stride: One int or one per axis.
        dilation: One int or one per axis.
        padding: Explicit padding; ``None`` means ``dilation * (k - 1) // 2`` per axis
            (exactly size-preserving for odd kernels; even kernels with stride 1 use
            PyTorch's asymmetric ``"same"`` padding).
        padding_mode: ``"zeros"``, ``"replicate"``, ``"reflect"`` or ``"circular"``.
        bias: Whether the convolution has a bias.
        groups: Channel groups.

    Returns:
        ``nn.Conv1d``/``nn.Conv2d``/``nn.Conv3d``; input ``(B, in_channels, *S)``.

    Example:
        >>> conv = conv_nd(3, 1, 4, (3, 3, 1), padding_mode="replicate")
        >>> conv(torch.zeros(1, 1, 5, 6, 7)).shape
        torch.Size([1, 4, 5, 6, 7])
    """
    d = check_spatial_dims(spatial_dims)
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
    k = as_int_tuple(kernel_size, d, "kernel_size")
    s = as_int_tuple(stride, d, "stride")
    dil = as_int_tuple(dilation, d, "dilation")
    pad: str | tuple[int, ...]
    if padding is not None:
        pad = tuple(padding) if not isinstance(padding, int) else (padding,) * d
    elif all(v % 2 == 1 for v in k) or any(v > 1 for v in s):
        pad = tuple(di * (ki - 1) // 2 for ki, di in zip(k, dil))
    else:
        pad = "same"
    return _CONV[d](
        in_channels,
        out_channels,
        k,
        stride=s,
        padding=pad,
        dilation=dil,
        groups=groups,
        bias=bias,
        padding_mode=padding_mode,
    )


def conv_transpose_nd(
    spatial_dims: int,
    in_channels: int,
    out_channels: int,
    kernel_size: int | Sequence[int],
    *,
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
    bias: bool = True,
) -> nn.Module:
    """A ``spatial_dims``-D transposed convolution (the one factory for all of them).

    The grid alignment is the caller's business: :class:`~volsr.models.networks.
    _upsample.UpConvND` and :func:`~volsr.models.networks._upsample.deconv_nd` choose
    kernel, stride and padding so that outputs sit on volsr's voxel-centre convention.

    Args:
        spatial_dims: 1, 2 or 3.
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: One int or one per axis.
        stride: One int or one per axis (the up-sampling factor).
        padding: PyTorch's (cropping) padding, one int or one per axis.
        bias: Whether the layer has a bias.

    Returns:
        ``nn.ConvTranspose{1,2,3}d``: ``(B, C_in, *S)`` -> ``(B, C_out, *((S - 1) * stride
        - 2 * padding + kernel_size))``.

    Example:
        >>> up = conv_transpose_nd(3, 2, 1, 2, stride=(1, 1, 2))
        >>> up(torch.zeros(1, 2, 4, 5, 6)).shape
        torch.Size([1, 1, 5, 6, 12])
    """
    d = check_spatial_dims(spatial_dims)
    k = as_int_tuple(kernel_size, d, "kernel_size")
    s = as_int_tuple(stride, d, "stride")
    pad = (padding,) * d if isinstance(padding, int) else tuple(padding)
    return _CONV_T[d](in_channels, out_channels, k, stride=s, padding=pad, bias=bias)


def canonical_activation(name: str) -> str:
    """Canonical activation name (``"leaky_relu"`` -> ``"leaky"``); raises on unknown names."""
    key = str(name).lower()
    if key not in _ACTIVATION_ALIASES:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {name!r}")
    return _ACTIVATION_ALIASES[key]


def activation(
    name: str,
    *,
    num_parameters: int = 1,
    negative_slope: float = 0.2,
    inplace: bool = False,
) -> nn.Module:
    """An activation module by name.

    Args:
        name: ``"relu"``, ``"rrelu"`` (randomised leaky ReLU: slope drawn from
            U(1/8, 1/3) in training, their mean in eval), ``"prelu"`` (learned slope,
            initial 0.25), ``"leaky"`` (fixed ``negative_slope``), ``"elu"`` or
            ``"identity"``; aliases ``leaky_relu``, ``lrelu``, ``none`` are accepted.
        num_parameters: Learned slopes for PReLU (1 shared, or one per channel).
        negative_slope: Slope of the leaky ReLU (0.2, the usual choice in SR GANs).
        inplace: In-place variant where PyTorch has one.

    Example:
        >>> type(activation("leaky_relu")).__name__
        'LeakyReLU'
    """
    key = canonical_activation(name)
    if key == "relu":
        return nn.ReLU(inplace=inplace)
    if key == "rrelu":
        return nn.RReLU(inplace=inplace)
    if key == "prelu":
        return nn.PReLU(num_parameters=num_parameters)
    if key == "leaky":
        return nn.LeakyReLU(negative_slope=negative_slope, inplace=inplace)
    if key == "elu":
        return nn.ELU(inplace=inplace)
    return nn.Identity()


def canonical_norm(name: str | None) -> str:
    """Canonical normalisation name; ``None`` becomes ``"none"``."""
    key = "none" if name is None else str(name).lower()
    if key not in NORMS:
        raise ValueError(f"norm must be one of {NORMS} or None, got {name!r}")
    return key


def norm_nd(name: str | None, spatial_dims: int, channels: int) -> nn.Module:
    """Batch / instance normalisation for ``spatial_dims``-D features, or ``nn.Identity``."""
    d = check_spatial_dims(spatial_dims)
    key = canonical_norm(name)
    if key == "batch":
        return _BATCH[d](channels)
    if key == "instance":
        return _INSTANCE[d](channels, affine=True)
    return nn.Identity()


def _shuffle_factors(x: torch.Tensor, factors: int | Sequence[int]) -> tuple[int, ...]:
    if x.ndim < 3:
        raise ValueError(f"expected a (B, C, *spatial) tensor, got shape {tuple(x.shape)}")
    return as_int_tuple(factors, x.ndim - 2, "factors")


def pixel_shuffle_nd(x: torch.Tensor, factors: int | Sequence[int]) -> torch.Tensor:
    """Rearrange ``(B, C*prod(r), S1, .., Sd)`` into ``(B, C, S1*r1, .., Sd*rd)``.

    Output voxel ``(s_i * r_i + o_i)_i`` of channel ``c`` comes from input channel
    ``c * prod(r) + ravel(o, r)`` (row-major over the offsets ``o``), the ordering of
    ``torch.nn.functional.pixel_shuffle``; factors may differ per axis and be 1.

    Args:
        x: Tensor ``(B, C * prod(factors), *spatial)``.
        factors: One int, or one positive int per spatial axis.

    Returns:
        Tensor ``(B, C, *(s * r for s, r in zip(spatial, factors)))``.

    Example:
        >>> pixel_shuffle_nd(torch.zeros(1, 8, 3, 4, 5), (1, 2, 4)).shape
        torch.Size([1, 1, 3, 8, 20])
    """
    r = _shuffle_factors(x, factors)
    b, c_in, *spatial = x.shape
    n = math.prod(r)
    if c_in % n:
        raise ValueError(f"channels ({c_in}) must be divisible by prod(factors)={n} for {r}")
    d = len(r)
    c = c_in // n
    x = x.reshape(b, c, *r, *spatial)
    perm = [0, 1]
    for i in range(d):
        perm += [2 + d + i, 2 + i]
    return x.permute(perm).reshape(b, c, *(s * ri for s, ri in zip(spatial, r)))


def pixel_unshuffle_nd(x: torch.Tensor, factors: int | Sequence[int]) -> torch.Tensor:
    """Inverse of :func:`pixel_shuffle_nd`: ``(B, C, S*r)`` -> ``(B, C*prod(r), S)``.

    Example:
        >>> x = torch.arange(24.0).reshape(1, 1, 2, 3, 4)
        >>> y = pixel_unshuffle_nd(x, (2, 1, 2))
        >>> y.shape, torch.equal(pixel_shuffle_nd(y, (2, 1, 2)), x)
        (torch.Size([1, 4, 1, 3, 2]), True)
    """
    r = _shuffle_factors(x, factors)
    b, c, *spatial = x.shape
    if any(s % ri for s, ri in zip(spatial, r)):
        raise ValueError(f"spatial shape {tuple(spatial)} is not divisible by factors {r}")
    d = len(r)
    split: list[int] = []
    for s, ri in zip(spatial, r):
        split += [s // ri, ri]
    x = x.reshape(b, c, *split)
    perm = [0, 1] + [3 + 2 * i for i in range(d)] + [2 + 2 * i for i in range(d)]
    return x.permute(perm).reshape(b, c * math.prod(r), *(s // ri for s, ri in zip(spatial, r)))


class PixelShuffleND(nn.Module):
    """Module form of :func:`pixel_shuffle_nd` with fixed per-axis factors."""

    def __init__(self, factors: Sequence[int]) -> None:
        super().__init__()
        self.factors = tuple(int(f) for f in factors)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pixel_shuffle_nd(x, self.factors)

    def extra_repr(self) -> str:
        return f"factors={self.factors}"


class PixelUnshuffleND(nn.Module):
    """Module form of :func:`pixel_unshuffle_nd` with fixed per-axis factors."""

    def __init__(self, factors: Sequence[int]) -> None:
        super().__init__()
        self.factors = tuple(int(f) for f in factors)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pixel_unshuffle_nd(x, self.factors)

    def extra_repr(self) -> str:
        return f"factors={self.factors}"


@torch.no_grad()
def icnr_(
    weight: torch.Tensor,
    factors: Sequence[int],
    init: Callable[..., Any] = nn.init.kaiming_normal_,
) -> torch.Tensor:
    """ICNR-initialise, in place, the weight of a conv followed by ``pixel_shuffle_nd``.

    A kernel for ``C_out`` channels is drawn with ``init`` and copied to all
    ``prod(factors)`` sub-pixel positions, so conv + shuffle initially equals the
    ``C_out`` conv followed by nearest-neighbour up-sampling (Aitken et al., 2017).

    Args:
        weight: Conv weight ``(C_out * prod(factors), C_in, *kernel)``.
        factors: Per-axis shuffle factors used after the convolution.
        init: Initialiser applied to the ``(C_out, C_in, *kernel)`` sub-kernel.

    Returns:
        ``weight`` (modified in place).
    """
    n = math.prod(int(f) for f in factors)
    if weight.shape[0] % n:
        raise ValueError(
            f"weight has {weight.shape[0]} output channels, not divisible by prod(factors)={n}"
        )
    sub = torch.empty(
        (weight.shape[0] // n, *weight.shape[1:]), dtype=weight.dtype, device=weight.device
    )
    init(sub)
    weight.copy_(sub.repeat_interleave(n, dim=0))
    return weight


__all__ = [
    "ACTIVATIONS",
    "NORMS",
    "PADDING_MODES",
    "PixelShuffleND",
    "PixelUnshuffleND",
    "activation",
    "canonical_activation",
    "canonical_norm",
    "conv_nd",
    "conv_transpose_nd",
    "icnr_",
    "norm_nd",
    "pixel_shuffle_nd",
    "pixel_unshuffle_nd",
]
