"""Additive Gaussian and Rician (magnitude) noise, deterministic given a seed.

``sigma`` is absolute, or relative to a reference intensity of the (noise-free) input
(``relative_to``): ``"max"``, ``"p99"`` (99th percentile of all voxels),
``"p99_foreground"`` / ``"mean_foreground"`` (of the voxels above the image mean, a
simple foreground mask). Rician noise is the magnitude of complex Gaussian noise added
to a real image: ``sqrt((x + n1)^2 + n2^2)``, ``n1, n2 ~ N(0, sigma^2)``.

Reference:
    H. Gudbjartsson and S. Patz, "The Rician distribution of noisy MRI data",
    MRM 34(6), 1995.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from volsr.degrade.base import (
    Degradation,
    RandomDegradation,
    draw_choice,
    draw_seed,
    draw_uniform,
    register_degradation,
)
from volsr.errors import ConfigError

__all__ = ["GaussianNoise", "RandomNoise", "RicianNoise", "reference_intensity"]

log = logging.getLogger(__name__)

REFERENCES = (None, "max", "p99", "p99_foreground", "mean_foreground")


def reference_intensity(data: np.ndarray, relative_to: str | None) -> float:
    """The intensity a relative ``sigma`` is multiplied by (1 for ``None``)."""
    if relative_to is None:
        return 1.0
    x = np.asarray(data, dtype=np.float64)
    if relative_to == "max":
        return float(x.max())
    if relative_to == "p99":
        return float(np.percentile(x, 99))
    fg = x[x > x.mean()]
    if fg.size == 0:
        fg = x.ravel()
    if relative_to == "p99_foreground":
        return float(np.percentile(fg, 99))
    if relative_to == "mean_foreground":
        return float(fg.mean())
    raise ConfigError(f"relative_to must be one of {REFERENCES}, got {relative_to!r}")


class _Noise(Degradation):
    def __init__(self, sigma: float, relative_to: str | None = None,
                 seed: int | None = None) -> None:
        self.sigma = float(sigma)
        if not (np.isfinite(self.sigma) and self.sigma >= 0):
            raise ConfigError(f"noise sigma must be >= 0, got {sigma!r}")
        if relative_to is not None and str(relative_to).lower() == "none":
            relative_to = None
        if relative_to not in REFERENCES:
            raise ConfigError(f"relative_to must be one of {REFERENCES}, got {relative_to!r}")
        self.relative_to = relative_to
        # Always record a concrete seed so that the params reproduce the output.
        self.seed = int(np.random.SeedSequence().entropy % (2**31 - 1)) if seed is None \
            else int(seed)

    def _params(self) -> dict[str, Any]:
        return {"sigma": self.sigma, "relative_to": self.relative_to, "seed": self.seed}

    def absolute_sigma(self, data: np.ndarray) -> float:
        """``sigma`` in intensity units for this input."""
        ref = reference_intensity(data, self.relative_to)
        if self.relative_to is not None and ref <= 0:
            log.warning("%s: reference intensity (%s) is %g; adding no noise", self.name,
                        self.relative_to, ref)
            return 0.0
        return self.sigma * ref

    def _normal(self, shape: Sequence[int], count: int) -> list[np.ndarray]:
        rng = np.random.default_rng(self.seed)
        return [rng.standard_normal(tuple(shape), dtype=np.float32) for _ in range(count)]


@register_degradation("gaussian_noise", tags=("deterministic", "noise"))
class GaussianNoise(_Noise):
    """Add ``N(0, sigma^2)`` noise (``sigma`` absolute or relative, see module docstring).

    Args:
        sigma: noise standard deviation (absolute, or a fraction of the reference).
        relative_to: ``None`` or a reference intensity name.
        seed: noise seed (drawn and recorded when not given).
    """

    name = "gaussian_noise"

    def _apply(self, data: np.ndarray) -> np.ndarray:
        s = self.absolute_sigma(data)
        (n,) = self._normal(data.shape, 1)
        return data + np.float32(s) * n


@register_degradation("rician_noise", tags=("deterministic", "noise"))
class RicianNoise(_Noise):
    """Rician noise ``sqrt((x + n1)^2 + n2^2)`` (magnitude MRI noise).

    Args:
        sigma: standard deviation of each of the two Gaussian components.
        relative_to: ``None`` or a reference intensity name.
        seed: noise seed (drawn and recorded when not given).
    """

    name = "rician_noise"

    def _apply(self, data: np.ndarray) -> np.ndarray:
        s = np.float32(self.absolute_sigma(data))
        n1, n2 = self._normal(data.shape, 2)
        n1 *= s
        n1 += data
        n2 *= s
        return np.hypot(n1, n2)


_KINDS = {"gaussian": GaussianNoise, "rician": RicianNoise}


@register_degradation("random_noise", tags=("random", "noise"))
class RandomNoise(RandomDegradation):
    """Draw a :class:`RicianNoise` or :class:`GaussianNoise` with a random sigma and seed.

    Args:
        kind: candidate kinds (``"rician"``, ``"gaussian"``).
        sigma: a number or ``(low, high)`` range.
        relative_to: reference intensity for sigma (``None`` = absolute).
        seed: seed of the internal Generator.
    """

    name = "random_noise"

    def __init__(self, kind: str | Sequence[str] = ("rician", "gaussian"),
                 sigma: float | Sequence[float] = (0.0, 0.03),
                 relative_to: str | None = "p99", *, seed: int | None = None) -> None:
        super().__init__(seed=seed)
        kinds = [kind] if isinstance(kind, str) else list(kind)
        for k in kinds:
            if k not in _KINDS:
                raise ConfigError(f"noise kind must be 'rician' or 'gaussian', got {k!r}")
        self.kind, self.sigma, self.relative_to = kind, sigma, relative_to
        if relative_to not in REFERENCES:
            raise ConfigError(f"relative_to must be one of {REFERENCES}, got {relative_to!r}")

    def _params(self) -> dict[str, Any]:
        return {"kind": self.kind, "sigma": self.sigma, "relative_to": self.relative_to}

    def _sample(self, rng: np.random.Generator) -> Degradation:
        kind = draw_choice(rng, self.kind, "kind")
        sigma = draw_uniform(rng, self.sigma, "sigma")
        return _KINDS[kind](sigma=sigma, relative_to=self.relative_to, seed=draw_seed(rng))
