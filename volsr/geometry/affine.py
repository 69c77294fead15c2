"""Properties of 4x4 voxel-to-world (RAS+ mm) affines."""

from __future__ import annotations

import numpy as np

from volsr.errors import GeometryError


def spacing_from_affine(affine: np.ndarray) -> np.ndarray:
    """Voxel size (mm) along each voxel axis: the norms of the affine's first three columns."""
    return np.sqrt((np.asarray(affine, dtype=np.float64)[:3, :3] ** 2).sum(axis=0))


def has_shear(affine: np.ndarray, *, tol: float = 1e-4) -> bool:
    """True when the voxel axes are not orthogonal in world space (beyond ``tol``, relative)."""
    rzs = np.asarray(affine, dtype=np.float64)[:3, :3]
    cols = rzs / spacing_from_affine(affine)
    gram = cols.T @ cols
    return bool(np.abs(gram - np.eye(3)).max() > tol)


def axcodes(affine: np.ndarray) -> str:
    """Orientation code such as ``"RAS"`` or ``"LPS"`` (nibabel's closest-axis codes)."""
    import nibabel as nib

    return "".join(nib.orientations.aff2axcodes(np.asarray(affine)))


def validate_affine(affine: np.ndarray, *, path: str | None = None) -> np.ndarray:
    """Check that ``affine`` is a finite, invertible 4x4 voxel-to-world matrix.

    Returns it as float64. Raises :class:`GeometryError` naming the problem.
    """
    a = np.asarray(affine, dtype=np.float64)
    if a.shape != (4, 4):
        raise GeometryError(f"affine must be 4x4, got shape {a.shape}", path=path)
    if not np.all(np.isfinite(a)):
        raise GeometryError("affine contains NaN or infinite values", path=path)
    if not np.allclose(a[3], [0, 0, 0, 1]):
        raise GeometryError(f"affine's last row is {a[3].tolist()}, not [0, 0, 0, 1]", path=path)
    sp = spacing_from_affine(a)
    if np.any(sp <= 0) or not np.all(np.isfinite(sp)):
        raise GeometryError(f"voxel size {_fmt(sp)} mm is not positive", path=path)
    if abs(np.linalg.det(a[:3, :3])) < 1e-12 * float(np.prod(sp)):
        raise GeometryError("affine is singular (voxel axes are not independent)", path=path)
    return a


def _fmt(values: np.ndarray) -> str:
    return " x ".join(f"{v:.4g}" for v in np.ravel(values))
