"""The 2D image type (:class:`Image2D`) and the suffixes volsr reads and writes as 2D images.


Geometry: ``data`` is ``(C, H, W)`` (rows, columns), ``spacing`` is ``(row, column)``
pixel size in mm (from DPI: ``25.4 / dpi``; 1.0 and ``spacing_known=False`` when the
file has none). :meth:`Image2D.to_volume` gives the ``(C, H, W, 1)`` :class:`Volume`
the inference code runs on; the resampling convention is volsr's (field of view kept).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from volsr.io.volume import Volume, VolumeMeta

__all__ = ["BT601", "IMAGE2D_SUFFIXES", "IMAGE2D_WRITE_SUFFIXES", "MM_PER_INCH", "Image2D",
           "image2d_suffix", "is_image2d_path"]

IMAGE2D_SUFFIXES = (".png", ".tif", ".tiff", ".dcm")
IMAGE2D_WRITE_SUFFIXES = (".png", ".tif", ".tiff")
BT601 = (0.299, 0.587, 0.114)
MM_PER_INCH = 25.4


def image2d_suffix(path: str | Path) -> str:
    """Lower-case suffix when ``path`` names a 2D image format, else ``""``."""
    s = Path(path).suffix.lower()
    return s if s in IMAGE2D_SUFFIXES else ""


def is_image2d_path(path: str | Path) -> bool:
    """True for a file (not a folder) with a 2D image suffix (.png, .tif, .tiff, .dcm)."""
    return image2d_suffix(path) != "" and not Path(path).is_dir()


@dataclass
class Image2D:
    """A 2D image with its pixel size and what is needed to write it back.

    Attributes:
        data: pixel values, float32, shape ``(C, H, W)`` (C is 1 after luminance
            conversion).
        spacing: ``(row, column)`` pixel size in mm (1.0 when unknown).
        source_dtype: numpy dtype name of the stored pixels (``uint8``, ``uint16``, ...).
        bit_depth: bits per stored sample (DICOM: bits stored).
        format: ``"png"``, ``"tiff"``, ``"dicom"`` or None (in memory).
        path: the file it came from.
        dpi: ``(horizontal, vertical)`` resolution in dots per inch, or None.
        spacing_known: whether ``spacing`` came from the file (DPI or DICOM header).
        metadata: PNG text chunks (``"text"``), TIFF description, DICOM tags
            (``"dicom"``), ``"photometric"`` and the colour mode read.
        warnings: conversions made on reading (colour to luminance, dropped alpha,
            MONOCHROME1), reported in sidecars.
    """

    data: np.ndarray
    spacing: np.ndarray = field(default_factory=lambda: np.ones(2))
    source_dtype: str = "float32"
    bit_depth: int = 32
    format: str | None = None
    path: str | None = None
    dpi: tuple[float, float] | None = None
    spacing_known: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.data.ndim != 3:
            raise ValueError(f"Image2D.data must be (C, H, W), got shape {self.data.shape}")
        self.spacing = np.asarray(self.spacing, dtype=np.float64).reshape(2)
        if not np.all(np.isfinite(self.spacing)) or np.any(self.spacing <= 0):
            raise ValueError(f"pixel spacing must be positive, got {self.spacing.tolist()}")

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)``: rows, columns."""
        return int(self.data.shape[1]), int(self.data.shape[2])

    @property
    def channels(self) -> int:
        """Number of channels ``C``."""
        return int(self.data.shape[0])

    def to_volume(self) -> Volume:
        """The ``(C, H, W, 1)`` volume (affine ``diag(row, column, 1 mm)``) networks run on."""
        affine = np.diag([float(self.spacing[0]), float(self.spacing[1]), 1.0, 1.0])
        meta = VolumeMeta(path=self.path, format=self.format, source_dtype=self.source_dtype,
                          warnings=list(self.warnings))
        return Volume(np.ascontiguousarray(self.data[..., None], dtype=np.float32), affine, meta)

    def with_volume(self, volume: Volume) -> Image2D:
        """This image's metadata around the pixels of a ``(C, H', W', 1)`` result volume.

        The spacing is taken from the volume and the DPI scaled by the same factor, so
        the physical size is kept.
        """
        if volume.data.ndim != 4 or volume.data.shape[3] != 1:
            raise ValueError(f"expected a (C, H, W, 1) volume, got shape {volume.data.shape}")
        spacing = volume.spacing[:2].astype(np.float64)
        factor = self.spacing / spacing
        dpi = None if self.dpi is None else (float(self.dpi[0] * factor[1]),
                                             float(self.dpi[1] * factor[0]))
        return replace(self, data=np.asarray(volume.data[..., 0], dtype=np.float32),
                       spacing=spacing, dpi=dpi, metadata=dict(self.metadata),
                       warnings=list(self.warnings))

    def stored_dpi(self) -> tuple[float, float] | None:
        """``(horizontal, vertical)`` DPI a written PNG/TIFF carries: :attr:`dpi`, else
        ``25.4 / spacing`` when the spacing is known (a DICOM source), else None."""
        if self.dpi is not None:
            return float(self.dpi[0]), float(self.dpi[1])
        if not self.spacing_known:
            return None
        return MM_PER_INCH / float(self.spacing[1]), MM_PER_INCH / float(self.spacing[0])

    def record(self) -> dict[str, Any]:
        """JSON-ready description for sidecars (shape, pixel size, DPI, bit depth, tags)."""
        rec: dict[str, Any] = {
            "kind": "image2d", "format": self.format, "shape": list(self.shape),
            "spacing_mm": ([round(float(v), 6) for v in self.spacing] if self.spacing_known
                           else None),
            "dpi": None if self.dpi is None else [round(float(v), 4) for v in self.dpi],
            "source_dtype": self.source_dtype, "bit_depth": self.bit_depth,
            "photometric": self.metadata.get("photometric")}
        if "dicom" in self.metadata:
            rec["dicom"] = dict(self.metadata["dicom"])
        return rec

    def describe(self) -> str:
        """One line for messages: size, pixel size and bit depth."""
        sp = " x ".join(f"{v:.4g}" for v in self.spacing) + (" mm" if self.spacing_known
                                                               else " (pixels)")
        return f"{self.shape[0]}x{self.shape[1]} pixels, {sp}, {self.bit_depth}-bit"
