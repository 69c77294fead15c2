"""NIfTI-1/2 reading and writing with nibabel, keeping geometry exact.

Reading honours ``scl_slope``/``scl_inter`` and takes the affine nibabel reports
(sform when its code is set, else qform, else pixdim). Writing sets sform *and*
qform explicitly (sheared affines: exact in sform, closest rigid approximation in
qform, with a warning), updates pixdim, resets the scaling and writes float32 unless
asked otherwise.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from volsr.errors import GeometryError, InputError, OutputError
from volsr.geometry import has_shear, validate_affine
from volsr.io.volume import Volume, VolumeMeta

log = logging.getLogger(__name__)


def read_nifti(path: Path, *, volume_index: int | None = None) -> Volume:
    """Read a ``.nii``/``.nii.gz`` file as a :class:`Volume` (float32 voxels)."""
    import nibabel as nib
    from nibabel.filebasedimages import ImageFileError

    p = str(path)
    _check_dim0(p)
    try:
        img = nib.load(p)
    except ImageFileError as exc:
        raise InputError(f"not a readable NIfTI image ({_reason(exc)})", path=p) from None
    except Exception as exc:  # noqa: BLE001 - nibabel raises many types for broken headers
        raise InputError(f"not a readable NIfTI image ({_reason(exc)})", path=p) from None
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        raise InputError(f"not a NIfTI image ({type(img).__name__})", path=p)
    hdr = img.header
    meta = VolumeMeta(path=p, format="nifti")
    dtype = hdr.get_data_dtype()
    if dtype.fields is not None or dtype.kind not in "biuf":
        raise InputError(f"unsupported voxel type {dtype} (RGB/complex images are not scans "
                         "volsr can super-resolve)", path=p)
    meta.source_dtype = dtype.name
    shape = tuple(int(n) for n in img.shape)
    spatial = _check_shape(shape, p)
    _check_pixdim(_raw_header(img, p), p)
    affine = validate_affine(img.affine, path=p)
    meta.header = hdr.copy()
    meta.sform_code = int(hdr["sform_code"])
    meta.qform_code = int(hdr["qform_code"])
    # nibabel moves the scaling from the header into the array proxy on load
    meta.scl_slope = float(getattr(img.dataobj, "slope", 1.0))
    meta.scl_inter = float(getattr(img.dataobj, "inter", 0.0))
    meta.warnings.extend(_geometry_warnings(hdr, affine, p))

    extra = shape[3:]
    n_vols = int(np.prod(extra)) if extra else 1
    if n_vols > 1 and volume_index is None:
        raise InputError(f"{len(shape)}D image with {n_vols} volumes (shape {_shape(shape)}); "
                         "pick one with --volume K", path=p)
    k = 0 if volume_index is None else int(volume_index)
    if not 0 <= k < n_vols:
        raise InputError(f"--volume {k} is out of range: the image has {n_vols} volume(s)", path=p)
    if n_vols > 1:
        meta.volume_index = k
    _check_data_size(shape, dtype, hdr, p)
    try:
        if extra:
            proxy = img.dataobj
            idx = np.unravel_index(k, extra)
            arr = np.asarray(proxy[(slice(None),) * 3 + tuple(int(i) for i in idx)],
                             dtype=np.float32)
        else:
            arr = np.asarray(img.dataobj, dtype=np.float32)
    except MemoryError:
        raise InputError(f"header declares {_shape(shape)} voxels, too many to load", path=p) \
            from None
    except Exception as exc:  # noqa: BLE001 - zlib, EOF, buffer-size errors from nibabel
        raise InputError(f"voxel data is truncated or corrupt ({_reason(exc)})", path=p) from None
    arr = arr.reshape(spatial)
    check_finite(arr, p)
    return Volume(arr[None], affine, meta)


def write_nifti(volume: Volume, path: Path, *, dtype: str = "float32") -> None:
    """Write ``volume`` to ``path`` (a temporary path; atomic renaming is the caller's job).

    Args:
        dtype: ``"float32"`` (default), ``"input"`` (round, clip and cast back to the
            source's stored type, keeping its scaling) or any numpy dtype name.
    """
    import nibabel as nib

    meta = volume.meta
    data = volume.data
    arr = data[0] if data.shape[0] == 1 else np.moveaxis(data, 0, -1)
    hdr = _base_header(meta)
    out_dtype, slope, inter = _resolve_dtype(dtype, meta)
    stored = _to_stored(arr, out_dtype, slope, inter)
    img = nib.Nifti1Image(stored, volume.affine, header=hdr)
    h = img.header
    h.set_data_dtype(out_dtype)
    s_code, q_code = _output_codes(img, volume.affine, meta, path)
    img.set_sform(volume.affine, code=s_code)
    img.set_qform(volume.affine, code=q_code)
    h.set_slope_inter(slope, inter)
    h["cal_min"] = 0.0
    h["cal_max"] = 0.0
    h.set_xyzt_units(*_units(meta))
    try:
        nib.save(img, str(path))
    except OSError as exc:
        raise OutputError(f"cannot write ({_reason(exc)})", path=path) from None


ALIGNED = 2  # NIfTI xform code "aligned": coordinates aligned to another scan's frame


def _output_codes(img, affine: np.ndarray, meta: VolumeMeta,  # noqa: ANN001
                  path: Path) -> tuple[int, int]:
    """sform/qform codes of the output: the input's; 1 (scanner) for non-NIfTI sources.

    A NIfTI input with both codes 0 is in an unknown space (its grid comes from pixdim
    only). The output never claims ``scanner`` then: it keeps codes 0 when a reader's
    pixdim-only affine of the output is exactly ``affine``, else writes code 2 ("aligned":
    the frame of the input's voxel grid), and says so.
    """
    if meta.format != "nifti" or meta.sform_code or meta.qform_code:
        return meta.sform_code or 1, meta.qform_code or 1
    h = img.header.copy()
    h.set_zooms(tuple(float(z) for z in np.sqrt((np.asarray(affine)[:3, :3] ** 2).sum(0)))
                + tuple(h.get_zooms()[3:]))
    if np.allclose(h.get_base_affine(), affine, atol=1e-5):
        log.warning("%s: no sform/qform (space unknown); its output keeps codes 0",
                    meta.path or path)
        return 0, 0
    log.warning("%s: no sform/qform (space unknown); its output gets sform/qform code 2 "
                "(aligned to this input's voxel grid), not 1 (scanner)", meta.path or path)
    return ALIGNED, ALIGNED


def check_finite(arr: np.ndarray, path: str | None) -> None:
    """Raise :class:`InputError` when ``arr`` holds NaN or infinite values."""
    finite = np.isfinite(arr)
    if not finite.all():
        bad = int(arr.size - np.count_nonzero(finite))
        raise InputError(f"{bad} voxel(s) are NaN or infinite; clean the image first "
                         "(e.g. replace them with 0)", path=path)


def raw_dim0(path: str) -> int | None:
    """``dim[0]`` (number of dimensions) as stored in a NIfTI-1/2 header, or None when the
    file is too short to tell (either byte order; ``.gz`` is opened transparently)."""
    import struct

    from nibabel.openers import ImageOpener

    try:
        with ImageOpener(path) as fh:
            head = fh.read(48)
    except Exception:  # noqa: BLE001 - unreadable: nibabel will say why
        return None
    if len(head) < 42:
        return None
    for order in "<>":
        size = struct.unpack(f"{order}i", head[:4])[0]
        if size == 348:
            return struct.unpack(f"{order}h", head[40:42])[0]
        if size == 540 and len(head) >= 18:
            return struct.unpack(f"{order}q", head[16:24])[0]
    return None


def _check_dim0(path: str) -> None:
    """Refuse ``dim[0]`` outside 1..7 with a message that says so (nibabel's own error for
    8 or 9 speaks of a data code; for 0 the image looks like an empty 2D one)."""
    d0 = raw_dim0(path)
    if d0 is not None and not 1 <= d0 <= 7:
        raise InputError(f"invalid header: dim[0] = {d0} (the number of dimensions must be 1 "
                         "to 7)", path=path)


def _check_shape(shape: tuple[int, ...], path: str) -> tuple[int, int, int]:
    if len(shape) < 3:
        raise InputError(f"2D image (shape {_shape(shape)}); volsr needs a 3D volume", path=path)
    if min(shape) < 1:
        raise InputError(f"empty image (shape {_shape(shape)})", path=path)
    spatial = shape[:3]
    if sum(n > 1 for n in spatial) < 3:
        raise InputError(f"image has a single voxel along some axis (shape {_shape(shape)}); "
                         "volsr needs a 3D volume", path=path)
    return spatial  # type: ignore[return-value]


# deflate cannot compress better than about 1032:1, so a .gz smaller than this fraction
# of the declared data is certainly truncated
MAX_DEFLATE_RATIO = 1032


def _check_data_size(shape: tuple[int, ...], dtype: np.dtype, hdr,  # noqa: ANN001
                     path: str) -> None:
    """Refuse a header declaring more voxel data than the file can hold, before reading.

    Without this, a truncated file whose header claims e.g. 2000^3 voxels makes the
    reader allocate the declared size (gigabytes) only to find the data missing.
    """
    offset = float(hdr["vox_offset"])
    offset = int(offset) if np.isfinite(offset) and offset > 0 else 0
    declared = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize + offset
    size = Path(path).stat().st_size
    gz = str(path).lower().endswith(".gz")
    room = size * MAX_DEFLATE_RATIO + 1024 if gz else size
    if declared > room:
        raise InputError(f"voxel data is truncated: the header declares {_shape(shape)} "
                         f"{dtype.name} voxels ({declared:,} bytes) but the "
                         f"{'compressed ' if gz else ''}file has only {size:,} bytes", path=path)


def _check_pixdim(hdr, path: str) -> None:  # noqa: ANN001 - nibabel header
    pix = np.asarray(hdr["pixdim"][1:4], dtype=np.float64)
    if not np.all(np.isfinite(pix)) or np.any(pix <= 0):
        vals = ", ".join(f"{v:g}" for v in pix)
        raise GeometryError(f"invalid voxel size in header (pixdim = {vals}); every voxel "
                            "size must be a positive number", path=path)


def _raw_header(img, path: str):  # noqa: ANN001, ANN202
    """The header exactly as stored (nibabel silently repairs e.g. negative pixdim on load)."""
    from nibabel.openers import ImageOpener

    try:
        with ImageOpener(path) as fh:
            return type(img.header).from_fileobj(fh, check=False)
    except Exception:  # noqa: BLE001 - fall back to nibabel's view
        return img.header


def _geometry_warnings(hdr, affine: np.ndarray, path: str) -> list[str]:  # noqa: ANN001
    out: list[str] = []
    s_code, q_code = int(hdr["sform_code"]), int(hdr["qform_code"])
    sheared = has_shear(affine)
    if s_code > 0 and q_code > 0 and not sheared:
        q = hdr.get_qform()
        if not np.allclose(q, hdr.get_sform(), atol=1e-3):
            out.append("qform and sform disagree; using sform (as nibabel does)")
    if s_code == 0 and q_code == 0:
        out.append("no sform or qform set; geometry taken from pixdim only")
    if sheared:
        out.append("sheared affine (kept exactly in sform)")
    for w in out:
        log.warning("%s: %s", path, w)
    return out


def _base_header(meta: VolumeMeta):  # noqa: ANN202
    import nibabel as nib

    if meta.header is not None and isinstance(meta.header, nib.Nifti1Header) and not isinstance(
        meta.header, nib.Nifti2Header
    ):
        hdr = meta.header.copy()
        hdr.set_intent("none")
        return hdr
    hdr = nib.Nifti1Header()
    if meta.header is not None:
        hdr["descrip"] = meta.header.get("descrip", b"")
    return hdr


def _units(meta: VolumeMeta) -> tuple[str, str]:
    if meta.header is not None:
        try:
            space, time = meta.header.get_xyzt_units()
            if space != "unknown":
                return space, time if time != "unknown" else "sec"
        except Exception:  # noqa: BLE001 - fall back to the NIfTI default
            pass
    return "mm", "sec"


def _resolve_dtype(dtype: str, meta: VolumeMeta) -> tuple[np.dtype, float | None, float | None]:
    if dtype == "input":
        if meta.source_dtype is None:
            return np.dtype(np.float32), None, None
        src = np.dtype(meta.source_dtype)
        if src.kind == "f":
            return src, None, None
        if meta.scl_slope not in (0.0, 1.0) or meta.scl_inter != 0.0:
            return src, meta.scl_slope, meta.scl_inter
        return src, None, None
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise OutputError(f"unknown output dtype {dtype!r}; use float32, input, int16, ...") \
            from None
    return dt, None, None


def _to_stored(arr: np.ndarray, dt: np.dtype, slope: float | None,
               inter: float | None) -> np.ndarray:
    if dt.kind == "f":
        return np.asarray(arr, dtype=dt)
    vals = np.asarray(arr, dtype=np.float64)
    if slope is not None:
        vals = (vals - (inter or 0.0)) / slope
    info = np.iinfo(dt)
    return np.clip(np.rint(vals), info.min, info.max).astype(dt)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(n) for n in shape)
