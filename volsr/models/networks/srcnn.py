"""SRCNN: the three-layer super-resolution CNN, in 2D and 3D.

Dong et al., "Image super-resolution using deep convolutional networks", ECCV 2014 /
IEEE TPAMI 38(2), 2016 (2D); Pham et al., "Brain MRI super-resolution using deep 3D
convolutional networks", ISBI 2017 (3D, "SRCNN3D"). The RReLU variant follows Yang
et al., who replaced ReLU by the randomised leaky ReLU for 3D MRI SR.

Architecture (defaults): ``conv 9 (64) -> act -> conv 1 (32) -> act -> conv 5 (C_out)``
on an input already interpolated to the output grid ("pre" up-sampling). Both papers
train on valid (unpadded) convolutions with a cropped target; here every convolution
is padded so that the output has the input's size, which lets the network run on
whole volumes of any size. The default padding mode is ``"replicate"``: it avoids the
dark rim that zero padding teaches the 9-voxel first layer near volume borders.
More layers (Pham et al. also study deeper variants) are obtained by giving longer
``kernel_sizes`` / ``features``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from volsr.models.networks._base import ScaleArg, SRNet, register_network
from volsr.models.networks._layers import (
    PADDING_MODES,
    as_int_tuple,
    canonical_activation,
    conv_nd,
)
from volsr.models.networks._layers import activation as make_activation

PAPER = (
    "Dong et al., Image super-resolution using deep convolutional networks, ECCV 2014 / "
    "TPAMI 2016; Pham et al., Brain MRI super-resolution using deep 3D convolutional "
    "networks, ISBI 2017"
)
PAPER_RRELU = PAPER + "; RReLU variant: Yang et al."


class SRCNN(SRNet):
    """SRCNN (2D) / SRCNN3D: patch extraction, non-linear mapping, reconstruction.

    Reference: Dong et al., ECCV 2014 / TPAMI 2016; 3D: Pham et al., ISBI 2017.

    The input is the low-resolution volume already interpolated to the output grid
    (``upsampling = "pre"``), so ``scale`` is metadata and may be any per-axis,
    non-integer factor. Shapes: input ``(B, C_in, X, Y, Z)`` (``(B, C_in, X, Y)`` in
    2D) -> output ``(B, C_out, X, Y, Z)``, same spatial size.

    Args:
        spatial_dims: 2 or 3.
        in_channels: Input channels.
        out_channels: Output channels (default ``in_channels``).
        scale: Up-sampling factor(s) the model is trained for (metadata).
        kernel_sizes: Kernel size of each convolution (default ``(9, 1, 5)``).
        features: Output channels of every convolution but the last (default
            ``(64, 32)``); ``len(features) == len(kernel_sizes) - 1``.
        activation: ``"relu"`` (paper), ``"rrelu"`` (Yang et al.), ``"prelu"``,
            ``"leaky"`` or ``"elu"``.
        padding_mode: ``"replicate"`` (default), ``"zeros"`` or ``"reflect"``.
        residual: Add the input to the output (off: the papers' SRCNN is plain).

    Example:
        >>> import torch
        >>> net = SRCNN(spatial_dims=3, scale=(1, 1, 2.5))
        >>> net(torch.zeros(2, 1, 6, 7, 8)).shape
        torch.Size([2, 1, 6, 7, 8])
        >>> net.num_parameters(), net.receptive_field()
        (52801, (13, 13, 13))
    """

    upsampling = "pre"

    def __init__(
        self,
        *,
        spatial_dims: int,
        in_channels: int = 1,
        out_channels: int | None = None,
        scale: ScaleArg = 2,
        kernel_sizes: Sequence[int] = (9, 1, 5),
        features: Sequence[int] = (64, 32),
        activation: str = "relu",
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
        kernels = as_int_tuple(tuple(kernel_sizes), len(tuple(kernel_sizes)), "kernel_sizes")
        feats = as_int_tuple(tuple(features), len(tuple(features)), "features")
        if len(kernels) < 2 or len(feats) != len(kernels) - 1:
            raise ValueError(
                "need >= 2 kernel_sizes and len(features) == len(kernel_sizes) - 1, got "
                f"kernel_sizes={list(kernel_sizes)}, features={list(features)}"
            )
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
        self.kernel_sizes = kernels
        self.features = feats
        self.activation = canonical_activation(activation)
        self.padding_mode = padding_mode

        channels = (self.in_channels, *feats, self.out_channels)
        layers: list[nn.Module] = []
        for i, k in enumerate(kernels):
            layers.append(
                conv_nd(
                    self.spatial_dims, channels[i], channels[i + 1], k, padding_mode=padding_mode
                )
            )
            if i < len(kernels) - 1:
                layers.append(make_activation(self.activation))
        self.body = nn.Sequential(*layers)

    def _extra_config(self) -> dict[str, Any]:
        return {
            "kernel_sizes": list(self.kernel_sizes),
            "features": list(self.features),
            "activation": self.activation,
            "padding_mode": self.padding_mode,
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Refine a pre-interpolated ``(B, C_in, *S)`` tensor into ``(B, C_out, *S)``."""
        self.check_input(x)
        y = self.body(x)
        return y + x if self.residual else y


# narrow version for the registry-wide tests (tests/models/test_models.py)
_TEST = {"features": [8, 4]}

register_network("srcnn_2d", SRCNN, dims=2, family="srcnn", paper=PAPER, test_kwargs=_TEST)
register_network("srcnn_3d", SRCNN, dims=3, family="srcnn", paper=PAPER, test_kwargs=_TEST)
register_network(
    "srcnn_rrelu_3d", SRCNN, dims=3, family="srcnn", paper=PAPER_RRELU, activation="rrelu",
    test_kwargs=_TEST,
)

__all__ = ["SRCNN"]
