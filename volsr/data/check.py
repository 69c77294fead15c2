"""Checking a manifest against the files it names (``volsr data check``).

For every case: the files exist, their headers read as 3D volumes with a usable affine,
their sha256 matches the manifest (when given), and a real LR/HR pair covers the same
field of view in world coordinates (every corner of the two grids within half the
largest LR voxel size + 1e-3 mm).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from volsr.data.manifest import Case, load_manifest
from volsr.errors import VolsrError
from volsr.geometry import Grid, validate_affine

__all__ = ["CaseCheck", "CheckReport", "check_manifest", "read_grid"]

log = logging.getLogger(__name__)

#: Case statuses, worst last; a case gets the worst that applies.
STATUSES = ("ok", "bad-hr_axes", "fov-mismatch", "hash-mismatch", "unreadable", "missing")
FOV_TOLERANCE_MM = 1e-3


@dataclass
class CaseCheck:
    """Result for one case: ``status`` (see :data:`STATUSES`) and explanations."""

    id: str
    split: str
    status: str = "ok"
    messages: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    hr_shape: tuple[int, ...] | None = None
    hr_spacing: tuple[float, ...] | None = None
    lr_shape: tuple[int, ...] | None = None
    lr_spacing: tuple[float, ...] | None = None

    def fail(self, status: str, message: str) -> None:
        """Record a problem; the status becomes the worse of the current and ``status``."""
        if STATUSES.index(status) > STATUSES.index(self.status):
            self.status = status
        self.messages.append(message)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "split": self.split, "status": self.status,
                "messages": list(self.messages), "warnings": list(self.warnings),
                "hr_shape": _list(self.hr_shape), "hr_spacing": _list(self.hr_spacing),
                "lr_shape": _list(self.lr_shape), "lr_spacing": _list(self.lr_spacing)}


def _list(v: tuple[Any, ...] | None) -> list[Any] | None:
    return None if v is None else list(v)


@dataclass
class CheckReport:
    """All case results of a manifest check."""

    manifest: Path
    name: str
    cases: list[CaseCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every case is ``ok``."""
        return all(c.status == "ok" for c in self.cases)

    def counts(self) -> dict[str, int]:
        """Number of cases per status (statuses with no case omitted)."""
        out: dict[str, int] = {}
        for c in self.cases:
            out[c.status] = out.get(c.status, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"manifest": str(self.manifest), "name": self.name, "ok": self.ok,
                "counts": self.counts(), "cases": [c.to_dict() for c in self.cases]}

    def summary(self) -> str:
        """Human-readable lines: one per case that is not ok, then a total."""
        lines = [f"{c.split}/{c.id}: {c.status}: {'; '.join(c.messages)}"
                 for c in self.cases if c.status != "ok"]
        counts = ", ".join(f"{n} {s}" for s, n in sorted(self.counts().items()))
        lines.append(f"{self.manifest}: {len(self.cases)} case(s): {counts or 'none'}")
        return "\n".join(lines)


def read_grid(path: Path, *, load_data: bool = False) -> Grid:
    """The voxel grid of a volume file, from its header only (NIfTI, NRRD, MHA/MHD).

    DICOM folders, 2D images (PNG, TIFF, single-frame DICOM: a ``(H, W, 1)`` grid), and
    any file when ``load_data`` is true, are fully read with
    :func:`volsr.data.loading.load_case_file` (which also catches truncated data and NaN
    voxels).

    Raises:
        InputError: unreadable file, not a single 3D volume, unusable affine.
    """
    from volsr.data.loading import is_image2d_file, load_case_file
    from volsr.errors import InputError
    from volsr.io import load_volume, volume_suffix

    suffix = volume_suffix(path)
    if load_data or path.is_dir() or is_image2d_file(path):
        return load_case_file(path).grid
    if suffix in (".nii", ".nii.gz"):
        import nibabel as nib

        try:
            img = nib.load(str(path))
            shape = tuple(int(n) for n in img.shape)
            affine = np.asarray(img.affine, dtype=np.float64)
        except Exception as exc:  # noqa: BLE001 - nibabel raises many types
            raise InputError(f"not a readable NIfTI header ({exc})", path=path) from None
    elif suffix in (".nrrd", ".nhdr", ".mha", ".mhd"):
        import SimpleITK as sitk

        from volsr.io.sitk_io import itk_geometry_to_affine

        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        try:
            reader.ReadImageInformation()
        except RuntimeError as exc:
            raise InputError(f"not a readable image header ({str(exc).strip()[:200]})",
                             path=path) from None
        shape = tuple(int(n) for n in reader.GetSize())
        if len(shape) != 3:
            raise InputError(f"expected a 3D image, got {len(shape)}D", path=path)
        affine = itk_geometry_to_affine(reader.GetOrigin(), reader.GetSpacing(),
                                        reader.GetDirection())
    else:
        return load_volume(path).grid  # raises the usual unsupported-type error
    if len(shape) < 3 or len(shape) > 3 and int(np.prod(shape[3:])) != 1:
        raise InputError(f"expected a single 3D volume, got shape {list(shape)}", path=path)
    affine = validate_affine(affine, path=str(path))
    return Grid(shape[:3], affine)  # type: ignore[arg-type]


def check_manifest(path: str | Path, *, hashes: bool = True, load_data: bool = False,
                   strict_paths: bool = False) -> CheckReport:
    """Check every case of the manifest at ``path``.

    Args:
        path: Manifest file.
        hashes: Verify the sha256 digests the manifest gives (reads every such file).
        load_data: Fully load each volume instead of reading headers only (slower;
            also detects truncated data and non-finite voxels).
        strict_paths: Refuse paths leaving the manifest's folder (see
            :func:`~volsr.data.manifest.load_manifest`).

    Returns:
        A :class:`CheckReport`; ``report.ok`` is true when every case is ``ok``.

    Raises:
        InputError, ConfigError: the manifest itself cannot be loaded.
    """
    manifest = load_manifest(path, strict_paths=strict_paths)
    report = CheckReport(manifest=Path(path), name=manifest.name)
    for split, case in manifest.all_cases():
        report.cases.append(check_case(case, split, hashes=hashes, load_data=load_data))
    log.info("%s", report.summary().splitlines()[-1])
    return report


def check_case(case: Case, split: str, *, hashes: bool = True,
               load_data: bool = False) -> CaseCheck:
    """Check one case (see :func:`check_manifest`)."""
    from volsr.io import file_sha256

    res = CaseCheck(id=case.id, split=split)
    grids: dict[str, Grid] = {}
    for role, p in (("hr", case.hr), ("lr", case.lr)):
        if p is None:
            continue
        if not p.exists():
            res.fail("missing", f"{role} file not found: {p}")
            continue
        try:
            grids[role] = read_grid(p, load_data=load_data)
        except VolsrError as exc:
            res.fail("unreadable", f"{role}: {exc}")
        expected = case.sha256.get(role)
        if hashes and expected is not None:
            got = file_sha256(p)
            if got != expected:
                res.fail("hash-mismatch", f"{role} sha256 is {got}, manifest says {expected}")
    if "hr" in grids:
        res.hr_shape, res.hr_spacing = grids["hr"].shape, _spacing(grids["hr"])
    if "lr" in grids:
        res.lr_shape, res.lr_spacing = grids["lr"].shape, _spacing(grids["lr"])
    if "hr" in grids and "lr" in grids:
        _check_pair(res, grids["hr"], grids["lr"])
    if "hr_axes" in case.extra:
        _check_hr_axes(res, case, grids.get("hr"))
    return res


def _check_hr_axes(res: CaseCheck, case: Case, hr: Grid | None) -> None:
    """``hr_axes`` must name 2 or 3 distinct voxel axes, of (about) equal spacing."""
    from volsr.data.grid_pairs import case_planes
    from volsr.errors import InputError

    axes = case.extra["hr_axes"]
    try:
        case_planes(axes, 0, (), case_id=case.id)
    except InputError as exc:
        res.fail("bad-hr_axes", str(exc))
        return
    if hr is not None:
        sp = [float(hr.spacing[a]) for a in axes]
        if max(sp) > 1.05 * min(sp):
            res.warnings.append(f"hr_axes {list(axes)} have different voxel sizes "
                                f"{[round(v, 4) for v in sp]} mm; training planes treat them "
                                "as equally resolved")


def _spacing(grid: Grid) -> tuple[float, ...]:
    return tuple(round(float(v), 6) for v in grid.spacing)


def _check_pair(res: CaseCheck, hr: Grid, lr: Grid) -> None:
    tol = float(lr.spacing.max()) / 2.0 + FOV_TOLERANCE_MM
    a, b = hr.world_bounds(), lr.world_bounds()
    # order-free: each corner of one box to the nearest corner of the other
    d = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)
    dist = float(max(d.min(axis=1).max(), d.min(axis=0).max()))
    if dist > tol:
        res.fail("fov-mismatch", f"LR and HR fields of view differ: a corner is "
                                 f"{dist:.3g} mm away (tolerance {tol:.3g} mm)")
    m = np.linalg.inv(lr.affine) @ hr.affine
    lin = m[:3, :3]
    diag = np.diag(lin)
    if (np.abs(lin - np.diag(diag)).max() > 1e-4 * max(1.0, np.abs(diag).max())
            or np.any(diag <= 0)):
        res.warnings.append("LR voxel axes are not aligned with HR voxel axes (rotated, "
                            "permuted or flipped); paired training needs aligned axes")
