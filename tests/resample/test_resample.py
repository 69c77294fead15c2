"""Tests of the separable 1D resampling operators (volsr.resample)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from volsr.geometry.grid import source_coordinates
from volsr.resample import (
    apply_along_axis,
    fourier_kernel,
    interpolation_matrix,
    mirror_index,
    profile_matrix,
    resample_separable,
)


def _row_sums(m) -> np.ndarray:
    return np.asarray(m.sum(axis=1)).ravel()


def test_mirror_index_is_half_sample_symmetric():
    j = np.array([-3, -2, -1, 0, 4, 5, 6, 7, 11])
    assert mirror_index(j, 5).tolist() == [2, 1, 0, 0, 4, 4, 3, 2, 1]


@pytest.mark.parametrize("profile", ["rect", "gaussian", "cubic", "lanczos"])
@pytest.mark.parametrize("scale", [0.25, 0.4, 1 / 3, 1.0, 2.0])
@pytest.mark.parametrize("boundary", ["mirror", "zero"])
def test_profile_rows_sum_to_one(profile, scale, boundary):
    m = profile_matrix(23, scale, profile=profile, boundary=boundary)
    assert m.shape == (int(np.floor(23 * scale + 0.5)), 23)
    np.testing.assert_allclose(_row_sums(m), 1.0, atol=1e-12)


def test_profile_integrals_before_normalisation():
    # Unit-area profiles: without renormalisation a row sums to the mass inside the
    # support (mirroring keeps the tails that fall outside the array).
    rect = profile_matrix(20, 0.25, profile="rect", width=6.0, normalize_edges=False)
    np.testing.assert_allclose(_row_sums(rect), 1.0, atol=1e-12)
    gauss = profile_matrix(20, 0.25, profile="gaussian", width=3.0, normalize_edges=False)
    # Gaussian truncated at (at least) 4 sigma keeps >= 1 - erfc(4 / sqrt(2)) = 1 - 6.334e-5.
    sums = _row_sums(gauss)
    assert np.all(sums <= 1.0) and np.all(sums >= 1.0 - 6.334e-5)
    zero = profile_matrix(20, 0.25, profile="rect", width=6.0, normalize_edges=False,
                          boundary="zero")
    # First LR centre at 1.5: box [-1.5, 4.5] loses 1 of its 6 voxels outside the array.
    assert _row_sums(zero)[0] == pytest.approx(5 / 6)
    assert _row_sums(zero)[2] == pytest.approx(1.0)


def test_rect_profile_hand_values_and_mean():
    rng = np.random.default_rng(0)
    x = rng.random(32)
    m = profile_matrix(32, 0.25, profile="rect")
    y = m @ x
    np.testing.assert_allclose(y, x.reshape(8, 4).mean(axis=1), atol=1e-12)
    assert y.mean() == pytest.approx(x.mean(), abs=1e-12)
    # Nothing falls outside the array: mirrored and zero boundaries agree.
    mz = profile_matrix(32, 0.25, profile="rect", boundary="zero", normalize_edges=False)
    assert abs(m - mz).max() < 1e-12


def test_rect_profile_non_integer_factor_preserves_mean():
    rng = np.random.default_rng(1)
    x = rng.random(40)
    m = profile_matrix(40, 1 / 2.5, profile="rect")
    y = m @ x
    assert y.shape == (16,)
    assert y.mean() == pytest.approx(x.mean(), abs=1e-12)
    # LR voxel 0 covers HR [-0.5, 2.0]: voxels 0, 1 fully and half of voxel 2.
    assert y[0] == pytest.approx((x[0] + x[1] + 0.5 * x[2]) / 2.5)


def _fwhm(values: np.ndarray) -> float:
    half = values.max() / 2
    above = np.nonzero(values >= half)[0]
    lo, hi = above[0], above[-1]
    left = lo - 1 + (half - values[lo - 1]) / (values[lo] - values[lo - 1])
    right = hi + (values[hi] - half) / (values[hi] - values[hi + 1])
    return float(right - left)


@pytest.mark.parametrize("width", [4.0, 7.0, 20.0])
def test_gaussian_profile_fwhm(width):
    m = profile_matrix(201, 1.0, profile="gaussian", width=width, boundary="zero",
                       normalize_edges=False)
    row = m[100].toarray().ravel()
    assert row.sum() == pytest.approx(1.0, abs=1e-4)
    assert _fwhm(row) == pytest.approx(width, rel=0.03)


def test_cubic_profile_matches_matlab_imresize_weights():
    # imresize(x, 0.5, 'bicubic') uses these 8 taps for interior outputs.
    m = profile_matrix(32, 0.5, profile="cubic").toarray()
    expected = np.array([-0.0234375, -0.0703125, 0.2265625, 0.8671875,
                         0.8671875, 0.2265625, -0.0703125, -0.0234375]) / 2
    # LR voxel 5 is centred at HR 10.5: taps on HR 7 .. 14.
    np.testing.assert_allclose(m[5, 7:15], expected, atol=1e-12)
    assert np.count_nonzero(m[5]) == 8


def test_custom_profile_matches_rect():
    # A flat piecewise-linear profile on [-2, 2] is the rect profile of width 4.
    m_custom = profile_matrix(24, 0.25, profile="custom", kernel=np.ones(41), kernel_step=0.1)
    m_rect = profile_matrix(24, 0.25, profile="rect", width=4.0)
    assert abs(m_custom - m_rect).max() < 1e-12
    with pytest.raises(ValueError, match="kernel"):
        profile_matrix(24, 0.25, profile="custom")


def test_profile_rejects_bad_values():
    with pytest.raises(ValueError, match="width"):
        profile_matrix(10, 0.5, profile="rect", width=0.0)
    with pytest.raises(ValueError, match="profile"):
        profile_matrix(10, 0.5, profile="boxcar")
    with pytest.raises(ValueError, match="scale"):
        profile_matrix(10, -1.0, profile="rect")


def test_nearest_picks_right_voxels_for_scale_4():
    coords = source_coordinates(16, 4.0)
    np.testing.assert_allclose(coords[:4], [-0.375, -0.125, 0.125, 0.375])
    m = interpolation_matrix(4, coords, "nearest")
    assert (m @ np.arange(4.0)).tolist() == [0] * 4 + [1] * 4 + [2] * 4 + [3] * 4


def test_linear_hand_values_with_mirrored_edges():
    x = np.array([1.0, 2.0, 4.0, 8.0])
    m = interpolation_matrix(4, np.array([-0.25, 0.5, 2.75, 3.25]), "linear")
    np.testing.assert_allclose(m @ x, [1.0, 1.5, 7.0, 8.0])


@pytest.mark.parametrize("kind", ["linear", "cubic", "lanczos", "fourier", "nearest"])
def test_interpolation_reproduces_constant(kind):
    coords = np.concatenate([np.linspace(-0.49, 16.49, 57), [3.3, 7.77]])
    m = interpolation_matrix(17, coords, kind)
    np.testing.assert_allclose(m @ np.full(17, 2.5), 2.5, atol=1e-12)


@pytest.mark.parametrize("kind", ["linear", "cubic", "lanczos", "fourier"])
def test_interpolation_is_identity_on_the_samples(kind):
    rng = np.random.default_rng(2)
    x = rng.random(12)
    m = interpolation_matrix(12, np.arange(12.0), kind)
    np.testing.assert_allclose(m @ x, x, atol=1e-12)


@pytest.mark.parametrize("n", [32, 33])
def test_fourier_interpolates_band_limited_sinusoid(n):
    rng = np.random.default_rng(3)
    coords = rng.uniform(-1.0, n, size=50)
    j = np.arange(n)
    m = interpolation_matrix(n, coords, "fourier")
    assert isinstance(m, np.ndarray)
    for k0 in (1, 5, (n - 1) // 2):
        def f(t, k0=k0):
            return np.cos(2 * np.pi * k0 * t / n + 0.3) + 0.5 * np.sin(2 * np.pi * t / n)

        np.testing.assert_allclose(m @ f(j), f(coords), atol=1e-6)


def test_fourier_kernel_is_periodic_and_cardinal():
    assert fourier_kernel(np.array([0.0, 8.0, -16.0]), 8).tolist() == [1.0, 1.0, 1.0]
    np.testing.assert_allclose(fourier_kernel(np.arange(1.0, 8.0), 8), 0.0, atol=1e-15)


def test_apply_along_axis_matches_tensordot_for_dense_and_sparse():
    rng = np.random.default_rng(4)
    a = rng.random((2, 5, 6, 7)).astype(np.float32)
    for axis in range(4):
        n = a.shape[axis]
        dense = rng.random((3, n))
        ref = np.moveaxis(np.tensordot(dense, a.astype(np.float64), axes=([1], [axis])),
                          0, axis)
        for mat in (dense, sp.csr_matrix(dense)):
            out = apply_along_axis(a, mat, axis)
            assert out.dtype == np.float32
            assert out.shape == ref.shape
            np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    assert apply_along_axis(np.arange(4), np.eye(4), 0).dtype == np.float32
    with pytest.raises(ValueError, match="columns"):
        apply_along_axis(a, np.eye(3), 1)


def test_resample_separable_skips_unit_axes_and_matches_1d():
    rng = np.random.default_rng(5)
    a = rng.random((2, 6, 7, 16)).astype(np.float32)
    out = resample_separable(a, (1, 1, 0.25), profile="rect")
    assert out.shape == (2, 6, 7, 4)
    np.testing.assert_allclose(out, a.reshape(2, 6, 7, 4, 4).mean(axis=-1), atol=1e-6)


def test_resample_separable_fourier_follows_the_grid_convention():
    n = 16
    i, j, k = np.meshgrid(*(np.arange(n),) * 3, indexing="ij")

    def f(x, y, z):
        return np.cos(2 * np.pi * (x + 2 * y) / n) * np.sin(2 * np.pi * 3 * z / n)

    out = resample_separable(f(i, j, k).astype(np.float64), (2, 1, 1.5), kind="fourier")
    assert out.shape == (32, 16, 24)
    cx, cy, cz = source_coordinates(32, 2), np.arange(16.0), source_coordinates(24, 1.5)
    np.testing.assert_allclose(out, f(*np.meshgrid(cx, cy, cz, indexing="ij")), atol=1e-9)


def test_resample_separable_argument_checks():
    a = np.zeros((4, 4, 4), np.float32)
    with pytest.raises(ValueError, match="exactly one"):
        resample_separable(a, 2, kind="linear", profile="rect")
    with pytest.raises(ValueError, match="positive"):
        resample_separable(a, (1, 0, 1), kind="linear")
    assert resample_separable(a, 2, kind="linear", out_shape=(8, 9, 7)).shape == (8, 9, 7)
