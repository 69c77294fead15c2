"""DCSRN and the mDCSRN generator: densely connected 3D super-resolution networks.

* DCSRN: Chen et al., "Brain MRI super resolution using 3D deep densely connected
  neural networks", ISBI 2018 (arXiv:1801.02728).
* mDCSRN: Chen et al., "Efficient and accurate MRI super-resolution using a generative
  adversarial network and 3D multi-level densely connected network", MICCAI 2018
  (arXiv:1803.01417); journal version "MRI super-resolution with GAN and 3D multi-level
  DenseNet: smaller, faster, and better", arXiv:2003.01217.

Both refine an input already interpolated to the output grid (``upsampling="pre"``).

Decisions (paper details used, and where we had to choose):

* A dense *unit* is pre-activation DenseNet style: ``[BatchNorm] -> ELU -> 3^d conv``
  with ``k`` (growth rate) output channels; unit ``j`` sees the concatenation of the
  block input and the outputs of units ``1..j-1``; a block outputs the concatenation
  of its input and all unit outputs (``c_in + units * k`` channels).
* DCSRN: first conv ``3^d`` to ``2k`` channels (k = 24), one dense block of 4 units
  with batch normalisation (as in the ISBI paper), then a ``1^d`` reconstruction conv
  to ``C_out``.
* mDCSRN ("b4u4"): first conv to ``2k`` (k = 16), 4 dense blocks of 4 units; before
  every block but the first a ``1^d`` "compressor" maps the concatenation of the
  outputs of *all* previous blocks back to ``2k`` channels; the ``1^d`` reconstruction
  conv sees the outputs of all blocks (multi-level skip connections). Batch
  normalisation is removed (the MICCAI paper drops it from the generator, which also
  keeps the WGAN-GP gradient penalty per-sample and avoids BN artefacts in SR), ELU.
  The generator is an ordinary :class:`~volsr.models.networks._base.SRNet`, so GAN
  training only adds a discriminator and losses.
* Neither paper adds the interpolated input to the output; ``residual`` is therefore
  off by default (turn it on to learn only the high-frequency correction).
* Convolutions carry biases; padding keeps the size (``"replicate"`` by default, the
  papers use zero "same" padding, selectable with ``padding_mode="zeros"``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from volsr.models.networks._base import ScaleArg, SRNet, register_network
from volsr.models.networks._checks import check_odd, check_positive_int
from volsr.models.networks._dense import DenseConcat
from volsr.models.networks._layers import (
    PADDING_MODES,
    canonical_activation,
    canonical_norm,
    conv_nd,
    norm_nd,
)
from volsr.models.networks._layers import activation as make_activation

PAPER_DCSRN = (
    "Chen et al., Brain MRI super resolution using 3D deep densely connected neural "
    "networks, ISBI 2018"
)
PAPER_MDCSRN = (
    "Chen et al., Efficient and accurate MRI super-resolution using a generative "
    "adversarial network and 3D multi-level densely connected network, MICCAI 2018"
)


class DenseBlock(nn.Module):
    """Densely connected units ``[norm] -> act -> conv(k)``; output concatenates all.

    Shapes: ``(B, in_channels, *S)`` -> ``(B, in_channels + num_units * growth_rate, *S)``.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        growth_rate: int,
        num_units: int,
        *,
        kernel_size: int = 3,
        norm: str | None = None,
        activation: str = "elu",
        padding_mode: str = "replicate",
    ) -> None:
        super().__init__()
        units = []
        c = in_channels
        for _ in range(num_units):
            units.append(
                nn.Sequential(
                    norm_nd(norm, spatial_dims, c),
                    make_activation(activation),
                    conv_nd(spatial_dims, c, growth_rate, kernel_size, padding_mode=padding_mode),
                )
            )
            c += growth_rate
        self.units = DenseConcat(units)
        self.out_channels = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.units(x)


class _DenseSRNet(SRNet):
    """Shared option handling of DCSRN and mDCSRN."""

    upsampling = "pre"

    def __init__(
        self,
        *,
        spatial_dims: int,
        in_channels: int,
        out_channels: int | None,
        scale: ScaleArg,
        growth_rate: int,
        num_units: int,
        kernel_size: int,
        norm: str | None,
        activation: str,
        padding_mode: str,
        residual: bool,
    ) -> None:
        super().__init__(
            spatial_dims=spatial_dims,
            in_channels=in_channels,
            out_channels=out_channels,
            scale=scale,
            residual=residual,
        )
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
        self.growth_rate = check_positive_int(growth_rate, "growth_rate")
        self.num_units = check_positive_int(num_units, "num_units")
        self.kernel_size = check_odd(kernel_size, "kernel_size")
        self.norm = canonical_norm(norm)
        self.activation = canonical_activation(activation)
        self.padding_mode = padding_mode

    def _dense_block(self, in_channels: int) -> DenseBlock:
        return DenseBlock(
            self.spatial_dims,
            in_channels,
            self.growth_rate,
            self.num_units,
            kernel_size=self.kernel_size,
            norm=self.norm,
            activation=self.activation,
            padding_mode=self.padding_mode,
        )

    def _extra_config(self) -> dict[str, Any]:
        return {
            "growth_rate": self.growth_rate,
            "num_units": self.num_units,
            "kernel_size": self.kernel_size,
            "norm": self.norm,
            "activation": self.activation,
            "padding_mode": self.padding_mode,
        }


class DCSRN(_DenseSRNet):
    """DCSRN: first conv, one dense block, 1x1x1 reconstruction.

    Reference: Chen et al., "Brain MRI super resolution using 3D deep densely connected
    neural networks", ISBI 2018.

    ``conv 3^d (2k) -> DenseBlock(4 units of BN-ELU-conv 3^d, growth k) -> conv 1^d``.
    Input: the interpolated volume ``(B, C_in, X, Y, Z)`` (``"pre"`` up-sampling, so
    ``scale`` is metadata); output ``(B, C_out, X, Y, Z)``.

    Args:
        spatial_dims: 3 (paper) or 2.
        in_channels: Input channels.
        out_channels: Output channels (default ``in_channels``).
        scale: Up-sampling factor(s) the model is trained for (metadata).
        growth_rate: ``k`` (24 in the paper); the first conv has ``2k`` channels.
        num_units: Units in the dense block (4).
        kernel_size: Kernel of the first conv and of the units (3).
        norm: ``"batch"`` (paper), ``"instance"`` or ``"none"``/``None``.
        activation: ``"elu"`` (paper), ``"relu"``, ``"leaky"``, ...
        padding_mode: ``"replicate"`` (default) or ``"zeros"`` (paper) / ``"reflect"``.
        residual: Add the input to the output (off, as in the paper).

    Example:
        >>> import torch
        >>> net = DCSRN(spatial_dims=3)
        >>> net(torch.zeros(1, 1, 8, 8, 8)).shape
        torch.Size([1, 1, 8, 8, 8])
        >>> net.num_parameters()
        219985
    """

    def __init__(
        self,
        *,
        spatial_dims: int,
        in_channels: int = 1,
        out_channels: int | None = None,
        scale: ScaleArg = 2,
        growth_rate: int = 24,
        num_units: int = 4,
        kernel_size: int = 3,
        norm: str | None = "batch",
        activation: str = "elu",
        padding_mode: str = "replicate",
        residual: bool = False,
    ) -> None:
        super().__init__(
            spatial_dims=spatial_dims,
            in_channels=in_channels,
            out_channels=out_channels,
            scale=scale,
            growth_rate=growth_rate,
            num_units=num_units,
            kernel_size=kernel_size,
            norm=norm,
            activation=activation,
            padding_mode=padding_mode,
            residual=residual,
        )
        first = 2 * self.growth_rate
        self.first = conv_nd(
            self.spatial_dims, self.in_channels, first, self.kernel_size, padding_mode=padding_mode
        )
        self.block = self._dense_block(first)
        self.reconstruct = conv_nd(self.spatial_dims, self.block.out_channels, self.out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Refine a pre-interpolated ``(B, C_in, *S)`` tensor into ``(B, C_out, *S)``."""
        self.check_input(x)
        y = self.reconstruct(self.block(self.first(x)))
        return y + x if self.residual else y


class MDCSRN(_DenseSRNet):
    """mDCSRN generator: multi-level densely connected super-resolution network.

    Reference: Chen et al., "Efficient and accurate MRI super-resolution using a
    generative adversarial network and 3D multi-level densely connected network",
    MICCAI 2018 (generator "b4u4").

    ``conv 3^d (2k) -> [compressor 1^d (2k) -> DenseBlock(u units, growth k)] x b ->
    conv 1^d`` where compressor ``i`` and the reconstruction conv take the concatenated
    outputs of all previous blocks (the first block takes the first conv directly).
    Input ``(B, C_in, X, Y, Z)`` already interpolated (``"pre"``); output
    ``(B, C_out, X, Y, Z)``.

    Args:
        spatial_dims: 3 (paper) or 2.
        in_channels: Input channels.
        out_channels: Output channels (default ``in_channels``).
        scale: Up-sampling factor(s) the model is trained for (metadata).
        growth_rate: ``k`` (16); first conv and compressors output ``2k`` channels.
        num_blocks: Dense blocks ``b`` (4).
        num_units: Units per block ``u`` (4).
        kernel_size: Kernel of the first conv and of the units (3).
        norm: ``"none"`` (paper: no batch normalisation), ``"batch"``, ``"instance"``.
        activation: ``"elu"`` (paper), ...
        padding_mode: ``"replicate"`` (default) or ``"zeros"`` (paper) / ``"reflect"``.
        residual: Add the input to the output (off, as in the paper).

    Example:
        >>> import torch
        >>> net = MDCSRN(spatial_dims=3, num_blocks=2, num_units=2)
        >>> net(torch.zeros(1, 1, 6, 6, 6)).shape
        torch.Size([1, 1, 6, 6, 6])
        >>> MDCSRN(spatial_dims=3).num_parameters()
        407137
    """

    def __init__(
        self,
        *,
        spatial_dims: int,
        in_channels: int = 1,
        out_channels: int | None = None,
        scale: ScaleArg = 2,
        growth_rate: int = 16,
        num_blocks: int = 4,
        num_units: int = 4,
        kernel_size: int = 3,
        norm: str | None = "none",
        activation: str = "elu",
        padding_mode: str = "replicate",
        residual: bool = False,
    ) -> None:
        super().__init__(
            spatial_dims=spatial_dims,
            in_channels=in_channels,
            out_channels=out_channels,
            scale=scale,
            growth_rate=growth_rate,
            num_units=num_units,
            kernel_size=kernel_size,
            norm=norm,
            activation=activation,
            padding_mode=padding_mode,
            residual=residual,
        )
        self.num_blocks = check_positive_int(num_blocks, "num_blocks")
        width = 2 * self.growth_rate
        d = self.spatial_dims
        self.first = conv_nd(
            d, self.in_channels, width, self.kernel_size, padding_mode=padding_mode
        )
        self.blocks = nn.ModuleList()
        self.compressors = nn.ModuleList()
        levels = 0
        for i in range(self.num_blocks):
            if i > 0:
                self.compressors.append(conv_nd(d, levels, width, 1))
            block = self._dense_block(width)
            self.blocks.append(block)
            levels += block.out_channels
        self.reconstruct = conv_nd(d, levels, self.out_channels, 1)

    def _extra_config(self) -> dict[str, Any]:
        return {**super()._extra_config(), "num_blocks": self.num_blocks}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Refine a pre-interpolated ``(B, C_in, *S)`` tensor into ``(B, C_out, *S)``."""
        self.check_input(x)
        outputs = [self.blocks[0](self.first(x))]
        for compress, block in zip(self.compressors, self.blocks[1:]):
            outputs.append(block(compress(torch.cat(outputs, dim=1))))
        y = self.reconstruct(torch.cat(outputs, dim=1))
        return y + x if self.residual else y


# narrow versions for the registry-wide tests (tests/models/test_models.py)
_TEST = {"growth_rate": 4, "num_units": 2}
_TEST_M = {"growth_rate": 4, "num_blocks": 2, "num_units": 2}

register_network("dcsrn_3d", DCSRN, dims=3, family="dcsrn", paper=PAPER_DCSRN, test_kwargs=_TEST)
register_network("dcsrn_2d", DCSRN, dims=2, family="dcsrn", paper=PAPER_DCSRN, test_kwargs=_TEST)
register_network(
    "mdcsrn_3d", MDCSRN, dims=3, family="mdcsrn", paper=PAPER_MDCSRN, test_kwargs=_TEST_M
)

__all__ = ["DCSRN", "MDCSRN", "DenseBlock"]
