"""2D images (radiographs, photographs of slides, PNG/TIFF exports): read, keep, write back.

:func:`load_image2d` (:mod:`volsr.io.image2d_read`) reads PNG, TIFF (Pillow) and single-frame
DICOM (SimpleITK) into an :class:`Image2D` (:mod:`volsr.io.image2d_core`), converting
colour to luminance with a recorded warning; :func:`save_image2d`
(:mod:`volsr.io.image2d_write`) writes PNG or TIFF back, keeping the bit depth, text chunks
and physical size. Each module's docstring states its rules.

Geometry: ``data`` is ``(C, H, W)`` (rows, columns), ``spacing`` is ``(row, column)``
pixel size in mm (from DPI: ``25.4 / dpi``; 1.0 and ``spacing_known=False`` when the
file has none). :meth:`Image2D.to_volume` gives the ``(C, H, W, 1)`` :class:`Volume`
the inference code runs on; the resampling convention is volsr's (field of view kept).
"""

from __future__ import annotations

from volsr.io.image2d_core import (
    IMAGE2D_SUFFIXES,
    IMAGE2D_WRITE_SUFFIXES,
    Image2D,
    image2d_suffix,
    is_image2d_path,
)
from volsr.io.image2d_read import load_image2d
from volsr.io.image2d_write import save_image2d

__all__ = ["IMAGE2D_SUFFIXES", "IMAGE2D_WRITE_SUFFIXES", "Image2D", "image2d_suffix",
           "is_image2d_path", "load_image2d", "save_image2d"]
