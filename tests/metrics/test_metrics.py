"""Tests for volsr.metrics: array metrics, foreground mask and world-coordinate evaluation."""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pytest
from scipy import ndimage

from volsr.errors import ConfigError, InputError
from volsr.geometry import scale_affine
from volsr.io.volume import Volume
from volsr.metrics import (
    evaluate,
    foreground_mask,
    hfen,
    nrmse,
    otsu_threshold,
    psnr,
    ssim,
    ssim_map,
)


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _smooth_random(shape, seed=0, sigma=2.0):
    x = ndimage.gaussian_filter(_rng(seed).standard_normal(shape), sigma)
    return (x - x.min()) / (x.max() - x.min())


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


# ---------------------------------------------------------------- psnr


def test_psnr_constant_offset_matches_closed_form():
    truth = _rng(1).uniform(0, 2, (12, 10, 8))
    for d in (0.01, 0.25):
        assert psnr(truth, truth + d, data_range=2.0) == pytest.approx(
            20 * math.log10(2.0 / d), rel=1e-10
        )
    # 20 log10(2 / 0.01) = 20 log10(200) = 46.0206 dB
    assert psnr(truth, truth - 0.01, data_range=2.0) == pytest.approx(46.0206, abs=1e-4)


def test_psnr_identical_is_inf_and_data_range_required():
    truth = _rng(2).uniform(size=(6, 6, 6))
    assert psnr(truth, truth.copy(), data_range=1.0) == math.inf
    with pytest.raises(TypeError):
        psnr(truth, truth)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="data_range"):
        psnr(truth, truth, data_range=0.0)


def test_psnr_mask_uses_only_masked_voxels():
    truth = np.zeros((8, 8, 8))
    mask = np.zeros_like(truth, dtype=bool)
    mask[2:6, 2:6, 2:6] = True
    cand = truth + np.where(mask, 0.1, 1e6)
    assert psnr(truth, cand, data_range=1.0, mask=mask) == pytest.approx(20.0, rel=1e-10)
    assert psnr(truth, cand, data_range=1.0) < -50


def test_shape_and_mask_validation():
    a = np.zeros((4, 4, 4))
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(a, np.zeros((4, 4, 5)), data_range=1.0)
    with pytest.raises(ValueError, match="mask shape"):
        psnr(a, a, data_range=1.0, mask=np.ones((4, 4), bool))
    with pytest.raises(ValueError, match="no voxels"):
        psnr(a, a, data_range=1.0, mask=np.zeros((4, 4, 4), bool))


# ---------------------------------------------------------------- ssim


def test_ssim_identical_is_one():
    x = _smooth_random((16, 16, 16), seed=3)
    assert ssim(x, x.copy(), data_range=1.0) == pytest.approx(1.0, abs=1e-12)


def test_ssim_constant_images_luminance_formula():
    # For constant images a and b all variances vanish: SSIM = (2ab + C1) / (a^2 + b^2 + C1).
    a, b, r = 0.5, 0.6, 1.0
    c1 = (0.01 * r) ** 2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)
    assert expected == pytest.approx(0.6001 / 0.6101, rel=1e-12)  # 0.98361
    val = ssim(np.full((12, 12, 12), a), np.full((12, 12, 12), b), data_range=r)
    assert val == pytest.approx(expected, rel=1e-9)


def test_ssim_offset_has_only_luminance_term():
    # cand = x + c: local variances equal the covariance, so the structure term is 1 and
    # the map is (2 m (m + c) + C1) / (m^2 + (m + c)^2 + C1) with m the local mean of x.
    x = _smooth_random((14, 12, 10), seed=4)
    c, r = 0.3, 1.0
    m = ndimage.gaussian_filter(x, 1.5, mode="reflect", truncate=3.5)
    c1 = (0.01 * r) ** 2
    expected = np.mean((2 * m * (m + c) + c1) / (m * m + (m + c) ** 2 + c1))
    assert ssim(x, x + c, data_range=r) == pytest.approx(expected, rel=1e-7)
    assert expected < 0.99


def test_ssim_symmetric_and_decreases_with_noise():
    x = _smooth_random((16, 16, 16), seed=5)
    noise = _rng(6).standard_normal(x.shape)
    y = x + 0.05 * noise
    assert ssim(x, y, data_range=1.0) == pytest.approx(ssim(y, x, data_range=1.0), rel=1e-12)
    values = [ssim(x, x + s * noise, data_range=1.0) for s in (0.0, 0.02, 0.05, 0.2)]
    assert all(b < a for a, b in zip(values, values[1:]))
    assert values[-1] < 0.5


def test_ssim_mask_and_sample_covariance_option():
    x = _smooth_random((16, 16, 16), seed=7)
    y = x.copy()
    y[:8] += 0.2 * _rng(8).standard_normal((8, 16, 16))
    mask = np.zeros(x.shape, bool)
    mask[12:] = True  # mostly beyond the 5-voxel window radius from the noisy half
    smap = ssim_map(x, y, data_range=1.0)
    assert ssim(x, y, data_range=1.0, mask=mask) == pytest.approx(smap[mask].mean(), rel=1e-12)
    assert ssim(x, y, data_range=1.0, mask=mask) > ssim(x, y, data_range=1.0)
    # population statistics differ slightly from the N/(N-1)-corrected ones
    pop = ssim(x, y, data_range=1.0, use_sample_covariance=False)
    assert pop != ssim(x, y, data_range=1.0)
    assert pop == pytest.approx(ssim(x, y, data_range=1.0), abs=5e-3)


def test_ssim_spacing_makes_sigma_millimetres():
    x = _smooth_random((16, 16, 16), seed=9)
    y = x + 0.05 * _rng(10).standard_normal(x.shape)
    iso = ssim(x, y, data_range=1.0, sigma=1.5)
    assert ssim(x, y, data_range=1.0, sigma=3.0, spacing=(2, 2, 2)) == pytest.approx(iso, rel=1e-12)
    assert ssim(x, y, data_range=1.0, sigma=1.5, spacing=(1, 1, 3)) != pytest.approx(iso)


def test_ssim_2d_matches_skimage():
    skm = pytest.importorskip("skimage.metrics")
    x = _smooth_random((40, 36), seed=11)
    y = x + 0.05 * _rng(12).standard_normal(x.shape)
    for sample_cov in (True, False):
        _, ref_map = skm.structural_similarity(
            x, y, data_range=1.0, gaussian_weights=True, sigma=1.5,
            use_sample_covariance=sample_cov, full=True,
        )
        ours = ssim(x, y, data_range=1.0, use_sample_covariance=sample_cov)
        assert ours == pytest.approx(float(ref_map.mean()), rel=1e-9)


# ---------------------------------------------------------------- nrmse, hfen


def test_nrmse_hand_values():
    truth = np.zeros((2, 2, 2))
    truth[0, 0, 0] = 4.0
    cand = truth.copy()
    cand[1, 1, 1] += 1.0
    cand[1, 0, 1] -= 1.0
    # MSE = 2/8, RMSE = 0.5; range 4, ||t|| = 4, ||d|| = sqrt 2, mean(t) = 0.5
    assert nrmse(truth, cand) == pytest.approx(0.125)
    assert nrmse(truth, cand, data_range=10.0) == pytest.approx(0.05)
    assert nrmse(truth, cand, normalization="euclidean") == pytest.approx(math.sqrt(2) / 4)
    assert nrmse(truth, cand, normalization="mean") == pytest.approx(1.0)
    assert nrmse(truth, truth) == 0.0
    with pytest.raises(ValueError, match="normalization"):
        nrmse(truth, cand, normalization="max")


def test_hfen_values():
    x = _smooth_random((16, 16, 16), seed=13, sigma=1.0)
    assert hfen(x, x.copy()) == 0.0
    assert hfen(x, x + 5.0) == pytest.approx(0.0, abs=1e-9)  # LoG ignores offsets
    assert hfen(x, np.zeros_like(x)) == pytest.approx(1.0)  # ||LoG t|| / ||LoG t||
    assert hfen(x, 3.0 * x) == pytest.approx(2.0)  # LoG is linear
    blurs = [hfen(x, ndimage.gaussian_filter(x, s)) for s in (0.5, 1.0, 2.0)]
    assert 0 < blurs[0] < blurs[1] < blurs[2]


# ---------------------------------------------------------------- foreground mask


def _sphere(shape, radius, centre=None):
    centre = np.asarray(shape) / 2 - 0.5 if centre is None else np.asarray(centre)
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    return sum((g - c) ** 2 for g, c in zip(grids, centre)) <= radius**2


def test_otsu_threshold_separates_two_modes():
    low, high = _rng(14).normal(10, 1, 5000), _rng(15).normal(50, 2, 3000)
    t = otsu_threshold(np.concatenate([low, high]))
    assert low.max() <= t < high.min()
    # unimodal-plus-outlier data: the threshold stays inside the bulk's range
    assert 9 < otsu_threshold(np.concatenate([low, [1e6]])) < 11


def test_foreground_mask_recovers_mr_sphere_in_noise():
    shape = (40, 40, 40)
    sphere = _sphere(shape, 13)
    rng = _rng(16)
    img = np.abs(np.where(sphere, 100.0, 0.0) + rng.normal(0, 10, shape))  # magnitude noise
    img[sphere & _sphere(shape, 4)] = 20.0  # dark "ventricle" inside: must be filled
    tight = foreground_mask(img, dilation=0)
    assert _dice(tight, sphere) > 0.95
    loose = foreground_mask(img)  # default: one voxel of dilation
    assert np.count_nonzero(loose & sphere) >= 0.999 * np.count_nonzero(sphere)
    assert not (loose & ~ndimage.binary_dilation(sphere, iterations=3)).any()


def test_foreground_mask_ct_background_with_cavities():
    shape = (40, 36, 32)
    body = _sphere(shape, 12)
    lung = _sphere(shape, 5, centre=(19.5, 17.5, 15.5))
    img = np.full(shape, -1000.0)
    img[body] = 40.0
    img[lung] = -800.0
    img[_sphere(shape, 2, centre=(12, 17, 15))] = 1200.0  # bone
    img += _rng(17).normal(0, 20, shape)
    mask = foreground_mask(img, dilation=0)
    assert _dice(mask, body) > 0.95
    assert mask[lung].all()


def test_foreground_mask_constant_raises():
    with pytest.raises(InputError, match="empty foreground"):
        foreground_mask(np.full((8, 8, 8), 3.0))


# ---------------------------------------------------------------- evaluate


def _vol(data: np.ndarray, affine: np.ndarray) -> Volume:
    return Volume(np.asarray(data, np.float32)[None], affine)


def _world(shape, affine):
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1)
    return idx @ affine[:3, :3].T + affine[:3, 3]


def _analytic(shape, affine):
    p = _world(shape, affine)
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    return (np.sin(2 * np.pi * x / 20) * np.cos(2 * np.pi * y / 24)
            + 0.5 * np.sin(2 * np.pi * z / 18 + 0.3))


def test_evaluate_identical_volumes():
    data = _smooth_random((16, 16, 16), seed=18)
    aff = np.diag([1.0, 1.0, 2.0, 1.0])
    res = evaluate(_vol(data, aff), _vol(data, aff))
    assert res.psnr == math.inf and res.ssim == pytest.approx(1.0)
    assert res.nrmse == 0.0 and res.hfen == 0.0
    assert not res.resampled and res.outside_fov_voxels == 0 and res.mask_voxels == 16**3
    assert res.data_range == pytest.approx(1.0, abs=1e-6)
    d = res.to_dict()
    assert d["psnr"] == "inf"
    assert json.loads(json.dumps(d))["ssim"] == pytest.approx(1.0)


def test_evaluate_in_world_coordinates(caplog):
    aff = np.array([[2.0, 0, 0, -20], [0, 2.0, 0, 5], [0, 0, 2.0, 3], [0, 0, 0, 1]])
    shape = (24, 24, 24)
    truth = _vol(_analytic(shape, aff), aff)
    fine_aff = scale_affine(aff, (2, 2, 2))
    fine = _analytic((48, 48, 48), fine_aff)
    with caplog.at_level(logging.WARNING, logger="volsr.metrics.evaluate"):
        good = evaluate(truth, _vol(fine, fine_aff))
    assert "candidate resampled onto the truth grid" in caplog.text
    assert good.resampled and good.outside_fov_voxels == 0
    assert good.psnr > 40 and good.ssim > 0.99

    shifted = fine_aff.copy()
    shifted[0, 3] += 2.0  # one truth voxel along x
    bad = evaluate(truth, _vol(fine, shifted))
    assert bad.resampled
    assert bad.psnr < good.psnr - 15 and bad.ssim < good.ssim - 0.05


def test_evaluate_flipped_storage_is_the_same_image():
    data = _smooth_random((12, 10, 8), seed=19)
    aff = np.diag([1.5, 1.0, 2.0, 1.0])
    flip = aff @ np.array([[-1.0, 0, 0, 11], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    res = evaluate(_vol(data, aff), _vol(data[::-1].copy(), flip))
    assert res.resampled and res.outside_fov_voxels == 0
    assert res.psnr > 100  # a spline sampled at its knots returns the data
    naive = evaluate(_vol(data, aff), _vol(data[::-1].copy(), aff))
    assert not naive.resampled and naive.psnr < 30


def test_evaluate_outside_fov_excluded():
    data = _smooth_random((16, 16, 16), seed=20)
    aff = np.eye(4)
    res = evaluate(_vol(data, aff), _vol(data[:8], aff))
    assert res.resampled
    assert res.outside_fov_voxels == 8 * 16 * 16
    assert res.mask_voxels == 8 * 16 * 16
    assert res.psnr > 100  # the covered half matches exactly


def test_evaluate_no_overlap_and_nan_raise():
    data = _smooth_random((8, 8, 8), seed=21)
    far = np.eye(4)
    far[:3, 3] = 100.0
    with pytest.raises(InputError, match="do not overlap"):
        evaluate(_vol(data, np.eye(4)), _vol(data, far))
    bad = data.copy()
    bad[1, 2, 3] = np.nan
    with pytest.raises(InputError, match="NaN"):
        evaluate(_vol(data, np.eye(4)), _vol(bad, np.eye(4)))


def test_evaluate_masks_and_data_range():
    data = _smooth_random((16, 16, 16), seed=22)
    noisy = data + 0.05 * _rng(23).standard_normal(data.shape)
    truth, cand = _vol(data, np.eye(4)), _vol(noisy, np.eye(4))
    arr_mask = np.zeros(data.shape, bool)
    arr_mask[:8] = True
    by_array = evaluate(truth, cand, mask=arr_mask)
    assert by_array.mask_voxels == 2048
    assert by_array.psnr == pytest.approx(
        psnr(data.astype(np.float32), noisy.astype(np.float32),
             data_range=by_array.data_range, mask=arr_mask), rel=1e-9)
    # the same mask stored on a 2x finer grid: resampled nearest-neighbour in world space
    fine_aff = scale_affine(np.eye(4), (2, 2, 2))
    fine_mask = np.zeros((32, 32, 32), np.float32)
    fine_mask[:16] = 1
    by_volume = evaluate(truth, cand, mask=_vol(fine_mask, fine_aff))
    assert by_volume.mask_voxels == 2048 and not by_volume.resampled
    assert by_volume.psnr == pytest.approx(by_array.psnr, rel=1e-12)
    # explicit data range: PSNR shifts by exactly 20 log10(ratio)
    r = by_array.data_range
    twice = evaluate(truth, cand, mask=arr_mask, data_range=2 * r)
    assert twice.psnr - by_array.psnr == pytest.approx(20 * math.log10(2), rel=1e-9)


def test_evaluate_auto_mask_channel_and_metric_subset():
    shape = (24, 24, 24)
    ball = _sphere(shape, 8)
    data = np.where(ball, 100.0, 0.0) + _rng(24).normal(0, 2, shape)
    two = np.stack([np.zeros(shape), data]).astype(np.float32)
    truth = Volume(two, np.eye(4))
    res = evaluate(truth, truth, mask="auto", channel=1, metrics=("psnr", "nrmse"))
    assert res.ssim is None and res.hfen is None and res.nrmse == 0.0
    assert 0.9 * ball.sum() < res.mask_voxels < 2 * ball.sum()
    with pytest.raises(InputError, match="channel 2"):
        evaluate(truth, truth, channel=2)
    with pytest.raises(ConfigError, match="unknown metric"):
        evaluate(truth, truth, metrics=("psnr", "lpips"))
    with pytest.raises(InputError, match="constant"):
        evaluate(truth, truth, channel=0)
