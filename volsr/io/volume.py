"""The :class:`Volume` type: voxels plus the geometry and header they came with."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from volsr.geometry import Grid, axcodes, spacing_from_affine


@dataclass
class VolumeMeta:
    """What a reader learned about the source file that a writer needs to write back.

    Attributes:
        path: the file or folder it was read from.
        format: ``"nifti"``, ``"nrrd"``, ``"mha"``, ``"mhd"``, ``"dicom"`` or ``None`` (in memory).
        source_dtype: numpy dtype name of the stored voxels (before scaling).
        scl_slope, scl_inter: the NIfTI scaling applied on read (1 and 0 when none).
        header: a copy of the source NIfTI header (descrip, units, intent, codes), or None.
        sform_code, qform_code: NIfTI codes of the source (0 when not NIfTI).
        volume_index: which 4D volume was taken, when the source was 4D.
        series_uid: the DICOM SeriesInstanceUID, for DICOM sources.
        warnings: geometry or header issues found while reading.
    """

    path: str | None = None
    format: str | None = None
    source_dtype: str | None = None
    scl_slope: float = 1.0
    scl_inter: float = 0.0
    header: Any = None
    sform_code: int = 0
    qform_code: int = 0
    volume_index: int | None = None
    series_uid: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class Volume:
    """A channel-first 3D image with its voxel-to-world affine.

    Attributes:
        data: voxel values, shape ``(C, X, Y, Z)`` in the file's voxel order
            (``C`` is 1 for ordinary scans).
        affine: 4x4 voxel-to-world matrix (RAS+, mm), as nibabel defines it.
        meta: source information used when writing (see :class:`VolumeMeta`).

    Example:
        >>> import numpy as np
        >>> v = Volume(np.zeros((1, 4, 5, 6), np.float32), np.diag([1.0, 1.0, 3.0, 1.0]))
        >>> v.spatial_shape, v.spacing.tolist(), v.orientation
        ((4, 5, 6), [1.0, 1.0, 3.0], 'RAS')
    """

    data: np.ndarray
    affine: np.ndarray
    meta: VolumeMeta = field(default_factory=VolumeMeta)

    def __post_init__(self) -> None:
        if self.data.ndim != 4:
            raise ValueError(f"Volume.data must be (C, X, Y, Z), got shape {self.data.shape}")
        self.affine = np.asarray(self.affine, dtype=np.float64)
        if self.affine.shape != (4, 4):
            raise ValueError(f"affine must be 4x4, got {self.affine.shape}")

    @property
    def spatial_shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.data.shape[1:])  # type: ignore[return-value]

    @property
    def channels(self) -> int:
        return int(self.data.shape[0])

    @property
    def spacing(self) -> np.ndarray:
        """Voxel size in mm along each voxel axis."""
        return spacing_from_affine(self.affine)

    @property
    def orientation(self) -> str:
        return axcodes(self.affine)

    @property
    def grid(self) -> Grid:
        return Grid(self.spatial_shape, self.affine.copy())

    def with_data(self, data: np.ndarray, affine: np.ndarray | None = None) -> Volume:
        """A new Volume with other voxels (and optionally another affine), same source meta."""
        return replace(self, data=data, affine=self.affine if affine is None else affine)

    def describe(self) -> str:
        sp = " x ".join(f"{v:.4g}" for v in self.spacing)
        shape = "x".join(str(n) for n in self.spatial_shape)
        return f"{shape} voxels, {sp} mm, {self.orientation}"
