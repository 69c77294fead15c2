"""Where volsr puts the JSON sidecar of an output, and how it recognises its own.

The sidecar of ``out.nii.gz`` is ``out.nii.gz.volsr.json``: it cannot collide with a
BIDS sidecar (``sub-01_T1w.json`` holds the scanner's metadata), nor with the sidecar
of ``out.nrrd`` beside it. Sidecars of volsr before this naming were ``<stem>.json``;
:func:`read_own_sidecar` still recognises those, but only when they say volsr wrote them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from volsr.io._atomic import full_suffix

SIDECAR_SUFFIX = ".volsr.json"


def sidecar_path(output: str | Path) -> Path:
    """``out.nii.gz`` -> ``out.nii.gz.volsr.json`` (next to the output)."""
    p = Path(output)
    return p.with_name(p.name + SIDECAR_SUFFIX)


def legacy_sidecar_path(output: str | Path) -> Path:
    """``out.nii.gz`` -> ``out.json``: the name older volsr versions used."""
    p = Path(output)
    suffix = full_suffix(p)
    return p.with_name((p.name[: -len(suffix)] if suffix else p.name) + ".json")


def is_sidecar_name(path: str | Path) -> bool:
    """True for ``*.volsr.json`` names."""
    return Path(path).name.lower().endswith(SIDECAR_SUFFIX)


def load_json(path: str | Path) -> dict[str, Any] | None:
    """A JSON object from ``path``, or None when missing, unreadable or not an object."""
    try:
        rec = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return rec if isinstance(rec, dict) else None


def is_own_record(rec: dict[str, Any] | None) -> bool:
    """True when a JSON record says volsr wrote it."""
    gen = rec.get("generated_by") if isinstance(rec, dict) else None
    return isinstance(gen, dict) and gen.get("name") == "volsr"


def read_own_sidecar(output: str | Path) -> tuple[dict[str, Any] | None, bool]:
    """``(record, legacy)``: the volsr sidecar of ``output``, or ``(None, False)``.

    A ``<stem>.json`` that volsr did not write (a BIDS sidecar) is never returned.
    """
    rec = load_json(sidecar_path(output))
    if is_own_record(rec):
        return rec, False
    old = load_json(legacy_sidecar_path(output))
    if is_own_record(old) and old.get("command") in ("infer", "degrade", "ssr"):
        return old, True
    return None, False


def is_volsr_output(path: str | Path) -> bool:
    """True when ``path`` has a volsr sidecar naming it as the output (so it must not be
    taken as an input by a later folder run)."""
    p = Path(path)
    rec = load_json(sidecar_path(p))
    if not is_own_record(rec):
        return False
    out = rec.get("output") if isinstance(rec, dict) else None
    name = Path(str(out.get("path", ""))).name if isinstance(out, dict) else ""
    return name in ("", p.name)
