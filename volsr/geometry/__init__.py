"""Voxel grids and the volsr grid convention (see :mod:`volsr.geometry.grid`)."""

from volsr.geometry.affine import axcodes, has_shear, spacing_from_affine, validate_affine
from volsr.geometry.grid import (
    Grid,
    resolve_scale,
    scale_affine,
    scaled_grid,
    source_coordinates,
)

__all__ = [
    "Grid",
    "axcodes",
    "has_shear",
    "resolve_scale",
    "scale_affine",
    "scaled_grid",
    "source_coordinates",
    "spacing_from_affine",
    "validate_affine",
]
