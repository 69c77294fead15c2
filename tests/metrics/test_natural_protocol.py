"""The published 2D SR evaluation protocol (volsr.metrics.natural) and its bicubic baselines."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from volsr.metrics.natural import (
    image_y,
    iter_image_set,
    lr_hr_y,
    make_lr,
    matlab_imresize,
    modcrop,
    psnr_y,
    quantize,
    rgb_to_y,
    score_y,
    shave,
    ssim_y,
)
from volsr.resample.kernels import cubic_kernel

NATURAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "natural"


# ------------------------------------------------------------------ colour, crops, PSNR


@pytest.mark.parametrize("rgb, y", [
    ((0, 0, 0), 16.0),
    ((255, 255, 255), 235.0),
    ((255, 0, 0), 16.0 + 65.481),
    ((0, 255, 0), 16.0 + 128.553),
    ((0, 0, 255), 16.0 + 24.966),
    ((128, 128, 128), 16.0 + 219.0 * 128 / 255),
])
def test_rgb_to_y_known_colours(rgb: tuple, y: float) -> None:
    img = np.broadcast_to(np.array(rgb, dtype=np.uint8), (2, 3, 3))
    out = rgb_to_y(img)
    assert out.shape == (2, 3) and out.dtype == np.float64
    np.testing.assert_allclose(out, y, atol=1e-9)


def test_rgb_to_y_float_input_and_bad_shapes() -> None:
    img = np.full((4, 4, 3), 255.0)
    np.testing.assert_allclose(rgb_to_y(img), 235.0)
    with pytest.raises(ValueError):
        rgb_to_y(np.zeros((4, 4)))
    with pytest.raises(ValueError):
        rgb_to_y(np.zeros((4, 4, 4)))


def test_image_y_uses_grayscale_as_is() -> None:
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    np.testing.assert_array_equal(image_y(gray), gray.astype(np.float64))
    np.testing.assert_array_equal(image_y(gray[..., None]), gray.astype(np.float64))
    rgb = np.stack([gray] * 3, axis=-1)
    # replicated to RGB it goes through the 16..235 mapping instead
    np.testing.assert_allclose(image_y(rgb), 16.0 + gray * 219.0 / 255.0)


def test_quantize_rounds_half_away_from_zero_and_clips() -> None:
    out = quantize(np.array([0.5, 1.5, 2.5, 2.49, -3.0, 254.5, 300.0]))
    np.testing.assert_array_equal(out, [1, 2, 3, 2, 0, 255, 255])


@pytest.mark.parametrize("shape, scale, expected", [
    ((10, 11), 3, (9, 9)),
    ((12, 12, 3), 4, (12, 12, 3)),
    ((7, 13, 3), 2, (6, 12, 3)),
])
def test_modcrop_shapes_keep_top_left(shape: tuple, scale: int, expected: tuple) -> None:
    img = np.arange(math.prod(shape)).reshape(shape)
    out = modcrop(img, scale)
    assert out.shape == expected
    np.testing.assert_array_equal(out, img[:expected[0], :expected[1]])


def test_modcrop_rejects_bad_scales() -> None:
    with pytest.raises(ValueError):
        modcrop(np.zeros((8, 8)), 0)
    with pytest.raises(ValueError):
        modcrop(np.zeros((8, 8)), 2.5)
    with pytest.raises(ValueError):
        modcrop(np.zeros((2, 8)), 3)


def test_shave_crops_every_side() -> None:
    img = np.arange(10 * 12).reshape(10, 12)
    out = shave(img, 3)
    assert out.shape == (4, 6)
    assert out[0, 0] == img[3, 3] and out[-1, -1] == img[6, 8]
    assert shave(img, 0).shape == img.shape
    with pytest.raises(ValueError):
        shave(img, 5)


def test_psnr_of_a_known_perturbation_and_the_border_crop() -> None:
    truth = np.full((20, 20), 100.0)
    cand = truth + 1.0  # MSE 1 -> 20 log10(255)
    assert psnr_y(truth, cand, 2) == pytest.approx(20 * math.log10(255.0), abs=1e-9)
    # errors confined to the border vanish with the crop (scale 3 -> 3 px) ...
    edge = truth.copy()
    edge[:3, :] += 50.0
    edge[:, -3:] -= 50.0
    assert psnr_y(truth, edge, 3) == math.inf
    # ... but not with a smaller one: of the 16 x 16 kept pixels, 15 in row 2 and 15 in
    # column 17 are off by 50 (their corner by 0)
    expected = 10 * math.log10(255.0 ** 2 / (30 * 50.0 ** 2 / 256))
    assert psnr_y(truth, edge, 3, border=2) == pytest.approx(expected, abs=1e-9)


def test_ssim_identical_and_border() -> None:
    rng = np.random.default_rng(0)
    truth = rng.uniform(16, 235, size=(40, 40))
    assert ssim_y(truth, truth, 3) == pytest.approx(1.0)
    noisy = truth + rng.normal(0, 10, size=truth.shape)
    s = ssim_y(truth, noisy, 3)
    assert 0.0 < s < 1.0
    # the cropped border (3 px at x3) does not count
    edge = truth.copy()
    edge[:3] = 0.0
    assert ssim_y(truth, edge, 3) == pytest.approx(1.0)


def test_ssim_matches_a_direct_valid_window_computation() -> None:
    """Wang et al.'s ssim_index: 11x11 Gaussian (sigma 1.5), 'valid' filtering."""
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 255, size=(24, 26))
    b = np.clip(a + rng.normal(0, 20, size=a.shape), 0, 255)
    x = np.arange(-5, 6)
    g = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * 1.5 ** 2))
    g /= g.sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for i in range(a.shape[0] - 10):
        for j in range(a.shape[1] - 10):
            pa, pb = a[i:i + 11, j:j + 11], b[i:i + 11, j:j + 11]
            ma, mb = (g * pa).sum(), (g * pb).sum()
            va = (g * pa * pa).sum() - ma * ma
            vb = (g * pb * pb).sum() - mb * mb
            cov = (g * pa * pb).sum() - ma * mb
            vals.append((2 * ma * mb + c1) * (2 * cov + c2)
                        / ((ma * ma + mb * mb + c1) * (va + vb + c2)))
    assert ssim_y(a, b, 1, border=0) == pytest.approx(float(np.mean(vals)), abs=1e-10)


# ------------------------------------------------------------------ MATLAB imresize


def _matlab_weights(n_in: int, scale: float) -> np.ndarray:
    """MATLAB imresize's contributions() for the bicubic kernel, written out directly."""
    n_out = math.ceil(n_in * scale)
    width = 4.0 / scale if scale < 1 else 4.0
    mat = np.zeros((n_out, n_in))
    for o in range(1, n_out + 1):  # 1-based as in MATLAB
        u = o / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - width / 2)
        for j in range(left, left + math.ceil(width) + 2):
            d = u - j
            w = scale * cubic_kernel(scale * d) if scale < 1 else cubic_kernel(d)
            jj = j - 1  # to 0-based, then mirror (MATLAB's symmetric aux index)
            jj = jj % (2 * n_in)
            jj = 2 * n_in - 1 - jj if jj >= n_in else jj
            mat[o - 1, jj] += w
    return mat / mat.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("n_in, scale", [(12, 1 / 2), (12, 1 / 3), (16, 1 / 4), (5, 3.0),
                                         (4, 2.0), (7, 4.0)])
def test_imresize_matches_the_matlab_contributions_formula(n_in: int, scale: float) -> None:
    rng = np.random.default_rng(2)
    img = rng.uniform(0, 255, size=(n_in, n_in + 1))
    ref = _matlab_weights(n_in, scale) @ img @ _matlab_weights(n_in + 1, scale).T
    out = matlab_imresize(img, scale)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.uint8, np.float64])
@pytest.mark.parametrize("scale", [1 / 2, 1 / 3, 1 / 4, 2.0, 3.0, 4.0])
def test_imresize_of_a_constant_image_stays_constant(dtype: type, scale: float) -> None:
    img = np.full((24, 36, 3), 77, dtype=dtype)
    out = matlab_imresize(img, scale)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, 77.0, atol=1e-9)


@pytest.mark.parametrize("shape, scale, expected", [
    ((24, 36), 1 / 2, (12, 18)),
    ((24, 36, 3), 1 / 3, (8, 12, 3)),
    ((255, 510), 1 / 3, (85, 170)),  # 255 * (1/3) must not round up to 86
    ((10, 7), 1 / 4, (3, 2)),  # ceil, as MATLAB
    ((8, 12), 3.0, (24, 36)),
])
def test_imresize_output_shape(shape: tuple, scale: float, expected: tuple) -> None:
    assert matlab_imresize(np.zeros(shape, dtype=np.uint8), scale).shape == expected


def test_imresize_uint8_rounds_after_each_pass_rows_first() -> None:
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, size=(30, 27), dtype=np.uint8)
    out8 = matlab_imresize(img, 1 / 3)
    assert out8.dtype == np.uint8
    rows = quantize(_matlab_weights(30, 1 / 3) @ img.astype(np.float64))
    expected = quantize(rows @ _matlab_weights(27, 1 / 3).T)
    np.testing.assert_array_equal(out8, expected)
    # the rounding in between matters: the float result, rounded once, differs somewhere
    once = quantize(matlab_imresize(img.astype(np.float64), 1 / 3))
    assert np.abs(once - expected).max() == 1.0


def test_make_lr_and_lr_hr_y_shapes() -> None:
    rng = np.random.default_rng(4)
    img = rng.integers(0, 256, size=(50, 41, 3), dtype=np.uint8)
    hr, lr = make_lr(img, 4)
    assert hr.shape == (48, 40, 3) and lr.shape == (12, 10, 3) and lr.dtype == np.uint8
    for protocol in ("y", "rgb"):
        hr_y, lr_y, bic = lr_hr_y(img, 3, protocol)
        assert hr_y.shape == bic.shape == (48, 39) and lr_y.shape == (16, 13)
        p, s = score_y(hr_y, bic, 3, protocol)
        assert 0.0 < p < 100.0 and 0.0 < s < 1.0
    with pytest.raises(ValueError):
        lr_hr_y(img, 3, "ycbcr")


def test_iter_image_set_reads_rgb_and_gray(tmp_path: Path) -> None:
    from PIL import Image

    Image.fromarray(np.full((6, 5, 3), 9, np.uint8)).save(tmp_path / "b.png")
    Image.fromarray(np.full((4, 4), 200, np.uint8), mode="L").save(tmp_path / "a.bmp")
    (tmp_path / "notes.txt").write_text("not an image")
    items = list(iter_image_set(tmp_path))
    assert [n for n, _ in items] == ["a", "b"]
    assert items[0][1].shape == (4, 4) and items[1][1].shape == (6, 5, 3)
    assert items[1][1].dtype == np.uint8
    with pytest.raises(FileNotFoundError):
        list(iter_image_set(tmp_path / "missing"))


# ------------------------------------------------------------------ real data

PUBLISHED = {"Set5": (33.66, 30.39, 28.42), "Set14": (30.23, 27.54, 26.00)}


@pytest.mark.shared_data
@pytest.mark.parametrize("set_name", ["Set5", "Set14"])
def test_bicubic_baseline_reproduces_the_published_means(set_name: str) -> None:
    folder = NATURAL / set_name
    if not folder.is_dir():
        pytest.skip(f"needs {folder} (../shared/data/natural beside the repo)")
    images = list(iter_image_set(folder))
    for scale, published in zip((2, 3, 4), PUBLISHED[set_name]):
        scores = [score_y(hr, bic, scale)[0]
                  for hr, _, bic in (lr_hr_y(img, scale) for _, img in images)]
        assert float(np.mean(scores)) == pytest.approx(published, abs=0.02), (set_name, scale)
