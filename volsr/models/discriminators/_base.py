"""Base class and building blocks of the discriminators."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from volsr.models.networks._checks import check_spatial_dims
from volsr.models.networks._layers import norm_nd

DISC_NORMS = ("none", "batch", "instance", "layer")


def disc_norm(name: str, spatial_dims: int, channels: int) -> nn.Module:
    """A normalisation for discriminator features.

    ``"layer"`` is layer normalisation over channels and space per sample
    (``GroupNorm(1, C)``): it never mixes samples, so the per-sample gradient penalty of
    WGAN-GP stays valid (Gulrajani et al., NeurIPS 2017, recommend it over batch norm).
    ``"batch"``, ``"instance"`` and ``"none"`` as in :func:`~volsr.models.networks._layers.norm_nd`.
    """
    key = str(name).lower()
    if key not in DISC_NORMS:
        raise ValueError(f"norm must be one of {DISC_NORMS}, got {name!r}")
    if key == "layer":
        return nn.GroupNorm(1, channels)
    return norm_nd(key, spatial_dims, channels)


class Discriminator(nn.Module):
    """Base of the discriminators: ``forward(x) -> scores``, optionally with features.

    Subclasses implement :meth:`features_and_scores` and :meth:`_extra_config`.

    Args:
        spatial_dims: 2 or 3 (1 works too).
        in_channels: Channels of the images judged.
    """

    def __init__(self, *, spatial_dims: int, in_channels: int = 1) -> None:
        super().__init__()
        self.spatial_dims = check_spatial_dims(spatial_dims)
        if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f"in_channels must be a positive integer, got {in_channels!r}")
        self.in_channels = in_channels

    def features_and_scores(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Intermediate activations (one per block) and the raw scores of ``x``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, *, return_features: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """Scores of ``x`` ``(B, C, *S)``: ``(B, 1)`` or ``(B, 1, *S')``; logits, not
        probabilities. With ``return_features`` also the list of block activations."""
        if x.ndim != self.spatial_dims + 2 or x.shape[1] != self.in_channels:
            raise ValueError(f"{type(self).__name__} expects (B, {self.in_channels}, "
                             f"{self.spatial_dims} spatial) tensors, got {tuple(x.shape)}")
        small = self.min_input_size()
        if min(x.shape[2:]) < small:
            raise ValueError(f"{type(self).__name__} needs spatial sizes >= {small}, got "
                             f"{tuple(x.shape[2:])}")
        feats, scores = self.features_and_scores(x)
        return (scores, feats) if return_features else scores

    def _extra_config(self) -> dict[str, Any]:
        return {}

    def config(self) -> dict[str, Any]:
        """JSON-serialisable constructor kwargs (rebuild with ``create_discriminator``)."""
        return {"spatial_dims": self.spatial_dims, "in_channels": self.in_channels,
                **self._extra_config()}

    def min_input_size(self) -> int:
        """Smallest spatial size per axis the discriminator accepts."""
        return 1


__all__ = ["DISC_NORMS", "Discriminator", "disc_norm"]
