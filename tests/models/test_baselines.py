"""Interpolation baselines: exactness properties and world-coordinate alignment."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import oblique_affine
from volsr.cli import app
from volsr.geometry import scale_affine
from volsr.inference import super_resolve
from volsr.io import Volume, load_volume
from volsr.models import create_model

KINDS = ["nearest", "linear", "bspline", "lanczos", "fourier"]


def smooth(world: np.ndarray) -> np.ndarray:
    x, y, z = world
    return np.sin(0.21 * x) + np.cos(0.17 * y) + np.sin(0.13 * z + 0.4)


def sample(affine: np.ndarray, shape) -> np.ndarray:
    idx = np.indices(shape).reshape(3, -1).astype(float)
    w = affine[:3, :3] @ idx + affine[:3, 3:4]
    return smooth(w).reshape(shape).astype(np.float32)


@pytest.mark.parametrize("kind", KINDS)
def test_constant_is_reproduced(kind):
    out = create_model(kind).resample(np.full((6, 7, 5), 3.5, np.float32), (1, 1, 3))
    np.testing.assert_allclose(out, 3.5, atol=1e-5)


def test_linear_is_exact_on_linear_ramps_inside():
    z = np.arange(10, dtype=np.float32)
    arr = np.broadcast_to(z, (4, 4, 10)).copy()
    out = create_model("linear").resample(arr, (1, 1, 4))
    # output voxel o sits at input index (o + 0.5)/4 - 0.5
    expected = (np.arange(40) + 0.5) / 4 - 0.5
    inside = (expected >= 0) & (expected <= 9)
    np.testing.assert_allclose(out[0, 0, inside], expected[inside], atol=1e-5)


def test_bspline_reproduces_cubics_away_from_edges():
    z = np.arange(24, dtype=np.float64)
    f = lambda t: 0.01 * t**3 - 0.2 * t**2 + t  # noqa: E731
    arr = np.broadcast_to(f(z), (3, 3, 24)).astype(np.float32).copy()
    out = create_model("bspline").resample(arr, (1, 1, 2))
    t = (np.arange(48) + 0.5) / 2 - 0.5
    mid = (t > 6) & (t < 17)
    np.testing.assert_allclose(out[1, 1, mid], f(t[mid]), rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("kind", ["linear", "bspline", "lanczos", "fourier"])
@pytest.mark.parametrize("s", [2.0, 3.0, 2.5])
def test_upsampled_grid_lines_up_with_truth_in_world(kind, s):
    """Sample a smooth function on an oblique LR grid, upsample, compare with the truth
    sampled on the HR grid; a half-voxel shift of the grid would be caught."""
    a_lr = oblique_affine(spacing=(1.5, 1.5, 1.5 * s))
    lr_shape = (20, 20, 12)
    lr = Volume(sample(a_lr, lr_shape)[None], a_lr)
    hr = super_resolve(lr, kind, scale=(1, 1, s))
    truth = sample(hr.affine, hr.spatial_shape)
    inner = (slice(3, -3), slice(3, -3), slice(int(3 * s), -int(3 * s)))
    err = np.abs(hr.data[0][inner] - truth[inner]).mean()
    half_voxel = hr.affine.copy()
    half_voxel[:3, 3] += 0.5 * hr.affine[:3, 2]  # the grid moved by half an output voxel
    shifted = sample(half_voxel, hr.spatial_shape)
    err_shift = np.abs(hr.data[0][inner] - shifted[inner]).mean()
    assert err < (0.06 if kind == "fourier" else 0.02) and err_shift > 2 * err


def test_degrade_then_upsample_returns_to_the_original_grid(tmp_path, phantom_path):
    runner = CliRunner()
    for factor, args in [(4, []), (2.5, ["--profile", "rect"]), (2, ["--gap", "2.0"])]:
        lr = tmp_path / f"lr{factor}.nii.gz"
        sr = tmp_path / f"sr{factor}.nii.gz"
        r = runner.invoke(app, ["degrade", str(phantom_path), "-o", str(lr), "--factor",
                                str(factor), *args], catch_exceptions=False)
        assert r.exit_code == 0, r.stderr
        r = runner.invoke(app, ["infer", str(lr), "-o", str(sr), "--scale", "1", "1",
                                str(factor)], catch_exceptions=False)
        assert r.exit_code == 0, r.stderr
        hr, out = load_volume(phantom_path), load_volume(sr)
        assert out.spatial_shape == hr.spatial_shape
        np.testing.assert_allclose(out.affine, hr.affine, atol=1e-6)


def test_reference_grid_gives_exact_round_trip_for_any_size(tmp_path):
    from volsr.degrade import ThickSlice
    from volsr.geometry import Grid

    a = oblique_affine(spacing=(1.0, 1.0, 1.0))
    hr = Volume(sample(a, (16, 16, 41))[None], a)  # 41 is not a multiple of 4
    lr = ThickSlice(axis=2, factor=4)(hr)
    assert lr.spatial_shape == (16, 16, 10)
    np.testing.assert_allclose(lr.affine, scale_affine(a, (1, 1, 0.25)), atol=1e-9)
    out = super_resolve(lr, "bspline", reference=Grid(hr.spatial_shape, hr.affine))
    assert out.spatial_shape == hr.spatial_shape
    np.testing.assert_allclose(out.affine, hr.affine, atol=1e-9)
