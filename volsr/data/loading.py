"""Loading one manifest file for training, validation or checking: a volume or a 2D image.

:func:`load_case_file` is the single loading step of the dataset builders
(:class:`volsr.data.transforms.LoadPaird`, :mod:`volsr.data.validation`) and of
``volsr data check``. 3D files (NIfTI, NRRD, MHA/MHD, DICOM series folders) go through
:func:`volsr.io.load_volume` unchanged. 2D images (``.png``, ``.tif``/``.tiff``,
single-frame ``.dcm``) go through :func:`volsr.io.image2d.load_image2d` and become the
``(C, H, W, 1)`` volume of :meth:`~volsr.io.image2d.Image2D.to_volume` (affine
``diag(row, column, 1 mm)``), so a 2D recipe (``mode: 2d``, ``slice_axis: 2``) trains
on them with the same transforms as on slices. Pixel values are kept as stored (a 12-bit
range in a 16-bit PNG stays 0..4095; normalisation is the recipe's own step).
"""

from __future__ import annotations

from pathlib import Path

from volsr.io import Volume

__all__ = ["is_image2d_file", "load_case_file"]


def is_image2d_file(path: str | Path) -> bool:
    """True when ``path`` is a 2D image file (.png, .tif, .tiff, .dcm), not a folder."""
    from volsr.io.image2d import is_image2d_path

    return is_image2d_path(path)


def load_case_file(path: str | Path) -> Volume:
    """A volume file, or a 2D image as a ``(C, H, W, 1)`` volume (see the module docstring).

    Raises:
        InputError: unreadable or unsupported file (the readers' one-line errors, e.g. a
            multi-frame DICOM or multi-page TIFF).
    """
    if is_image2d_file(path):
        from volsr.io.image2d import load_image2d

        return load_image2d(path).to_volume()
    from volsr.io import load_volume

    return load_volume(path)
