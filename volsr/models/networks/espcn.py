"""ESPCN: the efficient sub-pixel convolutional network, in 2D and 3D.

Shi et al., "Real-time single image and video super-resolution using an efficient
sub-pixel convolutional neural network", CVPR 2016. Initialisation of the sub-pixel
convolution: Aitken et al., "Checkerboard artifact free sub-pixel convolution",
arXiv:1707.02937, 2017 (ICNR).

All convolutions run on the low-resolution grid; the last one outputs ``C_out *
prod(r)`` channels that :func:`~volsr.models.networks._layers.pixel_shuffle_nd` moves
into space, one integer factor per axis ("post" up-sampling). The block of ``prod(r)``
output voxels of low-resolution voxel ``i`` is centred on it, which is the volsr grid
convention (output ``o`` at input ``(o + 1/2)/r - 1/2``).

Decisions: ``tanh`` activations as in the paper (``"relu"`` etc. selectable); the last
convolution is ICNR-initialised and its bias starts at zero, so the untrained network
is a convolutional feature map followed by nearest-neighbour up-sampling (no
checkerboard); padding keeps the size (``"replicate"`` by default).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from volsr.models.networks._base import ScaleArg, SRNet, register_network
from volsr.models.networks._layers import (
    PADDING_MODES,
    PixelShuffleND,
    as_int_tuple,
    canonical_activation,
    conv_nd,
    icnr_,
)
from volsr.models.networks._layers import activation as make_activation

PAPER = (
    "Shi et al., Real-time single image and video super-resolution using an efficient "
    "sub-pixel convolutional neural network, CVPR 2016"
)


def _activation_name(name: str) -> str:
    return "tanh" if str(name).lower() == "tanh" else canonical_activation(name)


def _activation(name: str) -> nn.Module:
    return nn.Tanh() if name == "tanh" else make_activation(name)


class ESPCN(SRNet):
    """ESPCN: convolutions on the low-resolution grid and a sub-pixel convolution.

    Reference: Shi et al., "Real-time single image and video super-resolution using an
    efficient sub-pixel convolutional neural network", CVPR 2016.

    ``conv 5 (64) -> tanh -> conv 3 (32) -> tanh -> conv 3 (C_out * prod(r)) -> pixel
    shuffle``. ``scale`` must be an integer per axis (e.g. ``(1, 1, 4)``). Shapes:
    ``(B, C_in, X, Y[, Z])`` -> ``(B, C_out, X*rx, Y*ry[, Z*rz])``.

    Args:
        spatial_dims: 2 (paper) or 3.
        in_channels: Input channels.
        out_channels: Output channels (default ``in_channels``).
        scale: Integer up-sampling factor(s), one or one per axis.
        features: Output channels of every convolution but the last (``(64, 32)``).
        kernel_sizes: Kernel of each convolution (``(5, 3, 3)``);
            ``len(kernel_sizes) == len(features) + 1``.
        activation: ``"tanh"`` (paper), ``"relu"``, ``"prelu"``, ``"leaky"``, ``"elu"``.
        padding_mode: ``"replicate"`` (default), ``"zeros"`` or ``"reflect"``.
        residual: Must stay ``False`` (ESPCN changes the size).

    Example:
        >>> net = ESPCN(spatial_dims=2, scale=3)
        >>> net(torch.zeros(1, 1, 10, 12)).shape
        torch.Size([1, 1, 30, 36])
        >>> net.num_parameters(), net.receptive_field()
        (22729, (11, 11))
    """

    upsampling = "post"

    def __init__(
        self,
        *,
        spatial_dims: int,
        in_channels: int = 1,
        out_channels: int | None = None,
        scale: ScaleArg = 2,
        features: Sequence[int] = (64, 32),
        kernel_sizes: Sequence[int] = (5, 3, 3),
        activation: str = "tanh",
        padding_mode: str = "replicate",
        residual: bool = False,
    ) -> None:
        super().__init__(
            spatial_dims=spatial_dims,
            in_channels=in_channels,
            out_channels=out_channels,
            scale=scale,
            residual=residual,
        )
        self.factors = self.integer_scale()
        feats = as_int_tuple(tuple(features), len(tuple(features)), "features")
        kernels = as_int_tuple(tuple(kernel_sizes), len(tuple(kernel_sizes)), "kernel_sizes")
        if len(kernels) != len(feats) + 1:
            raise ValueError(
                "need len(kernel_sizes) == len(features) + 1, got "
                f"kernel_sizes={list(kernel_sizes)}, features={list(features)}"
            )
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
        self.features = feats
        self.kernel_sizes = kernels
        self.activation = _activation_name(activation)
        self.padding_mode = padding_mode

        d = self.spatial_dims
        channels = (self.in_channels, *feats)
        layers: list[nn.Module] = []
        for i, k in enumerate(kernels[:-1]):
            layers.append(conv_nd(d, channels[i], channels[i + 1], k, padding_mode=padding_mode))
            layers.append(_activation(self.activation))
        self.body = nn.Sequential(*layers)
        n_sub = math.prod(self.factors)
        self.subpixel = conv_nd(
            d, channels[-1], self.out_channels * n_sub, kernels[-1], padding_mode=padding_mode
        )
        self.shuffle = PixelShuffleND(self.factors)
        self.reset_subpixel()

    @torch.no_grad()
    def reset_subpixel(self) -> None:
        """ICNR-initialise the sub-pixel convolution (weights) and zero its bias."""
        icnr_(self.subpixel.weight, self.factors)
        if self.subpixel.bias is not None:
            self.subpixel.bias.zero_()

    def _extra_config(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "kernel_sizes": list(self.kernel_sizes),
            "activation": self.activation,
            "padding_mode": self.padding_mode,
        }

    def receptive_field(self) -> tuple[int, ...]:
        """Receptive field per axis in input voxels.

        Every output voxel of low-resolution voxel ``i``'s block sees the convolutions'
        neighbourhood of ``i``, whose centre lies up to ``(r - 1) / (2r)`` input voxels
        from the output voxel's own centre ``x(o)``; the radius is rounded up.
        """
        conv = sum(k - 1 for k in self.kernel_sizes) / 2
        return tuple(1 + 2 * math.ceil(conv + (r - 1) / (2 * r)) for r in self.factors)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Up-sample ``(B, C_in, *S)`` to ``(B, C_out, *(S * scale))``."""
        self.check_input(x)
        return self.shuffle(self.subpixel(self.body(x)))


# narrow version for the registry-wide tests (tests/models/test_models.py)
_TEST = {"features": [8, 4]}

register_network("espcn_2d", ESPCN, dims=2, family="espcn", paper=PAPER, test_kwargs=_TEST)
register_network("espcn_3d", ESPCN, dims=3, family="espcn", paper=PAPER, test_kwargs=_TEST)

__all__ = ["ESPCN"]
