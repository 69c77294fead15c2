"""Gaussian blur followed by downsampling on the grid convention's LR grid.

The benchmark-style degradation used by many volumetric SR papers (e.g. the MTVNet
benchmark): an isotropic Gaussian PSF of FWHM ``factor`` HR voxels, sampled at the LR
voxel centres. Implemented separably with :func:`volsr.resample.profile_matrix`
(``profile="gaussian"``): each LR value integrates the Gaussian over the HR voxel boxes.

Reference:
    A. L. Høeg et al., "MTVNet: Mapping using Transformers for Volumes -- Network for
    Super-Resolution with Long-Range Interactions", arXiv:2412.03379, 2024 (Gaussian
    blur + downsampling protocol for volumetric SR benchmarks).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from volsr.degrade.base import (
    Degradation,
    RandomDegradation,
    check_axis,
    draw_uniform,
    per_axis,
    register_degradation,
)
from volsr.errors import ConfigError
from volsr.resample import apply_along_axis, profile_matrix

__all__ = ["GaussianBlurDownsample", "RandomGaussianBlurDownsample"]


@register_degradation("gaussian_blur_downsample", tags=("deterministic", "grid"))
class GaussianBlurDownsample(Degradation):
    """Gaussian blur (FWHM in HR voxels) + downsampling by ``factor`` per axis.

    Args:
        factor: downsampling factor, one value or one per voxel axis (``>= 1``).
        fwhm: Gaussian FWHM in HR voxels, one or three values; default ``factor`` on
            downsampled axes and 0 (no blur) on axes with factor 1. An explicit ``fwhm``
            blurs factor-1 axes too, except where it is 0.
    """

    name = "gaussian_blur_downsample"

    def __init__(self, factor: float | Sequence[float] = 2.0,
                 fwhm: float | Sequence[float] | None = None) -> None:
        self.factor = per_axis(factor, "gaussian_blur_downsample factor")
        if np.any(self.factor < 1.0):
            raise ConfigError(f"downsampling factor must be >= 1, got {self.factor.tolist()}")
        if fwhm is None:
            self.fwhm = np.where(self.factor == 1.0, 0.0, self.factor)
        else:
            f = np.atleast_1d(np.asarray(fwhm, dtype=np.float64))
            f = np.repeat(f, 3) if f.size == 1 else f
            if f.shape != (3,) or not np.all(np.isfinite(f)) or np.any(f < 0):
                raise ConfigError(f"fwhm needs 1 or 3 non-negative numbers, got {fwhm!r}")
            bad = [i for i in range(3) if f[i] == 0 and self.factor[i] != 1]
            if bad:
                raise ConfigError(f"fwhm must be > 0 on downsampled axes {bad}")
            self.fwhm = f

    def _params(self) -> dict[str, Any]:
        return {"factor": self.factor, "fwhm": self.fwhm}

    def output_scale(self, spatial_shape: Sequence[int]) -> np.ndarray:
        return 1.0 / self.factor

    def _apply(self, data: np.ndarray) -> np.ndarray:
        out = data
        # Downsample the most reduced axes first (smaller intermediates).
        for i in sorted(range(3), key=lambda a: -self.factor[a]):
            if self.fwhm[i] == 0:  # only allowed where factor == 1
                continue
            m = profile_matrix(data.shape[1 + i], 1.0 / self.factor[i], profile="gaussian",
                               width=float(self.fwhm[i]))
            out = apply_along_axis(out, m, 1 + i)
        return out if out is not data else data.copy()


@register_degradation("random_gaussian_blur_downsample", tags=("random", "grid"))
class RandomGaussianBlurDownsample(RandomDegradation):
    """Draw a :class:`GaussianBlurDownsample`.

    Args:
        factor: a number or ``(low, high)`` range for the factor on ``axes``.
        axes: downsampled axes (others keep factor 1).
        fwhm_ratio: FWHM / factor, a number or a range.
        isotropic: one draw for all ``axes`` (else one per axis).
        seed: seed of the internal Generator.
    """

    name = "random_gaussian_blur_downsample"

    def __init__(self, factor: float | Sequence[float] = (2.0, 4.0),
                 axes: Sequence[int] = (0, 1, 2),
                 fwhm_ratio: float | Sequence[float] = 1.0, isotropic: bool = True,
                 *, seed: int | None = None) -> None:
        super().__init__(seed=seed)
        self.factor, self.fwhm_ratio, self.isotropic = factor, fwhm_ratio, bool(isotropic)
        self.axes = [check_axis(a) for a in np.atleast_1d(np.asarray(axes)).tolist()]

    def _params(self) -> dict[str, Any]:
        return {"factor": self.factor, "axes": self.axes, "fwhm_ratio": self.fwhm_ratio,
                "isotropic": self.isotropic}

    def _sample(self, rng: np.random.Generator) -> GaussianBlurDownsample:
        factor, fwhm = np.ones(3), np.zeros(3)
        f, r = draw_uniform(rng, self.factor, "factor"), draw_uniform(rng, self.fwhm_ratio,
                                                                      "fwhm_ratio")
        for a in self.axes:
            if not self.isotropic:
                f = draw_uniform(rng, self.factor, "factor")
                r = draw_uniform(rng, self.fwhm_ratio, "fwhm_ratio")
            factor[a], fwhm[a] = f, f * r
        return GaussianBlurDownsample(factor=factor, fwhm=fwhm)
