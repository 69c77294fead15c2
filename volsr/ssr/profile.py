"""Slice-profile models: the 1D point-spread function of a thick slice, in mm.

Three shapes, all turned into resampling matrices by
:func:`volsr.resample.profile_matrix` (which integrates the unit-area profile over each
input pixel, on the volsr grid convention):

* ``gaussian``: FWHM = slice thickness (the default; SMORE's model of a 2D acquisition);
* ``rect``: an ideal slab of width = slice thickness;
* ``custom``: a user-measured profile, samples ``step`` mm apart (centred, any scale;
  normalised to unit area), e.g. from an RF-pulse simulation or an ESPRESO estimate
  (Han et al., "MR slice profile estimation by learning to match internal patch
  distributions", IPMI 2021, as used by ECLARE).

References:
    C. Zhao et al., "SMORE: a self-supervised anti-aliasing and super-resolution
    algorithm for MRI using deep learning", IEEE TMI 40(3), 2021.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from volsr.errors import ConfigError
from volsr.resample import profile_matrix

__all__ = ["PROFILE_KINDS", "SliceProfile", "build_profile", "read_profile_file"]

PROFILE_KINDS = ("gaussian", "rect", "custom")


@dataclass(frozen=True)
class SliceProfile:
    """A slice profile in physical units.

    Attributes:
        kind: ``"gaussian"``, ``"rect"`` or ``"custom"``.
        thickness: FWHM (gaussian) or width (rect) in mm; for ``custom`` the FWHM of the
            kernel (informative only).
        kernel: the custom profile samples (None otherwise).
        step: spacing of ``kernel`` samples in mm (None otherwise).

    Example:
        >>> p = SliceProfile("rect", 4.0)
        >>> m = p.matrix(8, 0.25, pixel_mm=1.0)   # 8 pixels of 1 mm -> 2 slabs of 4 mm
        >>> m.toarray().round(2).tolist()[0]
        [0.25, 0.25, 0.25, 0.25, 0.0, 0.0, 0.0, 0.0]
    """

    kind: str
    thickness: float
    kernel: tuple[float, ...] | None = None
    step: float | None = None

    def matrix(self, n_in: int, scale: float, *, pixel_mm: float, n_out: int | None = None
               ) -> Any:
        """``(n_out, n_in)`` sparse matrix averaging pixels of ``pixel_mm`` through the profile.

        Output sample ``o`` is centred at input index ``(o + 1/2)/scale - 1/2`` (the grid
        convention); ``scale = 1`` blurs without resampling.
        """
        if self.kind == "custom":
            return profile_matrix(n_in, scale, profile="custom", n_out=n_out,
                                  kernel=np.asarray(self.kernel), kernel_step=self.step / pixel_mm)
        return profile_matrix(n_in, scale, profile=self.kind, width=self.thickness / pixel_mm,
                              n_out=n_out)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "thickness_mm": round(float(self.thickness), 6)}
        if self.kind == "custom":
            d.update(kernel=[float(v) for v in self.kernel or ()], step_mm=self.step)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SliceProfile:
        kind = d.get("kind")
        if kind == "custom":
            return build_profile("custom", kernel=d.get("kernel"), step=d.get("step_mm"))
        return build_profile(str(kind), thickness=d.get("thickness_mm"))


def _fwhm(kernel: np.ndarray, step: float) -> float:
    """FWHM (same units as ``step``) of the piecewise-linear curve through ``kernel``."""
    v = np.asarray(kernel, dtype=np.float64)
    half = v.max() / 2.0
    above = np.flatnonzero(v >= half)
    lo, hi = int(above[0]), int(above[-1])

    def cross(i_out: int, i_in: int) -> float:  # linear crossing between two samples
        a, b = v[i_out], v[i_in]
        return i_out + (half - a) / (b - a) * (i_in - i_out) if b != a else float(i_in)

    left = cross(lo - 1, lo) if lo > 0 else lo - 0.5
    right = cross(hi + 1, hi) if hi < v.size - 1 else hi + 0.5
    return float((right - left) * step)


def build_profile(kind: str, *, thickness: float | None = None,
                  kernel: Sequence[float] | np.ndarray | None = None,
                  step: float | None = None) -> SliceProfile:
    """Validate and build a :class:`SliceProfile`.

    Args:
        kind: ``gaussian``, ``rect`` or ``custom``.
        thickness: FWHM / width in mm (gaussian, rect).
        kernel: custom profile samples (>= 2 finite, non-negative values, not all 0).
        step: spacing of the custom samples in mm.

    Raises:
        ConfigError: unknown kind or bad values (one line naming the problem).
    """
    if kind not in PROFILE_KINDS:
        raise ConfigError(f"slice profile must be one of {', '.join(PROFILE_KINDS)}, got "
                          f"{kind!r}")
    if kind != "custom":
        if thickness is None or not (np.isfinite(thickness) and thickness > 0):
            raise ConfigError(f"{kind} slice profile needs a thickness > 0 mm, got {thickness!r}")
        if kernel is not None:
            raise ConfigError("a profile file / kernel is only used with the custom profile")
        return SliceProfile(kind, float(thickness))
    if kernel is None:
        raise ConfigError("the custom slice profile needs a profile file (one value per line)")
    if step is None or not (np.isfinite(step) and step > 0):
        raise ConfigError(f"the custom slice profile needs --profile-step > 0 mm (the spacing "
                          f"of its samples), got {step!r}")
    v = np.asarray(kernel, dtype=np.float64).ravel()
    if v.size < 2 or not np.all(np.isfinite(v)) or np.any(v < 0) or not v.max() > 0:
        raise ConfigError("the custom slice profile needs >= 2 finite, non-negative values, "
                          f"not all zero; got {v[:8].tolist()}{' ...' if v.size > 8 else ''}")
    return SliceProfile("custom", _fwhm(v, float(step)), tuple(float(x) for x in v), float(step))


def read_profile_file(path: str | Path) -> np.ndarray:
    """Read a 1D profile: one number per line (blank lines and ``#`` comments ignored).

    Raises:
        ConfigError: unreadable file or non-numeric content.
    """
    p = Path(path)
    try:
        values = np.loadtxt(p, ndmin=1, dtype=np.float64, comments="#")
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the slice-profile file {p}: {exc}") from None
    if values.ndim != 1:
        raise ConfigError(f"slice-profile file {p} must hold one value per line, got a "
                          f"{values.shape} table")
    return values
