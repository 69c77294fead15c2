"""DRRN: the deep recursive residual network, in 2D and 3D.

Tai, Yang and Liu, "Image super-resolution via deep recursive residual network",
CVPR 2017.

Structure (paper): ``B`` recursive blocks; block ``b`` starts with its own convolution
``H_0 = conv_b(.)`` followed by ``U`` residual units ``H_u = H_0 + F(H_{u-1})`` whose
residual branch ``F`` (two pre-activated convolutions, ``norm -> ReLU -> conv``) has
the same weights in every unit of the block (multi-path local residual learning with
recursion); a last pre-activated convolution maps to the image and the input is added
(global residual). Depth ``(1 + 2U) B + 1``; DRRN_B1U9 (20 layers, 128 features) is the
default.

Decisions: batch normalisation as in the paper and its Caffe release, one per unit
(only the convolutions are shared, the normalisations are not), ``norm="none"`` drops
it (often better for super-resolution, and per-sample); the release also applies
BN-ReLU to the input image before the first convolution, which we do not (a ReLU
would discard the negative half of a z-scored image); He initialisation; padding
``"replicate"`` by default (the paper pads with zeros). DRRN is trained like VDSR,
with adjustable gradient clipping: use :attr:`DRRN.recommended_grad_clip` as the
engine's (global-norm) ``train.grad_clip``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from volsr.models.networks._base import ScaleArg, SRNet, register_network
from volsr.models.networks._layers import activation as make_activation
from volsr.models.networks._layers import canonical_activation, canonical_norm, conv_nd, norm_nd
from volsr.models.networks.vdsr import check_int, check_odd_kernel, check_padding_mode, he_init_

PAPER = (
    "Tai, Yang and Liu, Image super-resolution via deep recursive residual network, "
    "CVPR 2017"
)


class RecursiveBlock(nn.Module):
    """Entry conv + ``num_units`` residual units sharing their two convolutions.

    Shapes: ``(B, in_channels, *S)`` -> ``(B, features, *S)``.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        features: int,
        num_units: int,
        *,
        kernel_size: int,
        norm: str,
        activation: str,
        padding_mode: str,
        pre_activate: bool,
    ) -> None:
        super().__init__()
        d, k = spatial_dims, kernel_size

        def pre(channels: int) -> nn.Module:
            return nn.Sequential(norm_nd(norm, d, channels), make_activation(activation))

        self.entry_pre = pre(in_channels) if pre_activate else nn.Identity()
        self.entry = conv_nd(d, in_channels, features, k, padding_mode=padding_mode)
        # the two convolutions shared by every unit; normalisations stay per unit
        self.conv_a = conv_nd(d, features, features, k, padding_mode=padding_mode)
        self.conv_b = conv_nd(d, features, features, k, padding_mode=padding_mode)
        self.pre_a = nn.ModuleList(pre(features) for _ in range(num_units))
        self.pre_b = nn.ModuleList(pre(features) for _ in range(num_units))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h0 = self.entry(self.entry_pre(x))
        h = h0
        for pre_a, pre_b in zip(self.pre_a, self.pre_b):
            h = h0 + self.conv_b(pre_b(self.conv_a(pre_a(h))))
        return h


class DRRN(SRNet):
    """DRRN: recursive blocks of weight-sharing residual units, global residual.

    Reference: Tai, Yang and Liu, "Image super-resolution via deep recursive residual
    network", CVPR 2017.

    Input: the volume interpolated to the output grid (``"pre"``; ``scale`` is
    metadata). Shapes: ``(B, C_in, X, Y[, Z])`` -> ``(B, C_out, X, Y[, Z])``.
    Receptive field ``1 + (k - 1) * ((1 + 2U) B + 1)`` (41 for B1U9).

    Args:
        spatial_dims: 2 (paper) or 3.
        in_channels: Input channels.
        out_channels: Output channels (default ``in_channels``).
        scale: Up-sampling factor(s) the model is trained for (metadata).
        num_blocks: ``B`` (1).
        num_units: ``U``, residual units per block (9).
        features: Width of all hidden layers (128).
        kernel_size: Odd kernel size (3).
        norm: ``"batch"`` (paper), ``"instance"`` or ``"none"``/``None``.
        activation: ``"relu"`` (paper), ``"prelu"``, ``"leaky"``, ...
        padding_mode: ``"replicate"`` (default), ``"zeros"`` (paper) or ``"reflect"``.
        residual: Add the input to the output (global residual; on, as in the paper).

    Example:
        >>> net = DRRN(spatial_dims=2, norm="none")
        >>> net(torch.zeros(1, 1, 6, 7)).shape
        torch.Size([1, 1, 6, 7])
        >>> net.num_parameters(), net.receptive_field()  # 297,216 weights + 385 biases
        (297601, (41, 41))
    """

    upsampling = "pre"
    recommended_grad_clip: ClassVar[float] = 0.4

    def __init__(
        self,
        *,
        spatial_dims: int,
        in_channels: int = 1,
        out_channels: int | None = None,
        scale: ScaleArg = 2,
        num_blocks: int = 1,
        num_units: int = 9,
        features: int = 128,
        kernel_size: int = 3,
        norm: str | None = "batch",
        activation: str = "relu",
        padding_mode: str = "replicate",
        residual: bool = True,
    ) -> None:
        super().__init__(
            spatial_dims=spatial_dims,
            in_channels=in_channels,
            out_channels=out_channels,
            scale=scale,
            residual=residual,
        )
        self.num_blocks = check_int(num_blocks, "num_blocks")
        self.num_units = check_int(num_units, "num_units")
        self.features = check_int(features, "features")
        self.kernel_size = check_odd_kernel(kernel_size)
        self.norm = canonical_norm(norm)
        self.activation = canonical_activation(activation)
        self.padding_mode = check_padding_mode(padding_mode)
        d, f = self.spatial_dims, self.features
        self.blocks = nn.ModuleList(
            RecursiveBlock(
                d,
                self.in_channels if b == 0 else f,
                f,
                self.num_units,
                kernel_size=self.kernel_size,
                norm=self.norm,
                activation=self.activation,
                padding_mode=padding_mode,
                pre_activate=b > 0,
            )
            for b in range(self.num_blocks)
        )
        self.tail = nn.Sequential(
            norm_nd(self.norm, d, f),
            make_activation(self.activation),
            conv_nd(d, f, self.out_channels, self.kernel_size, padding_mode=padding_mode),
        )
        he_init_(self)

    def _extra_config(self) -> dict[str, Any]:
        return {
            "num_blocks": self.num_blocks,
            "num_units": self.num_units,
            "features": self.features,
            "kernel_size": self.kernel_size,
            "norm": self.norm,
            "activation": self.activation,
            "padding_mode": self.padding_mode,
        }

    def receptive_field(self) -> tuple[int, ...]:
        """``1 + (k - 1) * depth`` per axis, depth counting every unrolled convolution."""
        depth = (1 + 2 * self.num_units) * self.num_blocks + 1
        return (1 + (self.kernel_size - 1) * depth,) * self.spatial_dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Refine a pre-interpolated ``(B, C_in, *S)`` tensor into ``(B, C_out, *S)``."""
        self.check_input(x)
        h = x
        for block in self.blocks:
            h = block(h)
        y = self.tail(h)
        return y + x if self.residual else y


# narrow version for the registry-wide tests (tests/models/test_models.py)
_TEST = {"features": 8, "num_units": 3, "num_blocks": 2}

register_network("drrn_2d", DRRN, dims=2, family="drrn", paper=PAPER, test_kwargs=_TEST)
register_network("drrn_3d", DRRN, dims=3, family="drrn", paper=PAPER, test_kwargs=_TEST)

__all__ = ["DRRN", "RecursiveBlock"]
