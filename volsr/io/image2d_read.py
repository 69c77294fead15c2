"""Reading 2D images: PNG and TIFF with Pillow, single-frame DICOM with SimpleITK.

:func:`load_image2d` reads

* PNG and TIFF with Pillow: 8-bit grey (``L``), 16-bit grey (``I;16``), 32-bit integer
  and float TIFF; bilevel and palette images are widened to 8-bit grey; RGB(A), CMYK
  and palette colour images are converted to luminance ``Y = 0.299 R + 0.587 G +
  0.114 B`` (ITU-R BT.601) in floating point, with a logged warning that is also kept
  in :attr:`Image2D.warnings` (and so in the inference sidecar); an alpha channel is
  dropped the same way. Multi-page TIFFs are refused. Values are kept as stored: a 16-bit
  PNG holding a 12-bit range (0..4095) reads as 0..4095, never rescaled.
* single-frame DICOM files (``.dcm``) with SimpleITK: pixel values as SimpleITK returns
  them (rescale slope/intercept applied), pixel spacing from the header
  (PixelSpacing, else ImagerPixelSpacing), and the tags that matter for writing back
  (photometric interpretation, bits stored, modality, window). ``MONOCHROME1`` images
  (low values displayed bright) are inverted by SimpleITK/GDCM on reading
  (``v -> 2^bits_stored - 1 - v``), which is what PNG/TIFF viewers (MONOCHROME2) need to
  show them as intended; the source interpretation is recorded (``metadata
  ["photometric"]``, sidecar) with a warning.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from volsr.errors import InputError
from volsr.io.image2d_core import BT601, IMAGE2D_SUFFIXES, MM_PER_INCH, Image2D, image2d_suffix

__all__ = ["load_image2d"]

log = logging.getLogger(__name__)

_DICOM_TAGS = {"0008|0060": "modality", "0028|0004": "photometric",
               "0028|0030": "pixel_spacing", "0018|1164": "imager_pixel_spacing",
               "0028|0100": "bits_allocated", "0028|0101": "bits_stored",
               "0028|0103": "pixel_representation", "0028|1052": "rescale_intercept",
               "0028|1053": "rescale_slope", "0028|1050": "window_center",
               "0028|1051": "window_width", "0008|0008": "image_type"}


def load_image2d(path: str | Path) -> Image2D:
    """Read a PNG, TIFF or single-frame DICOM image (see the module docstring).

    Raises:
        InputError: missing or unreadable file, unknown format, multi-page/multi-frame
            files, unsupported pixel modes, a side of 1 pixel, NaN/inf pixels.
    """
    p = Path(path)
    if not p.exists():
        raise InputError("no such file", path=p)
    suffix = image2d_suffix(p)
    if not suffix:
        raise InputError(f"unsupported file type {p.suffix or '(no extension)'!r} for a 2D "
                         f"image; expected one of {', '.join(IMAGE2D_SUFFIXES)}", path=p)
    img = _read_dicom(p) if suffix == ".dcm" else _read_pillow(p)
    if min(img.shape) < 2:
        raise InputError(f"image is {img.shape[0]}x{img.shape[1]} pixels; volsr needs at least "
                         "2 pixels along each side to resample it", path=p)
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
