"""JSON sidecars that record how an output was made (and let reruns skip finished work)."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

from volsr._version import __version__
from volsr.io._atomic import atomic_write
from volsr.io.sidecar import sidecar_path  # noqa: F401 - re-exported (was defined here)


def grid_record(shape: Any, affine: np.ndarray) -> dict[str, Any]:
    """Shape, spacing and affine of a grid as plain JSON values."""
    from volsr.geometry import axcodes, spacing_from_affine

    return {
        "shape": [int(n) for n in shape],
        "spacing_mm": [round(float(v), 6) for v in spacing_from_affine(affine)],
        "orientation": axcodes(affine),
        "affine": np.asarray(affine, dtype=float).round(9).tolist(),
    }


def base_record(command: str) -> dict[str, Any]:
    """Fields every sidecar carries: tool, version, command, time, software versions."""
    import numpy

    versions = {"python": platform.python_version(), "numpy": numpy.__version__}
    for mod in ("torch", "monai", "nibabel", "SimpleITK", "scipy"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - optional modules
            continue
    return {
        "generated_by": {"name": "volsr", "version": __version__},
        "command": command,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "software": versions,
        "host": {"platform": platform.platform(), "cpu_count": os.cpu_count()},
    }


def write_sidecar(path: str | Path, record: dict[str, Any]) -> Path:
    """Write ``record`` as pretty JSON atomically."""
    p = Path(path)
    with atomic_write(p) as tmp:
        tmp.write_text(json.dumps(record, indent=2, sort_keys=False, default=_json_default) + "\n")
    return p


def read_sidecar(path: str | Path) -> dict[str, Any] | None:
    """The sidecar's content, or None when missing or unreadable."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")
