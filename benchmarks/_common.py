"""Helpers shared by the benchmark scripts (not part of the installed package)."""

from __future__ import annotations

import resource
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


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
