"""VDSR: the very deep super-resolution network (20 layers, global residual), 2D and 3D.

Kim, Lee and Lee, "Accurate image super-resolution using very deep convolutional
networks", CVPR 2016.

Decisions: convolutions carry biases and are He-initialised (as in the paper); the
global residual (input added to the output) is on by default, as in the paper;
padding keeps the size, ``"replicate"`` by default (the paper pads with zeros,
``padding_mode="zeros"``).

Training note: VDSR is trained with a high learning rate (0.1, SGD) made stable by
*adjustable gradient clipping*: every gradient component is clipped to
``[-theta/lr, theta/lr]``. volsr's engine clips the global gradient norm instead
(``train.grad_clip``); :attr:`VDSR.recommended_grad_clip` is the value to use there
(0.4, the usual global-norm setting of PyTorch re-implementations). With Adam at
volsr's default learning rate clipping matters little, but it guards the first steps.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from volsr.models.networks._base import ScaleArg, SRNet, register_network
from volsr.models.networks._layers import PADDING_MODES, canonical_activation, conv_nd
from volsr.models.networks._layers import activation as make_activation

PAPER = (
    "Kim, Lee and Lee, Accurate image super-resolution using very deep convolutional "
    "networks, CVPR 2016"
)


def check_int(value: Any, name: str, minimum: int = 1) -> int:
    """Return ``value`` if it is an int >= ``minimum``, else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_odd_kernel(value: Any) -> int:
    """Return an odd positive kernel size, else raise ``ValueError``."""
    k = check_int(value, "kernel_size")
    if k % 2 == 0:
        raise ValueError(f"kernel_size must be odd, got {value!r}")
    return k


def check_padding_mode(value: str) -> str:
    """Return ``value`` if it is a padding mode PyTorch convolutions accept."""
    if value not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {value!r}")
    return value


@torch.no_grad()
def he_init_(module: nn.Module) -> None:
    """He (fan-in, ReLU) initialisation of every convolution in ``module``; zero biases."""
    for m in module.modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                m.bias.zero_()


class VDSR(SRNet):
    """VDSR: ``num_layers`` 3^d convolutions with ReLU and a global residual.

    Reference: Kim, Lee and Lee, "Accurate image super-resolution using very deep
    convolutional networks", CVPR 2016.

    ``conv (64) -> ReLU -> 18 x [conv (64) -> ReLU] -> conv (C_out)``, plus the input
    (the network learns the residual ``HR - interpolated LR``). The input is already
    interpolated to the output grid (``"pre"``), so ``scale`` is metadata and may be
    any per-axis factor. Shapes: ``(B, C_in, X, Y[, Z])`` -> ``(B, C_out, X, Y[, Z])``.
    Receptive field 41 voxels per axis with the defaults. Train with gradient clipping
    (see the module notes and :attr:`recommended_grad_clip`).

    Args:
        spatial_dims: 2 (paper) or 3.
        in_channels: Input channels.
        out_channels: Output channels (default ``in_channels``).
        scale: Up-sampling factor(s) the model is trained for (metadata).
        num_layers: Convolutions in total (20; at least 2).
        features: Width of the hidden layers (64).
        kernel_size: Odd kernel size (3).
        activation: ``"relu"`` (paper), ``"prelu"``, ``"leaky"``, ...
        padding_mode: ``"replicate"`` (default), ``"zeros"`` (paper) or ``"reflect"``.
        residual: Add the input to the output (on, as in the paper).

    Example:
        >>> net = VDSR(spatial_dims=2)
        >>> net(torch.zeros(1, 1, 12, 12)).shape
        torch.Size([1, 1, 12, 12])
        >>> net.num_parameters(), net.receptive_field(), net.recommended_grad_clip
        (665921, (41, 41), 0.4)
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
        num_layers: int = 20,
        features: int = 64,
        kernel_size: int = 3,
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
        self.num_layers = check_int(num_layers, "num_layers", 2)
        self.features = check_int(features, "features")
        self.kernel_size = check_odd_kernel(kernel_size)
        self.activation = canonical_activation(activation)
        self.padding_mode = check_padding_mode(padding_mode)
        d, k = self.spatial_dims, self.kernel_size
        channels = [self.in_channels] + [self.features] * (self.num_layers - 1)
        channels.append(self.out_channels)
        layers: list[nn.Module] = []
        for i in range(self.num_layers):
            layers.append(conv_nd(d, channels[i], channels[i + 1], k, padding_mode=padding_mode))
            if i < self.num_layers - 1:
                layers.append(make_activation(self.activation))
        self.body = nn.Sequential(*layers)
        he_init_(self.body)

    def _extra_config(self) -> dict[str, Any]:
        return {
            "num_layers": self.num_layers,
            "features": self.features,
            "kernel_size": self.kernel_size,
            "activation": self.activation,
            "padding_mode": self.padding_mode,
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Refine a pre-interpolated ``(B, C_in, *S)`` tensor into ``(B, C_out, *S)``."""
        self.check_input(x)
        y = self.body(x)
        return y + x if self.residual else y


# narrow version for the registry-wide tests (tests/models/test_models.py)
_TEST = {"features": 8, "num_layers": 5}

register_network("vdsr_2d", VDSR, dims=2, family="vdsr", paper=PAPER, test_kwargs=_TEST)
register_network("vdsr_3d", VDSR, dims=3, family="vdsr", paper=PAPER, test_kwargs=_TEST)

__all__ = ["VDSR", "check_int", "check_odd_kernel", "check_padding_mode", "he_init_"]
