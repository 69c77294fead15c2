"""Writing 2D images: PNG or TIFF, atomically, keeping bit depth, text and physical size.

:func:`save_image2d` writes PNG or TIFF atomically, keeping the bit depth (values are
rounded and clipped to the source range: 8-bit stays 8-bit, 16-bit stays 16-bit), the
PNG text chunks / TIFF description of the source, the resolution (DPI multiplied by the
super-resolution factor, so the physical size is unchanged; for a DICOM source, which has
a pixel spacing and no DPI, ``25.4 / spacing``) in the PNG pHYs chunk or the TIFF
resolution tags, and a note naming volsr. PNG stores whole pixels per metre, so its pixel
size is exact to about 1e-4 relative; the inference sidecar holds the exact spacing.
Signed or floating-point sources (e.g. int16 CT DICOM) cannot go to PNG: refused with
one line naming ``.tif`` (no offset is applied, so values stay the stored values).
Writing DICOM is out of scope and refused with a suggestion.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from volsr.errors import OutputError
from volsr.io._atomic import atomic_write
from volsr.io.image2d_core import IMAGE2D_WRITE_SUFFIXES, Image2D

__all__ = ["save_image2d"]

log = logging.getLogger(__name__)

_PNG_DTYPES = ("uint8", "uint16")
_TIFF_DTYPES = ("uint8", "uint16", "int32", "float32")


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
    dpi = image.stored_dpi()
    if dpi is not None:
        kwargs["dpi"] = dpi
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
