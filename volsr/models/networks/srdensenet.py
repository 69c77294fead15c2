"""SRDenseNet ("All" variant): dense blocks with dense skip connections, in 2D and 3D.

Tong et al., "Image super-resolution using dense skip connections", ICCV 2017.

Architecture (defaults): ``conv 3 (128) -> ReLU`` low-level features; 8 dense blocks,
each 8 layers ``conv 3 (k = 16) -> ReLU`` where layer ``j`` sees the block input and
the outputs of layers ``1..j-1`` (DenseNet), and a block outputs the concatenation of
its layer outputs (``8 * 16 = 128`` maps), which is the next block's input; the
"All" variant concatenates the low-level features and the outputs of *every* block
(dense skip connections, ``128 + 8 * 128 = 1152`` maps) into a ``conv 1`` bottleneck
to 256 maps -> ReLU; two x2 transposed-convolution stages of 256 maps -> ReLU (x4;
x2 is one stage and x3 one x3 stage, one factor per axis, ``"post"``); ``conv 3``
reconstruction to ``C_out``.

Decisions:

* The paper's deconvolutions use 3x3 kernels. A stride-2 transposed convolution with
  a 3-tap kernel cannot be centred on the voxel grid (even outputs see one input
  tap, odd outputs two, a quarter-voxel shift). We use kernel ``r + 2`` (4 for x2,
  5 for x3) with padding 1, centred on volsr's grid convention; this raises the
  up-sampler's parameter count (see ``docs/zoo.md``). ``upsampler=
  "subpixel"`` swaps the deconvolutions for ICNR-initialised sub-pixel stages.
* Zero padding and biases everywhere; ReLU after every layer except the last.
* The paper works on the luminance channel only, so its parameter counts are
  single-channel already.
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
from volsr.models.networks._upsample import UPSAMPLE_MODES, Upsampler

PAPER = "Tong et al., Image super-resolution using dense skip connections, ICCV 2017"


class SRDenseBlock(nn.Module):
    """Post-activation dense block; outputs only the new maps.

    Layer ``j`` maps ``in_channels + j * growth`` -> ``growth`` (``conv -> ReLU``).
    Shapes: ``(B, in_channels, *S)`` -> ``(B, num_layers * growth, *S)``.
    """

    def __init__(self, spatial_dims: int, in_channels: int, growth: int, num_layers: int) -> None:
        super().__init__()
        self.layers = DenseConcat(
            (
                nn.Sequential(
                    conv_nd(spatial_dims, in_channels + j * growth, growth, 3),
                    nn.ReLU(inplace=True),
                )
                for j in range(num_layers)
            ),
            keep_input=False,
        )
        self.out_channels = num_layers * growth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class SRDenseNet(SRNet):
    """SRDenseNet_All with grid-centred transposed-convolution up-sampling.

    Reference: Tong et al., ICCV 2017.

    Shapes: input ``(B, C_in, *S)`` on the low-resolution grid -> output
    ``(B, C_out, *(s * r))`` with ``r = scale`` (integers per axis, ``"post"``).

    Args:
        spatial_dims: 2 or 3.
        in_channels: Input channels.
        out_channels: Output channels (default ``in_channels``).
        scale: Integer up-sampling factor(s), one or one per axis.
        num_blocks: Dense blocks (8).
        num_layers: Convolution layers per block (8).
        growth_rate: Maps added by each layer (16).
        low_features: Maps of the low-level convolution (128).
        bottleneck_features: Maps after the ``1^d`` bottleneck and in the
            up-sampler (256).
        upsampler: ``"deconv"`` (paper, transposed convolutions) or ``"subpixel"``.
        residual: Must stay ``False`` (post network).

    Example:
        >>> import torch
        >>> net = SRDenseNet(spatial_dims=2, scale=3, num_blocks=2, num_layers=2,
        ...                  growth_rate=4, low_features=8, bottleneck_features=8)
        >>> net(torch.zeros(1, 1, 5, 6)).shape
        torch.Size([1, 1, 15, 18])
    """

    upsampling = "post"

    def __init__(
        self,
        *,
        spatial_dims: int,
        in_channels: int = 1,
        out_channels: int | None = None,
        scale: ScaleArg = 2,
        num_blocks: int = 8,
        num_layers: int = 8,
        growth_rate: int = 16,
        low_features: int = 128,
        bottleneck_features: int = 256,
        upsampler: str = "deconv",
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
        self.low_features = check_positive_int(low_features, "low_features")
        self.bottleneck_features = check_positive_int(bottleneck_features, "bottleneck_features")
        if upsampler not in ("deconv", "subpixel"):
            modes = tuple(m for m in UPSAMPLE_MODES if m != "nearest")
            raise ValueError(f"upsampler must be one of {modes}, got {upsampler!r}")
        self.upsampler_mode = upsampler
        d = self.spatial_dims
        self.low = nn.Sequential(
            conv_nd(d, self.in_channels, self.low_features, 3), nn.ReLU(inplace=True)
        )
        self.blocks = nn.ModuleList()
        c = self.low_features
        for _ in range(self.num_blocks):
            block = SRDenseBlock(d, c, self.growth_rate, self.num_layers)
            self.blocks.append(block)
            c = block.out_channels
        skip = self.low_features + self.num_blocks * self.num_layers * self.growth_rate
        b = self.bottleneck_features
        self.bottleneck = nn.Sequential(conv_nd(d, skip, b, 1), nn.ReLU(inplace=True))
        self.upsampler = Upsampler(d, b, factors, mode=upsampler, activation="relu")
        self.reconstruct = conv_nd(d, b, self.out_channels, 3)

    def _extra_config(self) -> dict[str, Any]:
        return {
            "num_blocks": self.num_blocks,
            "num_layers": self.num_layers,
            "growth_rate": self.growth_rate,
            "low_features": self.low_features,
            "bottleneck_features": self.bottleneck_features,
            "upsampler": self.upsampler_mode,
        }

    def receptive_field(self) -> tuple[int, ...]:
        """Receptive field per axis in low-resolution input voxels."""
        d = self.spatial_dims
        return receptive_field_from(
            conv_extent([self.low, self.blocks, self.bottleneck], d),
            self.upsampler.extent(),
            conv_extent([self.reconstruct], d, self.scale),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Super-resolve ``(B, C_in, *S)`` into ``(B, C_out, *(S * scale))``."""
        self.check_input(x)
        h = self.low(x)
        levels = [h]
        for block in self.blocks:
            h = block(h)
            levels.append(h)
        h = self.bottleneck(torch.cat(levels, dim=1))
        return self.reconstruct(self.upsampler(h))


# narrow version for the registry-wide tests (tests/models/test_models.py)
_TEST = {"num_blocks": 2, "num_layers": 2, "growth_rate": 4, "low_features": 8,
         "bottleneck_features": 8}

register_network(
    "srdensenet_2d", SRDenseNet, dims=2, family="srdensenet", paper=PAPER, test_kwargs=_TEST
)
register_network(
    "srdensenet_3d", SRDenseNet, dims=3, family="srdensenet", paper=PAPER, test_kwargs=_TEST
)

__all__ = ["SRDenseBlock", "SRDenseNet"]
