"""LapSRN: the Laplacian pyramid super-resolution network, in 2D and 3D.

Lai, Huang, Ahuja and Yang, "Deep Laplacian pyramid networks for fast and accurate
super-resolution", CVPR 2017.

The network up-samples in ``log2(scale)`` x2 levels ("progressive"). Level ``l`` has
a *feature extraction* branch (``depth`` convolutions + leaky ReLU on the current
grid, a x2 transposed convolution + leaky ReLU, and a convolution predicting the
level's residual image) and an *image reconstruction* branch (a x2 transposed
convolution of the previous level's image, initialised to bilinear interpolation and
trained, plus the residual). Every level's image is an output (:meth:`LapSRN.
forward_pyramid`), trained with a Charbonnier loss against the HR image down-sampled
to that level (deep supervision).

Decisions (from the paper and its MatConvNet release): 64 features, ``depth = 10``,
3^d convolutions, leaky ReLU slope 0.2, a 3-wide transposed convolution in the feature
branch and a 4-wide bilinear one (no bias) in the image branch; with these the x4
model has 812,768 weights (+1,474 biases), the paper's 812K. Both transposed
convolutions are :class:`~volsr.models.networks._upsample.UpConvND`, aligned with the
volsr grid (the 4-wide bilinear one exactly; the 3-wide one is half a voxel off-centre,
which its learned weights absorb) and fed a ``padding_mode``-extended input.

Per-axis factors: each factor must be a power of two (1 allowed); level ``l``
up-samples only the axes whose factor is not reached yet, e.g. ``(1, 1, 4)`` gives two
levels along the last axis and ``(2, 4)`` gives ``(2, 2)`` then ``(1, 2)``. Along an
axis that a level does not up-sample, its transposed convolutions have kernel 1.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from volsr.models.networks._base import ScaleArg, SRNet, register_network
from volsr.models.networks._layers import conv_nd
from volsr.models.networks._upsample import UpConvND
from volsr.models.networks.vdsr import check_int, check_odd_kernel, check_padding_mode

PAPER = (
    "Lai, Huang, Ahuja and Yang, Deep Laplacian pyramid networks for fast and accurate "
    "super-resolution, CVPR 2017"
)


def pyramid_levels(scale: tuple[float, ...]) -> list[tuple[int, ...]]:
    """Per-level x2 factors for per-axis power-of-two ``scale``; ``ValueError`` otherwise.

    Example:
        >>> pyramid_levels((2.0, 4.0))
        [(2, 2), (1, 2)]
    """
    exps = []
    for s in scale:
        e = round(math.log2(s)) if s >= 1 else -1
        if e < 0 or abs(s - 2**e) > 1e-9:
            raise ValueError(f"LapSRN needs power-of-two scale factors (1, 2, 4, ...), got {scale}")
        exps.append(e)
    if max(exps) == 0:
        raise ValueError(f"LapSRN needs at least one scale factor > 1, got {scale}")
    return [tuple(2 if lvl < e else 1 for e in exps) for lvl in range(max(exps))]


class LapSRN(SRNet):
    """LapSRN: progressive x2 levels predicting sub-band residuals.

    Reference: Lai, Huang, Ahuja and Yang, "Deep Laplacian pyramid networks for fast
    and accurate super-resolution", CVPR 2017.

    Shapes: ``(B, C, X, Y[, Z])`` -> ``(B, C, X*rx, Y*ry[, Z*rz])``; level ``l`` of
    :meth:`forward_pyramid` is at the product of the first ``l + 1`` level factors.
    The image branch adds residuals to the up-sampled input, so ``out_channels`` must
    equal ``in_channels``.

    Args:
        spatial_dims: 2 (paper) or 3.
        in_channels: Input (= output) channels.
        out_channels: Must be ``None`` or ``in_channels``.
        scale: Power-of-two factor(s), one or one per axis (2 -> one level, 4 -> two).
        depth: Convolutions per level in the feature branch (10).
        features: Width of the feature branch (64).
        kernel_size: Odd kernel of the convolutions (3).
        up_kernel_size: Feature-branch transposed convolution kernel (3; >= 2).
        image_up_kernel_size: Image-branch transposed convolution kernel (4; >= 2).
        negative_slope: Slope of the leaky ReLUs (0.2).
        padding_mode: ``"replicate"`` (default), ``"zeros"`` (paper) or ``"reflect"``.
        residual: Must stay ``False`` (LapSRN changes the size).

    Example:
        >>> net = LapSRN(spatial_dims=2, scale=4, depth=2, features=8)
        >>> [tuple(y.shape) for y in net.forward_pyramid(torch.zeros(1, 1, 6, 7))]
        [(1, 1, 12, 14), (1, 1, 24, 28)]
        >>> LapSRN(spatial_dims=2, scale=4).num_parameters()
        814242
    """

    upsampling = "progressive"

    def __init__(
        self,
        *,
        spatial_dims: int,
        in_channels: int = 1,
        out_channels: int | None = None,
        scale: ScaleArg = 2,
        depth: int = 10,
        features: int = 64,
        kernel_size: int = 3,
        up_kernel_size: int = 3,
        image_up_kernel_size: int = 4,
        negative_slope: float = 0.2,
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
        if self.out_channels != self.in_channels:
            raise ValueError(
                f"LapSRN needs out_channels == in_channels, got {in_channels} -> {out_channels}"
            )
        self.levels = pyramid_levels(self.scale)
        self.depth = check_int(depth, "depth", 0)
        self.features = check_int(features, "features")
        self.kernel_size = check_odd_kernel(kernel_size)
        self.up_kernel_size = check_int(up_kernel_size, "up_kernel_size", 2)
        self.image_up_kernel_size = check_int(image_up_kernel_size, "image_up_kernel_size", 2)
        if isinstance(negative_slope, bool) or not isinstance(negative_slope, int | float):
            raise ValueError(f"negative_slope must be a number, got {negative_slope!r}")
        self.negative_slope = float(negative_slope)
        self.padding_mode = check_padding_mode(padding_mode)
        d, k, f, c = self.spatial_dims, self.kernel_size, self.features, self.in_channels

        def conv(c_in: int, c_out: int) -> nn.Module:
            return conv_nd(d, c_in, c_out, k, padding_mode=padding_mode)

        def up(c_in: int, c_out: int, factors: tuple[int, ...], kern: int, bias: bool) -> UpConvND:
            kernels = tuple(kern if s > 1 else 1 for s in factors)
            return UpConvND(d, c_in, c_out, factors, kernels, bias=bias, padding_mode=padding_mode)

        self.act = nn.LeakyReLU(self.negative_slope)
        self.input_conv = conv(c, f)
        self.feature_convs = nn.ModuleList(
            nn.Sequential(*[m for _ in range(self.depth) for m in (conv(f, f), self.act)])
            for _ in self.levels
        )
        self.feature_ups = nn.ModuleList(
            up(f, f, lv, self.up_kernel_size, True) for lv in self.levels
        )
        self.residual_convs = nn.ModuleList(conv(f, c) for _ in self.levels)
        self.image_ups = nn.ModuleList(
            up(c, c, lv, self.image_up_kernel_size, False).init_linear_() for lv in self.levels
        )

    def _extra_config(self) -> dict[str, Any]:
        return {
            "depth": self.depth,
            "features": self.features,
            "kernel_size": self.kernel_size,
            "up_kernel_size": self.up_kernel_size,
            "image_up_kernel_size": self.image_up_kernel_size,
            "negative_slope": self.negative_slope,
            "padding_mode": self.padding_mode,
        }

    def receptive_field(self) -> tuple[int, ...]:
        """Receptive field per axis in input voxels (longest path to the output, rounded up).

        Paths: level ``i``'s residual (input conv, the feature branch up to level ``i``,
        the residual conv, then the image up-sampling of the later levels) and the
        input itself through every image up-sampling; radii add, in input voxels.
        """
        half = (self.kernel_size - 1) / 2
        out = []
        for axis in range(self.spatial_dims):
            grids = [1.0]  # voxel size (in input voxels) of the grid entering each level
            for lv in self.levels:
                grids.append(grids[-1] / lv[axis])
            image = [iu.radius()[axis] * g for iu, g in zip(self.image_ups, grids)]
            best, feat = sum(image), half
            for i, fu in enumerate(self.feature_ups):
                feat += (self.depth * half + fu.radius()[axis]) * grids[i]
                best = max(best, feat + half * grids[i + 1] + sum(image[i + 1 :]))
            out.append(1 + 2 * math.ceil(best - 1e-9))
        return tuple(out)

    def min_input_size(self) -> tuple[int, ...]:
        sizes = list(super().min_input_size())
        for m in (*self.feature_ups, *self.image_ups):
            sizes = [max(a, b) for a, b in zip(sizes, m.min_input_size())]
        return tuple(sizes)

    def forward_pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of every level: x2, x4, ... (per-axis level factors multiplied).

        Args:
            x: Low-resolution input ``(B, C, *S)``.

        Returns:
            One ``(B, C, *S_l)`` tensor per level, the last at the full ``scale``.
        """
        self.check_input(x)
        feat = self.act(self.input_conv(x))
        image = x
        outputs = []
        for convs, fup, res, iup in zip(
            self.feature_convs, self.feature_ups, self.residual_convs, self.image_ups
        ):
            feat = self.act(fup(convs(feat)))
            image = iup(image) + res(feat)
            outputs.append(image)
        return outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Up-sample ``(B, C, *S)`` to ``(B, C, *(S * scale))``."""
        return self.forward_pyramid(x)[-1]


# narrow version for the registry-wide tests (tests/models/test_models.py)
_TEST = {"features": 8, "depth": 2}

register_network("lapsrn_2d", LapSRN, dims=2, family="lapsrn", paper=PAPER, test_kwargs=_TEST)
register_network("lapsrn_3d", LapSRN, dims=3, family="lapsrn", paper=PAPER, test_kwargs=_TEST)

__all__ = ["LapSRN", "pyramid_levels"]
