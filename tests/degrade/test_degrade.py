"""Tests of the degradation simulator (volsr.degrade)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from volsr.degrade import (
    DEGRADATIONS,
    Compose,
    GaussianBlurDownsample,
    GaussianNoise,
    KSpaceTruncation,
    RandomGaussianBlurDownsample,
    RandomKSpaceTruncation,
    RandomNoise,
    RandomThickSlice,
    Resize,
    RicianNoise,
    ThickSlice,
    build_degradation,
    degrade_volume,
)
from volsr.errors import ConfigError
from volsr.geometry.grid import scale_affine, source_coordinates
from volsr.io import Volume


def _oblique_affine() -> np.ndarray:
    a, b = 0.3, -0.5
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    rz = np.array([[np.cos(b), -np.sin(b), 0], [np.sin(b), np.cos(b), 0], [0, 0, 1]])
    aff = np.eye(4)
    aff[:3, :3] = rz @ rx @ np.diag([0.8, 1.1, 1.7])
    aff[:3, 3] = [-40.0, 12.5, 7.0]
    return aff


def _volume(shape=(1, 16, 16, 32), affine=None, seed=0) -> Volume:
    rng = np.random.default_rng(seed)
    data = rng.random(shape).astype(np.float32)
    return Volume(data, np.eye(4) if affine is None else affine)


def _world(affine: np.ndarray, ijk) -> np.ndarray:
    return affine[:3, :3] @ np.asarray(ijk, dtype=np.float64) + affine[:3, 3]


@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize("oblique", [False, True])
def test_thick_slice_grid(axis, oblique):
    shape = [1, 16, 16, 16]
    shape[1 + axis] = 32
    hr = _volume(tuple(shape), _oblique_affine() if oblique else np.diag([1.0, 1.2, 0.9, 1.0]))
    lr = ThickSlice(axis=axis, factor=4)(hr)
    expected_shape = list(shape)
    expected_shape[1 + axis] = 8
    assert lr.data.shape == tuple(expected_shape)
    scale = [1.0, 1.0, 1.0]
    scale[axis] = 0.25
    np.testing.assert_allclose(lr.affine, scale_affine(hr.affine, scale), atol=1e-9, rtol=0)
    # Independent check: LR voxel 0 sits at the world centroid of HR slices 0..3.
    hr_centres = []
    for s in range(4):
        ijk = [0.0, 0.0, 0.0]
        ijk[axis] = s
        hr_centres.append(_world(hr.affine, ijk))
    np.testing.assert_allclose(_world(lr.affine, [0, 0, 0]), np.mean(hr_centres, axis=0),
                               atol=1e-9)
    np.testing.assert_allclose(lr.spacing[axis], 4 * hr.spacing[axis], rtol=1e-12)


def test_thick_slice_non_integer_factor():
    hr = _volume((1, 8, 8, 40), _oblique_affine())
    lr = ThickSlice(axis=2, factor=2.5, profile="rect")(hr)
    assert lr.spatial_shape == (8, 8, 16)
    np.testing.assert_allclose(lr.spacing, hr.spacing * [1, 1, 2.5], rtol=1e-12)
    np.testing.assert_allclose(lr.data.mean(), hr.data.mean(), rtol=1e-5)
    np.testing.assert_allclose(lr.data[..., 0],
                               (hr.data[..., 0] + hr.data[..., 1] + 0.5 * hr.data[..., 2]) / 2.5,
                               atol=1e-6)


def test_thick_slice_rect_hand_values_gap_and_overlap():
    x = np.random.default_rng(1).random((2, 3, 4, 32)).astype(np.float32)
    no_gap = ThickSlice(axis=2, factor=4, profile="rect").apply_array(x)
    np.testing.assert_allclose(no_gap, x.reshape(2, 3, 4, 8, 4).mean(-1), atol=1e-6)
    assert no_gap.mean() == pytest.approx(float(x.mean()), abs=1e-6)
    # gap 2: slab [4o + 0.5, 4o + 2.5] averages HR slices 4o+1 and 4o+2.
    gapped = ThickSlice(axis=2, factor=4, profile="rect", gap=2.0).apply_array(x)
    np.testing.assert_allclose(gapped, x.reshape(2, 3, 4, 8, 4)[..., 1:3].mean(-1), atol=1e-6)
    # thickness 6 (overlap 2): slab [4o - 1.5, 4o + 4.5] averages slices 4o-1 .. 4o+4.
    thick = ThickSlice(axis=2, factor=4, profile="rect", thickness=6.0).apply_array(x)
    np.testing.assert_allclose(thick[..., 3], x[..., 11:17].mean(-1), atol=1e-6)
    assert ThickSlice(axis=2, factor=4, thickness=6.0).gap == -2.0
    with pytest.raises(ConfigError, match="not both"):
        ThickSlice(axis=2, factor=4, thickness=3.0, gap=1.0)
    with pytest.raises(ConfigError, match="factor"):
        ThickSlice(axis=2)


def test_thick_slice_gaussian_and_custom_profiles():
    x = np.full((1, 4, 4, 24), 3.0, np.float32)
    for deg in (ThickSlice(axis=2, factor=3), ThickSlice(axis=2, factor=3, profile="custom",
                                                         kernel=[0, 1, 2, 1, 0], kernel_step=1)):
        y = deg.apply_array(x)
        assert y.shape == (1, 4, 4, 8)
        np.testing.assert_allclose(y, 3.0, atol=1e-5)
    # 3D input stays 3D.
    assert ThickSlice(axis=0, factor=2).apply_array(x[0]).shape == (2, 4, 24)


@pytest.mark.parametrize(("n", "factor", "n_lr"), [(32, 4, 8), (40, 2.5, 16), (33, 3, 11),
                                                   (30, 4, 8)])
def test_kspace_lr_samples_band_limited_signal_at_convention_centres(n, factor, n_lr):
    k0, phase = 2, 0.7
    sig = lambda t: np.cos(2 * np.pi * k0 * t / n + phase)  # noqa: E731
    x = np.broadcast_to(sig(np.arange(n)), (1, 3, 4, n)).astype(np.float32)
    hr = Volume(x.copy(), _oblique_affine())
    lr = KSpaceTruncation(factor=(1, 1, factor))(hr)
    assert lr.spatial_shape == (3, 4, n_lr)
    c = source_coordinates(n_lr, n_lr / n)
    np.testing.assert_allclose(lr.data[0, 1, 2], sig(c), atol=1e-5)
    np.testing.assert_allclose(lr.affine, scale_affine(hr.affine, (1, 1, n_lr / n)), atol=1e-9)
    np.testing.assert_allclose(lr.spacing[2], hr.spacing[2] * n / n_lr, rtol=1e-12)


def test_kspace_hr_keeps_grid_and_removes_high_frequencies():
    n = 32
    t = np.arange(n)
    low = np.cos(2 * np.pi * 2 * t / n)
    high = np.cos(2 * np.pi * 9 * t / n)  # above the kept band |k| < 4
    x = np.broadcast_to(low + high, (1, 2, 2, n)).astype(np.float32)
    hr = Volume(x.copy(), np.diag([1.0, 1.0, 2.0, 1.0]))
    out = KSpaceTruncation(factor=(1, 1, 4), output_grid="hr")(hr)
    assert out.data.shape == x.shape
    np.testing.assert_allclose(out.affine, hr.affine)
    np.testing.assert_allclose(out.data[0, 0, 0], low, atol=1e-5)


def test_kspace_window_reduces_ringing():
    step = np.zeros((1, 1, 1, 64), np.float32)
    step[..., 16:48] = 1.0
    for grid in ("hr", "lr"):
        plain = KSpaceTruncation(factor=(1, 1, 4), output_grid=grid).apply_array(step)
        ham = KSpaceTruncation(factor=(1, 1, 4), window="hamming",
                               output_grid=grid).apply_array(step)
        tukey = KSpaceTruncation(factor=(1, 1, 4), window="tukey", tukey_alpha=1.0,
                                 output_grid=grid).apply_array(step)
        assert plain.max() - 1 > 0.005
        assert ham.max() - 1 < 0.5 * (plain.max() - 1)
        assert tukey.max() - 1 < 0.5 * (plain.max() - 1)
    with pytest.raises(ConfigError, match="window"):
        KSpaceTruncation(factor=2, window="kaiser")


def test_gaussian_blur_downsample_grid_and_unit_axes():
    hr = _volume((1, 16, 12, 32), _oblique_affine())
    lr = GaussianBlurDownsample(factor=(2, 1, 4))(hr)
    assert lr.spatial_shape == (8, 12, 8)
    np.testing.assert_allclose(lr.affine, scale_affine(hr.affine, (0.5, 1, 0.25)), atol=1e-9)
    # Axis 1 has factor 1: a signal varying only along it passes unchanged.
    ramp = np.broadcast_to(np.sin(np.arange(12.0))[None, :, None], (16, 12, 32))
    out = GaussianBlurDownsample(factor=(2, 1, 4)).apply_array(ramp.astype(np.float32))
    np.testing.assert_allclose(out[3, :, 2], np.sin(np.arange(12.0)), atol=1e-5)
    # Default FWHM = factor; an explicit wider FWHM blurs more.
    x = np.random.default_rng(2).random((1, 32, 8, 8)).astype(np.float32)
    std_default = GaussianBlurDownsample(factor=(2, 1, 1)).apply_array(x).std()
    std_wide = GaussianBlurDownsample(factor=(2, 1, 1), fwhm=(6, 0, 0)).apply_array(x).std()
    assert std_wide < 0.8 * std_default


def test_resize_cubic_reproduces_ramp_at_convention_centres():
    ramp = np.broadcast_to(np.arange(32.0), (1, 4, 4, 32)).astype(np.float32)
    out = Resize(factor=(1, 1, 2), kernel="cubic").apply_array(ramp)
    assert out.shape == (1, 4, 4, 16)
    centres = source_coordinates(16, 0.5)  # 2 o + 0.5
    np.testing.assert_allclose(out[0, 0, 0, 2:-2], centres[2:-2], atol=1e-4)
    const = Resize(factor=3, kernel="lanczos").apply_array(np.full((9, 9, 9), 2.0, np.float32))
    assert const.shape == (3, 3, 3)
    np.testing.assert_allclose(const, 2.0, atol=1e-5)


def test_rician_and_gaussian_noise_statistics():
    zeros = np.zeros((1, 64, 64, 64), np.float32)
    sigma = 0.5
    rice = RicianNoise(sigma, seed=3).apply_array(zeros)
    assert rice.min() >= 0
    assert rice.mean() == pytest.approx(sigma * np.sqrt(np.pi / 2), rel=0.01)
    gauss = GaussianNoise(sigma, seed=3).apply_array(zeros + 5.0)
    assert gauss.std() == pytest.approx(sigma, rel=0.01)
    assert gauss.mean() == pytest.approx(5.0, abs=0.01)
    # Relative sigma: 10% of the 99th percentile (10) -> std 1.
    img = np.full((1, 40, 40, 40), 10.0, np.float32)
    rel = GaussianNoise(0.1, relative_to="p99", seed=4).apply_array(img)
    assert (rel - img).std() == pytest.approx(1.0, rel=0.02)
    # Deterministic given the seed.
    np.testing.assert_array_equal(RicianNoise(0.2, seed=7).apply_array(img),
                                  RicianNoise(0.2, seed=7).apply_array(img))
    assert not np.array_equal(RicianNoise(0.2, seed=7).apply_array(img),
                              RicianNoise(0.2, seed=8).apply_array(img))


RANDOM_TWINS = {
    "thick_slice": lambda seed: RandomThickSlice(axes="any", seed=seed),
    "kspace": lambda seed: RandomKSpaceTruncation(seed=seed),
    "blur": lambda seed: RandomGaussianBlurDownsample(isotropic=False, seed=seed),
    "noise": lambda seed: RandomNoise(seed=seed),
}


@pytest.mark.parametrize("make", list(RANDOM_TWINS.values()), ids=list(RANDOM_TWINS))
def test_random_twins_reproducible_and_replayable(make):
    hr = _volume((1, 16, 16, 24), _oblique_affine())
    a, b, c = make(11), make(11), make(12)
    out_a, out_b, out_c = a(hr), b(hr), c(hr)
    assert a.last_params == b.last_params
    np.testing.assert_array_equal(out_a.data, out_b.data)
    np.testing.assert_array_equal(out_a.affine, out_b.affine)
    assert a.last_params != c.last_params
    # Params are JSON and rebuild the exact degradation.
    params = json.loads(json.dumps(a.last_params))
    replay = build_degradation(params)(hr)
    np.testing.assert_array_equal(replay.data, out_a.data)
    np.testing.assert_allclose(replay.affine, out_a.affine, atol=1e-12)
    json.dumps(a.params)
    # The affine always matches the convention for the sampled scale.
    scale = a.last.output_scale(hr.spatial_shape)
    np.testing.assert_allclose(out_a.affine, scale_affine(hr.affine, scale), atol=1e-9)


def test_random_thick_slice_ranges_and_external_rng():
    twin = RandomThickSlice(axes=(1, 2), factor=(2, 6), gap=(0.0, 0.3))
    rng = np.random.default_rng(0)
    draws = [twin.sample(rng) for _ in range(200)]
    assert {d.axis for d in draws} == {1, 2}
    assert {d.profile for d in draws} == {"rect", "gaussian"}
    assert all(2 <= d.factor <= 6 and 0.7 * d.factor - 1e-9 <= d.thickness <= d.factor
               for d in draws)
    again = [twin.sample(np.random.default_rng(0)).params for _ in range(2)]
    assert again[0] == again[1] == draws[0].params
    ints = RandomThickSlice(factor=(2, 4), integer_factor=True, seed=1)
    assert {ints.sample().factor for _ in range(50)} == {2.0, 3.0, 4.0}


def test_compose_chains_affines_and_params():
    hr = _volume((1, 16, 16, 32), _oblique_affine())
    comp = Compose([ThickSlice(axis=2, factor=2, profile="rect"),
                    {"name": "gaussian_blur_downsample", "factor": [2, 1, 1]},
                    RicianNoise(0.01, seed=1)])
    lr = comp(hr)
    assert lr.spatial_shape == (8, 16, 16)
    np.testing.assert_allclose(lr.affine, scale_affine(hr.affine, (0.5, 1, 0.5)), atol=1e-9)
    np.testing.assert_allclose(comp.output_scale(hr.spatial_shape), [0.5, 1, 0.5])
    names = [p["name"] for p in comp.params["transforms"]]
    assert names == ["thick_slice", "gaussian_blur_downsample", "rician_noise"]
    rebuilt = build_degradation(json.loads(json.dumps(comp.params)))
    np.testing.assert_array_equal(rebuilt(hr).data, lr.data)


def test_degrade_volume_from_specs_with_random_members():
    hr = _volume((1, 16, 16, 24))
    spec = [{"name": "random_thick_slice", "factor": [2, 3]},
            {"name": "random_noise", "sigma": [0.0, 0.05]}]
    out1, params1 = degrade_volume(hr, spec, seed=5, return_params=True)
    out2, params2 = degrade_volume(hr, spec, seed=5, return_params=True)
    np.testing.assert_array_equal(out1.data, out2.data)
    assert params1 == params2
    assert [p["name"] for p in params1["transforms"]][0] == "thick_slice"
    replay = degrade_volume(hr, params1)
    np.testing.assert_array_equal(replay.data, out1.data)
    out3 = degrade_volume(hr, spec, seed=6)
    assert out3.data.shape != out1.data.shape or not np.array_equal(out3.data, out1.data)


def test_registry_names_and_spec_errors():
    for name in ("thick_slice", "kspace_truncation", "gaussian_blur_downsample", "resize",
                 "rician_noise", "gaussian_noise", "compose", "random_thick_slice",
                 "random_kspace_truncation", "random_gaussian_blur_downsample", "random_noise"):
        assert name in DEGRADATIONS
    deg = build_degradation({"name": "thick_slice", "factor": 4, "profile": "gaussian"})
    assert isinstance(deg, ThickSlice) and deg.axis == 2 and deg.thickness == 4.0
    with pytest.raises(ConfigError, match="thick_slice"):
        build_degradation({"name": "thik_slice", "factor": 4})
    with pytest.raises(ConfigError, match="bad options"):
        build_degradation({"name": "thick_slice", "factr": 4})
    with pytest.raises(ConfigError, match="name"):
        build_degradation({"factor": 4})


def test_torch_tensor_in_tensor_out():
    torch = pytest.importorskip("torch")
    x = torch.rand(1, 16, 16, 32)
    y = ThickSlice(axis=2, factor=4)(x)
    assert isinstance(y, torch.Tensor)
    assert tuple(y.shape) == (1, 16, 16, 8) and y.dtype == torch.float32
    ref = ThickSlice(axis=2, factor=4).apply_array(x.numpy())
    np.testing.assert_allclose(y.numpy(), ref)
    z = KSpaceTruncation(factor=2)(torch.rand(16, 16, 32, dtype=torch.float64))
    assert tuple(z.shape) == (8, 8, 16) and z.dtype == torch.float64
    r = RandomNoise(seed=0)(x)
    assert isinstance(r, torch.Tensor) and tuple(r.shape) == (1, 16, 16, 32)


@pytest.mark.parametrize("deg", [
    ThickSlice(axis=1, factor=3, profile="gaussian", thickness=2.0),
    ThickSlice(axis=0, factor=2, profile="custom", kernel=[0.0, 1.0, 3.0, 1.0, 0.0],
               kernel_step=0.5),
    KSpaceTruncation(factor=(2, 1, 3), window="tukey", tukey_alpha=0.3),
    KSpaceTruncation(factor=2, window="hamming", output_grid="hr"),
    GaussianBlurDownsample(factor=(1, 2, 3)),
    GaussianBlurDownsample(factor=2, fwhm=(3, 1.5, 0.5)),
    Resize(factor=(2, 1, 1.5), kernel="lanczos"),
    GaussianNoise(0.05, relative_to="mean_foreground", seed=3),
])
def test_deterministic_params_rebuild_identical_degradation(deg):
    hr = _volume((2, 12, 10, 18), _oblique_affine(), seed=4)
    params = json.loads(json.dumps(deg.params))
    assert params["name"] == deg.name
    rebuilt = build_degradation(params)
    assert type(rebuilt) is type(deg) and rebuilt.params == deg.params
    a, b = deg(hr), rebuilt(hr)
    np.testing.assert_array_equal(a.data, b.data)
    assert a.data.shape[1:] == deg.output_shape(hr.spatial_shape)
    np.testing.assert_allclose(a.affine, scale_affine(hr.affine,
                                                      deg.output_scale(hr.spatial_shape)))
