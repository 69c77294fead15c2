"""Which slice profile a self-SR run uses: the given one, or the estimate (``auto``).

:func:`choose_profile` applies the SSR config's ``profile`` and ``profile_min_confidence``:
``gaussian`` / ``rect`` / ``custom`` are built as given; ``auto`` runs
:func:`volsr.ssr.profile_estimate.estimate_profile` and uses the estimate when it is
confident enough, else the old default (Gaussian, FWHM = the header thickness) with a
warning. Either way the sidecar gets a record of the estimate and of what was used.

:func:`training_profiles` is the hedge shared by ``volsr ssr`` and ``volsr infer --adapt``:
which profiles the networks train on. One (the profile used) when the estimate is
trusted; two, a rect AND a Gaussian, when it is not: set aside (low width confidence, the
``fallback`` setting ``mixed``: both at the header thickness) or with an ambiguous family
(``family_confidence`` below ``family_min_confidence``: the estimate plus the other family
at its own best width in the estimate's costs, or at the same standard deviation when
that best width is on the edge of the searched range). Training on pairs of both
families makes the networks fit either; the record says which profiles and why.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from volsr.errors import ConfigError
from volsr.io.volume import Volume
from volsr.ssr.header import Acquisition, analyze_header
from volsr.ssr.profile import SliceProfile, build_profile
from volsr.ssr.profile_estimate import ProfileEstimate, _refine, estimate_profile, profile_std

if TYPE_CHECKING:
    from volsr.config.ssr import SSRConfig

__all__ = ["FALLBACKS", "choose_profile", "training_profiles"]

log = logging.getLogger(__name__)

FALLBACKS = ("gaussian", "mixed")
"""What trains when the estimate is set aside: the Gaussian alone, or Gaussian and rect."""

_OTHER = {"rect": "gaussian", "gaussian": "rect"}


def choose_profile(volume: Volume, acq: Acquisition, cfg: SSRConfig, *,
                   thickness_given: bool = False, kernel: Any = None, step: float | None = None
                   ) -> tuple[Acquisition, SliceProfile, dict[str, Any] | None]:
    """The slice profile a run uses: ``cfg.profile``, estimated when it is ``auto``.

    Args:
        volume: the scan.
        acq: its geometry from the header (thickness from ``--slice-thickness`` /
            ``--slice-gap`` when ``thickness_given``, else the slice spacing).
        cfg: the run's settings (``profile``, ``profile_min_confidence``).
        thickness_given: the user gave the thickness or gap: ``auto`` estimates the
            family only, at ``acq.thickness``.
        kernel, step: the custom profile's samples and their spacing in mm.

    Returns:
        ``(acquisition, profile, record)``: the acquisition with the thickness and gap
        used (plus a warning when a low-confidence estimate was set aside), the profile,
        and for ``auto`` the sidecar record ``{"estimate", "used", "min_confidence",
        "fallback"}`` (None otherwise).

    Raises:
        ConfigError: a kernel without ``custom``, or a bad custom profile.
    """
    kind = cfg.profile
    if kind != "auto":
        return acq, build_profile(kind, thickness=None if kind == "custom" else acq.thickness,
                                  kernel=kernel, step=step), None
    if kernel is not None:
        raise ConfigError("a profile file / kernel is only used with the custom profile")
    try:
        est: ProfileEstimate | None = estimate_profile(
            volume.data[0], acq, thickness=acq.thickness if thickness_given else None)
    except ValueError as exc:
        est, why = None, str(exc)
    used = est is not None and est.confidence >= cfg.profile_min_confidence
    record: dict[str, Any] = {"estimate": None if est is None else est.to_dict(),
                              "used": used, "min_confidence": cfg.profile_min_confidence,
                              "fallback": None}
    if used and est is not None:
        if not thickness_given:
            acq = analyze_header(volume, slice_thickness=est.thickness)
        return acq, build_profile(est.family, thickness=acq.thickness), record
    fallback = build_profile("gaussian", thickness=acq.thickness)
    record["fallback"] = fallback.to_dict()
    if est is not None:
        why = (f"low confidence {est.confidence:.2f} < {cfg.profile_min_confidence:g}: "
               f"{est.family} {est.thickness:.3g} mm")
    using = (f"training on pairs of both the Gaussian and the rect profile, "
             f"{acq.thickness:.4g} mm" if cfg.profile_fallback == "mixed" else
             f"using the Gaussian profile, FWHM {acq.thickness:.4g} mm")
    msg = (f"no usable slice-profile estimate ({why}); {using} (give --profile / "
           "--slice-thickness to choose)")
    return replace(acq, warnings=(*acq.warnings, msg)), fallback, record


def training_profiles(acq: Acquisition, profile: SliceProfile, record: dict[str, Any] | None,
                      *, fallback: str = "gaussian", family_min_confidence: float = 0.0
                      ) -> list[SliceProfile]:
    """The profiles the networks train on: ``[profile]``, or a rect and a Gaussian.

    Args:
        acq: the acquisition :func:`choose_profile` returned (its thickness is the one
            used).
        profile: the profile :func:`choose_profile` returned (always first in the list).
        record: its ``auto`` record (None for a given profile: ``[profile]``). Updated in
            place with ``"trained_on"`` (profile records), ``"hedge"`` (None, ``"fallback"``
            or ``"family"``) and ``"family_min_confidence"``.
        fallback: ``gaussian`` (a set-aside estimate trains on the Gaussian alone) or
            ``mixed`` (on the Gaussian and the rect of the header thickness).
        family_min_confidence: an estimate in use whose ``family_confidence`` is below
            this also trains on the other family (0: never).

    Raises:
        ConfigError: an unknown ``fallback``.
    """
    if fallback not in FALLBACKS:
        raise ConfigError(f"fallback must be one of {', '.join(FALLBACKS)}, got {fallback!r}")
    profiles, hedge = [profile], None
    if record is not None:
        est = record.get("estimate")
        if record.get("fallback") is not None:
            if fallback == "mixed":
                hedge = "fallback"
                profiles.append(build_profile("rect", thickness=acq.thickness))
        elif (est is not None and profile.kind in _OTHER
              and est["family_confidence"] < family_min_confidence):
            hedge = "family"
            other = _OTHER[profile.kind]
            profiles.append(build_profile(other, thickness=_other_width(
                est, profile.kind, profile.thickness, other)))
        record.update(trained_on=[p.to_dict() for p in profiles], hedge=hedge,
                      family_min_confidence=family_min_confidence)
    if hedge is not None:
        log.info("slice profile %s: training on %s", "set aside" if hedge == "fallback"
                 else "family ambiguous", " and ".join(
                     f"{p.kind} {p.thickness:.3g} mm" for p in profiles))
    return profiles


def _other_width(est: dict[str, Any], family: str, width: float, other: str) -> float:
    """The width of the other family: its best in the estimate's costs (one thickness
    searched: that one), else (best on the edge of the range, or no costs) the one of
    the same standard deviation as ``family`` at ``width``."""
    rows = est.get("costs", {}).get(other) or []
    if len(rows) == 1:
        return float(rows[0][0])
    if len(rows) >= 3:
        widths = np.array([r[0] for r in rows], float)
        costs = np.array([r[1] for r in rows], float)
        w, _, edge = _refine(widths, costs, float(est["thickness_mm"]) + float(est["gap_mm"]))
        i = int(np.argmin(costs))
        if not edge and 0 < i < len(rows) - 1:
            return w
    std = profile_std(family, width)
    return std * (np.sqrt(12.0) if other == "rect" else 2.0 * np.sqrt(2.0 * np.log(2.0)))
