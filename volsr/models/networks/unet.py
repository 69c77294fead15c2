"""The U-Net of Park et al. for CT super-resolution (thick -> thin slices), 2D and 3D.

Park et al., "Computed tomography super-resolution using deep convolutional neural
network", Phys. Med. Biol. 63(14):145011, 2018. The paper trains a modified U-Net
(Ronneberger et al., MICCAI 2015) on 2D slices whose input is the axial average of
neighbouring thin slices (a thick slice on the thin-slice grid) and whose target is
the middle thin slice, i.e. it refines an input already on the output grid and
learns the residual between thick- and thin-slice images.

Architecture (defaults): ``levels = 4`` down-sampling steps; at level ``l`` two
``conv 3 -> BN -> ReLU`` with ``64 * 2^l`` maps, then ``max-pool 2``; a bottom level of
``64 * 2^4 = 1024`` maps; on the way up a transposed ``conv 2`` with stride 2 halves
the maps, the skip features of the same level are concatenated and two ``conv 3 ->
BN -> ReLU`` follow; a ``conv 1`` maps to ``C_out`` and the input is added (global
residual, ``residual=True``). ``"pre"`` up-sampling: the input is the low-resolution
volume interpolated to the output grid, so any per-axis factor works.

Decisions (details the paper's text leaves open, which we could not verify):

* Width, depth and the transposed-convolution up path follow the original U-Net;
  ``up_mode="nearest"`` swaps the transposed convolutions for nearest x2 + ``conv 3``.
* Any input size works: the input is padded (edge replication) to a multiple of
  ``2^levels`` per axis and the output cropped back.
* Convolutions followed by batch normalisation have no bias; ``norm="none"`` gives
  them one.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from volsr.models.networks._base import ScaleArg, SRNet, register_network
from volsr.models.networks._checks import check_positive_int
from volsr.models.networks._layers import activation as make_activation
from volsr.models.networks._layers import (
    canonical_activation,
    canonical_norm,
    conv_nd,
    conv_transpose_nd,
    norm_nd,
)
from volsr.models.networks._upsample import NearestUp

PAPER = (
    "Park et al., Computed tomography super-resolution using deep convolutional neural "
    "network, Phys. Med. Biol. 2018 (modified U-Net, Ronneberger et al. MICCAI 2015)"
)
UP_MODES = ("transpose", "nearest")

_POOL: dict[int, type[nn.Module]] = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}


def double_conv(
    spatial_dims: int, c_in: int, c_out: int, *, norm: str, activation: str
) -> nn.Sequential:
    """``(conv 3 -> norm -> act) x 2``; convs before a norm have no bias."""
    bias = norm == "none"
    layers: list[nn.Module] = []
    for c in (c_in, c_out):
        layers += [
            conv_nd(spatial_dims, c, c_out, 3, bias=bias),
            norm_nd(norm, spatial_dims, c_out),
            make_activation(activation),
        ]
    return nn.Sequential(*layers)


class ParkUNet(SRNet):
    """U-Net with global residual refining a pre-interpolated input (Park et al.).

    Reference: Park et al., Phys. Med. Biol. 63:145011, 2018; U-Net: Ronneberger et al.,
    MICCAI 2015.

    Shapes: input ``(B, C_in, *S)`` already on the output grid -> output
    ``(B, C_out, *S)`` (any ``S``; padded internally to a multiple of ``2^levels``).

    Args:
        spatial_dims: 2 (paper) or 3.
        in_channels: Input channels.
        out_channels: Output channels (default ``in_channels``).
        scale: Up-sampling factor(s) the model is trained for (metadata, ``"pre"``).
        features: Maps at the finest level (64), doubled per level.
        levels: Down-sampling steps (4).
        norm: ``"batch"`` (default), ``"instance"`` or ``"none"``.
        activation: ``"relu"`` (default), ``"leaky"``, ``"prelu"``, ...
        up_mode: ``"transpose"`` (transposed ``conv 2``, stride 2) or ``"nearest"``.
        residual: Add the input to the output (on: the paper learns the residual).

    Example:
        >>> import torch
        >>> net = ParkUNet(spatial_dims=2, features=4, levels=2).eval()
        >>> net(torch.zeros(1, 1, 7, 9)).shape
        torch.Size([1, 1, 7, 9])
        >>> net.receptive_field()
        (47, 47)
    """

    upsampling = "pre"

    def __init__(
        self,
        *,
        spatial_dims: int,
        in_channels: int = 1,
        out_channels: int | None = None,
        scale: ScaleArg = 2,
        features: int = 64,
        levels: int = 4,
        norm: str | None = "batch",
        activation: str = "relu",
        up_mode: str = "transpose",
        residual: bool = True,
    ) -> None:
        super().__init__(
            spatial_dims=spatial_dims,
            in_channels=in_channels,
            out_channels=out_channels,
            scale=scale,
            residual=residual,
        )
        self.features = check_positive_int(features, "features")
        self.levels = check_positive_int(levels, "levels")
        self.norm = canonical_norm(norm)
        self.activation = canonical_activation(activation)
        if up_mode not in UP_MODES:
            raise ValueError(f"up_mode must be one of {UP_MODES}, got {up_mode!r}")
        self.up_mode = up_mode
        d = self.spatial_dims
        kw = {"norm": self.norm, "activation": self.activation}
        width = [self.features * 2**level for level in range(self.levels + 1)]
        self.down = nn.ModuleList()
        c = self.in_channels
        for level in range(self.levels):
            self.down.append(double_conv(d, c, width[level], **kw))
            c = width[level]
        self.pool = _POOL[d](2)
        self.bottom = double_conv(d, c, width[-1], **kw)
        self.ups = nn.ModuleList()
        self.up_convs = nn.ModuleList()
        for level in reversed(range(self.levels)):
            self.ups.append(self._up(width[level + 1], width[level]))
            self.up_convs.append(double_conv(d, 2 * width[level], width[level], **kw))
        self.head = conv_nd(d, width[0], self.out_channels, 1)

    def _up(self, c_in: int, c_out: int) -> nn.Module:
        d = self.spatial_dims
        if self.up_mode == "transpose":
            return conv_transpose_nd(d, c_in, c_out, 2, stride=2)
        return nn.Sequential(NearestUp((2,) * d), conv_nd(d, c_in, c_out, 3))

    def _extra_config(self) -> dict[str, Any]:
        return {
            "features": self.features,
            "levels": self.levels,
            "norm": self.norm,
            "activation": self.activation,
            "up_mode": self.up_mode,
        }

    def receptive_field(self) -> tuple[int, ...]:
        """Receptive field per axis in input voxels (convolutions at level ``l`` reach
        ``2^l`` times further; pooling and up-sampling add their footprints)."""
        reach = 0
        for level in range(self.levels):
            step = 2**level
            reach += 2 * 2 * step  # two 3-convs going down
            reach += step  # max-pool 2
            up = 1 if self.up_mode == "transpose" else 2  # transposed 2-conv / nearest + 3-conv
            reach += up * step + 2 * 2 * step  # up-sampling + two 3-convs going up
        reach += 2 * 2 * 2**self.levels  # bottom
        return (1 + reach,) * self.spatial_dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Refine a pre-interpolated ``(B, C_in, *S)`` tensor into ``(B, C_out, *S)``."""
        self.check_input(x)
        size = x.shape[2:]
        m = 2**self.levels
        pads: list[int] = []
        for n in reversed(size):  # F.pad wants last axis first
            extra = -int(n) % m
            pads += [extra // 2, extra - extra // 2]
        h = F.pad(x, pads, mode="replicate") if any(pads) else x
        skips = []
        for block in self.down:
            h = block(h)
            skips.append(h)
            h = self.pool(h)
        h = self.bottom(h)
        for up, block, skip in zip(self.ups, self.up_convs, reversed(skips)):
            h = block(torch.cat([skip, up(h)], dim=1))
        y = self.head(h)
        if any(pads):
            crop = [slice(None), slice(None)]
            for i, n in enumerate(size):
                lo = pads[2 * (len(size) - 1 - i)]
                crop.append(slice(lo, lo + int(n)))
            y = y[tuple(crop)]
        return y + x if self.residual else y


# narrow version for the registry-wide tests (tests/models/test_models.py)
_TEST = {"features": 4, "levels": 2}

register_network(
    "unet_park_2d", ParkUNet, dims=2, family="unet_park", paper=PAPER, test_kwargs=_TEST
)
register_network(
    "unet_park_3d", ParkUNet, dims=3, family="unet_park", paper=PAPER, test_kwargs=_TEST
)

__all__ = ["ParkUNet", "double_conv"]
