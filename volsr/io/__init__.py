"""Reading and writing volumes without ever corrupting their geometry.

:func:`load_volume` reads NIfTI (nibabel), NRRD, MHA/MHD and DICOM series folders
(SimpleITK); :func:`save_volume` writes NIfTI (or NRRD/MHA) atomically.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from volsr.errors import ConfigError, InputError, OutputError
from volsr.geometry import has_shear
from volsr.io._atomic import atomic_write, check_writable_dir, full_suffix
from volsr.io.finite import check_output_finite
from volsr.io.volume import Volume, VolumeMeta

__all__ = [
    "VOLUME_SUFFIXES_ALL",
    "Volume",
    "VolumeMeta",
    "atomic_write",
    "check_dtype_name",
    "check_volume_output",
    "check_writable_dir",
    "file_sha256",
    "load_volume",
    "save_volume",
    "volume_suffix",
    "write_volume_file",
]

log = logging.getLogger(__name__)

NIFTI_SUFFIXES = (".nii", ".nii.gz")
SITK_READ_SUFFIXES = (".nrrd", ".nhdr", ".mha", ".mhd")
SITK_WRITE_SUFFIXES = (".nrrd", ".mha")
VOLUME_SUFFIXES = NIFTI_SUFFIXES + SITK_READ_SUFFIXES
VOLUME_SUFFIXES_ALL = VOLUME_SUFFIXES


def volume_suffix(path: str | Path) -> str:
    """Lower-case format suffix (``.nii.gz``, ``.nrrd``, ...) or ``""``."""
    return full_suffix(Path(path)).lower()


def load_volume(path: str | Path, *, volume_index: int | None = None,
                series_uid: str | None = None) -> Volume:
    """Read a 3D volume (float32, channel-first) with its RAS+ affine.

    Args:
        path: ``.nii``/``.nii.gz``, ``.nrrd``/``.nhdr``, ``.mha``/``.mhd``, or a folder
            holding a DICOM series.
        volume_index: which volume to take from a 4D file (required when it has several).
        series_uid: which DICOM series to take when a folder holds several.

    Raises:
        InputError: missing file, unreadable or corrupt data, not a 3D volume, NaN/inf
            voxels, unusable geometry (one message naming the file and the problem).
    """
    from volsr.io.coerce import check_volume_index

    volume_index = check_volume_index(volume_index)
    p = Path(path)
    if not p.exists():
        raise InputError("no such file or folder", path=p)
    if p.is_dir():
        from volsr.io.sitk_io import read_sitk

        return read_sitk(p, volume_index=volume_index, series_uid=series_uid)
    suffix = volume_suffix(p)
    if suffix in NIFTI_SUFFIXES:
        from volsr.io.nifti import read_nifti

        return read_nifti(p, volume_index=volume_index)
    if suffix in SITK_READ_SUFFIXES:
        from volsr.io.sitk_io import read_sitk

        return read_sitk(p, volume_index=volume_index)
    raise InputError(f"unsupported file type {suffix or '(no extension)'!r}; expected one of "
                     f"{', '.join(VOLUME_SUFFIXES)} or a DICOM folder", path=p)


def save_volume(volume: Volume, path: str | Path, *, dtype: str = "float32",
                overwrite: bool = False) -> Path:
    """Write ``volume`` atomically (temporary file in the same folder, then rename).

    Args:
        dtype: ``"float32"`` (default), ``"input"`` (round, clip and cast back to the
            source's stored type and scaling) or a numpy dtype name.
        overwrite: replace an existing file.

    Returns:
        The path written.
    """
    p = Path(path)
    check_dtype_name(dtype)
    check_volume_output(volume, p)
    if p.exists() and not overwrite:
        raise OutputError("already exists (use --overwrite to replace it)", path=p)
    with atomic_write(p, replace=overwrite) as tmp:
        write_volume_file(volume, tmp, dtype=dtype)
    log.debug("wrote %s", p)
    return p


def check_volume_output(volume: Volume, path: str | Path) -> None:
    """Refuse, before anything is written, an output ``path`` that cannot hold ``volume``:
    unknown format, a sheared affine or several channels in NRRD/MHA, non-finite values.

    Raises:
        OutputError: one line naming the file and the problem.
    """
    p = Path(path)
    suffix = volume_suffix(p)
    if suffix not in NIFTI_SUFFIXES + SITK_WRITE_SUFFIXES:
        raise OutputError(f"cannot write {suffix or 'files without extension'!r}; use .nii.gz, "
                          ".nii, .nrrd or .mha", path=p)
    if has_shear(volume.affine):
        if suffix not in NIFTI_SUFFIXES:
            raise OutputError("a sheared affine cannot be stored in NRRD/MHA; write NIfTI "
                              "instead", path=p)
        log.warning("%s: sheared affine: stored exactly in sform; qform holds the closest "
                    "rigid approximation", p)
    if suffix not in NIFTI_SUFFIXES and volume.channels != 1:
        raise OutputError("multi-channel output is only written as NIfTI", path=p)
    check_output_finite(volume.data, p)


def check_dtype_name(dtype: str | None) -> None:
    """Refuse an output voxel type volsr cannot store: not ``input``/``float32``/an integer
    or float numpy name (``complex64``, ``bool``, ``rgb``, typos).

    Raises:
        ConfigError: naming the type and what to use.
    """
    if dtype is None or dtype == "input":
        return
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.kind not in "iuf" or dt.itemsize > 8 or dt == np.float16:
        raise ConfigError(f"unsupported output dtype {dtype!r}; use float32, input, float64, "
                          "int16, uint8, ...")


def write_volume_file(volume: Volume, tmp: str | Path, *, dtype: str = "float32") -> None:
    """Write ``volume`` to ``tmp`` in the format its suffix names (no checks, not atomic:
    use :func:`save_volume`, or write to a temporary and publish it)."""
    tmp = Path(tmp)
    if volume_suffix(tmp) in NIFTI_SUFFIXES:
        from volsr.io.nifti import write_nifti

        write_nifti(volume, tmp, dtype=dtype)
    else:
        from volsr.io.sitk_io import write_sitk

        write_sitk(volume, tmp, dtype=dtype)


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 hex digest of a file (for a DICOM folder: of its sorted files)."""
    h = hashlib.sha256()
    p = Path(path)
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    for f in files:
        with open(f, "rb") as fh:
            while block := fh.read(chunk):
                h.update(block)
    return h.hexdigest()
