"""Thick-slice acquisition: slab averaging with a slice profile, then coarser slice spacing.

The LR slice spacing is ``factor`` HR voxels; each LR slice integrates the HR signal
through a slice profile of its own thickness (independent of the spacing), so
``gap = factor - thickness`` may be positive (gaps between slabs) or negative
(overlapping slabs). The LR grid follows the grid convention: LR slice ``o`` is centred
at HR index ``(o + 1/2) * factor - 1/2``.

Reference:
    E. Plenge et al., "Super-resolution methods in MRI: can they improve the trade-off
    between resolution, signal-to-noise ratio, and acquisition time?", MRM 68(6), 2012
    (slice-profile acquisition model used for simulated thick-slice data).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from volsr.degrade.base import (
    Degradation,
    RandomDegradation,
    check_axis,
    draw_choice,
    draw_uniform,
    register_degradation,
)
from volsr.errors import ConfigError
from volsr.resample import apply_along_axis, profile_matrix

__all__ = ["RandomThickSlice", "ThickSlice"]

SLICE_PROFILES = ("rect", "gaussian", "custom")


@register_degradation("thick_slice", tags=("deterministic", "grid"))
class ThickSlice(Degradation):
    """Simulate thick slices along one voxel axis.

    Args:
        axis: voxel axis of the slice direction (0, 1 or 2).
        factor: LR slice spacing in HR voxels (integer or not, ``>= 1``).
        profile: ``"rect"`` (ideal slab), ``"gaussian"`` (FWHM = thickness) or
            ``"custom"`` (``kernel`` sampled every ``kernel_step`` HR voxels).
        thickness: slab thickness (rect width / Gaussian FWHM) in HR voxels;
            default ``factor - gap``.
        gap: ``factor - thickness`` in HR voxels when ``thickness`` is not given
            (negative = overlapping slabs).
        kernel: 1D slice profile samples for ``profile="custom"`` (normalised to unit area).
        kernel_step: spacing of ``kernel`` samples in HR voxels.

    Example:
        >>> import numpy as np
        >>> ThickSlice(axis=2, factor=4, profile="rect").apply_array(np.ones((8, 8, 32))).shape
        (8, 8, 8)
    """

    name = "thick_slice"

    def __init__(self, axis: int = 2, factor: float | None = None, profile: str = "gaussian",
                 thickness: float | None = None, gap: float = 0.0,
                 kernel: Sequence[float] | np.ndarray | None = None,
                 kernel_step: float = 1.0) -> None:
        self.axis = check_axis(axis)
        if factor is None:
            raise ConfigError("thick_slice needs factor (LR slice spacing in HR voxels)")
        self.factor = float(factor)
        if not (np.isfinite(self.factor) and self.factor >= 1.0):
            raise ConfigError(f"thick_slice factor must be >= 1, got {factor!r}")
        if profile not in SLICE_PROFILES:
            raise ConfigError(f"thick_slice profile must be one of {', '.join(SLICE_PROFILES)}"
                              f", got {profile!r}")
        self.profile = profile
        self.kernel = None if kernel is None else np.asarray(kernel, dtype=np.float64).ravel()
        self.kernel_step = float(kernel_step)
        if profile == "custom":
            if self.kernel is None:
                raise ConfigError("thick_slice profile 'custom' needs kernel=")
            self.thickness, self.gap = None, None
            profile_matrix(8, 1.0, profile="custom", kernel=self.kernel,
                           kernel_step=self.kernel_step)  # validates the kernel early
            return
        if thickness is not None and gap:
            raise ConfigError("give thickness or gap, not both")
        self.gap = float(gap) if thickness is None else self.factor - float(thickness)
        self.thickness = self.factor - self.gap if thickness is None else float(thickness)
        if not (np.isfinite(self.thickness) and self.thickness > 0):
            raise ConfigError(f"slice thickness must be > 0 HR voxels, got {self.thickness!r}"
                              f" (factor {self.factor}, gap {self.gap})")

    def _params(self) -> dict[str, Any]:
        p: dict[str, Any] = {"axis": self.axis, "factor": self.factor, "profile": self.profile}
        if self.profile == "custom":
            p.update(kernel=self.kernel, kernel_step=self.kernel_step)
        else:
            p.update(thickness=self.thickness)
        return p

    def output_scale(self, spatial_shape: Sequence[int]) -> np.ndarray:
        s = np.ones(3)
        s[self.axis] = 1.0 / self.factor
        return s

    def matrix(self, n: int) -> Any:
        """The ``(n_lr, n)`` slab-averaging matrix for an axis of ``n`` HR voxels."""
        return profile_matrix(n, 1.0 / self.factor, profile=self.profile,
                              width=self.thickness, kernel=self.kernel,
                              kernel_step=self.kernel_step)

    def _apply(self, data: np.ndarray) -> np.ndarray:
        return apply_along_axis(data, self.matrix(data.shape[1 + self.axis]), 1 + self.axis)


@register_degradation("random_thick_slice", tags=("random", "grid"))
class RandomThickSlice(RandomDegradation):
    """Draw a :class:`ThickSlice`: axis, factor, profile and gap.

    Args:
        axes: candidate slice axes, or ``"any"`` for (0, 1, 2).
        factor: LR slice spacing in HR voxels: a number or a ``(low, high)`` range.
        profile: candidate profiles (``"rect"``, ``"gaussian"``).
        gap: gap as a fraction of the LR slice spacing: a number or ``(low, high)``;
            negative values give overlapping slabs (thickness = factor * (1 - gap)).
        integer_factor: draw whole-number factors only.
        seed: seed of the internal Generator.
    """

    name = "random_thick_slice"

    def __init__(self, axes: Sequence[int] | int | str = (2,),
                 factor: float | Sequence[float] = (2.0, 6.0),
                 profile: str | Sequence[str] = ("rect", "gaussian"),
                 gap: float | Sequence[float] = (0.0, 0.3), integer_factor: bool = False,
                 *, seed: int | None = None) -> None:
        super().__init__(seed=seed)
        if axes == "any":
            axes = (0, 1, 2)
        self.axes = [check_axis(a) for a in np.atleast_1d(np.asarray(axes)).tolist()]
        self.factor, self.profile, self.gap = factor, profile, gap
        self.integer_factor = bool(integer_factor)
        for p in np.atleast_1d(np.asarray(profile, dtype=object)).tolist():
            if p not in ("rect", "gaussian"):
                raise ConfigError(f"random_thick_slice profiles are rect/gaussian, got {p!r}")

    def _params(self) -> dict[str, Any]:
        return {"axes": self.axes, "factor": self.factor, "profile": self.profile,
                "gap": self.gap, "integer_factor": self.integer_factor}

    def _sample(self, rng: np.random.Generator) -> ThickSlice:
        axis = draw_choice(rng, self.axes, "axes")
        if self.integer_factor:
            lo, hi = (self.factor, self.factor) if np.isscalar(self.factor) else self.factor
            factor = float(rng.integers(int(np.ceil(lo)), int(np.floor(hi)) + 1))
        else:
            factor = draw_uniform(rng, self.factor, "factor")
        profile = draw_choice(rng, self.profile, "profile")
        gap = draw_uniform(rng, self.gap, "gap")
        if gap >= 1.0:
            raise ConfigError(f"gap fraction must be < 1, got {gap}")
        return ThickSlice(axis=axis, factor=factor, profile=profile,
                          thickness=factor * (1.0 - gap))
