"""NRRD, MetaImage (MHA/MHD) and DICOM series via SimpleITK.

ITK stores geometry in LPS: ``origin``, ``spacing`` and a direction matrix. volsr's
affines are RAS+ (nibabel), so x and y flip sign on the way in and out. Voxel arrays
are transposed from ITK's (z, y, x) to volsr's (x, y, z).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from volsr.errors import InputError, OutputError
from volsr.geometry import spacing_from_affine, validate_affine
from volsr.io.nifti import check_finite
from volsr.io.volume import Volume, VolumeMeta

log = logging.getLogger(__name__)

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


def itk_geometry_to_affine(origin, spacing, direction) -> np.ndarray:  # noqa: ANN001
    """RAS+ 4x4 affine from ITK (LPS) origin, spacing and row-major 3x3 direction."""
    d = np.asarray(direction, dtype=np.float64).reshape(3, 3)
    a = np.eye(4)
    a[:3, :3] = LPS_TO_RAS @ d @ np.diag(np.asarray(spacing, dtype=np.float64))
    a[:3, 3] = LPS_TO_RAS @ np.asarray(origin, dtype=np.float64)
    return a


def affine_to_itk_geometry(affine: np.ndarray) -> tuple[list[float], list[float], list[float]]:
    """(origin, spacing, direction) in ITK's LPS convention for a RAS+ affine without shear."""
    sp = spacing_from_affine(affine)
    lps = LPS_TO_RAS @ np.asarray(affine, dtype=np.float64)[:3, :3]
    direction = lps / sp
    origin = LPS_TO_RAS @ np.asarray(affine, dtype=np.float64)[:3, 3]
    return origin.tolist(), sp.tolist(), direction.ravel().tolist()


def quiet_itk() -> None:
    """Stop ITK printing multi-line warnings to the terminal; volsr reports problems itself."""
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalWarningDisplay(False)


def read_sitk(path: Path, *, volume_index: int | None = None,
              series_uid: str | None = None) -> Volume:
    """Read an NRRD/MHA/MHD file or a DICOM series folder.

    Raises:
        InputError: unreadable file, unsupported pixels or dimensions, a DICOM series with
            missing or unevenly spaced slices.
    """
    import SimpleITK as sitk

    quiet_itk()
    p = str(path)
    meta = VolumeMeta(path=p)
    try:
        if Path(path).is_dir():
            image, uid = _read_dicom_series(Path(path), series_uid)
            meta.format, meta.series_uid = "dicom", uid
        else:
            image = sitk.ReadImage(p)
            meta.format = Path(path).suffix.lower().lstrip(".").replace("nhdr", "nrrd")
    except RuntimeError as exc:
        raise InputError(f"cannot read image ({_itk_reason(exc)})", path=p) from None
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(f"{image.GetNumberOfComponentsPerPixel()}-component (e.g. RGB) pixels "
                         "are not supported", path=p)
    dim = image.GetDimension()
    if dim < 3:
        raise InputError(f"2D image (size {image.GetSize()}); volsr needs a 3D volume", path=p)
    if dim == 4:
        n_vols = image.GetSize()[3]
        if n_vols > 1 and volume_index is None:
            raise InputError(f"4D image with {n_vols} volumes; pick one with --volume K", path=p)
        k = volume_index or 0
        if not 0 <= k < n_vols:
            raise InputError(f"--volume {k} is out of range ({n_vols} volumes)", path=p)
        size = list(image.GetSize())
        image = sitk.Extract(image, size[:3] + [0], [0, 0, 0, k])
        meta.volume_index = k if n_vols > 1 else None
    elif dim > 4:
        raise InputError(f"{dim}D images are not supported", path=p)
    meta.source_dtype = np.dtype(sitk.GetArrayViewFromImage(image).dtype).name
    affine = validate_affine(
        itk_geometry_to_affine(image.GetOrigin(), image.GetSpacing(), image.GetDirection()), path=p
    )
    arr = np.asarray(sitk.GetArrayFromImage(image), dtype=np.float32).transpose(2, 1, 0)
    if sum(n > 1 for n in arr.shape) < 3:
        raise InputError(f"image has a single voxel along some axis (shape "
                         f"{'x'.join(map(str, arr.shape))}); volsr needs a 3D volume", path=p)
    check_finite(arr, p)
    return Volume(np.ascontiguousarray(arr)[None], affine, meta)


def write_sitk(volume: Volume, path: Path, *, dtype: str = "float32") -> None:
    """Write an NRRD or MHA file (single-file formats)."""
    import SimpleITK as sitk

    quiet_itk()
    arr = volume.data[0]
    if dtype == "input" and volume.meta.source_dtype:
        dt = np.dtype(volume.meta.source_dtype)
    else:
        dt = np.dtype("float32" if dtype == "input" else dtype)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        arr = np.clip(np.rint(arr), info.min, info.max)
    image = sitk.GetImageFromArray(np.ascontiguousarray(arr.astype(dt).transpose(2, 1, 0)))
    origin, spacing, direction = affine_to_itk_geometry(volume.affine)
    image.SetOrigin(origin)
    image.SetSpacing(spacing)
    image.SetDirection(direction)
    try:
        sitk.WriteImage(image, str(path), useCompression=True)
    except RuntimeError as exc:
        raise OutputError(f"cannot write ({_itk_reason(exc)})", path=path) from None


def _read_dicom_series(folder: Path, series_uid: str | None):  # noqa: ANN202
    import SimpleITK as sitk

    uids = list(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)))
    if not uids:
        raise InputError("folder holds no DICOM series", path=folder)
    if series_uid is None:
        if len(uids) > 1:
            raise InputError(f"folder holds {len(uids)} DICOM series; pick one with "
                             f"--series-uid: {', '.join(uids)}", path=folder)
        series_uid = uids[0]
    elif series_uid not in uids:
        raise InputError(f"no DICOM series {series_uid!r} here; found: {', '.join(uids)}",
                         path=folder)
    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), series_uid)
    if len(files) < 2:
        raise InputError(f"DICOM series {series_uid} has a single slice; volsr needs a 3D "
                         "volume", path=folder)
    _check_dicom_spacing(files, folder)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    image = reader.Execute()
    return image, series_uid


def _check_dicom_spacing(files, folder: Path) -> None:  # noqa: ANN001
    """Refuse a series whose slices are not evenly spaced along the slice normal.

    ITK stacks the slices as if evenly spaced, so a missing or unreadable slice would put
    every later slice out of place. The error names the first gap and, when some files of
    the folder are not part of the series, how many (unreadable or foreign files).
    """
    import SimpleITK as sitk

    positions, normal = [], None
    reader = sitk.ImageFileReader()
    for f in files:
        reader.SetFileName(f)
        reader.LoadPrivateTagsOff()
        try:
            reader.ReadImageInformation()
            positions.append([float(v) for v in reader.GetMetaData("0020|0032").split("\\")])
            if normal is None:
                o = [float(v) for v in reader.GetMetaData("0020|0037").split("\\")]
                normal = np.cross(o[:3], o[3:6])
        except (RuntimeError, ValueError, IndexError):
            raise InputError(f"DICOM slice {Path(f).name} has no readable position "
                             "(ImagePositionPatient / ImageOrientationPatient)",
                             path=folder) from None
    pos = np.asarray(positions)
    along = pos @ normal if normal is not None and np.linalg.norm(normal) > 0.5 else \
        np.linalg.norm(pos - pos[0], axis=1)
    steps = np.abs(np.diff(along))
    if not steps.size:
        return
    step = float(np.median(steps))
    worst = int(np.argmax(np.abs(steps - step)))
    if abs(steps[worst] - step) <= max(0.01 * step, 1e-3):
        return
    n_files = sum(1 for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    extra = n_files - len(files)
    raise InputError(
        f"DICOM series is not evenly spaced: slices are {step:.4g} mm apart, but "
        f"{steps[worst]:.4g} mm between {Path(files[worst]).name} and "
        f"{Path(files[worst + 1]).name} (a missing or unreadable slice?"
        + (f" {extra} file(s) here are not part of the series" if extra > 0 else "")
        + "); the volume would be out of place, so it was not read", path=folder)


def _itk_reason(exc: RuntimeError) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "description:" in ln.lower():
            return ln.split(":", 1)[1].strip()
    return lines[-1] if lines else "unknown ITK error"
