"""k-space truncation: keep the central part of the spectrum (optionally windowed).

Along each truncated axis of ``n`` voxels the kept band is the spectrum of a grid of
``n_lr = round(n / factor)`` samples: frequencies ``|k| < n_lr / 2``, plus, for even
``n_lr``, the pair ``k = +-n_lr / 2`` with half weight each (so a real image stays real
and the operator is symmetric). The operator is therefore separable and real, and the
axes are processed one after the other.

* ``output_grid="hr"``: the truncated spectrum is zero-filled back to ``n`` samples
  (same grid, blurred, with Gibbs ringing unless windowed), as in the DCSRN data.
* ``output_grid="lr"``: it is inverse-transformed on ``n_lr`` samples. The exact scale
  used is ``n_lr / n`` (so ``scale_affine`` gives the LR affine and the LR spacing is
  ``n * spacing / n_lr``, i.e. exactly ``factor`` only when ``n / factor`` is whole), and
  the spectrum is phase-shifted by ``exp(2 pi i k d / n)``, ``d = (n / n_lr - 1) / 2``,
  so LR sample ``o`` is the band-limited image at HR index ``(o + 1/2) n / n_lr - 1/2``,
  the grid convention. Intensities keep their scale (a constant stays the same constant).

Reference:
    Y. Chen et al., "Brain MRI super resolution using 3D deep densely connected neural
    networks" (DCSRN), ISBI 2018 (k-space truncation to simulate LR MRI).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.fft as sfft

from volsr.degrade.base import (
    Degradation,
    RandomDegradation,
    check_axis,
    draw_choice,
    draw_uniform,
    per_axis,
    register_degradation,
)
from volsr.errors import ConfigError
from volsr.geometry.grid import output_size

__all__ = ["KSpaceTruncation", "RandomKSpaceTruncation", "band_weights"]

WINDOWS = (None, "hamming", "tukey")


def band_weights(n_lr: int, window: str | None = None, tukey_alpha: float = 0.5) -> np.ndarray:
    """Weights of the non-negative kept frequencies ``k = 0 .. n_lr // 2``.

    The window is a function of ``|k| / (n_lr / 2)``: ``hamming`` ``0.54 + 0.46 cos(pi r)``,
    ``tukey`` flat up to ``1 - alpha`` then a raised-cosine taper to 0 at ``r = 1``. For
    even ``n_lr`` the last entry (``k = n_lr / 2``) is the half weight given to each of
    ``+-n_lr / 2``.
    """
    k = np.arange(n_lr // 2 + 1, dtype=np.float64)
    r = k / (n_lr / 2.0)
    if window is None:
        h = np.ones_like(r)
    elif window == "hamming":
        h = 0.54 + 0.46 * np.cos(np.pi * r)
    elif window == "tukey":
        a = float(tukey_alpha)
        if not 0.0 <= a <= 1.0:
            raise ConfigError(f"tukey_alpha must be in [0, 1], got {tukey_alpha!r}")
        if a == 0.0:
            h = np.ones_like(r)
        else:
            h = np.where(r <= 1.0 - a, 1.0,
                         0.5 * (1.0 + np.cos(np.pi * np.clip(r - (1.0 - a), 0.0, None) / a)))
    else:
        raise ConfigError(f"window must be one of none, hamming, tukey; got {window!r}")
    if n_lr % 2 == 0:
        h[-1] *= 0.5
    return h


def _truncate_axis(data: np.ndarray, axis: int, n_lr: int, output_grid: str,
                   window: str | None, alpha: float) -> np.ndarray:
    n = data.shape[axis]
    h = band_weights(n_lr, window, alpha)
    spec = sfft.rfft(data, axis=axis)
    shape = [1] * data.ndim
    shape[axis] = h.size
    kept = np.take(spec, np.arange(h.size), axis=axis)
    if output_grid == "hr":
        out_spec = np.zeros_like(spec)
        idx = [slice(None)] * data.ndim
        idx[axis] = slice(0, h.size)
        out_spec[tuple(idx)] = kept * h.reshape(shape).astype(np.float32)
        return sfft.irfft(out_spec, n=n, axis=axis).astype(np.float32)
    d = (n / n_lr - 1.0) / 2.0
    k = np.arange(h.size, dtype=np.float64)
    phase = (h * np.exp(2j * np.pi * k * d / n)).astype(np.complex64).reshape(shape)
    kept = kept * phase
    if n_lr % 2 == 0:  # the +-n_lr/2 pair folds onto the LR Nyquist bin: 2 Re(.)
        idx = [slice(None)] * data.ndim
        idx[axis] = slice(h.size - 1, h.size)
        kept[tuple(idx)] = 2.0 * kept[tuple(idx)].real
    out = sfft.irfft(kept, n=n_lr, axis=axis) * (n_lr / n)
    return out.astype(np.float32)


@register_degradation("kspace_truncation", tags=("deterministic", "grid"))
class KSpaceTruncation(Degradation):
    """Keep the central ``1/factor`` of k-space along some axes (see the module docstring).

    Args:
        factor: resolution loss, one value or one per voxel axis (``>= 1``).
        axes: axes to truncate; default: every axis whose factor is not 1.
        window: ``None``, ``"hamming"`` or ``"tukey"`` apodisation of the kept band.
        tukey_alpha: taper fraction of the Tukey window (0 = none, 1 = Hann).
        output_grid: ``"lr"`` (``round(n / factor)`` samples) or ``"hr"`` (input grid).

    Axes where ``round(n / factor) == n`` are left untouched.
    """

    name = "kspace_truncation"

    def __init__(self, factor: float | Sequence[float] = 2.0,
                 axes: Sequence[int] | int | None = None, window: str | None = None,
                 tukey_alpha: float = 0.5, output_grid: str = "lr") -> None:
        self.factor = per_axis(factor, "kspace_truncation factor")
        if np.any(self.factor < 1.0):
            raise ConfigError(f"kspace_truncation factor must be >= 1, got "
                              f"{self.factor.tolist()}")
        if axes is None:
            self.axes = [i for i in range(3) if self.factor[i] != 1.0]
        else:
            self.axes = sorted({check_axis(a) for a in np.atleast_1d(np.asarray(axes)).tolist()})
        if window is not None and str(window).lower() == "none":
            window = None
        if window not in WINDOWS:
            raise ConfigError(f"window must be one of none, hamming, tukey; got {window!r}")
        self.window = window
        self.tukey_alpha = float(tukey_alpha)
        band_weights(4, window, self.tukey_alpha)  # validates alpha
        if output_grid not in ("lr", "hr"):
            raise ConfigError(f"output_grid must be 'lr' or 'hr', got {output_grid!r}")
        self.output_grid = output_grid

    def _params(self) -> dict[str, Any]:
        return {"factor": self.factor, "axes": self.axes, "window": self.window,
                "tukey_alpha": self.tukey_alpha, "output_grid": self.output_grid}

    def _n_lr(self, n: int, axis: int) -> int:
        return output_size(int(n), 1.0 / float(self.factor[axis]))

    def output_scale(self, spatial_shape: Sequence[int]) -> np.ndarray:
        s = np.ones(3)
        if self.output_grid == "lr":
            for a in self.axes:
                s[a] = self._n_lr(spatial_shape[a], a) / float(spatial_shape[a])
        return s

    def _apply(self, data: np.ndarray) -> np.ndarray:
        out = data
        for a in self.axes:
            n = data.shape[1 + a]
            n_lr = self._n_lr(n, a)
            if n_lr >= n:
                continue
            out = _truncate_axis(out, 1 + a, n_lr, self.output_grid, self.window,
                                 self.tukey_alpha)
        return out if out is not data else data.copy()


@register_degradation("random_kspace_truncation", tags=("random", "grid"))
class RandomKSpaceTruncation(RandomDegradation):
    """Draw a :class:`KSpaceTruncation`: one factor for ``axes`` and a window.

    Args:
        factor: a number or a ``(low, high)`` range (same factor on every axis in ``axes``).
        axes: the truncated axes.
        window: candidate windows (``None``, ``"hamming"``, ``"tukey"``).
        tukey_alpha: Tukey taper fraction (number or range).
        output_grid: ``"lr"`` or ``"hr"``.
        seed: seed of the internal Generator.
    """

    name = "random_kspace_truncation"

    def __init__(self, factor: float | Sequence[float] = (2.0, 4.0),
                 axes: Sequence[int] = (0, 1, 2),
                 window: Any = (None, "hamming", "tukey"),
                 tukey_alpha: float | Sequence[float] = 0.5, output_grid: str = "lr",
                 *, seed: int | None = None) -> None:
        super().__init__(seed=seed)
        self.factor, self.window, self.tukey_alpha = factor, window, tukey_alpha
        self.axes = [check_axis(a) for a in np.atleast_1d(np.asarray(axes)).tolist()]
        self.output_grid = output_grid

    def _params(self) -> dict[str, Any]:
        return {"factor": self.factor, "axes": self.axes, "window": self.window,
                "tukey_alpha": self.tukey_alpha, "output_grid": self.output_grid}

    def _sample(self, rng: np.random.Generator) -> KSpaceTruncation:
        f = draw_uniform(rng, self.factor, "factor")
        factor = [f if a in self.axes else 1.0 for a in range(3)]
        window = draw_choice(rng, self.window, "window")
        alpha = draw_uniform(rng, self.tukey_alpha, "tukey_alpha")
        return KSpaceTruncation(factor=factor, axes=self.axes, window=window,
                                tukey_alpha=alpha, output_grid=self.output_grid)
