"""EDSR and EDSR-baseline: enhanced deep residual networks, in 2D and 3D.

Lim et al., "Enhanced deep residual networks for single image super-resolution",
CVPR Workshops (NTIRE) 2017, arXiv:1707.02921.

Architecture: ``head conv -> [ResBlock] * B -> conv (+ head output) -> Upsampler ->
tail conv``, where a ResBlock is ``conv -> ReLU -> conv`` scaled by ``res_scale`` plus
the identity, without batch normalisation. EDSR: B = 32 blocks of 256 features with
residual scaling 0.1; EDSR-baseline: B = 16 blocks of 64 features, no scaling. The
up-sampler is sub-pixel (``"post"``): x2 and x3 are one stage, x4 two x2 stages, one
factor per axis (``(1, 1, 2)`` up-samples only the last axis of a volume).

Decisions:

* No RGB mean shift (the paper subtracts the DIV2K mean colour): intensity
  normalisation is the data pipeline's job (:mod:`volsr.data.normalize`), and the
  networks see normalised single- or multi-channel medical volumes.
* The sub-pixel convolutions are ICNR-initialised (no checkerboard at start).
* All convolutions are ``3^d`` with zero padding and biases, as in the paper.
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
from volsr.models.networks._checks import check_odd, check_positive_int
from volsr.models.networks._layers import conv_nd
from volsr.models.networks._upsample import Upsampler

PAPER = (
    "Lim et al., Enhanced deep residual networks for single image super-resolution, "
    "CVPR Workshops 2017"
)


class ResBlock(nn.Module):
    """EDSR residual block ``x + res_scale * conv(ReLU(conv(x)))`` (no batch norm).

    Shapes: ``(B, features, *S)`` -> same.
    """

    def __init__(
        self, spatial_dims: int, features: int, *, res_scale: float = 1.0, kernel_size: int = 3
    ) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv_nd(spatial_dims, features, features, kernel_size),
            nn.ReLU(inplace=True),
            conv_nd(spatial_dims, features, features, kernel_size),
        )
        self.res_scale = float(res_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y * self.res_scale if self.res_scale != 1.0 else x + y


class EDSR(SRNet):
    """EDSR / EDSR-baseline with a per-axis sub-pixel up-sampler.

    Reference: Lim et al., CVPR Workshops 2017 (arXiv:1707.02921).

    Shapes: input ``(B, C_in, *S)`` on the low-resolution grid -> output
    ``(B, C_out, *(s * r))`` with ``r = scale`` (integers per axis, ``"post"``).

    Args:
        spatial_dims: 2 or 3.
        in_channels: Input channels.
        out_channels: Output channels (default ``in_channels``).
        scale: Integer up-sampling factor(s), one or one per axis (2, 3, 4, ...).
        num_blocks: Residual blocks (32 for EDSR, 16 for the baseline).
        features: Feature channels (256 for EDSR, 64 for the baseline).
        res_scale: Residual scaling (0.1 for EDSR, 1.0 for the baseline).
        kernel_size: Odd kernel of every convolution (3).
        residual: Add the input to the output (global residual learning). Only with
            ``scale=1``, where the network refines an input already on the output grid
            and counts as a ``"pre"`` network (see :class:`~volsr.models.networks.SRNet`).

    Example:
        >>> import torch
        >>> net = EDSR(spatial_dims=2, scale=(2, 3), num_blocks=2, features=8)
        >>> net(torch.zeros(1, 1, 5, 6)).shape
        torch.Size([1, 1, 10, 18])
        >>> EDSR(spatial_dims=2, scale=2, num_blocks=16, features=64,
        ...      res_scale=1.0, in_channels=3).num_parameters()  # EDSR-baseline x2, RGB
        1369859
    """

    upsampling = "post"

    def __init__(
        self,
        *,
        spatial_dims: int,
        in_channels: int = 1,
        out_channels: int | None = None,
        scale: ScaleArg = 2,
        num_blocks: int = 32,
        features: int = 256,
        res_scale: float = 0.1,
        kernel_size: int = 3,
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
        self.kernel_size = check_odd(kernel_size, "kernel_size")
        if not isinstance(res_scale, (int, float)) or isinstance(res_scale, bool) or not (
            0 < float(res_scale) <= 1
        ):
            raise ValueError(f"res_scale must be in (0, 1], got {res_scale!r}")
        self.res_scale = float(res_scale)
        d, f, k = self.spatial_dims, self.features, self.kernel_size
        self.head = conv_nd(d, self.in_channels, f, k)
        self.body = nn.Sequential(
            *(ResBlock(d, f, res_scale=self.res_scale, kernel_size=k)
              for _ in range(self.num_blocks)),
            conv_nd(d, f, f, k),
        )
        self.upsampler = Upsampler(d, f, factors, mode="subpixel", kernel_size=k)
        self.tail = conv_nd(d, f, self.out_channels, k)

    def _extra_config(self) -> dict[str, Any]:
        return {
            "num_blocks": self.num_blocks,
            "features": self.features,
            "res_scale": self.res_scale,
            "kernel_size": self.kernel_size,
        }

    def receptive_field(self) -> tuple[int, ...]:
        """Receptive field per axis in low-resolution input voxels."""
        d = self.spatial_dims
        return receptive_field_from(
            conv_extent([self.head, self.body], d),
            self.upsampler.extent(),
            conv_extent([self.tail], d, self.scale),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Super-resolve ``(B, C_in, *S)`` into ``(B, C_out, *(S * scale))``."""
        self.check_input(x)
        h = self.head(x)
        h = h + self.body(h)
        y = self.tail(self.upsampler(h))
        return y + x if self.residual else y


_BASELINE = {"num_blocks": 16, "features": 64, "res_scale": 1.0}

# narrow version for the registry-wide tests (tests/models/test_models.py)
_TEST = {"num_blocks": 2, "features": 8}

register_network("edsr_2d", EDSR, dims=2, family="edsr", paper=PAPER, test_kwargs=_TEST)
register_network("edsr_3d", EDSR, dims=3, family="edsr", paper=PAPER, test_kwargs=_TEST)
register_network(
    "edsr_baseline_2d", EDSR, dims=2, family="edsr", paper=PAPER, **_BASELINE, test_kwargs=_TEST
)
register_network(
    "edsr_baseline_3d", EDSR, dims=3, family="edsr", paper=PAPER, **_BASELINE, test_kwargs=_TEST
)

__all__ = ["EDSR", "ResBlock"]
