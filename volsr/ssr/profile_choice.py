"""Which slice profile a self-SR run uses: the given one, or the estimate (``auto``).

:func:`choose_profile` applies the SSR config's ``profile`` and ``profile_min_confidence``:
``gaussian`` / ``rect`` / ``custom`` are built as given; ``auto`` runs
:func:`volsr.ssr.profile_estimate.estimate_profile` and uses the estimate when it is
confident enough, else the old default (Gaussian, FWHM = the header thickness) with a
warning. Either way the sidecar gets a record of the estimate and of what was used.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from volsr.errors import ConfigError
from volsr.io.volume import Volume
from volsr.ssr.header import Acquisition, analyze_header
from volsr.ssr.profile import SliceProfile, build_profile
from volsr.ssr.profile_estimate import ProfileEstimate, estimate_profile

if TYPE_CHECKING:
    from volsr.config.ssr import SSRConfig

__all__ = ["choose_profile"]


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
    msg = (f"no usable slice-profile estimate ({why}); using the Gaussian profile, FWHM "
           f"{acq.thickness:.4g} mm (give --profile / --slice-thickness to choose)")
    return replace(acq, warnings=(*acq.warnings, msg)), fallback, record
