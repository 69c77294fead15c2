"""Write files so that a crash never leaves a partial output behind."""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import logging
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

from volsr.errors import OutputError

log = logging.getLogger(__name__)

COMPOUND_SUFFIXES = (".nii.gz", ".tar.gz")
NAME_MAX = 255  # bytes in one file name on Linux/macOS file systems
_TMP_ROOM = 64  # bytes a temporary name adds: dots, host-pid, random part, ".part"


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
    base = _tmp_base(dest)
    removed = []
    for p in dest.parent.glob(f".{glob.escape(base)}.{glob.escape(host)}-*.part*"):
        rest = p.name[len(f".{base}.{host}-"):]
        pid = rest.split(".", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            with contextlib.suppress(OSError):
                p.unlink()
                removed.append(p)
                log.info("%s: removed a temporary left by an interrupted run", p)
    return removed


def _tmp_base(dest: Path) -> str:
    """The part of ``dest``'s name that its temporaries start with.

    Long names are shortened (with a hash of the full name) so that the temporary name
    stays under :data:`NAME_MAX` even when ``dest``'s own name nearly fills it.
    """
    name = dest.name
    if len(name.encode()) + _TMP_ROOM + len(full_suffix(dest).encode()) <= NAME_MAX:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    return f"{name.encode()[:100].decode(errors='ignore')}~{digest}"


def check_name_length(dest: Path) -> None:
    """Raise :class:`OutputError` when ``dest``'s file name is too long for the file system."""
    n = len(Path(dest).name.encode())
    if n > NAME_MAX:
        raise OutputError(f"file name is too long ({n} bytes; at most {NAME_MAX})", path=dest)


def current_umask() -> int:
    """The process umask (read without changing it for longer than a moment)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def publish(tmp: Path, dest: Path, *, replace: bool) -> None:
    """Move the finished ``tmp`` onto ``dest``.

    With ``replace=False`` the move fails with :class:`OutputError` when ``dest`` exists,
    even if another process created it a moment ago (hard link + unlink: the link fails
    atomically; file systems without hard links fall back to a check and a rename).
    """
    if dest.is_dir():
        raise OutputError("is a folder; give a file name", path=dest)
    if replace:
        os.replace(tmp, dest)
        return
    try:
        os.link(tmp, dest)
    except FileExistsError:
        raise OutputError("already exists (another run wrote it meanwhile?); use --overwrite "
                          "to replace it", path=dest) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise
        if dest.exists():
            raise OutputError("already exists; use --overwrite to replace it", path=dest) \
                from None
        os.replace(tmp, dest)
        return
    tmp.unlink()


@contextlib.contextmanager
def temporary_file(dest: Path) -> Iterator[Path]:
    """Yield a new empty temporary file beside ``dest`` (same suffix); remove it on exit
    unless the block moved it away (see :func:`publish`).

    The file gets the usual permissions (``0o666`` less the umask), not ``mkstemp``'s
    private ``0o600``.
    """
    dest = Path(dest)
    check_name_length(dest)
    check_writable_dir(dest.parent if str(dest.parent) else Path("."))
    if dest.is_dir():
        raise OutputError("is a folder; give a file name", path=dest)
    remove_stale_temporaries(dest)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{_tmp_base(dest)}.{_owner()}.",
                                    suffix=f".part{full_suffix(dest)}", dir=dest.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
    finally:
        os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def fsync_file(path: Path) -> None:
    """Flush ``path``'s data to disk."""
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


@contextlib.contextmanager
def atomic_write(dest: Path, *, replace: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; move it onto ``dest`` only on success.

    The temporary name keeps ``dest``'s suffix so writers that pick the format from the
    extension (nibabel, SimpleITK) behave the same. On any exception the temporary file
    is removed and ``dest`` is untouched.

    Args:
        replace: replace an existing ``dest`` (default). ``False`` never replaces one,
            even one created by another process while this one was writing.
    """
    dest = Path(dest)
    with temporary_file(dest) as tmp:
        yield tmp
        fsync_file(tmp)
        publish(tmp, dest, replace=replace)
