"""What ``volsr info`` prints: a file's grid and header, also for files volsr would refuse
to super-resolve (4D without ``--volume``, NaN voxels, complex or RGB voxels), with the
problem flagged instead of only an error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from volsr.errors import GeometryError, InputError


def describe_file(path: str | Path, *, volume_index: int | None = None,
                  series_uid: str | None = None) -> dict[str, Any]:
    """A JSON-ready record of ``path``: format, stored dtype, shape, spacing, orientation,
    affine, header codes, scaling, value range, warnings and ``problems`` (why volsr would
    refuse it; empty when it can be super-resolved).

    Raises:
        InputError: a file that cannot be described at all (missing, not an image, broken
            geometry).
    """
    from volsr.io import load_volume, volume_suffix
    from volsr.provenance import grid_record

    try:
        v = load_volume(path, volume_index=volume_index, series_uid=series_uid)
    except GeometryError:
        raise
    except InputError as exc:
        if Path(path).is_dir() or volume_suffix(path) not in (".nii", ".nii.gz"):
            raise
        return _describe_nifti_header(Path(path), str(exc).split(": ", 1)[-1])
    return {"path": str(path), "format": v.meta.format, "stored_dtype": v.meta.source_dtype,
            **grid_record(v.spatial_shape, v.affine),
            "sform_code": v.meta.sform_code, "qform_code": v.meta.qform_code,
            "scl_slope": v.meta.scl_slope, "scl_inter": v.meta.scl_inter,
            "range": [float(v.data.min()), float(v.data.max())], "warnings": v.meta.warnings,
            "problems": []}


def _describe_nifti_header(path: Path, problem: str) -> dict[str, Any]:
    """Header-level description of a NIfTI that :func:`load_volume` refused."""
    import nibabel as nib

    from volsr.geometry import axcodes

    try:
        img = nib.load(str(path))
    except Exception:  # noqa: BLE001 - not even a header: the loader's error stands
        raise InputError(problem, path=path) from None
    hdr = img.header
    shape = [int(n) for n in img.shape]
    aff = np.asarray(img.affine, dtype=float)
    rec: dict[str, Any] = {
        "path": str(path), "format": "nifti", "stored_dtype": hdr.get_data_dtype().name,
        "shape": shape,
        "spacing_mm": [round(float(z), 6) for z in hdr.get_zooms()[:3]],
        "orientation": axcodes(aff) if np.all(np.isfinite(aff)) else "?",
        "affine": aff.round(9).tolist(),
        "sform_code": int(hdr["sform_code"]), "qform_code": int(hdr["qform_code"]),
        "problems": [problem],
    }
    if len(shape) > 3:
        rec["volumes"] = int(np.prod(shape[3:]))
    kind = hdr.get_data_dtype().kind
    if kind in "biuf" and hdr.get_data_dtype().fields is None and np.prod(shape) <= 2**28:
        try:
            data = np.asanyarray(img.dataobj)
            finite = np.isfinite(data)
            rec["nonfinite_voxels"] = int(data.size - np.count_nonzero(finite))
            if finite.any():
                rec["range"] = [float(data[finite].min()), float(data[finite].max())]
        except Exception:  # noqa: BLE001, S110 - truncated data: the problem says so
            pass
    return rec
