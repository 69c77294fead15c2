"""RDN: residual dense network, in 2D and 3D.

Zhang et al., "Residual dense network for image super-resolution", CVPR 2018,
arXiv:1802.08797.

Architecture (defaults D = 16, C = 8, G = 64, G0 = 64): shallow features
``F_-1 = conv 3 (G0)`` and ``F_0 = conv 3 (G0)``; D residual dense blocks (RDB):
C layers ``conv 3 (G) -> ReLU``, layer ``c`` seeing the block input and all previous
layer outputs (``G0 + c G`` maps), local feature fusion ``conv 1 -> G0`` over the
block input and all ``C`` layer outputs, plus the block input (local residual);
global feature fusion ``conv 1 (D G0 -> G0) -> conv 3 (G0)`` over the outputs of all
blocks, plus ``F_-1`` (global residual); sub-pixel up-sampler to ``G`` maps (x4 as
two x2 stages, x3 one stage, one factor per axis, ``"post"``); ``conv 3 -> C_out``.

Decisions: zero padding and biases everywhere (as in the paper); the sub-pixel
convolutions are ICNR-initialised; no RGB mean shift (normalisation belongs to the
data pipeline).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from volsr.models.networks._base import (
    ScaleArg,
    SRNet,
    conv_extent,
    receptive_field_from,
    register_network,
)
from volsr.models.networks._checks import check_positive_int
from volsr.models.networks._dense import DenseConcat
from volsr.models.networks._layers import conv_nd
from volsr.models.networks._upsample import Upsampler

PAPER = "Zhang et al., Residual dense network for image super-resolution, CVPR 2018"


class RDB(nn.Module):
    """Residual dense block: dense ``conv -> ReLU`` layers, ``1^d`` fusion, + input.

    Shapes: ``(B, features, *S)`` -> same.
    """

    def __init__(self, spatial_dims: int, features: int, growth: int, num_layers: int) -> None:
        super().__init__()
        self.layers = DenseConcat(
            nn.Sequential(
                conv_nd(spatial_dims, features + c * growth, growth, 3), nn.ReLU(inplace=True)
            )
            for c in range(num_layers)
        )
        self.fusion = conv_nd(spatial_dims, features + num_layers * growth, features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fusion(self.layers(x))


class RDN(SRNet):
    """Residual dense network with a per-axis sub-pixel up-sampler.

    Reference: Zhang et al., CVPR 2018 (arXiv:1802.08797).

    Shapes: input ``(B, C_in, *S)`` on the low-resolution grid -> output
    ``(B, C_out, *(s * r))`` with ``r = scale`` (integers per axis, ``"post"``).

    Args:
        spatial_dims: 2 or 3.
        in_channels: Input channels.
        out_channels: Output channels (default ``in_channels``).
        scale: Integer up-sampling factor(s), one or one per axis.
        num_blocks: ``D``, residual dense blocks (16).
        num_layers: ``C``, convolution layers per block (8).
        growth_rate: ``G``, maps added per layer, also the up-sampler width (64).
        features: ``G0``, block input/output maps (64).
        residual: Must stay ``False`` (post network).

    Example:
        >>> import torch
        >>> net = RDN(spatial_dims=2, scale=4, num_blocks=2, num_layers=2,
        ...           growth_rate=4, features=8)
        >>> net(torch.zeros(1, 1, 5, 6)).shape
        torch.Size([1, 1, 20, 24])
    """

    upsampling = "post"

    def __init__(
        self,
        *,
        spatial_dims: int,
        in_channels: int = 1,
        out_channels: int | None = None,
        scale: ScaleArg = 2,
        num_blocks: int = 16,
        num_layers: int = 8,
        growth_rate: int = 64,
        features: int = 64,
        residual: bool = False,
    ) -> None:
        super().__init__(
            spatial_dims=spatial_dims,
            in_channels=in_channels,
            out_channels=out_channels,
            scale=scale,
            residual=residual,
        )
        factors = self.integer_scale()
        self.num_blocks = check_positive_int(num_blocks, "num_blocks")
        self.num_layers = check_positive_int(num_layers, "num_layers")
        self.growth_rate = check_positive_int(growth_rate, "growth_rate")
        self.features = check_positive_int(features, "features")
        d, g0, g = self.spatial_dims, self.features, self.growth_rate
        self.sfe1 = conv_nd(d, self.in_channels, g0, 3)
        self.sfe2 = conv_nd(d, g0, g0, 3)
        self.blocks = nn.ModuleList(RDB(d, g0, g, self.num_layers) for _ in range(self.num_blocks))
        self.gff = nn.Sequential(conv_nd(d, self.num_blocks * g0, g0, 1), conv_nd(d, g0, g0, 3))
        # with all factors 1 the up-sampler is the identity and must keep G0 maps
        width = g if any(f > 1 for f in factors) else g0
        self.upsampler = Upsampler(d, g0, factors, features=width, mode="subpixel")
        self.tail = conv_nd(d, width, self.out_channels, 3)

    def _extra_config(self) -> dict[str, Any]:
        return {
            "num_blocks": self.num_blocks,
            "num_layers": self.num_layers,
            "growth_rate": self.growth_rate,
            "features": self.features,
        }

    def receptive_field(self) -> tuple[int, ...]:
        """Receptive field per axis in low-resolution input voxels."""
        d = self.spatial_dims
        return receptive_field_from(
            conv_extent([self.sfe1, self.sfe2, self.blocks, self.gff], d),
            self.upsampler.extent(),
            conv_extent([self.tail], d, self.scale),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Super-resolve ``(B, C_in, *S)`` into ``(B, C_out, *(S * scale))``."""
        self.check_input(x)
        f1 = self.sfe1(x)
        h = self.sfe2(f1)
        outs = []
        for block in self.blocks:
            h = block(h)
            outs.append(h)
        h = self.gff(torch.cat(outs, dim=1)) + f1
        return self.tail(self.upsampler(h))


# narrow version for the registry-wide tests (tests/models/test_models.py)
_TEST = {"num_blocks": 2, "num_layers": 2, "growth_rate": 4, "features": 8}

register_network("rdn_2d", RDN, dims=2, family="rdn", paper=PAPER, test_kwargs=_TEST)
register_network("rdn_3d", RDN, dims=3, family="rdn", paper=PAPER, test_kwargs=_TEST)

__all__ = ["RDB", "RDN"]
