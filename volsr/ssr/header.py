"""What the header says about a thick-slice scan: through-plane axis, factor, thickness, gap.

Self-super-resolution needs one coarse voxel axis (the slice direction) and two fine,
equal in-plane axes. Everything is worked out on *voxel* axes from the affine's column
norms, so oblique (rotated) acquisitions are handled without resampling.

Definitions (all in mm unless stated):

* ``slice_spacing``: voxel size along the through-plane axis (centre-to-centre distance
  of the slices);
* ``inplane_spacing``: mean voxel size of the two in-plane axes;
* ``factor = slice_spacing / inplane_spacing`` (any real number > 1);
* ``thickness``: width of the slice profile (FWHM for a Gaussian profile); the header
  cannot say it, so it defaults to ``slice_spacing`` (no gap) and is set with
  ``--slice-thickness`` or ``--slice-gap``; ``gap = slice_spacing - thickness`` (negative
  for overlapping slices, e.g. CT reconstructed every 2 mm from 3 mm slices).

Refused (one clear error each): 4D / multi-channel input, a (nearly) isotropic scan,
two coarse axes, in-plane spacings that differ by more than the coarse-axis ratio, and a
thickness below the smallest in-plane spacing (a slice cannot be thinner than a pixel of
the plane it is sampled in; a thickness below the *slice spacing* is fine: that is a gap).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from volsr.errors import ConfigError, InputError
from volsr.geometry import spacing_from_affine
from volsr.io.volume import Volume

__all__ = ["COARSE_RATIO", "Acquisition", "analyze_header"]

COARSE_RATIO = 1.2  # the slice axis must be this much coarser than both in-plane axes
INPLANE_WARN = 0.05  # relative in-plane spacing difference that is reported


@dataclass(frozen=True)
class Acquisition:
    """The thick-slice geometry of a scan (see the module docstring for definitions).

    Attributes:
        axis: through-plane voxel axis (0, 1 or 2).
        inplane_axes: the two other voxel axes, ascending.
        spacing: voxel size per voxel axis (mm).
        inplane_spacing: mean in-plane voxel size (mm).
        slice_spacing: voxel size along ``axis`` (mm).
        thickness: slice-profile width (mm).
        gap: ``slice_spacing - thickness`` (mm; negative = overlapping slices).
        warnings: things worth reporting that did not stop the analysis.
    """

    axis: int
    inplane_axes: tuple[int, int]
    spacing: tuple[float, float, float]
    inplane_spacing: float
    slice_spacing: float
    thickness: float
    gap: float
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def factor(self) -> float:
        """Slice spacing in in-plane pixels (the through-plane resolution loss)."""
        return self.slice_spacing / self.inplane_spacing

    @property
    def thickness_px(self) -> float:
        """Slice thickness in in-plane pixels."""
        return self.thickness / self.inplane_spacing

    def to_dict(self) -> dict[str, Any]:
        return {
            "axis": self.axis,
            "inplane_axes": list(self.inplane_axes),
            "spacing_mm": [round(float(v), 6) for v in self.spacing],
            "inplane_spacing_mm": round(self.inplane_spacing, 6),
            "slice_spacing_mm": round(self.slice_spacing, 6),
            "factor": round(self.factor, 6),
            "thickness_mm": round(self.thickness, 6),
            "gap_mm": round(self.gap, 6),
            "warnings": list(self.warnings),
        }


def _fmt(values: Any) -> str:
    return " x ".join(f"{float(v):.4g}" for v in np.ravel(values))


def analyze_header(
    volume: Volume | np.ndarray,
    *,
    slice_thickness: float | None = None,
    slice_gap: float | None = None,
    ratio: float = COARSE_RATIO,
    shape: tuple[int, ...] | None = None,
) -> Acquisition:
    """Find the through-plane axis, factor, thickness and gap of a thick-slice scan.

    Args:
        volume: the scan, or its 4x4 affine alone (then ``shape`` is optional and only
            used to refuse 4D data).
        slice_thickness: slice thickness in mm (default: the slice spacing minus the gap).
        slice_gap: gap between slices in mm (default 0; negative = overlap). Giving both
            is allowed only when ``thickness + gap`` equals the slice spacing.
        ratio: how much coarser than both in-plane axes the slice axis must be.
        shape: data shape ``(C, X, Y, Z)`` when ``volume`` is an affine.

    Returns:
        An :class:`Acquisition`.

    Raises:
        InputError: 4D/multi-channel data, an isotropic scan, two coarse axes, or
            in-plane axes whose spacings differ by more than ``ratio``.
        ConfigError: a non-positive thickness, a thickness below the smallest in-plane
            spacing, or thickness and gap that do not add up to the slice spacing.

    Example:
        >>> import numpy as np
        >>> acq = analyze_header(np.diag([1.0, 1.0, 4.0, 1.0]))
        >>> acq.axis, acq.factor, acq.thickness, acq.gap
        (2, 4.0, 4.0, 0.0)
    """
    if isinstance(volume, Volume):
        affine, data_shape, path = volume.affine, volume.data.shape, volume.meta.path
    else:
        affine, data_shape, path = np.asarray(volume, dtype=np.float64), shape, None
    if data_shape is not None and (len(data_shape) != 4 or int(data_shape[0]) != 1):
        raise InputError(f"self-super-resolution needs one 3D scan; got data of shape "
                         f"{tuple(int(n) for n in data_shape)} (4D or multi-channel: pick one "
                         "volume, e.g. --volume N)", path=path)
    sp = spacing_from_affine(affine)
    order = np.argsort(sp, kind="stable")
    s0, s1, s2 = (float(sp[i]) for i in order)
    if s2 <= ratio * s1:
        if s1 > ratio * s0:
            raise InputError(f"two voxel axes are coarse ({_fmt(sp)} mm): self-super-resolution "
                             "needs exactly one thick-slice axis and two fine, equal in-plane "
                             "axes", path=path)
        raise InputError(f"the scan is (nearly) isotropic ({_fmt(sp)} mm): no voxel axis is more "
                         f"than {ratio:g}x coarser than the others, so there is no thick-slice "
                         "direction to super-resolve (use 'volsr infer' for isotropic upsampling)",
                         path=path)
    axis = int(order[2])
    inplane = tuple(sorted(int(i) for i in order[:2]))
    if s1 > ratio * s0:
        raise InputError(f"the in-plane spacings differ too much ({_fmt(sp)} mm): "
                         "self-super-resolution learns from square in-plane pixels; resample "
                         "the scan in-plane first", path=path)
    warnings: list[str] = []
    if s1 > (1.0 + INPLANE_WARN) * s0:
        warnings.append(f"in-plane spacings differ by {100 * (s1 / s0 - 1):.1f}% "
                        f"({s0:.4g} vs {s1:.4g} mm); their mean is used")
    inplane_sp = 0.5 * (s0 + s1)
    thickness, gap = _thickness_and_gap(s2, s0, slice_thickness, slice_gap)
    if gap < 0:
        warnings.append(f"slices overlap by {-gap:.4g} mm (thickness {thickness:.4g} mm > "
                        f"spacing {s2:.4g} mm)")
    return Acquisition(axis=axis, inplane_axes=inplane,  # type: ignore[arg-type]
                       spacing=tuple(float(v) for v in sp),  # type: ignore[arg-type]
                       inplane_spacing=inplane_sp, slice_spacing=s2, thickness=thickness,
                       gap=gap, warnings=tuple(warnings))


def _thickness_and_gap(spacing: float, smallest_inplane: float, thickness: float | None,
                       gap: float | None) -> tuple[float, float]:
    for name, value in (("--slice-thickness", thickness), ("--slice-gap", gap)):
        if value is not None and not np.isfinite(value):
            raise ConfigError(f"{name} must be a finite number of mm, got {value!r}")
    if thickness is not None and gap is not None:
        if abs(thickness + gap - spacing) > 1e-3 * spacing:
            raise ConfigError(f"--slice-thickness {thickness:g} + --slice-gap {gap:g} mm must "
                              f"equal the slice spacing in the header ({spacing:.4g} mm); give "
                              "only one of them")
    elif thickness is None:
        thickness = spacing - (0.0 if gap is None else float(gap))
    thickness = float(thickness)
    if thickness <= 0:
        raise ConfigError(f"slice thickness must be > 0 mm, got {thickness:.4g} mm (slice "
                          f"spacing {spacing:.4g} mm, gap {spacing - thickness:.4g} mm)")
    if thickness < smallest_inplane:
        raise ConfigError(f"slice thickness {thickness:.4g} mm is smaller than the in-plane "
                          f"spacing {smallest_inplane:.4g} mm: a slice cannot be thinner than "
                          "the pixels of its own plane (a thickness below the slice spacing "
                          "is fine: that is a gap)")
    return thickness, spacing - thickness
