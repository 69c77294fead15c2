"""volsr's built-in feature network for the perceptual/texture losses: no download, no file.

:class:`GradientPyramidFeatures` is a fixed (not learned) multi-scale filter bank: a
Gaussian pyramid of the image (binomial 5-tap blur, then 2x decimation, as in Burt &
Adelson, "The Laplacian pyramid as a compact image code", IEEE Trans. Commun. 1983) and,
at every level, the horizontal and vertical derivatives (Sobel) and the Laplacian
(5-point). The feature loss on it compares edges and fine structure at several scales,
like the Laplacian-pyramid loss "Lap1" of Bojanowski et al. ("Optimizing the latent space
of generative networks", ICML 2018) and the LoG-based HFEN (Ravishankar & Bresler, IEEE
TMI 2011), without the intensity itself (the pixel term of the recipe keeps that).

It is what ``perceptual`` / ``texture`` use when no VGG weights file is given (the
"gradient-pyramid" features); the choice was measured against L1-only on the natural-image
protocol, see docs/images2d.md ("Perceptual loss without a download").

Shapes: ``(N, 1, H, W)`` in [0, 1] -> ``{"level1": (N, 3, H, W), "level2": (N, 3, H/2,
W/2), ...}`` (channels: d/dx, d/dy, Laplacian). Levels stop early when a side would drop
below 4 pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from volsr.errors import ConfigError

#: Name in logs and run records of the built-in features.
BUILTIN_NAME = "volsr gradient-pyramid features (fixed Sobel + Laplacian filters, 4 scales)"
DEFAULT_LEVELS = 4


def _kernels() -> tuple[torch.Tensor, torch.Tensor]:
    """The 5x5 binomial blur ``(1, 1, 5, 5)`` and the filter bank ``(3, 1, 3, 3)``."""
    b = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0])
    blur = (b[:, None] * b[None, :]) / 256.0
    sobel_x = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8.0
    lap = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
    bank = torch.stack([sobel_x, sobel_x.T.contiguous(), lap])[:, None]
    return blur[None, None], bank


class GradientPyramidFeatures(nn.Module):
    """Fixed multi-scale gradient/Laplacian features (see the module docs).

    Args:
        levels: Number of pyramid levels (1 = full resolution only).
        layers: Which levels to return, ``"level1"`` ... (default all).

    Shapes: ``(N, 1, H, W)`` -> ``{"level<k>": (N, 3, H / 2^(k-1), W / 2^(k-1))}``.
    """

    def __init__(self, levels: int = DEFAULT_LEVELS, layers: Sequence[str] | None = None
                 ) -> None:
        super().__init__()
        if int(levels) < 1:
            raise ConfigError(f"the gradient-pyramid features need levels >= 1, got {levels}")
        self.levels = int(levels)
        names = [f"level{k}" for k in range(1, self.levels + 1)]
        chosen = list(layers) if layers else names
        bad = [n for n in chosen if n not in names]
        if bad:
            raise ConfigError(f"unknown gradient-pyramid layer(s) {bad}; use {names}")
        self.names = chosen
        blur, bank = _kernels()
        self.register_buffer("blur", blur, persistent=False)
        self.register_buffer("bank", bank, persistent=False)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"expected (N, 1, H, W), got {tuple(x.shape)}")
        out: dict[str, torch.Tensor] = {}
        for k in range(1, self.levels + 1):
            name = f"level{k}"
            if name in self.names:
                out[name] = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), self.bank)
            if k == self.levels or min(x.shape[-2:]) < 8:
                break
            x = F.conv2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), self.blur)[..., ::2, ::2]
        return out


__all__ = ["BUILTIN_NAME", "DEFAULT_LEVELS", "GradientPyramidFeatures"]
