"""Write files so that a crash never leaves a partial output behind."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from volsr.errors import OutputError

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
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=f".part{suffix}",
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
