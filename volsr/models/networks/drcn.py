"""DRCN: the deeply-recursive convolutional network, in 2D and 3D.

Kim, Lee and Lee, "Deeply-recursive convolutional network for image super-resolution",
CVPR 2016.

Structure (paper): an *embedding* net (two convolutions) maps the interpolated input
to features ``H_0``; the *inference* net applies one convolution + ReLU ``D`` times
with the same weights (``H_d = relu(W * H_{d-1} + b)``); one *reconstruction* net (two
convolutions), shared by all recursions, maps every ``H_d`` to an image, to which the
input is added (skip connection): ``y_d = x + f_rec(H_d)``. The output is the learned
weighted sum ``y = sum_d w_d y_d`` (the paper's ensemble, weights not constrained;
initialised to ``1/D``). Recursive supervision trains every ``y_d`` too:
``loss = alpha * mean_d l(y_d, hr) + (1 - alpha) * l(y, hr)``, with ``alpha`` decayed
during training; :meth:`DRCN.forward_all` returns ``y`` and the ``y_d`` for that loss.

Decisions: He initialisation, zero biases; ``"replicate"`` padding by default (the
paper pads with zeros); ``residual`` switches the skip connection (on by default).
``drcn_3d`` defaults to 64 features instead of 256: a 256-wide 3^3 DRCN has 5.3M
parameters and back-propagation keeps about 50 full-width feature maps per patch
(``create_model("drcn_3d", features=256)`` builds the paper's width).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from volsr.models.networks._base import ScaleArg, SRNet, register_network
from volsr.models.networks._layers import activation as make_activation
from volsr.models.networks._layers import canonical_activation, conv_nd
from volsr.models.networks.vdsr import check_int, check_odd_kernel, check_padding_mode, he_init_

PAPER = (
    "Kim, Lee and Lee, Deeply-recursive convolutional network for image "
    "super-resolution, CVPR 2016"
)


class DRCN(SRNet):
    """DRCN: embedding, one recursive convolution applied ``D`` times, reconstruction.

    Reference: Kim, Lee and Lee, "Deeply-recursive convolutional network for image
    super-resolution", CVPR 2016.

    Input: the volume interpolated to the output grid (``"pre"``; ``scale`` is
    metadata). Shapes: ``(B, C_in, X, Y[, Z])`` -> ``(B, C_out, X, Y[, Z])``; with
    :meth:`forward_all` also ``D`` intermediate predictions of that shape. The
    parameter count does not depend on ``D`` except for the ``D`` ensemble weights.
    Defaults (paper): 256 features, ``D = 16``, 3^d kernels, receptive field 41.

    Args:
        spatial_dims: 2 (paper) or 3.
        in_channels: Input channels.
        out_channels: Output channels (default ``in_channels``).
        scale: Up-sampling factor(s) the model is trained for (metadata).
        recursions: ``D``, applications of the shared convolution (16).
        features: Width of all hidden layers (256).
        kernel_size: Odd kernel size (3).
        activation: ``"relu"`` (paper), ``"prelu"``, ``"leaky"``, ...
        padding_mode: ``"replicate"`` (default), ``"zeros"`` (paper) or ``"reflect"``.
        residual: Skip connection adding the input to every prediction (on).

    Example:
        >>> net = DRCN(spatial_dims=2, features=8, recursions=3)
        >>> y, preds = net.forward_all(torch.zeros(1, 1, 10, 10))
        >>> y.shape, len(preds), net.receptive_field()
        (torch.Size([1, 1, 10, 10]), 3, (15, 15))
    """

    upsampling = "pre"

    def __init__(
        self,
        *,
        spatial_dims: int,
        in_channels: int = 1,
        out_channels: int | None = None,
        scale: ScaleArg = 2,
        recursions: int = 16,
        features: int = 256,
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
        self.recursions = check_int(recursions, "recursions")
        self.features = check_int(features, "features")
        self.kernel_size = check_odd_kernel(kernel_size)
        self.activation = canonical_activation(activation)
        self.padding_mode = check_padding_mode(padding_mode)
        d, k, f = self.spatial_dims, self.kernel_size, self.features

        def conv(c_in: int, c_out: int) -> nn.Module:
            return conv_nd(d, c_in, c_out, k, padding_mode=padding_mode)

        act = self.activation
        self.embed = nn.Sequential(
            conv(self.in_channels, f), make_activation(act), conv(f, f), make_activation(act)
        )
        self.recursive = conv(f, f)
        self.recursive_act = make_activation(act)
        self.reconstruct = nn.Sequential(
            conv(f, f), make_activation(act), conv(f, self.out_channels)
        )
        he_init_(self)
        self.ensemble = nn.Parameter(torch.full((self.recursions,), 1.0 / self.recursions))

    def _extra_config(self) -> dict[str, Any]:
        return {
            "recursions": self.recursions,
            "features": self.features,
            "kernel_size": self.kernel_size,
            "activation": self.activation,
            "padding_mode": self.padding_mode,
        }

    def receptive_field(self) -> tuple[int, ...]:
        """``1 + (k - 1) * (D + 4)`` per axis: 2 embedding, D recursive, 2 reconstruction."""
        return (1 + (self.kernel_size - 1) * (self.recursions + 4),) * self.spatial_dims

    def forward_all(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The ensemble output and the ``D`` intermediate predictions ``y_1 .. y_D``.

        Args:
            x: Pre-interpolated input ``(B, C_in, *S)``.

        Returns:
            ``(y, [y_1, ..., y_D])``, every tensor ``(B, C_out, *S)``.
        """
        self.check_input(x)
        h = self.embed(x)
        preds: list[torch.Tensor] = []
        for _ in range(self.recursions):
            h = self.recursive_act(self.recursive(h))
            r = self.reconstruct(h)
            preds.append(r + x if self.residual else r)
        y = torch.tensordot(self.ensemble, torch.stack(preds), dims=1)
        return y, preds

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Refine a pre-interpolated ``(B, C_in, *S)`` tensor into ``(B, C_out, *S)``."""
        return self.forward_all(x)[0]


# narrow version for the registry-wide tests (tests/models/test_models.py)
_TEST = {"features": 8, "recursions": 3}

register_network("drcn_2d", DRCN, dims=2, family="drcn", paper=PAPER, test_kwargs=_TEST)
# 3D: 64 features by default; at the paper's 256 a 3^3 DRCN has 5.3M parameters and
# keeps ~50 full-width activations per patch for back-propagation (``features=256``).
register_network(
    "drcn_3d", DRCN, dims=3, family="drcn", paper=PAPER, features=64, test_kwargs=_TEST
)

__all__ = ["DRCN"]
