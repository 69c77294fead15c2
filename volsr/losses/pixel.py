"""Pixel-wise and structural training losses, registered in :data:`volsr.losses.LOSSES`.

Every loss takes ``(pred, target)`` tensors of shape ``(B, C, *spatial)`` (2 or 3
spatial dims) on normalised intensities and returns a scalar tensor:

* ``l1``: mean absolute error.
* ``l2`` / ``mse``: mean squared error.
* ``charbonnier``: ``mean(sqrt((pred - target)^2 + eps^2))`` with ``eps = 1e-3``, a
  differentiable L1 (Charbonnier et al., ICIP 1994; used for SR by Lai et al., LapSRN,
  CVPR 2017). Equal inputs give ``eps``, not 0.
* ``ssim``: ``1 - SSIM`` with a Gaussian window (sigma 1.5, truncated at 3.5 sigma,
  valid convolution), ``K1 = 0.01``, ``K2 = 0.03``, ``data_range = 1.0`` (Wang et al.,
  IEEE TIP 2004), in 2D or 3D depending on the input.
* ``gradient``: gradient difference loss (Mathieu et al., ICLR 2016).
* ``hfen``: L1 (or L2) of the Laplacian-of-Gaussian difference (after HFEN, Ravishankar
  & Bresler, IEEE TMI 2011).

Example:
    >>> import torch
    >>> float(L1Loss()(torch.ones(1, 1, 4, 4), torch.zeros(1, 1, 4, 4)))
    1.0
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from volsr.errors import ConfigError
from volsr.losses.base import LOSSES, check_pair


@LOSSES.register("l1")
class L1Loss(nn.Module):
    """Mean absolute error."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_pair(pred, target)
        return (pred - target).abs().mean()


@LOSSES.register("l2")
class L2Loss(nn.Module):
    """Mean squared error."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_pair(pred, target)
        return (pred - target).square().mean()


LOSSES.register("mse")(L2Loss)


@LOSSES.register("charbonnier")
class CharbonnierLoss(nn.Module):
    """``mean(sqrt(d^2 + eps^2))``: smooth near 0, L1-like for large errors.

    Args:
        eps: Smoothing constant (the loss of a perfect prediction), > 0.
    """

    def __init__(self, eps: float = 1e-3) -> None:
        super().__init__()
        if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps > 0):
            raise ConfigError(f"charbonnier eps must be > 0, got {eps!r}")
        self.eps = float(eps)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_pair(pred, target)
        d = pred - target
        return torch.sqrt(d * d + self.eps * self.eps).mean()


@LOSSES.register("ssim")
class SSIMLoss(nn.Module):
    """``1 - mean SSIM`` with a separable Gaussian window, for 2D or 3D tensors.

    Reference: Wang et al., "Image quality assessment: from error visibility to
    structural similarity", IEEE TIP 13(4), 2004.

    The window is applied as a valid (unpadded) separable convolution per channel, so
    only fully covered positions count; on small patches the window radius shrinks to
    fit (at least 1). Input ``(B, C, X, Y[, Z])``; output a scalar.

    Args:
        sigma: Gaussian standard deviation in voxels.
        truncate: Window radius in standard deviations (radius ``int(truncate*sigma+0.5)``).
        data_range: Intensity range of the (normalised) data, for the stabilising
            constants ``(K1 R)^2`` and ``(K2 R)^2``.
        k1: SSIM constant K1.
        k2: SSIM constant K2.
    """

    def __init__(self, sigma: float = 1.5, truncate: float = 3.5, data_range: float = 1.0,
                 k1: float = 0.01, k2: float = 0.03) -> None:
        super().__init__()
        for name, value in (("sigma", sigma), ("truncate", truncate),
                            ("data_range", data_range), ("k1", k1), ("k2", k2)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(f"ssim {name} must be a positive number, got {value!r}")
        self.sigma = float(sigma)
        self.radius = max(1, int(truncate * sigma + 0.5))
        self.c1 = (k1 * data_range) ** 2
        self.c2 = (k2 * data_range) ** 2

    def _kernel(self, radius: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        x = torch.arange(-radius, radius + 1, dtype=torch.float64)
        g = torch.exp(-0.5 * (x / self.sigma) ** 2)
        return (g / g.sum()).to(dtype=dtype, device=device)

    def _blur(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        dims = x.ndim - 2
        conv = F.conv3d if dims == 3 else F.conv2d
        channels = x.shape[1]
        for axis in range(dims):
            shape = [1, 1] + [1] * dims
            shape[2 + axis] = g.numel()
            weight = g.reshape(shape).expand(channels, *shape[1:])
            x = conv(x, weight, groups=channels)
        return x

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_pair(pred, target)
        if pred.ndim not in (4, 5):
            raise ValueError(f"ssim loss needs (B, C, X, Y) or (B, C, X, Y, Z) tensors, got "
                             f"shape {tuple(pred.shape)}")
        radius = min(self.radius, (min(pred.shape[2:]) - 1) // 2)
        if radius < 1:
            raise ValueError(f"ssim loss needs spatial sizes >= 3, got {tuple(pred.shape[2:])}")
        pred, target = pred.float(), target.float()
        g = self._kernel(radius, pred.dtype, pred.device)
        mu_x, mu_y = self._blur(pred, g), self._blur(target, g)
        sxx = self._blur(pred * pred, g) - mu_x * mu_x
        syy = self._blur(target * target, g) - mu_y * mu_y
        sxy = self._blur(pred * target, g) - mu_x * mu_y
        num = (2 * mu_x * mu_y + self.c1) * (2 * sxy + self.c2)
        den = (mu_x * mu_x + mu_y * mu_y + self.c1) * (sxx + syy + self.c2)
        return 1.0 - (num / den).mean()


@LOSSES.register("gradient")
class GradientLoss(nn.Module):
    """Gradient difference loss: mean ``|D_a pred - D_a target|`` over axes ``a``.

    Reference: Mathieu et al., "Deep multi-scale video prediction beyond mean square
    error", ICLR 2016. ``D_a`` is the forward finite difference along spatial axis ``a``
    (2 or 3 axes); the per-axis means are averaged. Input ``(B, C, *S)``; output a
    scalar. Penalises blurred (too small) as well as spurious edges.
    """

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_pair(pred, target)
        d = pred - target
        terms = [torch.diff(d, dim=axis).abs().mean() for axis in range(2, d.ndim)
                 if d.shape[axis] > 1]
        if not terms:
            raise ValueError(f"gradient loss needs a spatial size > 1, got {tuple(d.shape)}")
        return torch.stack(terms).mean()


@LOSSES.register("hfen")
class HFENLoss(nn.Module):
    """High-frequency error loss: mean ``|LoG(pred) - LoG(target)|`` (or squared).

    After the HFEN metric of Ravishankar & Bresler, "MR image reconstruction from
    highly undersampled k-space data by dictionary learning", IEEE TMI 30(5), 2011
    (:func:`volsr.metrics.core.hfen` is the normalised metric; this is the
    un-normalised, differentiable training term). The Laplacian of Gaussian is the sum
    over axes of separable second-derivative-of-Gaussian filters, truncated at
    ``truncate`` sigma, made zero-sum (blind to constants) and applied as a valid
    (unpadded) convolution. Input ``(B, C, *S)`` with 2 or 3 spatial dims.

    Args:
        sigma: Gaussian sigma in voxels (1.5 as in the metric).
        truncate: Kernel radius in sigmas.
        norm: ``"l1"`` (mean absolute) or ``"l2"`` (mean squared) of the difference.
    """

    def __init__(self, sigma: float = 1.5, truncate: float = 3.0, norm: str = "l1") -> None:
        super().__init__()
        for name, value in (("sigma", sigma), ("truncate", truncate)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(f"hfen {name} must be a positive number, got {value!r}")
        if norm not in ("l1", "l2"):
            raise ConfigError(f"hfen norm must be 'l1' or 'l2', got {norm!r}")
        self.sigma, self.norm = float(sigma), norm
        self.radius = max(1, int(truncate * sigma + 0.5))

    def _kernels(self, radius: int, dtype: torch.dtype,
                 device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.arange(-radius, radius + 1, dtype=torch.float64)
        g = torch.exp(-0.5 * (x / self.sigma) ** 2)
        g = g / g.sum()
        g2 = g * (x * x / self.sigma ** 4 - 1.0 / self.sigma ** 2)
        g2 = g2 - g2.mean()  # zero-sum: a constant gives exactly 0
        return g.to(dtype=dtype, device=device), g2.to(dtype=dtype, device=device)

    def log_filter(self, x: torch.Tensor) -> torch.Tensor:
        """LoG of ``x`` ``(B, C, *S)`` -> ``(B, C, *(S - 2r))`` (valid convolution)."""
        dims = x.ndim - 2
        if dims not in (2, 3):
            raise ValueError(f"hfen loss needs 2 or 3 spatial dims, got shape {tuple(x.shape)}")
        radius = min(self.radius, (min(x.shape[2:]) - 1) // 2)
        if radius < 1:
            raise ValueError(f"hfen loss needs spatial sizes >= 3, got {tuple(x.shape[2:])}")
        g, g2 = self._kernels(radius, x.dtype, x.device)
        conv = F.conv3d if dims == 3 else F.conv2d
        c = x.shape[1]
        total: torch.Tensor | None = None
        for second in range(dims):
            y = x
            for axis in range(dims):
                k = g2 if axis == second else g
                shape = [1, 1] + [1] * dims
                shape[2 + axis] = k.numel()
                y = conv(y, k.reshape(shape).expand(c, *shape[1:]), groups=c)
            total = y if total is None else total + y
        assert total is not None
        return total

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_pair(pred, target)
        d = self.log_filter(pred.float() - target.float())  # LoG is linear
        return d.abs().mean() if self.norm == "l1" else d.square().mean()


__all__ = ["CharbonnierLoss", "GradientLoss", "HFENLoss", "L1Loss", "L2Loss", "SSIMLoss"]
