"""The grid convention: field of view kept, first centre at -(s-1)/(2s), exact round trips."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import oblique_affine
from volsr.errors import ConfigError
from volsr.geometry import Grid, resolve_scale, scale_affine, scaled_grid, source_coordinates
from volsr.geometry.grid import output_size


def world(affine: np.ndarray, ijk) -> np.ndarray:
    return affine[:3, :3] @ np.asarray(ijk, dtype=float) + affine[:3, 3]


@pytest.mark.parametrize("s", [2.0, 3.0, 4.0, 2.5, 1.7, 0.25, 0.4])
def test_first_centre_offset_and_fov_on_oblique_affine(s):
    a = oblique_affine()
    for axis in range(3):
        scale = np.ones(3)
        scale[axis] = s
        b = scale_affine(a, scale)
        e = np.zeros(3)
        e[axis] = -(s - 1) / (2 * s)  # stated in the README, in low-res voxels
        np.testing.assert_allclose(world(b, [0, 0, 0]), world(a, e), atol=1e-9)
        # spacing along the axis is exactly spacing / s, the direction unchanged
        np.testing.assert_allclose(np.linalg.norm(b[:3, axis]),
                                   np.linalg.norm(a[:3, axis]) / s, rtol=1e-12)
        # the field-of-view start edge (-1/2 voxel) is shared
        edge = np.full(3, 0.0)
        edge[axis] = -0.5
        np.testing.assert_allclose(world(b, edge), world(a, edge), atol=1e-9)


def test_fov_end_edge_kept_for_integer_factor():
    a = oblique_affine()
    g = Grid((20, 18, 12), a)
    up = scaled_grid(g, (1, 1, 4))
    assert up.shape == (20, 18, 48)
    np.testing.assert_allclose(up.world_bounds(), g.world_bounds(), atol=1e-9)


def test_source_coordinates_match_affines():
    a = oblique_affine()
    s = 2.5
    b = scale_affine(a, (1, 1, s))
    coords = source_coordinates(7, s)
    for o, x in enumerate(coords):
        np.testing.assert_allclose(world(b, [0, 0, o]), world(a, [0, 0, x]), atol=1e-9)


@pytest.mark.parametrize("n,s", [(48, 4.0), (45, 4.0), (40, 2.5), (36, 1.5), (30, 3.0)])
def test_down_then_up_returns_to_the_same_grid(n, s):
    g = Grid((16, 17, n), oblique_affine())
    lr = scaled_grid(g, (1, 1, 1 / s))
    back = scaled_grid(lr, (1, 1, s))
    if float(n / s).is_integer():
        assert back.shape == g.shape
        np.testing.assert_allclose(back.affine, g.affine, atol=1e-6)
    else:  # the grid still starts at the same place with the same spacing
        np.testing.assert_allclose(back.affine, g.affine, atol=1e-6)


def test_output_size_rounding():
    assert output_size(45, 2.5) == 113  # 112.5 rounds half up
    assert output_size(10, 0.26) == 3
    assert output_size(3, 0.1) == 1


def test_resolve_scale_modes():
    sp = [0.8, 0.8, 5.0]
    np.testing.assert_allclose(resolve_scale(sp, isotropic=True), [1, 1, 6.25])
    np.testing.assert_allclose(resolve_scale(sp, target_spacing=[0.8, 0.8, 1.0]), [1, 1, 5])
    np.testing.assert_allclose(resolve_scale(sp, scale=2), [2, 2, 2])
    with pytest.raises(ConfigError):
        resolve_scale(sp)
    with pytest.raises(ConfigError):
        resolve_scale(sp, scale=2, isotropic=True)
    with pytest.raises(ConfigError):
        resolve_scale(sp, scale=[1, 0, 2])
