"""Discriminators (critics) for adversarial training, dims-generic (2D and 3D).

A registry of its own (:data:`DISCRIMINATORS`), separate from the super-resolution
networks of :mod:`volsr.models`, because a discriminator is never used for inference:
``volsr infer`` and exported ``model/`` folders hold the generator only.

Registered (``create_discriminator(name, spatial_dims=..., in_channels=..., **kwargs)``):

* ``mdcsrn_critic``: the WGAN-GP critic of mDCSRN-GAN (Chen et al., MICCAI 2018), VGG
  style, layer normalisation instead of batch normalisation;
* ``srgan``: the SRGAN discriminator (Ledig et al., CVPR 2017), VGG style with batch
  normalisation;
* ``esrgan``: the VGG-128-style discriminator of ESRGAN (Wang et al., ECCV-W 2018), meant
  for the relativistic average loss (``adversarial.loss: relativistic``);
* ``patch``: a PatchGAN discriminator (Isola et al., CVPR 2017) scoring local patches.

Every discriminator maps ``(B, C, *S)`` to raw scores (logits / critic values) of shape
``(B, 1)`` (whole-patch discriminators) or ``(B, 1, *S')`` (``patch``), and with
``return_features=True`` also returns its intermediate activations for the
feature-matching loss.

Example:
    >>> import torch
    >>> d = create_discriminator("patch", spatial_dims=3, features=4)
    >>> d(torch.zeros(2, 1, 16, 16, 16)).shape
    torch.Size([2, 1, 2, 2, 2])
"""

from __future__ import annotations

from typing import Any

from volsr._registry import Registry
from volsr.errors import ConfigError
from volsr.models.discriminators._base import Discriminator

DISCRIMINATORS: Registry[Discriminator] = Registry("discriminator")


def create_discriminator(name: str, /, **kwargs: Any) -> Discriminator:
    """Build discriminator ``name`` with ``kwargs`` (``spatial_dims``, ``in_channels``, ...).

    Raises:
        ConfigError: unknown name (with a did-you-mean hint) or bad options.
    """
    entry = DISCRIMINATORS.entry(name)
    try:
        return entry.factory(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"discriminator {entry.name!r}: {exc}") from None


def list_discriminators() -> list[str]:
    """Registered discriminator names."""
    return DISCRIMINATORS.names()


# registration happens on import
from volsr.models.discriminators import networks as _networks  # noqa: E402

_ = _networks

__all__ = ["DISCRIMINATORS", "Discriminator", "create_discriminator", "list_discriminators"]
