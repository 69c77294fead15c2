"""The registered discriminators: VGG-style (mDCSRN critic, SRGAN, ESRGAN) and PatchGAN.

References:

* mDCSRN-GAN critic: Chen et al., "Efficient and accurate MRI super-resolution using a
  generative adversarial network and 3D multi-level densely connected network",
  MICCAI 2018 (arXiv:1803.01417), trained as a WGAN-GP critic (Gulrajani et al.,
  "Improved training of Wasserstein GANs", NeurIPS 2017).
* SRGAN: Ledig et al., "Photo-realistic single image super-resolution using a
  generative adversarial network", CVPR 2017 (arXiv:1609.04802).
* ESRGAN: Wang et al., "ESRGAN: Enhanced super-resolution generative adversarial
  networks", ECCV Workshops 2018 (arXiv:1809.00219); relativistic average GAN of
  Jolicoeur-Martineau, "The relativistic discriminator", ICLR 2019.
* PatchGAN: Isola et al., "Image-to-image translation with conditional adversarial
  networks", CVPR 2017 (arXiv:1611.07004).

Decisions (where we had to choose):

* The VGG-style discriminators are stages of ``conv 3 (stride 1) -> norm -> LeakyReLU
  (0.2) -> conv k (stride 2) -> norm -> LeakyReLU``; stage ``i`` has
  ``min(features * 2^i, max_features)`` channels; the very first convolution has no
  normalisation (as in SRGAN). The papers flatten a fixed-size (96^2 / 128^2) map into
  a dense layer; we average-pool globally first, so any patch size (and 3D, where the
  flattened map would need tens of millions of dense weights) works. Then
  ``dense(hidden) -> LeakyReLU -> dense(1)``.
* ``mdcsrn_critic``: 4 stages (64..512), stride-2 kernels 3, layer normalisation (no
  batch norm, as the paper requires for WGAN-GP), dense 1024.
* ``srgan``: 4 stages (64..512), kernels 3, batch normalisation, dense 1024.
* ``esrgan``: 5 stages (64, 128, 256, 512, 512), stride-2 kernels 4, batch
  normalisation, dense 100. It outputs the raw critic value ``C(x)``; the relativistic
  average transform ``C(x_r) - E[C(x_f)]`` is part of the loss
  (:class:`volsr.losses.adversarial.AdversarialLoss` with ``relativistic``).
* ``patch``: ``conv 4 stride 2`` x ``num_down`` (features doubling, capped at 8x),
  then ``conv 3`` (stride 1) and a ``conv 3`` to one score per patch. The paper's
  stride-1 layers use kernel 4 (shrinking the map by one voxel each); we use 3 so the
  map size is exactly ``S / 2^num_down``. Instance normalisation by default (batches of
  3D patches are small), no normalisation on the first layer.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from volsr.models.discriminators import DISCRIMINATORS
from volsr.models.discriminators._base import Discriminator, disc_norm
from volsr.models.networks._layers import conv_nd


def _pos_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


class VGGDiscriminator(Discriminator):
    """VGG-style whole-patch discriminator (SRGAN / ESRGAN / mDCSRN-GAN critic layout).

    Shapes: ``(B, C, *S)`` -> scores ``(B, 1)``; features: one ``(B, c_i, *S_i)`` map per
    stage (``S_i = S / 2^(i+1)``, rounded as the strided convolutions do).

    Args:
        spatial_dims: 2 or 3.
        in_channels: Image channels.
        features: Channels of the first stage (64 in the papers).
        num_stages: Stages; each halves the spatial size.
        max_features: Channel cap.
        down_kernel: Kernel of the stride-2 convolutions (3: SRGAN, 4: ESRGAN).
        norm: ``"batch"``, ``"layer"``, ``"instance"`` or ``"none"``.
        hidden: Width of the dense layer before the score.
        negative_slope: LeakyReLU slope.
    """

    def __init__(self, *, spatial_dims: int, in_channels: int = 1, features: int = 64,
                 num_stages: int = 4, max_features: int = 512, down_kernel: int = 3,
                 norm: str = "batch", hidden: int = 1024, negative_slope: float = 0.2) -> None:
        super().__init__(spatial_dims=spatial_dims, in_channels=in_channels)
        self.features = _pos_int(features, "features")
        self.num_stages = _pos_int(num_stages, "num_stages")
        self.max_features = _pos_int(max_features, "max_features")
        self.down_kernel = _pos_int(down_kernel, "down_kernel")
        self.hidden = _pos_int(hidden, "hidden")
        self.norm = str(norm).lower()
        self.negative_slope = float(negative_slope)
        d = self.spatial_dims
        pad = (self.down_kernel - 1) // 2 if self.down_kernel % 2 else self.down_kernel // 2 - 1
        self.stages = nn.ModuleList()
        c_in = in_channels
        for i in range(self.num_stages):
            c = min(self.features * 2 ** i, self.max_features)
            bias = self.norm in ("none", "layer")
            self.stages.append(nn.Sequential(
                conv_nd(d, c_in, c, 3, bias=bias or i == 0),
                nn.Identity() if i == 0 else disc_norm(self.norm, d, c),
                nn.LeakyReLU(self.negative_slope),
                conv_nd(d, c, c, self.down_kernel, stride=2, padding=pad, bias=bias),
                disc_norm(self.norm, d, c),
                nn.LeakyReLU(self.negative_slope),
            ))
            c_in = c
        self.head = nn.Sequential(nn.Linear(c_in, self.hidden),
                                  nn.LeakyReLU(self.negative_slope), nn.Linear(self.hidden, 1))

    def features_and_scores(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        feats: list[torch.Tensor] = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        pooled = x.flatten(2).mean(dim=2)
        return feats, self.head(pooled)

    def min_input_size(self) -> int:
        return 1 if self.down_kernel <= 3 else 2 ** self.num_stages

    def _extra_config(self) -> dict[str, Any]:
        return {"features": self.features, "num_stages": self.num_stages,
                "max_features": self.max_features, "down_kernel": self.down_kernel,
                "norm": self.norm, "hidden": self.hidden,
                "negative_slope": self.negative_slope}


class PatchDiscriminator(Discriminator):
    """PatchGAN: one score per (overlapping) receptive-field patch.

    Shapes: ``(B, C, *S)`` -> scores ``(B, 1, *S')`` with ``S' = S / 2^num_down`` (floor
    per strided layer); features: the activation after every layer but the last.

    Args:
        spatial_dims: 2 or 3.
        in_channels: Image channels.
        features: Channels of the first layer (64 in the paper).
        num_down: Stride-2 layers (3 in the 70x70 PatchGAN).
        norm: ``"instance"``, ``"batch"``, ``"layer"`` or ``"none"``.
        negative_slope: LeakyReLU slope.
    """

    def __init__(self, *, spatial_dims: int, in_channels: int = 1, features: int = 64,
                 num_down: int = 3, norm: str = "instance", negative_slope: float = 0.2) -> None:
        super().__init__(spatial_dims=spatial_dims, in_channels=in_channels)
        self.features = _pos_int(features, "features")
        self.num_down = _pos_int(num_down, "num_down")
        self.norm = str(norm).lower()
        self.negative_slope = float(negative_slope)
        d = self.spatial_dims
        self.blocks = nn.ModuleList()
        c_in = in_channels
        for i in range(self.num_down + 1):
            c = self.features * 2 ** min(i, 3)
            stride = 2 if i < self.num_down else 1
            k = 4 if stride == 2 else 3
            self.blocks.append(nn.Sequential(
                conv_nd(d, c_in, c, k, stride=stride, padding=1,
                        bias=i == 0 or self.norm in ("none", "layer")),
                nn.Identity() if i == 0 else disc_norm(self.norm, d, c),
                nn.LeakyReLU(self.negative_slope),
            ))
            c_in = c
        self.out = conv_nd(d, c_in, 1, 3, padding=1)

    def features_and_scores(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        feats: list[torch.Tensor] = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats, self.out(x)

    def min_input_size(self) -> int:
        return 2 ** self.num_down

    def _extra_config(self) -> dict[str, Any]:
        return {"features": self.features, "num_down": self.num_down, "norm": self.norm,
                "negative_slope": self.negative_slope}



@DISCRIMINATORS.register("mdcsrn_critic", paper="Chen et al., MICCAI 2018 (mDCSRN-GAN)",
                         default_loss="wgan_gp")
def mdcsrn_critic(**kwargs: Any) -> VGGDiscriminator:
    """The mDCSRN-GAN WGAN-GP critic: 4 stages, layer norm (no batch norm), dense 1024."""
    return VGGDiscriminator(**{"num_stages": 4, "down_kernel": 3, "norm": "layer",
                               "hidden": 1024, **kwargs})


@DISCRIMINATORS.register("srgan", paper="Ledig et al., CVPR 2017 (SRGAN)",
                         default_loss="vanilla")
def srgan(**kwargs: Any) -> VGGDiscriminator:
    """The SRGAN discriminator: 4 stages (64..512), batch norm, dense 1024."""
    return VGGDiscriminator(**{"num_stages": 4, "down_kernel": 3, "norm": "batch",
                               "hidden": 1024, **kwargs})


@DISCRIMINATORS.register("esrgan", paper="Wang et al., ECCV-W 2018 (ESRGAN, VGG-128 style)",
                         default_loss="relativistic", tags={"relativistic"})
def esrgan(**kwargs: Any) -> VGGDiscriminator:
    """ESRGAN's discriminator (5 stages, stride-2 kernels 4, batch norm, dense 100), the
    critic ``C`` of the relativistic average loss."""
    return VGGDiscriminator(**{"num_stages": 5, "down_kernel": 4, "norm": "batch",
                               "hidden": 100, **kwargs})


DISCRIMINATORS.register("patch", paper="Isola et al., CVPR 2017 (PatchGAN)",
                        default_loss="lsgan")(PatchDiscriminator)

__all__ = ["PatchDiscriminator", "VGGDiscriminator"]
