"""Named, documented degradation protocols of ``volsr benchmark``.

A protocol turns a manifest case into an (LR input, HR truth) pair. Synthetic protocols
degrade the case's ``hr`` volume with :func:`volsr.degrade.degrade_volume`; the LR grid
keeps the field of view (volsr's grid convention), so every method is asked for an
output on the truth's own grid and is scored there, in world coordinates. The
``paired`` protocol uses the case's real ``lr`` acquisition instead.

=================  ==========================================================================
protocol           LR input
=================  ==========================================================================
``thick2``         thick slices along voxel axis 2, spacing 2 HR voxels, Gaussian profile
                   (FWHM = spacing)
``thick4``         as ``thick2`` with spacing 4 (the default protocol)
``thick6``         as ``thick2`` with spacing 6
``thick2-rect``    thick slices along axis 2, spacing 2, rect (boxcar) profile
``thick4-rect``    ... spacing 4, rect
``thick6-rect``    ... spacing 6, rect
``thick4-noise``   ``thick4`` + Rician noise, sigma 2 % of the 99th percentile (seeded)
``kspace4``        central k-space crop keeping 1/4 of the frequencies along axis 2
                   (no window), LR grid
``iso-gauss4``     isotropic Gaussian blur (FWHM 4 HR voxels) + x4 downsampling on all
                   three axes, as in the MTVNet benchmark (Hoeg et al. 2024)
``paired``         the case's real ``lr`` volume from the manifest (no simulation)
=================  ==========================================================================

Randomness (only ``thick4-noise`` has any) is seeded per case from the benchmark seed
and the case id (:func:`case_seed`), so the same seed gives the same LR, bit for bit,
whatever the order or subset of cases.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

from volsr.errors import ConfigError, InputError
from volsr.io.volume import Volume

__all__ = ["PROTOCOLS", "Protocol", "case_seed", "get_protocol", "make_pair"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Protocol:
    """One benchmark protocol.

    Attributes:
        name: protocol name (``--protocol``).
        description: one line for reports.
        specs: degradation specs for :func:`volsr.degrade.degrade_volume` (empty for
            ``paired``).
        paired: True when the LR input is the manifest's real ``lr`` volume.
        degraded_axes: voxel axes that lose resolution (for figures: the line profile
            runs along the first one).
    """

    name: str
    description: str
    specs: tuple[dict[str, Any], ...] = ()
    paired: bool = False
    degraded_axes: tuple[int, ...] = (2,)
    reference: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (what reports and results.json record)."""
        return {"name": self.name, "description": self.description,
                "degradation": [dict(s) for s in self.specs], "paired": self.paired,
                "degraded_axes": list(self.degraded_axes), "reference": self.reference}


def _thick(factor: int, profile: str) -> dict[str, Any]:
    return {"name": "thick_slice", "axis": 2, "factor": float(factor), "profile": profile}


def _build() -> dict[str, Protocol]:
    out: dict[str, Protocol] = {}
    for f in (2, 4, 6):
        out[f"thick{f}"] = Protocol(
            f"thick{f}", f"thick slices along axis 2: spacing x{f}, Gaussian slice profile "
            "(FWHM = spacing)", (_thick(f, "gaussian"),))
        out[f"thick{f}-rect"] = Protocol(
            f"thick{f}-rect", f"thick slices along axis 2: spacing x{f}, rect slice profile",
            (_thick(f, "rect"),))
    out["thick4-noise"] = Protocol(
        "thick4-noise", "thick slices x4 along axis 2 (Gaussian profile) + Rician noise, "
        "sigma 2% of the 99th percentile",
        (_thick(4, "gaussian"), {"name": "rician_noise", "sigma": 0.02, "relative_to": "p99"}))
    out["kspace4"] = Protocol(
        "kspace4", "central k-space crop to 1/4 along axis 2 (no window), LR grid",
        ({"name": "kspace_truncation", "factor": [1.0, 1.0, 4.0], "window": None,
          "output_grid": "lr"},))
    out["iso-gauss4"] = Protocol(
        "iso-gauss4", "isotropic Gaussian blur (FWHM 4 voxels) + x4 downsampling on every "
        "axis (MTVNet benchmark)",
        ({"name": "gaussian_blur_downsample", "factor": [4.0, 4.0, 4.0]},),
        degraded_axes=(0, 1, 2),
        reference="Hoeg et al., MTVNet, arXiv:2412.03379, 2024")
    out["paired"] = Protocol(
        "paired", "real LR/HR pairs: the manifest's lr volume as input, hr as truth",
        paired=True)
    return out


PROTOCOLS: dict[str, Protocol] = _build()


def get_protocol(name: str) -> Protocol:
    """The protocol called ``name``.

    Raises:
        ConfigError: unknown name (the message lists the known ones).
    """
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ConfigError(f"unknown protocol {name!r}; choose from "
                          f"{', '.join(PROTOCOLS)}") from None


def case_seed(seed: int, case_id: str) -> int:
    """A per-case seed from the benchmark seed and the case id (stable across runs,
    platforms and Python hash seeds)."""
    digest = hashlib.sha256(f"{int(seed)}:{case_id}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def _seeded(specs: tuple[dict[str, Any], ...], seed: int) -> list[dict[str, Any]]:
    """Give every noise spec an explicit seed (derived from ``seed``)."""
    out = []
    for i, s in enumerate(specs):
        s = dict(s)
        if s["name"].endswith("_noise"):
            s["seed"] = (seed + 7919 * i) % (2**32)
        out.append(s)
    return out


def make_pair(protocol: Protocol | str, hr: Volume, *, case_id: str = "case", seed: int = 0,
              lr: Volume | None = None) -> tuple[Volume, dict[str, Any]]:
    """The LR input of one case under ``protocol``.

    Args:
        protocol: a :class:`Protocol` or its name.
        hr: the truth volume.
        case_id: the case's id (seeds noise together with ``seed``).
        seed: benchmark seed.
        lr: the real LR volume (``paired`` protocol only).

    Returns:
        ``(lr_volume, record)`` where ``record`` holds the applied degradation parameters
        (a spec that reproduces the LR exactly) and the seed used.

    Raises:
        InputError: ``paired`` without an ``lr`` volume.
    """
    from volsr.degrade import degrade_volume

    proto = get_protocol(protocol) if isinstance(protocol, str) else protocol
    if proto.paired:
        if lr is None:
            raise InputError(f"case {case_id!r} has no 'lr' volume in the manifest; the "
                             "'paired' protocol needs real LR/HR pairs")
        return lr, {"protocol": proto.name, "seed": None, "degradation": None}
    s = case_seed(seed, case_id)
    specs = _seeded(proto.specs, s)
    out, params = degrade_volume(hr, specs if len(specs) > 1 else specs[0], seed=s,
                                 return_params=True)
    log.debug("case %s: %s -> %s", case_id, hr.describe(), out.describe())
    return out, {"protocol": proto.name, "seed": s, "degradation": params}
