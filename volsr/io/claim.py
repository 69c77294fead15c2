"""One writer per output, and the image and its sidecar published as one unit.

:func:`claim_output` creates ``.<name>.volsr-claim`` exclusively (``O_EXCL``) before a
case starts, so a second run aimed at the same output (two array jobs, a rerun in
another terminal) stops with one clear line instead of racing the first one.
:func:`write_with_sidecar` writes both files to temporaries, records the image's size
and sha256 in the sidecar, then publishes the sidecar and the image.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from volsr.errors import OutputError
from volsr.io._atomic import (
    _owner,
    _pid_alive,
    _tmp_base,
    atomic_write,
    check_name_length,
    check_writable_dir,
    fsync_file,
    publish,
    remove_stale_temporaries,
    temporary_file,
)
from volsr.io.sidecar import is_own_record, load_json, sidecar_path

log = logging.getLogger(__name__)


def claim_path(dest: Path) -> Path:
    """``.<name>.volsr-claim`` beside ``dest``."""
    return dest.with_name(f".{_tmp_base(dest)}.volsr-claim")


def _stale(claim: Path) -> bool:
    """A claim left by a process of this host that no longer runs."""
    try:
        host, pid = claim.read_text(encoding="ascii").split()
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return host == _owner().rsplit("-", 1)[0] and pid.isdigit() and not _pid_alive(int(pid))


@contextlib.contextmanager
def claim_output(dest: str | Path) -> Iterator[Path]:
    """Hold ``dest`` exclusively for this process while the block runs.

    Raises:
        OutputError: another live process holds the claim.
    """
    dest = Path(dest)
    check_name_length(dest)
    check_name_length(sidecar_path(dest))
    check_writable_dir(dest.parent if str(dest.parent) else Path("."))
    claim = claim_path(dest)
    host, pid = _owner().rsplit("-", 1)
    for attempt in (0, 1):
        try:
            fd = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            if attempt == 0 and _stale(claim):
                with contextlib.suppress(OSError):
                    claim.unlink()
                log.info("%s: removed the claim of an interrupted run", claim)
                continue
            raise OutputError(f"another volsr run is writing this output (claim file "
                              f"{claim.name}); wait for it, or delete the claim file if no "
                              "run is active", path=dest) from None
        except FileNotFoundError:
            raise OutputError("output folder does not exist", path=dest.parent) from None
        except OSError as exc:
            raise OutputError(f"cannot create files here ({exc.strerror})",
                              path=dest.parent) from None
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(f"{host} {pid}\n")
    remove_stale_temporaries(dest)  # also when the output is then skipped, not rewritten
    try:
        yield claim
    finally:
        with contextlib.suppress(OSError):
            claim.unlink()


def file_digest(path: str | Path, chunk: int = 1 << 20) -> dict[str, Any]:
    """``{"size": bytes, "sha256": hex}`` of a file."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
            size += len(block)
    return {"size": size, "sha256": h.hexdigest()}


def matches_digest(path: str | Path, rec: dict[str, Any]) -> bool:
    """True when ``path`` has the size and sha256 its sidecar record says it was written with
    (a truncated, replaced or partly copied output does not)."""
    out = rec.get("output") if isinstance(rec, dict) else None
    if not isinstance(out, dict) or "sha256" not in out or "size" not in out:
        return False
    try:
        if Path(path).stat().st_size != out["size"]:
            return False
        return file_digest(path)["sha256"] == out["sha256"]
    except OSError:
        return False


def write_with_sidecar(dest: str | Path, write: Callable[[Path], None], record: dict[str, Any],
                       *, replace: bool = False) -> Path:
    """Write ``dest`` with ``write(tmp_path)`` and its sidecar with ``record``, as one unit.

    The image's size and sha256 go into ``record["output"]``. The sidecar is published
    first, then the image: an interruption in between leaves a sidecar whose digest does
    not match, which ``--skip-existing`` redoes. Without ``replace`` an existing image is
    never replaced (even one created meanwhile), and an existing sidecar only when volsr
    wrote it.

    Returns:
        ``dest``.
    """
    dest = Path(dest)
    side = sidecar_path(dest)
    check_name_length(side)
    had_side = side.exists()
    if had_side and not replace and not is_own_record(load_json(side)):
        raise OutputError("exists and was not written by volsr; use --overwrite to replace it",
                          path=side)
    if dest.exists() and not replace:
        raise OutputError("already exists; use --overwrite to replace it", path=dest)
    with temporary_file(dest) as tmp:
        write(tmp)
        fsync_file(tmp)
        record = dict(record)
        record["output"] = {**record.get("output", {}), **file_digest(tmp)}
        with atomic_write(side) as stmp:
            stmp.write_text(json.dumps(record, indent=2, default=_json_default) + "\n",
                            encoding="utf-8")
        try:
            publish(tmp, dest, replace=replace)
        except BaseException:
            if not had_side:
                with contextlib.suppress(OSError):
                    side.unlink()
            raise
    return dest


def _json_default(obj: Any) -> Any:
    from volsr.provenance import _json_default as default

    return default(obj)
