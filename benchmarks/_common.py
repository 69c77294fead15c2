"""Helpers shared by the benchmark scripts (not part of the installed package)."""

from __future__ import annotations

import os
import resource
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _shared_data() -> Path:
    """``$VOLSR_SHARED_DATA``, else the first ``shared/data`` beside the repository or one
    level up (a git worktree in a subfolder)."""
    if os.environ.get("VOLSR_SHARED_DATA"):
        return Path(os.environ["VOLSR_SHARED_DATA"])
    for up in (REPO.parent, REPO.parent.parent):
        if (up / "shared" / "data").is_dir():
            return up / "shared" / "data"
    return REPO.parent / "shared" / "data"


SHARED_DATA = _shared_data()


def manifest_cases(split: str, manifest: Path | None = None) -> list[Any]:
    """The cases of a split of ``data_manifests/shared_data.json``, their files looked up
    in :data:`SHARED_DATA` by name when the manifest's relative path does not exist."""
    from volsr.data import load_manifest

    man = load_manifest(manifest or REPO / "data_manifests" / "shared_data.json")
    out = []
    for case in man.cases(split):
        if not Path(case.hr).exists() and (SHARED_DATA / Path(case.hr).name).exists():
            case = replace(case, hr=SHARED_DATA / Path(case.hr).name)
        out.append(case)
    return out


def validation_and_extra(extra: list[str]) -> list[tuple[str, Any]]:
    """``(id, path)`` of the validation volumes and of the ``extra`` shared scans that exist."""
    out: list[tuple[str, Any]] = [(c.id, c.hr) for c in manifest_cases("validation")]
    out += [(name, SHARED_DATA / f"{name}.nii.gz") for name in extra
            if (SHARED_DATA / f"{name}.nii.gz").exists()]
    return out


def shared_volumes(pattern: str = "*.nii.gz") -> list[Path]:
    """Volumes in ../shared/data, or exit 0 with a note when it is absent."""
    if not SHARED_DATA.is_dir():
        print(f"skipped: {SHARED_DATA} not found")
        sys.exit(0)
    return sorted(SHARED_DATA.glob(pattern))


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux: ru_maxrss is KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def table(rows: list[dict], columns: list[str]) -> str:
    """A Markdown table."""
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        out.append("| " + " | ".join(_fmt(r.get(c, "")) for c in columns) + " |")
    return "\n".join(out)


def _fmt(v: object) -> str:
    return f"{v:.4f}" if isinstance(v, float) and abs(v) < 10 else (
        f"{v:.2f}" if isinstance(v, float) else str(v))
