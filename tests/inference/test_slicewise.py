"""2D networks on volumes (slice-wise, in-plane and through-plane) and on 2D images."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from volsr.checkpoint import save_weights
from volsr.cli import app
from volsr.errors import ConfigError
from volsr.inference.grid import plan_output_grid
from volsr.inference.interpolate import InterpolationPredictor
from volsr.inference.predictor import Predictor
from volsr.inference.settings import WindowSettings
from volsr.inference.slicewise import (
    area_downsample,
    image_factor,
    plan_slices,
    predict_image2d,
)
from volsr.inference.sliding import sliding_window_predict, tta_transforms
from volsr.io import Volume
from volsr.io.image2d import Image2D
from volsr.models import create_model
from volsr.models.interpolation import Interpolator
from volsr.models.networks import SRNet

NONE = {"name": "none"}
# tests that compare with a hand-made float32 computation pin the bit-exact path (the
# default "auto" may run 2D networks in bfloat16 on this CPU)
FP32 = WindowSettings(precision="fp32")
cli = CliRunner()


class Repeat2D(SRNet):
    """Parameter-free 2D post network: nearest upsampling by its integer factors."""

    upsampling = "post"

    def __init__(self, scale=(2, 2)):
        super().__init__(spatial_dims=2, scale=scale)

    def forward(self, x):
        s0, s1 = self.integer_scale()
        return x.repeat_interleave(s0, dim=2).repeat_interleave(s1, dim=3)


def espcn(seed=0, scale=2):
    torch.manual_seed(seed)
    return create_model("espcn_2d", scale=scale, features=(4, 4), kernel_sizes=(3, 3, 3)).eval()


def srcnn2d(seed=0):
    torch.manual_seed(seed)
    return create_model("srcnn_2d", features=(4, 4), kernel_sizes=(3, 1, 3)).eval()


def volume(shape=(10, 12, 6), seed=0, spacing=(1.0, 1.0, 2.0)):
    data = np.random.default_rng(seed).normal(size=(1, *shape)).astype(np.float32)
    return Volume(data, np.diag([*spacing, 1.0]))


def net2d(model, img: np.ndarray) -> np.ndarray:
    """The network on one (H, W) slice."""
    with torch.no_grad():
        return model(torch.from_numpy(np.ascontiguousarray(img))[None, None])[0, 0].numpy()


# -- planning --------------------------------------------------------------------------


def test_plan_slices_orientations():
    ip = plan_slices([2, 2, 1])
    assert (ip.mode, ip.slice_axes, ip.target_axis) == ("in_plane", (2,), None)
    assert plan_slices([1, 3, 3]).slice_axes == (0,)
    tp = plan_slices([1, 1, 4])
    assert (tp.mode, tp.slice_axes, tp.target_axis) == ("through_plane", (0, 1), 2)
    assert plan_slices([2.5, 1, 1]).slice_axes == (1, 2)
    assert plan_slices([2, 2, 2]).slice_axes == (0, 1, 2)
    assert plan_slices([1, 1, 1]).mode == "identity"


def test_area_downsample_undoes_nearest_upsampling_on_the_grid():
    x = np.random.default_rng(0).normal(size=(1, 5, 4, 3)).astype(np.float32)
    up = np.repeat(x, 3, axis=2)
    np.testing.assert_allclose(area_downsample(up, 2, 3), x, atol=1e-6)
    with pytest.raises(ValueError, match="multiple"):
        area_downsample(up, 1, 2)


# -- volumes ---------------------------------------------------------------------------


@pytest.mark.parametrize("scale,k", [((2, 2, 1), 2), ((1, 2, 2), 0)])
def test_post_in_plane_applies_the_net_to_every_slice(scale, k):
    net, vol = espcn(), volume()
    out = Predictor(net, normalization=NONE, device="cpu", precision="fp32").run(vol, scale=scale)
    plan = plan_output_grid(vol.grid, scale=scale)
    assert out.spatial_shape == plan.grid.shape
    src = np.moveaxis(vol.data[0], k, -1)
    manual = np.stack([net2d(net, src[..., i]) for i in range(src.shape[-1])], axis=-1)
    np.testing.assert_allclose(out.data[0], np.moveaxis(manual, -1, k), atol=1e-5)


def test_post_through_plane_is_upsample_then_box_average():
    vol = volume(seed=1)
    out = Predictor(Repeat2D(), normalization=NONE, device="cpu").run(vol, scale=(1, 1, 2))
    # both orientations: nearest x2 in the plane, the in-plane axis averaged back exactly
    np.testing.assert_allclose(out.data, np.repeat(vol.data, 2, axis=3), atol=1e-6)
    np.testing.assert_allclose(out.affine, plan_output_grid(vol.grid, scale=(1, 1, 2)).grid.affine)


def test_post_through_plane_tiles_match_one_pass():
    vol, net = volume(shape=(12, 10, 7), seed=2), espcn(seed=3)
    whole = Predictor(net, normalization=NONE, device="cpu").run(vol, scale=(1, 2, 1))
    tiled = Predictor(net, normalization=NONE, device="cpu", patch_size=(5, 6, 4),
                      overlap=0.5).run(vol, scale=(1, 2, 1))
    assert whole.spatial_shape == (12, 20, 7)
    np.testing.assert_allclose(tiled.data, whole.data, atol=1e-5)


def test_post_refuses_factors_it_cannot_make():
    vol = volume()
    pred = Predictor(espcn(), normalization=NONE, device="cpu")
    with pytest.raises(ConfigError, match=r"upsamples its plane by \(2, 2\)"):
        pred.run(vol, scale=(3, 3, 1))
    with pytest.raises(ConfigError, match="every axis"):
        pred.run(vol, scale=(2, 2, 2))
    with pytest.raises(ConfigError, match="fusion"):
        Predictor(espcn(), fusion="max")


@pytest.mark.parametrize("fusion", ["average", "fba"])
def test_pre_through_plane_fuses_xz_and_yz_refinements(fusion):
    from volsr.inference.fusion import fourier_burst_fusion

    net, vol = srcnn2d(seed=2), volume(seed=3)
    out = Predictor(net, normalization=NONE, device="cpu", fusion=fusion,
                    precision="fp32").run(vol, scale=(1, 1, 2.5))
    plan = plan_output_grid(vol.grid, scale=(1, 1, 2.5))
    up = Interpolator("bspline").resample_linear(vol.data[0], plan.step, plan.offset,
                                                 plan.grid.shape)
    across_x = np.stack([net2d(net, up[i]) for i in range(up.shape[0])], axis=0)  # yz
    across_y = np.stack([net2d(net, up[:, j]) for j in range(up.shape[1])], axis=1)  # xz
    if fusion == "average":
        expected = (across_x + across_y) / 2
    else:
        expected = fourier_burst_fusion([across_x, across_y])
        assert np.abs(expected - (across_x + across_y) / 2).max() > 1e-3
    np.testing.assert_allclose(out.data[0], expected, atol=2e-5)


def test_pre_identity_net_gives_bspline_and_tiles_do_not_matter():
    vol = volume(shape=(13, 11, 7), seed=4)
    ident = create_model("srcnn_2d", features=(2, 2), kernel_sizes=(3, 1, 3), residual=True)
    with torch.no_grad():
        for p in ident.parameters():
            p.zero_()
    from volsr.inference import super_resolve

    out = Predictor(ident, normalization=NONE, device="cpu").run(vol, scale=(2, 2, 2))
    ref = super_resolve(vol, "bspline", scale=(2, 2, 2))
    np.testing.assert_allclose(out.data, ref.data, atol=1e-5)
    net = srcnn2d(seed=5)
    whole = Predictor(net, normalization=NONE, device="cpu").run(vol, scale=(1, 1, 2))
    tiled = Predictor(net, normalization=NONE, device="cpu", patch_size=(6, 5, 8),
                      overlap=0.5).run(vol, scale=(1, 1, 2))
    np.testing.assert_allclose(tiled.data, whole.data, atol=1e-5)


# -- test-time augmentation ------------------------------------------------------------


def test_tta_is_the_dihedral_group_for_2d_nets():
    assert len(tta_transforms(True)) == 8 and len(tta_transforms(True, False)) == 4
    assert len(tta_transforms(False)) == 8  # 3D: flips only
    net = espcn(seed=6)
    x = torch.randn(1, 1, 9, 9, 1)
    y = sliding_window_predict(net, x, WindowSettings(tta=True, precision="fp32"))
    # averaging over the whole group makes the predictor equivariant to transposes
    yt = sliding_window_predict(net, x.transpose(2, 3), WindowSettings(tta=True, precision="fp32"))
    torch.testing.assert_close(yt, y.transpose(2, 3), atol=1e-5, rtol=0)
    plain = sliding_window_predict(net, x, FP32)
    swapped = sliding_window_predict(net, x.transpose(2, 3), FP32)
    assert (swapped - plain.transpose(2, 3)).abs().max() > 1e-4  # the net alone is not
    # and the average is over exactly the 8 transforms
    img = x[0, 0, :, :, 0].numpy()
    manual = np.zeros_like(y[0, 0, :, :, 0].numpy())
    for t in range(2):
        for f in ((), (0,), (1,), (0, 1)):
            a = np.flip(img.T if t else img, f) if f else (img.T if t else img)
            r = net2d(net, a)
            r = np.flip(r, f) if f else r
            manual += r.T if t else r
    np.testing.assert_allclose(y[0, 0, :, :, 0].numpy(), manual / 8, atol=1e-5)


def test_tta_skips_transposes_for_anisotropic_post_nets():
    net = Repeat2D(scale=(2, 3))
    x = torch.randn(1, 1, 5, 4, 2)
    out = sliding_window_predict(net, x, WindowSettings(tta=True))  # would fail on shapes with transposes
    torch.testing.assert_close(out, x.repeat_interleave(2, 2).repeat_interleave(3, 3))


# -- 2D images -------------------------------------------------------------------------


def test_predict_image2d_scales_geometry_and_refuses_3d_nets():
    img = Image2D(np.random.default_rng(0).random((1, 8, 6)).astype(np.float32) * 200,
                  spacing=(0.2, 0.1), source_dtype="uint8", bit_depth=8, dpi=(254.0, 127.0),
                  spacing_known=True)
    pred = Predictor(espcn(), normalization=NONE, device="cpu", precision="fp32")
    out = pred.run_image(img)
    assert out.shape == (16, 12) and out.source_dtype == "uint8"
    np.testing.assert_allclose(out.spacing, [0.1, 0.05])
    assert out.dpi == pytest.approx((508.0, 254.0))
    np.testing.assert_allclose(out.data[0], net2d(pred.model, img.data[0]), atol=1e-4)
    net3d = create_model("srcnn_3d", features=(2, 2), kernel_sizes=(3, 1, 3))
    with pytest.raises(ConfigError, match="3D network; a 2D image needs a 2D network"):
        Predictor(net3d, device="cpu").run_image(img)
    with pytest.raises(ConfigError, match="--scale"):
        predict_image2d(InterpolationPredictor(create_model("linear")), img)


def test_image_factor_options():
    img = Image2D(np.zeros((1, 4, 4), np.float32), spacing=(0.4, 0.2), spacing_known=True)
    assert image_factor(img) is None
    assert image_factor(img, scale=(3, 3, 3)) == (3.0, 3.0)
    assert image_factor(img, scale=(2, 4, 1)) == (2.0, 4.0)
    assert image_factor(img, target_spacing=(0.1, 0.1, 0.1)) == pytest.approx((4.0, 2.0))
    assert image_factor(img, isotropic=True) == (2.0, 1.0)
    with pytest.raises(ConfigError, match="S_rows S_cols 1"):
        image_factor(img, scale=(2, 3, 4))
    with pytest.raises(ConfigError, match="--reference"):
        image_factor(img, reference=object())


# -- command line ----------------------------------------------------------------------


@pytest.fixture
def espcn_weights(tmp_path):
    return save_weights(espcn(seed=7), tmp_path / "w2d", model_name="espcn_2d",
                        normalization={"name": "percentile", "lower": 0, "upper": 100},
                        inference={"patch_size": [16, 16, 16], "overlap": 0.25})


def run_cli(*args):
    return cli.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_cli_png_16bit_with_a_2d_network(tmp_path, espcn_weights):
    a = (np.random.default_rng(1).random((20, 14)) * 60000).astype(np.uint16)
    Image.fromarray(a).save(tmp_path / "xray.png", dpi=(100, 100))
    r = run_cli("infer", tmp_path / "xray.png", "-o", tmp_path / "sr.png", "--weights",
                espcn_weights, "--tta")
    assert r.exit_code == 0, r.stderr
    out = Image.open(tmp_path / "sr.png")
    assert out.mode == "I;16" and out.size == (28, 40)
    assert out.info["dpi"] == pytest.approx((200, 200), rel=1e-3)
    assert "espcn_2d" in out.text["volsr"]
    side = json.loads((tmp_path / "sr.png.volsr.json").read_text(encoding="utf-8"))
    assert side["input"]["kind"] == "image2d" and side["input"]["bit_depth"] == 16
    assert side["output"]["shape"] == [40, 28] and side["output"]["scale"] == [2.0, 2.0]
    assert side["predictor"]["tta"] is True and side["model"] == "espcn_2d"
    r = run_cli("infer", tmp_path / "xray.png", "-o", tmp_path / "sr3.png", "--weights",
                espcn_weights, "--scale", "3")
    assert r.exit_code != 0 and "scale/model mismatch" in r.stderr


def test_cli_image_errors_and_interpolation(tmp_path, espcn_weights):
    a = (np.arange(12 * 9).reshape(12, 9) % 256).astype(np.uint8)
    Image.fromarray(a).save(tmp_path / "p.png")
    r = run_cli("infer", tmp_path / "p.png", "-o", tmp_path / "o.nii.gz", "--weights",
                espcn_weights)
    assert r.exit_code != 0 and "for the output of a 2D image (p.png)" in r.stderr
    w3 = save_weights(create_model("srcnn_3d", features=(2, 2), kernel_sizes=(3, 1, 3)),
                      tmp_path / "w3d", model_name="srcnn_3d")
    r = run_cli("infer", tmp_path / "p.png", "-o", tmp_path / "o.png", "--weights", w3)
    assert r.exit_code != 0 and "3D network" in r.stderr
    assert not (tmp_path / "o.png").exists()
    r = run_cli("infer", tmp_path / "p.png", "-o", tmp_path / "o.png", "-m", "bspline",
                "--scale", "2")
    assert r.exit_code == 0, r.stderr
    out = np.asarray(Image.open(tmp_path / "o.png"))
    assert out.dtype == np.uint8 and out.shape == (24, 18)


def test_cli_folder_of_images_keeps_each_format(tmp_path, espcn_weights):
    src = tmp_path / "in"
    src.mkdir()
    ramp = np.arange(48).reshape(8, 6)
    Image.fromarray(ramp.astype(np.uint8)).save(src / "a.png")
    Image.fromarray((ramp * 900).astype(np.uint16)).save(src / "b.tif")
    (src / "notes.txt").write_text("ignored")
    r = run_cli("infer", src, "-o", tmp_path / "out", "--weights", espcn_weights,
                "--suffix", "_sr")
    assert r.exit_code == 0, r.stderr
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["a_sr.png", "a_sr.png.volsr.json", "b_sr.tif", "b_sr.tif.volsr.json"]
    assert Image.open(tmp_path / "out" / "a_sr.png").mode == "L"
    assert Image.open(tmp_path / "out" / "b_sr.tif").size == (12, 16)


def test_cli_volume_through_plane_with_2d_net_and_fba(tmp_path):
    from volsr.io import load_volume, save_volume

    vol = volume(shape=(12, 10, 5), seed=8)
    save_volume(vol, tmp_path / "v.nii.gz")
    w = save_weights(srcnn2d(seed=9), tmp_path / "w", model_name="srcnn_2d",
                     normalization={"name": "zscore"})
    r = run_cli("infer", tmp_path / "v.nii.gz", "-o", tmp_path / "o.nii.gz", "--weights", w,
                "--scale", "1", "1", "2", "--fusion", "fba")
    assert r.exit_code == 0, r.stderr
    assert load_volume(tmp_path / "o.nii.gz").spatial_shape == (12, 10, 10)
    side = json.loads((tmp_path / "o.nii.gz.volsr.json").read_text(encoding="utf-8"))
    assert side["predictor"]["fusion"] == "fba"
    assert side["settings"]["options"] == {"fusion": "fba"}
