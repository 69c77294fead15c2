"""SRResNet: the SRGAN generator, in 2D and 3D.

Ledig et al., "Photo-realistic single image super-resolution using a generative
adversarial network", CVPR 2017, arXiv:1609.04802.

Architecture: ``conv 9 (64) -> PReLU -> [conv 3 -> BN -> PReLU -> conv 3 -> BN, + x] * 16
-> conv 3 -> BN (+ head output) -> [conv 3 (64 * prod(r)) -> pixel shuffle -> PReLU]
per x2/x3 stage -> conv 9 (C_out)``; sub-pixel up-sampling inside (``"post"``).

Decisions:

* ``norm="batch"`` is the paper's network; ``norm="none"`` drops batch normalisation
  (as EDSR argued, and what a GAN generator trained on small medical batches often
  wants); ``"instance"`` is accepted too. Convolutions followed by a normalisation
  have no bias (it would be cancelled); without normalisation they have one.
* PReLU has one learned slope per activation module (PyTorch's default); set
  ``activation`` to another name (``"relu"``, ``"leaky"``) to replace it.
* The sub-pixel convolutions are ICNR-initialised; x4 is two x2 stages, x3 one stage,
  one factor per axis.
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
from volsr.models.networks._layers import activation as make_activation
from volsr.models.networks._layers import canonical_activation, canonical_norm, conv_nd, norm_nd
from volsr.models.networks._upsample import Upsampler

PAPER = (
    "Ledig et al., Photo-realistic single image super-resolution using a generative "
    "adversarial network, CVPR 2017 (SRResNet / SRGAN generator)"
)


class SRResBlock(nn.Module):
    """``x + BN(conv(act(BN(conv(x)))))`` (SRResNet residual block).

    Shapes: ``(B, features, *S)`` -> same.
    """

    def __init__(self, spatial_dims: int, features: int, *, norm: str, activation: str) -> None:
        super().__init__()
        bias = norm == "none"
        d = spatial_dims
        self.body = nn.Sequential(
            conv_nd(d, features, features, 3, bias=bias),
            norm_nd(norm, d, features),
            make_activation(activation),
            conv_nd(d, features, features, 3, bias=bias),
            norm_nd(norm, d, features),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SRResNet(SRNet):
    """SRResNet (the SRGAN generator) with per-axis sub-pixel up-sampling.

    Reference: Ledig et al., CVPR 2017 (arXiv:1609.04802).

    Shapes: input ``(B, C_in, *S)`` on the low-resolution grid -> output
    ``(B, C_out, *(s * r))`` with ``r = scale`` (integers per axis, ``"post"``).

    Args:
        spatial_dims: 2 or 3.
        in_channels: Input channels.
        out_channels: Output channels (default ``in_channels``).
        scale: Integer up-sampling factor(s), one or one per axis.
        num_blocks: Residual blocks (16).
        features: Feature channels (64).
        norm: ``"batch"`` (paper), ``"none"`` or ``"instance"``.
        activation: ``"prelu"`` (paper), ``"relu"``, ``"leaky"``, ...
        outer_kernel: Kernel of the first and last convolutions (9).
        residual: Must stay ``False`` (post network).

    Example:
        >>> import torch
        >>> net = SRResNet(spatial_dims=3, scale=(1, 1, 2), num_blocks=1, features=8)
        >>> net.eval()(torch.zeros(1, 1, 4, 5, 6)).shape
        torch.Size([1, 1, 4, 5, 12])
        >>> SRResNet(spatial_dims=2, scale=4, in_channels=3).num_parameters()
        1547350
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
        features: int = 64,
        norm: str | None = "batch",
        activation: str = "prelu",
        outer_kernel: int = 9,
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
        self.norm = canonical_norm(norm)
        self.activation = canonical_activation(activation)
        self.outer_kernel = check_positive_int(outer_kernel, "outer_kernel")
        if self.outer_kernel % 2 == 0:
            raise ValueError(f"outer_kernel must be odd, got {outer_kernel!r}")
        d, f = self.spatial_dims, self.features
        self.head = nn.Sequential(
            conv_nd(d, self.in_channels, f, self.outer_kernel), make_activation(self.activation)
        )
        self.blocks = nn.Sequential(
            *(SRResBlock(d, f, norm=self.norm, activation=self.activation)
              for _ in range(self.num_blocks))
        )
        self.body_end = nn.Sequential(
            conv_nd(d, f, f, 3, bias=self.norm == "none"), norm_nd(self.norm, d, f)
        )
        self.upsampler = Upsampler(d, f, factors, mode="subpixel", activation=self.activation)
        self.tail = conv_nd(d, f, self.out_channels, self.outer_kernel)

    def _extra_config(self) -> dict[str, Any]:
        return {
            "num_blocks": self.num_blocks,
            "features": self.features,
            "norm": self.norm,
            "activation": self.activation,
            "outer_kernel": self.outer_kernel,
        }

    def receptive_field(self) -> tuple[int, ...]:
        """Receptive field per axis in low-resolution input voxels."""
        d = self.spatial_dims
        return receptive_field_from(
            conv_extent([self.head, self.blocks, self.body_end], d),
            self.upsampler.extent(),
            conv_extent([self.tail], d, self.scale),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Super-resolve ``(B, C_in, *S)`` into ``(B, C_out, *(S * scale))``."""
        self.check_input(x)
        h = self.head(x)
        h = h + self.body_end(self.blocks(h))
        return self.tail(self.upsampler(h))


# narrow version for the registry-wide tests (tests/models/test_models.py)
_TEST = {"num_blocks": 2, "features": 8}

register_network("srresnet_2d", SRResNet, dims=2, family="srresnet", paper=PAPER, test_kwargs=_TEST)
register_network("srresnet_3d", SRResNet, dims=3, family="srresnet", paper=PAPER, test_kwargs=_TEST)

__all__ = ["SRResBlock", "SRResNet"]
