"""What a learned model was trained for, and the checks ``volsr infer`` makes with it.

Exported weights may record their trained range in ``model.json``::

    "trained_range": {"kind": "through_plane", "factor": [2.0, 6.0]}

``kind`` ``"through_plane"``: a model for thick-slice *volumes* (one coarse axis, factors
``factor[0]..factor[1]`` along it). Three checks use it or the predictor alone:

* :func:`nothing_to_do`: a network asked for no grid, given a scan that is already
  isotropic (the default grid is the input grid: nothing to super-resolve);
* :func:`factor_warning`: a requested factor outside the trained range (a warning for the
  log and the sidecar; the run goes on);
* :func:`refuse_image_for_volume_model`: a 2D image given to a model for volumes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from volsr.errors import ConfigError, NothingToSuperResolve

__all__ = ["factor_warning", "nothing_to_do", "refuse_image_for_volume_model",
           "trained_range"]

log = logging.getLogger(__name__)

_TOL = 1e-6


def trained_range(info: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The ``trained_range`` of the weights in a predictor's ``record()``, if recorded."""
    folder = (info or {}).get("weights")
    if not folder:
        return None
    try:
        raw = json.loads((Path(folder) / "model.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    rng = raw.get("trained_range") if isinstance(raw, dict) else None
    return dict(rng) if isinstance(rng, Mapping) else None


def nothing_to_do(predictor: Any, spacing: Sequence[float], name: str) -> None:
    """Refuse a network run on an already isotropic scan when no grid was asked for.

    Raises:
        NothingToSuperResolve: ``predictor`` is a network and ``spacing`` is isotropic.
    """
    if getattr(predictor, "spatial_dims", None) is None:  # interpolation: a plain copy
        return
    sp = np.asarray(spacing, dtype=float)
    if np.ptp(sp) <= _TOL * max(float(sp.max()), 1.0):
        raise NothingToSuperResolve(
            f"the scan is already isotropic ({float(sp[0]):.4g} mm): nothing for {name} to "
            "super-resolve; ask for a finer grid with --scale or --target-spacing")


def factor_warning(info: Mapping[str, Any] | None, factors: Sequence[float],
                   name: str) -> str | None:
    """A warning when a per-axis factor (other than 1) is outside the trained range."""
    rng = trained_range(info)
    if not rng or "factor" not in rng:
        return None
    lo, hi = (float(v) for v in rng["factor"])
    out = [(i, float(f)) for i, f in enumerate(factors)
           if abs(float(f) - 1.0) > 1e-3 and not lo - 1e-3 <= float(f) <= hi + 1e-3]
    if not out:
        return None
    shown = ", ".join(f"x{f:.3g} along voxel axis {i}" for i, f in out)
    return (f"the requested factor ({shown}) is outside the range {name} was trained on "
            f"(x{lo:g} to x{hi:g}); the result is an extrapolation")


def refuse_image_for_volume_model(predictor: Any, name: str) -> None:
    """Refuse a 2D image for a 3D network or a through-plane (thick-slice) model.

    Raises:
        ConfigError: the model is for volumes.
    """
    if predictor.spatial_dims == 3:
        raise ConfigError(f"model {name} is for volumes: a 3D network; a 2D image needs a "
                          "2D network (e.g. edsr_2d, see 'volsr models') or an interpolation "
                          "baseline")
    info = predictor.record()
    rng = trained_range(info)
    if rng and rng.get("kind") == "through_plane":
        from volsr.weights import bundled_models

        folder = Path(info.get("weights") or "").name
        name = folder if folder in bundled_models() else name  # the name the user knows
        raise ConfigError(f"model {name} is for volumes: it restores the slice axis of "
                          "thick-slice scans, and a 2D image has none; use a 2D image network "
                          "or an interpolation baseline")
