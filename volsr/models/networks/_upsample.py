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
tail (FMEN maps features straight to ``C_out * prod(r)`` channels).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from volsr.models.networks._layers import (
    PixelShuffleND,
    as_int_tuple,
    canonical_activation,
    check_spatial_dims,
    conv_nd,
    icnr_,
)
from volsr.models.networks._layers import activation as make_activation

UPSAMPLE_MODES = ("subpixel", "nearest", "deconv")

_CONV_T: dict[int, type[nn.Module]] = {
    1: nn.ConvTranspose1d,
    2: nn.ConvTranspose2d,
    3: nn.ConvTranspose3d,
}


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


def conv_extent(
    modules: Iterable[nn.Module], spatial_dims: int, factor: Sequence[float] | None = None
) -> list[float]:
    """Summed kernel reach ``dilation * (k - 1)`` per axis of all convolutions inside
    ``modules``, in voxels of a grid ``factor`` times coarser than theirs (so convs
    running on a grid up-sampled by ``factor`` count ``1 / factor``); transposed
    convolutions count ``(k - 1) / stride`` in units of their input grid.
    """
    f = [1.0] * spatial_dims if factor is None else [float(v) for v in factor]
    ext = [0.0] * spatial_dims
    for module in modules:
        for m in module.modules():
            if not isinstance(m, nn.modules.conv._ConvNd):
                continue
            transposed = isinstance(m, nn.modules.conv._ConvTransposeNd)
            for i in range(spatial_dims):
                reach = m.dilation[i] * (m.kernel_size[i] - 1)
                ext[i] += reach / (m.stride[i] if transposed else 1) / f[i]
    return ext


def receptive_field_from(*extents: Sequence[float]) -> tuple[int, ...]:
    """``ceil(1 + sum of extents)`` per axis, as an int tuple of input voxels."""
    total = [1.0 + sum(e[i] for e in extents) for i in range(len(extents[0]))]
    return tuple(int(math.ceil(v - 1e-9)) for v in total)


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
    return _CONV_T[spatial_dims](
        in_channels, out_channels, kernel, stride=tuple(factors), padding=1
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
    "Upsampler",
    "conv_extent",
    "deconv_nd",
    "receptive_field_from",
    "upsample_stages",
]
