"""Write files so that a crash never leaves a partial output behind."""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

from volsr.errors import OutputError

log = logging.getLogger(__name__)

COMPOUND_SUFFIXES = (".nii.gz", ".tar.gz")


def full_suffix(path: Path) -> str:
    """The file's format suffix, keeping compound ones such as ``.nii.gz`` whole."""
    name = path.name.lower()
    for s in COMPOUND_SUFFIXES:
        if name.endswith(s):
            return path.name[-len(s):]
    return path.suffix


def check_writable_dir(folder: Path) -> None:
    """Raise :class:`OutputError` unless files can be created in ``folder``.

    Tries a real temporary file, which also catches read-only mounts (``os.access``
    says yes to root everywhere).
    """
    if not folder.exists():
        raise OutputError("output folder does not exist", path=folder)
    if not folder.is_dir():
        raise OutputError("output folder is not a folder", path=folder)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".volsr-write-test-", dir=folder)
    except OSError as exc:
        raise OutputError(f"output folder is not writable ({exc.strerror})", path=folder) from None
    os.close(fd)
    os.unlink(tmp)


def _owner() -> str:
    """``host-pid`` of this process, written into temporary names."""
    host = "".join(c for c in socket.gethostname() if c.isalnum() or c in "-_") or "host"
    return f"{host}-{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temporaries(dest: Path) -> list[Path]:
    """Delete temporaries of ``dest`` left by a killed writer (``SIGKILL``, power loss).

    Only temporaries written on this host by a process that no longer exists are
    removed; those of a live writer (another job of an array) are left alone.
    """
    dest = Path(dest)
    host = _owner().rsplit("-", 1)[0]
    removed = []
    for p in dest.parent.glob(f".{glob.escape(dest.name)}.{glob.escape(host)}-*.part*"):
        rest = p.name[len(f".{dest.name}.{host}-"):]
        pid = rest.split(".", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            with contextlib.suppress(OSError):
                p.unlink()
                removed.append(p)
                log.info("%s: removed a temporary left by an interrupted run", p)
    return removed


@contextlib.contextmanager
def atomic_write(dest: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; rename it onto ``dest`` only on success.

    The temporary name keeps ``dest``'s suffix so writers that pick the format from the
    extension (nibabel, SimpleITK) behave the same. On any exception the temporary file
    is removed and ``dest`` is untouched.
    """
    dest = Path(dest)
    check_writable_dir(dest.parent if str(dest.parent) else Path("."))
    suffix = full_suffix(dest)
    remove_stale_temporaries(dest)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.{_owner()}.", suffix=f".part{suffix}",
                                    dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
