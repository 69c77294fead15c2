"""RRDBNet: the ESRGAN generator (residual-in-residual dense blocks), in 2D and 3D.

Wang et al., "ESRGAN: Enhanced super-resolution generative adversarial networks",
ECCV Workshops 2018, arXiv:1809.00219.

Architecture (defaults): ``conv 3 (64)``; 23 RRDBs, each three residual dense blocks
(RDB) and ``x + 0.2 * RDB(RDB(RDB(x)))``; an RDB has five ``conv 3`` layers, layer
``c`` seeing the block input and all previous outputs (``64 + 32 c`` maps; growth 32),
leaky ReLU (0.2) after the first four, and returns ``x + 0.2 * conv5``; a trunk
``conv 3`` plus the first conv's output (global residual); per x2 (or x3) stage
nearest-neighbour enlargement -> ``conv 3`` -> leaky ReLU (``"post"``, one factor per
axis); ``conv 3`` -> leaky ReLU -> ``conv 3 (C_out)``.

Decisions:

* No batch normalisation (as in the paper).
* The convolutions inside the RRDBs are Kaiming-normal initialised and scaled by
  ``init_scale = 0.1`` (the paper's "smaller initialisation" for very deep residual
  networks), with zero biases.
* Nearest-neighbour enlargement copies input voxel ``floor(o / r)`` to output ``o``,
  the nearest one under volsr's grid convention, so no half-voxel shift is learned.
* This module is a plain :class:`~volsr.models.networks._base.SRNet`; GAN training
  adds a discriminator and losses, nothing here.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn.functional as F
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

PAPER = (
    "Wang et al., ESRGAN: Enhanced super-resolution generative adversarial networks, "
    "ECCV Workshops 2018 (RRDBNet generator)"
)


class ResidualDenseBlock(nn.Module):
    """Five dense ``conv 3`` layers with leaky ReLU; ``x + res_scale * conv5``.

    Shapes: ``(B, features, *S)`` -> same.
    """

    def __init__(
        self, spatial_dims: int, features: int, growth: int, *, res_scale: float,
        negative_slope: float,
    ) -> None:
        super().__init__()
        d = spatial_dims
        act = functools.partial(F.leaky_relu, negative_slope=negative_slope, inplace=True)
        self.convs = DenseConcat(
            (conv_nd(d, features + c * growth, growth, 3) for c in range(4)), activation=act
        )
        self.last = conv_nd(d, features + 4 * growth, features, 3)
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.last(self.convs(x))


class RRDB(nn.Module):
    """Residual-in-residual dense block: ``x + res_scale * RDB(RDB(RDB(x)))``."""

    def __init__(
        self, spatial_dims: int, features: int, growth: int, *, res_scale: float,
        negative_slope: float,
    ) -> None:
        super().__init__()
        self.blocks = nn.Sequential(
            *(ResidualDenseBlock(spatial_dims, features, growth, res_scale=res_scale,
                                 negative_slope=negative_slope) for _ in range(3))
        )
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.blocks(x)


class RRDBNet(SRNet):
    """ESRGAN generator with nearest + conv up-sampling per axis.

    Reference: Wang et al., ECCV Workshops 2018 (arXiv:1809.00219).

    Shapes: input ``(B, C_in, *S)`` on the low-resolution grid -> output
    ``(B, C_out, *(s * r))`` with ``r = scale`` (integers per axis, ``"post"``).

    Args:
        spatial_dims: 2 or 3.
        in_channels: Input channels.
        out_channels: Output channels (default ``in_channels``).
        scale: Integer up-sampling factor(s), one or one per axis (ESRGAN: 4).
        num_blocks: RRDBs (23).
        features: Trunk feature maps (64).
        growth_rate: Maps added per dense layer (32).
        res_scale: Residual scaling inside RDBs and RRDBs (0.2).
        negative_slope: Leaky ReLU slope (0.2).
        init_scale: Factor on the Kaiming-normal initial weights of the RRDB
            convolutions (0.1).
        residual: Must stay ``False`` (post network).

    Example:
        >>> import torch
        >>> net = RRDBNet(spatial_dims=2, scale=4, num_blocks=1, features=8, growth_rate=4)
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
        num_blocks: int = 23,
        features: int = 64,
        growth_rate: int = 32,
        res_scale: float = 0.2,
        negative_slope: float = 0.2,
        init_scale: float = 0.1,
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
        self.features = check_positive_int(features, "features")
        self.growth_rate = check_positive_int(growth_rate, "growth_rate")
        for name, value in (("res_scale", res_scale), ("init_scale", init_scale)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if isinstance(negative_slope, bool) or not isinstance(negative_slope, (int, float)) or \
                not 0 <= negative_slope < 1:
            raise ValueError(f"negative_slope must be in [0, 1), got {negative_slope!r}")
        self.res_scale = float(res_scale)
        self.negative_slope = float(negative_slope)
        self.init_scale = float(init_scale)
        d, f = self.spatial_dims, self.features
        self.conv_first = conv_nd(d, self.in_channels, f, 3)
        self.body = nn.Sequential(
            *(RRDB(d, f, self.growth_rate, res_scale=self.res_scale,
                   negative_slope=self.negative_slope) for _ in range(self.num_blocks))
        )
        self.trunk_conv = conv_nd(d, f, f, 3)
        self.upsampler = Upsampler(
            d, f, factors, mode="nearest", activation="leaky", negative_slope=self.negative_slope
        )
        self.hr_conv = nn.Sequential(
            conv_nd(d, f, f, 3), nn.LeakyReLU(self.negative_slope, inplace=True)
        )
        self.conv_last = conv_nd(d, f, self.out_channels, 3)
        self._init_body()

    @torch.no_grad()
    def _init_body(self) -> None:
        for m in self.body.modules():
            if isinstance(m, nn.modules.conv._ConvNd) and not m.weight.is_meta:
                nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
                m.weight.mul_(self.init_scale)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def _extra_config(self) -> dict[str, Any]:
        return {
            "num_blocks": self.num_blocks,
            "features": self.features,
            "growth_rate": self.growth_rate,
            "res_scale": self.res_scale,
            "negative_slope": self.negative_slope,
            "init_scale": self.init_scale,
        }

    def receptive_field(self) -> tuple[int, ...]:
        """Receptive field per axis in low-resolution input voxels."""
        d = self.spatial_dims
        return receptive_field_from(
            conv_extent([self.conv_first, self.body, self.trunk_conv], d),
            self.upsampler.extent(),
            conv_extent([self.hr_conv, self.conv_last], d, self.scale),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Super-resolve ``(B, C_in, *S)`` into ``(B, C_out, *(S * scale))``."""
        self.check_input(x)
        fea = self.conv_first(x)
        fea = fea + self.trunk_conv(self.body(fea))
        return self.conv_last(self.hr_conv(self.upsampler(fea)))


# narrow version for the registry-wide tests (tests/models/test_models.py)
_TEST = {"num_blocks": 1, "features": 8, "growth_rate": 4}

register_network("rrdbnet_2d", RRDBNet, dims=2, family="rrdbnet", paper=PAPER, test_kwargs=_TEST)
register_network("rrdbnet_3d", RRDBNet, dims=3, family="rrdbnet", paper=PAPER, test_kwargs=_TEST)

__all__ = ["RRDB", "RRDBNet", "ResidualDenseBlock"]
