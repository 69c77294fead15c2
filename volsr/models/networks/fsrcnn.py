"""FSRCNN, which up-samples with the grid-aligned transposed convolution ``UpConvND``.

Dong, Loy and Tang, "Accelerating the super-resolution convolutional neural network",
ECCV 2016 (FSRCNN).

FSRCNN works on the low-resolution grid and up-samples at the end with a transposed
convolution ("post" up-sampling).
:class:`~volsr.models.networks._upsample.UpConvND` is that layer, dims-generic and
per-axis (stride = scale factor along each axis), placed on the volsr grid convention:
output voxel ``o`` sits at input index ``x(o) = (o + 1/2)/s - 1/2`` (see
:mod:`volsr.geometry.grid`). A transposed convolution with stride ``s`` and kernel ``k``
adds input voxel ``i`` times tap ``j`` to output ``o = i*s + j - c``; the crop
``c = (k - s) // 2`` centres the taps on ``i`` exactly when ``k - s`` is even (``k = 4,
s = 2``; ``k = 9, s = 3``) and half an output voxel off otherwise (``k = 9, s = 2``),
which a learned kernel absorbs and its ``init_linear_`` accounts for: after it
the layer *is* linear interpolation on the volsr grid (a ramp in gives the same ramp,
sampled at ``x(o)``, out). The output has exactly ``n * s`` voxels. Instead of the
implicit zeros of a plain transposed convolution, the input is padded first with the
network's ``padding_mode`` (``"replicate"`` by default), so borders behave like those of
the other convolutions (a constant volume stays constant up to the edge).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from volsr.models.networks._base import ScaleArg, SRNet, register_network
from volsr.models.networks._checks import as_int_tuple
from volsr.models.networks._layers import PADDING_MODES, canonical_activation, conv_nd
from volsr.models.networks._layers import activation as make_activation
from volsr.models.networks._upsample import UpConvND

PAPER = (
    "Dong, Loy and Tang, Accelerating the super-resolution convolutional neural network, "
    "ECCV 2016"
)


def _act(name: str, channels: int) -> nn.Module:
    """An activation; PReLU gets one learned slope per channel (as in FSRCNN)."""
    if name == "prelu":
        return make_activation(name, num_parameters=channels)
    return make_activation(name)


def _non_negative(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return value


class FSRCNN(SRNet):
    """FSRCNN: feature extraction, shrinking, mapping, expanding, deconvolution.

    Reference: Dong, Loy and Tang, "Accelerating the super-resolution convolutional
    neural network", ECCV 2016.

    ``conv 5 (d) -> conv 1 (s) -> m x conv 3 (s) -> conv 1 (d) -> deconv 9, stride r``,
    each conv followed by a per-channel PReLU; FSRCNN(56, 12, 4) by default. Works on
    the low-resolution grid and up-samples at the end ("post"), so ``scale`` must be an
    integer per axis (e.g. ``(1, 1, 4)``); the deconvolution has the 9-tap kernel along
    up-sampled axes and 1 along the others, and is grid-aligned (:class:`UpConvND`).
    Shapes: ``(B, C_in, X, Y[, Z])`` -> ``(B, C_out, X*rx, Y*ry[, Z*rz])``.

    Args:
        spatial_dims: 2 (paper) or 3.
        in_channels: Input channels (1: the paper's luminance).
        out_channels: Output channels (default ``in_channels``).
        scale: Integer up-sampling factor(s), one or one per axis.
        features: ``d``, width of the feature extraction / expanding layers (56).
        shrinking: ``s``, width of the mapping layers (12).
        mapping_layers: ``m``, number of 3-wide mapping convolutions (4).
        deconv_kernel_size: Deconvolution kernel along up-sampled axes (9).
        activation: ``"prelu"`` (paper; one slope per channel), ``"relu"``, ...
        padding_mode: ``"replicate"`` (default), ``"zeros"`` or ``"reflect"``; also how
            the deconvolution's input is extended.
        residual: Must stay ``False`` (FSRCNN changes the size).

    Example:
        >>> net = FSRCNN(spatial_dims=2, scale=3)
        >>> net(torch.zeros(1, 1, 10, 12)).shape
        torch.Size([1, 1, 30, 36])
        >>> net.num_parameters()  # 12,464 weights (paper) + 173 biases + 172 PReLU slopes
        12809
    """

    upsampling = "post"

    def __init__(
        self,
        *,
        spatial_dims: int,
        in_channels: int = 1,
        out_channels: int | None = None,
        scale: ScaleArg = 2,
        features: int = 56,
        shrinking: int = 12,
        mapping_layers: int = 4,
        deconv_kernel_size: int = 9,
        activation: str = "prelu",
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
        factors = self.integer_scale()
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
        self.features = as_int_tuple(features, 1, "features")[0]
        self.shrinking = as_int_tuple(shrinking, 1, "shrinking")[0]
        self.mapping_layers = _non_negative(mapping_layers, "mapping_layers")
        self.deconv_kernel_size = as_int_tuple(deconv_kernel_size, 1, "deconv_kernel_size")[0]
        self.activation = canonical_activation(activation)
        self.padding_mode = padding_mode
        d, dm, sh = self.spatial_dims, self.features, self.shrinking

        def block(c_in: int, c_out: int, k: int) -> list[nn.Module]:
            conv = conv_nd(d, c_in, c_out, k, padding_mode=padding_mode)
            return [conv, _act(self.activation, c_out)]

        layers = block(self.in_channels, dm, 5) + block(dm, sh, 1)
        for _ in range(self.mapping_layers):
            layers += block(sh, sh, 3)
        layers += block(sh, dm, 1)
        self.body = nn.Sequential(*layers)
        kernel = tuple(self.deconv_kernel_size if f > 1 else 1 for f in factors)
        self.deconv = UpConvND(
            d, dm, self.out_channels, factors, kernel, padding_mode=padding_mode
        )

    def _extra_config(self) -> dict[str, Any]:
        return {
            "features": self.features,
            "shrinking": self.shrinking,
            "mapping_layers": self.mapping_layers,
            "deconv_kernel_size": self.deconv_kernel_size,
            "activation": self.activation,
            "padding_mode": self.padding_mode,
        }

    def receptive_field(self) -> tuple[int, ...]:
        """Receptive field per axis in input voxels (body convs + deconvolution taps)."""
        body = 2 + self.mapping_layers  # radius of the 5-wide and the 3-wide convs
        return tuple(1 + 2 * math.ceil(body + r) for r in self.deconv.radius())

    def min_input_size(self) -> tuple[int, ...]:
        base, up = super().min_input_size(), self.deconv.min_input_size()
        return tuple(max(a, b) for a, b in zip(base, up))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Up-sample ``(B, C_in, *S)`` to ``(B, C_out, *(S * scale))``."""
        self.check_input(x)
        return self.deconv(self.body(x))


# narrow version for the registry-wide tests (tests/models/test_models.py)
_TEST = {"features": 8, "shrinking": 4, "mapping_layers": 2}

register_network("fsrcnn_2d", FSRCNN, dims=2, family="fsrcnn", paper=PAPER, test_kwargs=_TEST)
register_network("fsrcnn_3d", FSRCNN, dims=3, family="fsrcnn", paper=PAPER, test_kwargs=_TEST)

__all__ = ["FSRCNN"]
