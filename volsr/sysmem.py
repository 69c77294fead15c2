"""How much memory this process may still use: ``MemAvailable`` bounded by the memory
limits of the process's *own* control group and its parents (cgroup v2 and v1), so that
a SLURM job step or a nested container is seen with its own limit, not the machine's."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
_NO_LIMIT = 1 << 60  # v1 reports "no limit" as a huge number (page-rounded LONG_MAX)


def meminfo_available(path: str | Path = "/proc/meminfo") -> int | None:
    """``MemAvailable`` in bytes, or None where there is no /proc/meminfo."""
    try:
        with open(path, encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def own_cgroup_dirs(proc_cgroup: str | Path = "/proc/self/cgroup",
                    root: str | Path = CGROUP_ROOT) -> Iterator[tuple[Path, str]]:
    """``(folder, version)`` of this process's memory cgroup and each parent up to the mount
    root, for v2 (``0::/path``) and v1 (``N:...memory...:/path``) hierarchies."""
    root = Path(root)
    try:
        lines = Path(proc_cgroup).read_text(encoding="ascii").splitlines()
    except OSError:
        return
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, rel = parts
        if controllers == "":
            base, version = root, "v2"
            if not (base / "cgroup.controllers").exists():
                base = root / "unified"
        elif "memory" in controllers.split(","):
            base, version = root / "memory", "v1"
        else:
            continue
        here = base / rel.lstrip("/")
        while True:
            if here.is_dir():
                yield here, version
            if here == base or base not in here.parents:
                break
            here = here.parent


def _room(folder: Path, version: str) -> int | None:
    names = (("memory.max", "memory.current") if version == "v2" else
             ("memory.limit_in_bytes", "memory.usage_in_bytes"))
    try:
        limit = (folder / names[0]).read_text(encoding="ascii").strip()
        used = int((folder / names[1]).read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None
    if not limit.isdigit() or int(limit) >= _NO_LIMIT:
        return None
    return max(0, int(limit) - used)


def cgroup_room(proc_cgroup: str | Path = "/proc/self/cgroup",
                root: str | Path = CGROUP_ROOT) -> int | None:
    """Smallest room left under a memory limit of this process's cgroup or a parent (the
    mount root included), or None when no limit is set."""
    rooms = [r for d, v in own_cgroup_dirs(proc_cgroup, root) if (r := _room(d, v)) is not None]
    for base, version in ((Path(root), "v2"), (Path(root) / "memory", "v1")):
        r = _room(base, version)  # a namespaced container sees its limit at the mount root
        if r is not None:
            rooms.append(r)
    return min(rooms) if rooms else None


def available_memory(default: int = 8 * 2**30) -> int:
    """Bytes of RAM this process can still use (best effort; ``default`` when unknown)."""
    vals = [v for v in (meminfo_available(), cgroup_room()) if v is not None]
    if not vals:
        try:
            vals = [os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")]
        except (ValueError, OSError, AttributeError):
            vals = [default]
    return int(min(vals))
