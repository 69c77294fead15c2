"""2D images (radiographs, photographs of slides, PNG/TIFF exports): read, keep, write back.

:func:`load_image2d` reads

* PNG and TIFF with Pillow: 8-bit grey (``L``), 16-bit grey (``I;16``), 32-bit integer
  and float TIFF; bilevel and palette images are widened to 8-bit grey; RGB(A), CMYK
  and palette colour images are converted to luminance ``Y = 0.299 R + 0.587 G +
  0.114 B`` (ITU-R BT.601) in floating point, with a logged warning that is also kept
  in :attr:`Image2D.warnings` (and so in the inference sidecar); an alpha channel is
  dropped the same way. Multi-page TIFFs are refused.
* single-frame DICOM files (``.dcm``) with SimpleITK: pixel values as SimpleITK returns
  them (rescale slope/intercept applied), pixel spacing from the header
  (PixelSpacing, else ImagerPixelSpacing), and the tags that matter for writing back
  (photometric interpretation, bits stored, modality, window). ``MONOCHROME1`` images
  (low values displayed bright) are inverted by SimpleITK/GDCM on reading
  (``v -> 2^bits_stored - 1 - v``), which is what PNG/TIFF viewers (MONOCHROME2) need to
  show them as intended; the source interpretation is recorded (``metadata
  ["photometric"]``, sidecar) with a warning.

:func:`save_image2d` writes PNG or TIFF atomically, keeping the bit depth (values are
rounded and clipped to the source range: 8-bit stays 8-bit, 16-bit stays 16-bit), the
PNG text chunks / TIFF description of the source, the resolution (DPI multiplied by the
super-resolution factor, so the physical size is unchanged) and a note naming volsr.
Writing DICOM is out of scope and refused with a suggestion.

Geometry: ``data`` is ``(C, H, W)`` (rows, columns), ``spacing`` is ``(row, column)``
pixel size in mm (from DPI: ``25.4 / dpi``; 1.0 and ``spacing_known=False`` when the
file has none). :meth:`Image2D.to_volume` gives the ``(C, H, W, 1)`` :class:`Volume`
the inference code runs on; the resampling convention is volsr's (field of view kept).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from volsr.errors import InputError, OutputError
from volsr.io._atomic import atomic_write
from volsr.io.volume import Volume, VolumeMeta

__all__ = ["IMAGE2D_SUFFIXES", "IMAGE2D_WRITE_SUFFIXES", "Image2D", "image2d_suffix",
           "is_image2d_path", "load_image2d", "save_image2d"]

log = logging.getLogger(__name__)

IMAGE2D_SUFFIXES = (".png", ".tif", ".tiff", ".dcm")
IMAGE2D_WRITE_SUFFIXES = (".png", ".tif", ".tiff")
BT601 = (0.299, 0.587, 0.114)
MM_PER_INCH = 25.4
_PNG_DTYPES = ("uint8", "uint16")
_TIFF_DTYPES = ("uint8", "uint16", "int32", "float32")
_DICOM_TAGS = {"0008|0060": "modality", "0028|0004": "photometric",
               "0028|0030": "pixel_spacing", "0018|1164": "imager_pixel_spacing",
               "0028|0100": "bits_allocated", "0028|0101": "bits_stored",
               "0028|0103": "pixel_representation", "0028|1052": "rescale_intercept",
               "0028|1053": "rescale_slope", "0028|1050": "window_center",
               "0028|1051": "window_width", "0008|0008": "image_type"}


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
        sp = " x ".join(f"{v:.4g}" for v in self.spacing) + (" mm" if self.spacing_known
                                                               else " (pixels)")
        return f"{self.shape[0]}x{self.shape[1]} pixels, {sp}, {self.bit_depth}-bit"


# --------------------------------------------------------------------------- reading


def load_image2d(path: str | Path) -> Image2D:
    """Read a PNG, TIFF or single-frame DICOM image (see the module docstring).

    Raises:
        InputError: missing or unreadable file, unknown format, multi-page/multi-frame
            files, unsupported pixel modes, NaN/inf pixels.
    """
    p = Path(path)
    if not p.exists():
        raise InputError("no such file", path=p)
    suffix = image2d_suffix(p)
    if not suffix:
        raise InputError(f"unsupported file type {p.suffix or '(no extension)'!r} for a 2D "
                         f"image; expected one of {', '.join(IMAGE2D_SUFFIXES)}", path=p)
    img = _read_dicom(p) if suffix == ".dcm" else _read_pillow(p)
    bad = int(np.count_nonzero(~np.isfinite(img.data)))
    if bad:
        raise InputError(f"{bad} pixel(s) are NaN or infinite", path=p)
    for w in img.warnings:
        log.warning("%s: %s", p, w)
    return img


def _luminance(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of ``(H, W, 3)`` values, float32."""
    w = np.asarray(BT601, dtype=np.float64)
    return (rgb[..., :3].astype(np.float64) @ w).astype(np.float32)


def _read_pillow(p: Path) -> Image2D:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(p) as im:
            frames = int(getattr(im, "n_frames", 1))
            if frames > 1:
                raise InputError(f"multi-page image ({frames} pages); volsr reads single 2D "
                                 "images (a stack of slices is a volume: convert it to NIfTI)",
                                 path=p)
            im.load()
            fmt = (im.format or p.suffix.lstrip(".")).lower()
            text = {k: v for k, v in getattr(im, "text", {}).items() if isinstance(v, str)}
            info = dict(im.info)
            tags = getattr(im, "tag_v2", None)
            description = tags.get(270) if tags is not None else None
            if tags is not None and not (282 in tags and 283 in tags
                                         and tags.get(296, 2) in (2, 3)):
                info.pop("dpi", None)  # Pillow reports (1, 1) when a TIFF has no resolution
            arr, dtype, bits, warnings = _pixels(im, p)
    except UnidentifiedImageError:
        raise InputError("unsupported file type or corrupt image (Pillow cannot identify "
                         "it as PNG or TIFF)", path=p) from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(f"cannot read image ({exc})", path=p) from None
    dpi = info.get("dpi")
    known = dpi is not None and len(dpi) == 2 and all(float(d) > 0 for d in dpi)
    dpi_t = (float(dpi[0]), float(dpi[1])) if known else None
    spacing = (np.array([MM_PER_INCH / dpi_t[1], MM_PER_INCH / dpi_t[0]]) if dpi_t
               else np.ones(2))
    meta: dict[str, Any] = {"mode": im.mode, "photometric": "MONOCHROME2"}
    if text:
        meta["text"] = text
    if isinstance(description, str) and description:
        meta["description"] = description
    return Image2D(arr[None], spacing, dtype, bits, "tiff" if fmt.startswith("tif") else fmt,
                   str(p), dpi_t, known, meta, warnings)


def _pixels(im: Any, p: Path) -> tuple[np.ndarray, str, int, list[str]]:
    """(H, W) float32 values, source dtype, bit depth and warnings of a Pillow image."""
    mode, warnings = im.mode, []
    if mode in ("1", "L", "P") and not (mode == "P" and _palette_is_colour(im)):
        if mode == "1":
            warnings.append("bilevel image widened to 8-bit grey (0 or 255)")
        a = np.asarray(im.convert("L") if mode != "L" else im)
        return a.astype(np.float32), "uint8", 8, warnings
    if mode == "LA":
        warnings.append("alpha channel dropped")
        return np.asarray(im)[..., 0].astype(np.float32), "uint8", 8, warnings
    if mode.startswith("I;16"):
        a = np.asarray(im)
        signed = mode.endswith("S")
        return a.astype(np.float32), "int16" if signed else "uint16", 16, warnings
    if mode == "I":
        a = np.asarray(im)
        if p.suffix.lower() == ".png" and a.min() >= 0 and a.max() <= 65535:
            return a.astype(np.float32), "uint16", 16, warnings  # 16-bit PNG read as "I"
        return a.astype(np.float32), "int32", 32, warnings
    if mode == "F":
        return np.asarray(im).astype(np.float32), "float32", 32, warnings
    if mode in ("RGB", "RGBA", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV"):
        rgb = np.asarray(im.convert("RGBA" if mode in ("RGBA", "PA", "P") else "RGB"))
        grey = bool(np.array_equal(rgb[..., 0], rgb[..., 1])
                    and np.array_equal(rgb[..., 1], rgb[..., 2]))
        warnings.append(f"{mode} colour image converted to luminance Y = 0.299 R + 0.587 G + "
                        "0.114 B (ITU-R BT.601)" + (" (the channels were equal: no "
                                                    "information lost)" if grey else ""))
        if rgb.shape[-1] == 4 and np.any(rgb[..., 3] != 255):
            warnings.append("alpha channel dropped")
        return _luminance(rgb), "uint8", 8, warnings
    raise InputError(f"unsupported pixel mode {mode!r}; volsr reads grey (8/16-bit, 32-bit "
                     "integer or float) and colour (converted to luminance) images", path=p)


def _palette_is_colour(im: Any) -> bool:
    rgb = np.asarray(im.convert("RGB"))
    return not (np.array_equal(rgb[..., 0], rgb[..., 1])
                and np.array_equal(rgb[..., 1], rgb[..., 2]))


def _read_dicom(p: Path) -> Image2D:
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(p))
    reader.LoadPrivateTagsOff()
    try:
        reader.ReadImageInformation()
        size = reader.GetSize()
        frames = int(size[2]) if len(size) > 2 else 1
        if frames > 1:
            raise InputError(f"multi-frame DICOM ({frames} frames); volsr reads single-frame "
                             "radiographs as 2D images; for a volume give the series folder or "
                             "convert it to NIfTI (dcm2niix)", path=p)
        image = reader.Execute()
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        raise InputError(f"cannot read DICOM ({lines[-1] if lines else 'unknown error'})",
                         path=p) from None
    tags = {name: image.GetMetaData(key).strip() for key, name in _DICOM_TAGS.items()
            if image.HasMetaDataKey(key)}
    arr = sitk.GetArrayFromImage(image)
    dtype = np.dtype(arr.dtype).name
    arr = arr.reshape(arr.shape[-3:] if image.GetNumberOfComponentsPerPixel() > 1
                      else arr.shape[-2:])
    warnings: list[str] = []
    if arr.ndim == 3:
        warnings.append(f"{arr.shape[-1]}-component DICOM converted to luminance (BT.601)")
        data = _luminance(arr)
    else:
        data = arr.astype(np.float32)
    photometric = tags.get("photometric", "MONOCHROME2").upper() or "MONOCHROME2"
    if photometric == "MONOCHROME1":
        warnings.append("MONOCHROME1 (low values display bright): SimpleITK/GDCM inverted the "
                        "values on reading (v -> 2^bits_stored - 1 - v), so the PNG/TIFF output "
                        "displays like the original (as MONOCHROME2)")
    spacing = _dicom_spacing(tags)
    known = spacing is not None
    if spacing is None:
        sp = image.GetSpacing()
        spacing = np.array([sp[1], sp[0]], dtype=np.float64)
    try:
        bits = int(tags.get("bits_stored", "")) if dtype[0] in "ui" else 32
    except ValueError:
        bits = np.dtype(dtype).itemsize * 8
    meta = {"dicom": tags, "photometric": photometric, "mode": "dicom"}
    return Image2D(data[None], spacing, dtype, bits, "dicom", str(p), None, known, meta,
                   warnings)


def _dicom_spacing(tags: dict[str, str]) -> np.ndarray | None:
    """(row, column) spacing from PixelSpacing, else ImagerPixelSpacing ("row\\column")."""
    for key in ("pixel_spacing", "imager_pixel_spacing"):
        try:
            v = np.array([float(x) for x in tags.get(key, "").split("\\")], dtype=np.float64)
        except ValueError:
            continue
        if v.shape == (2,) and np.all(np.isfinite(v)) and np.all(v > 0):
            return v
    return None


# --------------------------------------------------------------------------- writing


def save_image2d(image: Image2D, path: str | Path, *, dtype: str = "input",
                 overwrite: bool = False, note: str | None = None) -> Path:
    """Write ``image`` as PNG or TIFF, atomically.

    Args:
        image: single-channel image (``data`` ``(1, H, W)``).
        path: ``.png``, ``.tif`` or ``.tiff``.
        dtype: ``"input"`` (the source's stored type; values rounded and clipped to the
            source range, e.g. 0..4095 for 12-bit DICOM), or ``uint8``/``uint16`` (PNG and
            TIFF), ``int32``/``float32`` (TIFF only). A signed 16-bit source goes to a
            32-bit integer TIFF.
        overwrite: replace an existing file.
        note: text for the PNG ``volsr`` chunk / TIFF description (what was done).

    Returns:
        The path written.

    Raises:
        OutputError: DICOM or unknown suffix, a type the format cannot hold (e.g. float
            values to PNG), multi-channel data, an existing file without ``overwrite``.
    """
    from PIL import Image, PngImagePlugin

    from volsr._version import __version__

    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".dcm":
        raise OutputError("writing DICOM is not supported; write .png or .tif (the bit depth "
                          "is kept) and convert with your PACS tools", path=p)
    if suffix not in IMAGE2D_WRITE_SUFFIXES:
        raise OutputError(f"cannot write {suffix or 'files without extension'!r} for a 2D "
                          "image; use .png, .tif or .tiff", path=p)
    if p.exists() and not overwrite:
        raise OutputError("already exists (use --overwrite to replace it)", path=p)
    if image.channels != 1:
        raise OutputError(f"{image.channels}-channel images cannot be written; volsr writes "
                          "grey images", path=p)
    target, lo, hi = _target_dtype(image, dtype, suffix, p)
    arr = image.data[0].astype(np.float64)
    if np.dtype(target).kind in "iu":
        arr = np.clip(np.rint(arr), lo, hi)
    arr = np.ascontiguousarray(arr.astype(target))
    pil = Image.fromarray(arr)
    software = f"volsr {__version__}"
    text = note or f"written by {software}"
    kwargs: dict[str, Any] = {}
    if image.dpi is not None:
        kwargs["dpi"] = (float(image.dpi[0]), float(image.dpi[1]))
    if suffix == ".png":
        info = PngImagePlugin.PngInfo()
        for k, v in image.metadata.get("text", {}).items():
            if k in ("volsr", "Software"):
                continue
            if v.isascii():
                info.add_text(k, v)
            else:
                info.add_itxt(k, v)
        info.add_text("Software", software)
        info.add_text("volsr", text)
        kwargs.update(format="PNG", pnginfo=info)
    else:
        desc = image.metadata.get("description")
        kwargs.update(format="TIFF", compression="tiff_adobe_deflate", software=software,
                      description=f"{desc}\n{text}" if desc else text)
    with atomic_write(p) as tmp:
        try:
            pil.save(tmp, **kwargs)
        except (OSError, ValueError) as exc:
            raise OutputError(f"cannot write image ({exc})", path=p) from None
    log.debug("wrote %s (%s)", p, target)
    return p


def _target_dtype(image: Image2D, dtype: str, suffix: str, p: Path
                  ) -> tuple[str, float, float]:
    """Stored type and clipping range for ``dtype`` in the format of ``suffix``."""
    allowed = _PNG_DTYPES if suffix == ".png" else _TIFF_DTYPES
    name = image.source_dtype if dtype == "input" else str(dtype)
    try:
        dt = np.dtype(name)
    except TypeError:
        raise OutputError(f"unknown dtype {dtype!r}", path=p) from None
    if suffix != ".png":
        if dt.kind == "f":
            dt = np.dtype("float32")
        elif dt.kind in "iu" and dt.name not in allowed:
            dt = np.dtype("int32") if dt.itemsize <= 4 else dt
    if dt.name not in allowed:
        fmt = "PNG" if suffix == ".png" else "TIFF"
        hint = (" write a .tif instead (32-bit integer or float)" if suffix == ".png"
                else "")
        raise OutputError(f"{fmt} cannot store {dt.name} pixels (it holds "
                          f"{', '.join(allowed)});{hint or ' choose another --dtype'}", path=p)
    if dt.kind == "f":
        return dt.name, -np.inf, np.inf
    info = np.iinfo(dt)
    lo, hi = float(info.min), float(info.max)
    bits = image.bit_depth
    if dtype == "input" and dt.kind == "u" and 0 < bits < dt.itemsize * 8:
        hi = float(2 ** bits - 1)  # e.g. 12-bit DICOM values in a 16-bit container
    return dt.name, lo, hi
