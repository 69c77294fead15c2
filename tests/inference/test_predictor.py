"""Network inference: sliding windows, Predictor, bundled models and ``volsr infer --weights``."""

from __future__ import annotations

import hashlib
import json

import nibabel as nib
import numpy as np
import pytest
import torch
from conftest import oblique_affine
from torch import nn
from typer.testing import CliRunner

from volsr.checkpoint import save_weights
from volsr.cli import app
from volsr.errors import ConfigError, InputError, OutputError
from volsr.inference.grid import plan_output_grid
from volsr.inference.predictor import Predictor
from volsr.inference.settings import WindowSettings
from volsr.inference.sliding import sliding_window_predict
from volsr.io import Volume, load_volume, save_volume
from volsr.models import create_model
from volsr.models.networks import SRNet

cli = CliRunner()
KW = {"features": (8, 4), "kernel_sizes": (5, 1, 3), "scale": (1, 1, 2)}


def tiny_net(seed: int = 0, **kw):
    torch.manual_seed(seed)
    return create_model("srcnn_3d", **{**KW, **kw}).eval()


def identity_net():
    """SRCNN with a global residual and zeroed weights: returns its input exactly."""
    net = tiny_net(residual=True)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
    return net


class UpNet(SRNet):
    """Toy post-upsampling net: [conv] -> nearest upsampling (repeat_interleave) -> [conv]."""

    upsampling = "post"

    def __init__(self, scale=(2, 2, 2), convs: bool = True):
        super().__init__(spatial_dims=3, scale=scale)
        self.convs = convs
        if convs:
            self.pre = nn.Conv3d(1, 2, 3, padding=1, padding_mode="replicate")
            self.post = nn.Conv3d(2, 1, 3, padding=1, padding_mode="replicate")

    def forward(self, x):
        y = self.pre(x) if self.convs else x
        for axis, s in zip((2, 3, 4), self.integer_scale()):
            y = y.repeat_interleave(s, dim=axis)
        return self.post(y) if self.convs else y


def small_volume(shape=(14, 12, 6), seed=0, affine=None):
    from volsr.phantom import phantom_volume

    v = phantom_volume(shape, (2.0, 2.0, 4.0), supersample=1, seed=seed)
    data = v.data * 800.0 + 100.0  # scanner-like units, so normalisation matters
    return Volume(data.astype(np.float32), affine if affine is not None else v.affine, v.meta)


def run_cli(*args):
    return cli.invoke(app, [str(a) for a in args], catch_exceptions=False)


# -- sliding windows -------------------------------------------------------------------


@pytest.mark.parametrize("blend", ["gaussian", "constant"])
def test_sliding_window_matches_one_pass(blend):
    net = tiny_net()
    x = torch.randn(1, 1, 19, 16, 13)
    whole = sliding_window_predict(net, x)
    tiled = sliding_window_predict(net, x, WindowSettings(patch_size=(8, 8, 8), overlap=0.5,
                                                          blend=blend, sw_batch_size=3))
    assert tiled.shape == whole.shape == (1, 1, 19, 16, 13)
    torch.testing.assert_close(tiled, whole, atol=1e-5, rtol=0)
    # without halo context, blending alone leaves visible seams at window borders
    seams = sliding_window_predict(net, x, WindowSettings(patch_size=(8, 8, 8), overlap=0.5,
                                                          blend=blend, halo=0))
    assert (seams - whole)[..., 3:-3, 3:-3, 3:-3].abs().max() > 1e-3


def test_sliding_window_post_model_is_aligned():
    x = torch.randn(1, 1, 11, 9, 7)
    nearest = UpNet(scale=(2, 1, 3), convs=False)
    out = sliding_window_predict(nearest, x, WindowSettings(patch_size=(6, 4, 9), overlap=0.25))
    expected = x.repeat_interleave(2, 2).repeat_interleave(3, 4)
    assert out.shape == (1, 1, 22, 9, 21)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
    torch.manual_seed(1)
    conv = UpNet(scale=(2, 2, 2)).eval()
    whole = sliding_window_predict(conv, x)
    tiled = sliding_window_predict(conv, x, WindowSettings(patch_size=(8, 8, 8), overlap=0.5))
    torch.testing.assert_close(tiled, whole, atol=1e-5, rtol=0)


def test_tta_averages_the_flipped_predictions():
    net = tiny_net(seed=3)
    x = torch.randn(1, 1, 10, 9, 8)
    with torch.no_grad():
        flips = [(), (2,), (3,), (4,), (2, 3), (2, 4), (3, 4), (2, 3, 4)]
        manual = sum(torch.flip(net(torch.flip(x, d)), d) if d else net(x) for d in flips) / 8
    out = sliding_window_predict(net, x, WindowSettings(patch_size=(6, 6, 6), overlap=0.25,
                                                        tta=True))
    torch.testing.assert_close(out, manual, atol=1e-5, rtol=0)
    assert (out - net(x).detach()).abs().max() > 1e-4  # TTA changed something


# -- Predictor -------------------------------------------------------------------------


def test_identity_network_returns_bspline_interpolation_in_input_units():
    from scipy import ndimage

    vol = small_volume(affine=oblique_affine((2.0, 2.0, 4.0)))
    pred = Predictor(identity_net(), model_name="srcnn_3d", device="cpu",
                     normalization={"name": "zscore"}, patch_size=(8, 8, 8))
    out = pred.run(vol, scale=(1, 1, 2))
    plan = plan_output_grid(vol.grid, scale=(1, 1, 2))
    assert out.spatial_shape == plan.grid.shape == (14, 12, 12)
    np.testing.assert_allclose(out.affine, plan.grid.affine, atol=1e-6, rtol=0)
    # independent reference: scipy zoom with grid_mode (edges aligned = volsr convention)
    ref = ndimage.zoom(vol.data[0].astype(np.float64), (1, 1, 2), order=3, mode="reflect",
                       grid_mode=True)
    assert out.data.dtype == np.float32
    np.testing.assert_allclose(out.data[0], ref, atol=1e-6 * np.ptp(ref), rtol=0)
    assert out.meta is vol.meta


def test_predictor_post_model_scale_mismatch_and_match():
    vol = small_volume((8, 8, 6))
    pred = Predictor(UpNet(scale=(2, 2, 2)), model_name="upnet", device="cpu")
    with pytest.raises(ConfigError, match=r"upsamples by \(2, 2, 2\); the requested factor is "
                                          r"\(1.0, 1.0, 4.0\).*scale/model mismatch"):
        pred.run(vol, scale=(1, 1, 4))
    out = pred.run(vol, scale=2)
    assert out.spatial_shape == (16, 16, 12)
    np.testing.assert_allclose(out.affine, plan_output_grid(vol.grid, scale=2).grid.affine)
    default = pred.run(vol)  # no grid option: the trained scale
    np.testing.assert_array_equal(default.data, out.data)


def test_predictor_input_checks():
    net = tiny_net(kernel_sizes=(9, 1, 3), padding_mode="reflect")  # needs >= 5 voxels
    pred = Predictor(net, model_name="srcnn_3d", device="cpu")
    with pytest.raises(InputError, match="smaller than the model's receptive field.*"
                                         r"\[5, 5, 5\].*\[4, 6, 6\]"):
        pred.run(Volume(np.random.default_rng(0).random((1, 4, 6, 3), np.float32), np.eye(4)),
                 scale=(1, 1, 2))
    flat = Volume(np.full((1, 8, 8, 4), 3.0, np.float32), np.eye(4))
    with pytest.raises(InputError, match="constant volume"):
        pred.run(flat, scale=(1, 1, 2))
    two = Volume(np.zeros((2, 8, 8, 4), np.float32), np.eye(4))
    with pytest.raises(InputError, match="takes 1 channel"):
        pred.run(two, scale=(1, 1, 2))


def test_from_pretrained_paths_overrides_and_bundled_default(tmp_path, monkeypatch):
    import volsr.weights as weights

    net = tiny_net()
    run = tmp_path / "run"
    run.mkdir()
    folder = save_weights(net, run / "model", model_name="srcnn_3d",
                          normalization={"name": "zscore"},
                          inference={"patch_size": [8, 8, 8], "overlap": 0.5})
    p = Predictor.from_pretrained(run, device="cpu", overlap=None, blend="constant")
    assert p.window.patch_size == (8, 8, 8) and p.window.overlap == 0.5
    assert p.window.blend == "constant"
    assert p.normalization == {"name": "zscore"} and p.scale == (1.0, 1.0, 2.0)
    assert p.record()["weights_sha256"] == hashlib.sha256(
        (folder / "model.safetensors").read_bytes()).hexdigest()
    with pytest.raises(ConfigError, match="unknown predictor option"):
        Predictor.from_pretrained(run, patch=(4, 4, 4))

    root = tmp_path / "bundled"
    root.mkdir()
    monkeypatch.setattr(weights, "WEIGHTS_ROOT", root)
    assert weights.bundled_models() == {} and weights.resolve_bundled("default") is None
    with pytest.raises(InputError, match="bundled models: none installed"):
        Predictor.from_pretrained("default")
    save_weights(net, root / "brain_t1", model_name="srcnn_3d")
    (root / "notes").mkdir()  # not a model: no model.json
    assert list(weights.bundled_models()) == ["brain_t1"]
    assert weights.resolve_bundled("default") is None
    (root / "DEFAULT").write_text("brain_t1\n")
    assert weights.resolve_bundled("default") == root / "brain_t1"
    vol = small_volume((8, 8, 4))
    a = Predictor.from_pretrained("default", device="cpu").run(vol, scale=(1, 1, 2))
    b = Predictor(net, device="cpu").run(vol, scale=(1, 1, 2))
    np.testing.assert_allclose(a.data, b.data, atol=1e-5)


def test_super_resolve_accepts_predictor_and_weights(tmp_path):
    from volsr.inference import super_resolve

    vol = small_volume((8, 8, 4))
    save_weights(identity_net(), tmp_path / "w", model_name="srcnn_3d")
    by_weights = super_resolve(vol, "srcnn_3d", weights=tmp_path / "w", scale=(1, 1, 2),
                               device="cpu")
    pred = Predictor.from_pretrained(tmp_path / "w", device="cpu")
    by_pred = super_resolve(vol, pred, scale=(1, 1, 2))
    bspline = super_resolve(vol, "bspline", scale=(1, 1, 2))
    np.testing.assert_allclose(by_weights.data, by_pred.data, atol=1e-6)
    np.testing.assert_allclose(by_pred.data, bspline.data, atol=1e-3 * np.ptp(bspline.data))
    with pytest.raises(ConfigError, match="is a network"):
        super_resolve(vol, "srcnn_3d", scale=2)
    with pytest.raises(ConfigError, match="does not match the weights"):
        super_resolve(vol, "dcsrn_3d", weights=tmp_path / "w", scale=2)


# -- volsr infer -----------------------------------------------------------------------


@pytest.fixture
def weights_dir(tmp_path):
    return save_weights(tiny_net(), tmp_path / "weights", model_name="srcnn_3d",
                        normalization={"name": "percentile"},
                        inference={"patch_size": [8, 8, 8], "overlap": 0.25})


@pytest.fixture
def scan(tmp_path):
    p = tmp_path / "scan.nii.gz"
    save_volume(small_volume((12, 10, 5), affine=oblique_affine((2.0, 2.0, 4.0))), p)
    return p


def test_cli_infer_with_weights_end_to_end(tmp_path, weights_dir, scan):
    out = tmp_path / "sr.nii.gz"
    r = run_cli("infer", scan, "-o", out, "--weights", weights_dir, "--scale", 1, 1, 2,
                "--patch", 6, 6, 6, "--device", "cpu")
    assert r.exit_code == 0, r.stderr
    img, src = nib.load(out), load_volume(scan)
    plan = plan_output_grid(src.grid, scale=(1, 1, 2))
    assert img.shape == (12, 10, 10)
    np.testing.assert_allclose(img.affine, plan.grid.affine, atol=1e-5)
    expected = Predictor.from_pretrained(weights_dir, device="cpu", patch_size=(6, 6, 6)).run(
        src, scale=(1, 1, 2))
    np.testing.assert_allclose(np.asarray(img.dataobj), expected.data[0], atol=1e-4)
    side = json.loads((tmp_path / "sr.nii.gz.volsr.json").read_text(encoding="utf-8"))
    sha = hashlib.sha256((weights_dir / "model.safetensors").read_bytes()).hexdigest()
    assert side["model"] == "srcnn_3d" and side["weights"]["sha256"] == sha
    assert side["settings"]["weights_sha256"] == sha
    assert side["settings"]["options"]["patch_size"] == [6, 6, 6]
    assert side["predictor"]["device"] == "cpu"
    # same weights: skipped; new weights in the same folder: redone
    args = ("infer", scan, "-o", out, "--weights", weights_dir, "--scale", 1, 1, 2,
            "--patch", 6, 6, 6, "--skip-existing")
    assert "1 skipped" in run_cli(*args).stderr
    save_weights(tiny_net(seed=5), weights_dir, model_name="srcnn_3d")
    assert "1 written" in run_cli(*args).stderr


def test_cli_model_and_weights_errors(tmp_path, weights_dir, scan):
    import torch as _torch

    out = tmp_path / "x.nii.gz"
    r = run_cli("infer", scan, "-o", out, "--model", "srcnn_3d")
    assert r.exit_code == 2 and "--weights PATH" in r.stderr
    r = run_cli("infer", scan, "-o", out, "--model", "dcsrn_3d", "--weights", weights_dir)
    assert r.exit_code == 2 and "does not match the weights" in r.stderr
    r = run_cli("infer", scan, "-o", out, "--model", "linear", "--patch", 8, 8, 8)
    assert r.exit_code == 2 and "only apply to networks" in r.stderr
    r = run_cli("infer", scan, "-o", out, "--weights", tmp_path)
    assert r.exit_code == 1 and "not a volsr weights folder" in r.stderr
    if not _torch.cuda.is_available():
        r = run_cli("infer", scan, "-o", out, "--weights", weights_dir, "--device", "cuda")
        assert r.exit_code != 0 and "CUDA is not available" in r.stderr
    assert not out.exists()


def test_cli_uses_bundled_default_when_no_model(tmp_path, monkeypatch, scan):
    import volsr.weights as weights

    root = tmp_path / "bundled"
    root.mkdir()
    monkeypatch.setattr(weights, "WEIGHTS_ROOT", root)
    r = run_cli("infer", scan, "-o", tmp_path / "a.nii.gz", "--scale", 1, 1, 2)
    assert r.exit_code == 0 and json.loads((tmp_path / "a.nii.gz.volsr.json").read_text(encoding="utf-8"))["model"] == "bspline"
    save_weights(tiny_net(), root / "mr_t1", model_name="srcnn_3d")
    (root / "DEFAULT").write_text("mr_t1")
    r = run_cli("infer", scan, "-o", tmp_path / "b.nii.gz", "--scale", 1, 1, 2, "-v")
    assert r.exit_code == 0, r.stderr
    assert "bundled default model (mr_t1)" in r.stderr
    side = json.loads((tmp_path / "b.nii.gz.volsr.json").read_text(encoding="utf-8"))
    assert side["model"] == "srcnn_3d" and side["weights"]["path"] == str(root / "mr_t1")


@pytest.fixture
def folder(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i, name in enumerate(("d", "a", "c", "b", "e")):
        save_volume(small_volume((6, 6, 3), seed=i), src / f"{name}.nii.gz")
    return src


def _written(out):
    return sorted(p.name for p in out.glob("*.nii.gz")) if out.exists() else []


def test_cli_num_parts_processes_its_block(tmp_path, folder):
    out = tmp_path / "out"
    r = run_cli("infer", folder, "-o", out, "--model", "linear", "--num-parts", 2,
                "--part-id", 1)
    assert r.exit_code == 0, r.stderr
    assert _written(out) == ["c.nii.gz", "d.nii.gz", "e.nii.gz"]
    r = run_cli("infer", folder, "-o", out, "--model", "linear", "--num-parts", 2,
                "--part-id", 0)
    assert r.exit_code == 0 and "2 written" in r.stderr
    assert len(_written(out)) == 5
    r = run_cli("infer", folder, "-o", out, "--model", "linear", "--num-parts", 2,
                "--part-id", 2)
    assert r.exit_code == 2 and "--part-id must be in [0, 1]" in r.stderr
    r = run_cli("infer", folder, "-o", out, "--model", "linear", "--num-parts", 2)
    assert r.exit_code == 2 and "both --num-parts and --part-id" in r.stderr


def test_cli_honours_slurm_array_variables(tmp_path, folder, monkeypatch):
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "3")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    monkeypatch.setenv("SLURM_ARRAY_TASK_MIN", "1")  # --array=1-3: last part
    out = tmp_path / "out"
    r = run_cli("infer", folder, "-o", out, "--model", "linear")
    assert r.exit_code == 0, r.stderr
    assert _written(out) == ["d.nii.gz", "e.nii.gz"]  # block [10/3, 5) of a, b, c, d, e
    # explicit flags win over the environment
    r = run_cli("infer", folder, "-o", tmp_path / "o2", "--model", "linear", "--num-parts", 5,
                "--part-id", 0)
    assert _written(tmp_path / "o2") == ["a.nii.gz"]


def test_run_file_writes_volume_and_sidecar(tmp_path, weights_dir, scan):
    pred = Predictor.from_pretrained(weights_dir, device="cpu")
    out = pred.run_file(scan, tmp_path / "o.nii.gz")  # default: the trained scale (1, 1, 2)
    assert nib.load(out).shape == (12, 10, 10)
    side = json.loads((tmp_path / "o.nii.gz.volsr.json").read_text(encoding="utf-8"))
    assert side["settings"]["scale"] == [1.0, 1.0, 2.0]
    assert side["weights"]["sha256"] == pred.record()["weights_sha256"]
    with pytest.raises(OutputError, match="already exists"):
        pred.run_file(scan, out, scale=(1, 1, 3))
    pred.run_file(scan, out, scale=(1, 1, 3), overwrite=True)
    assert nib.load(out).shape == (12, 10, 15)


def test_run_file_claims_its_output_and_records_its_digest(tmp_path, weights_dir, scan):
    """run_file goes through inference/case.run_case: the claim and the one-unit write."""
    from volsr.io.claim import claim_output, file_digest

    pred = Predictor.from_pretrained(weights_dir, device="cpu")
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "o.nii.gz"
    with claim_output(out), pytest.raises(OutputError, match="another volsr run"):
        pred.run_file(scan, out)  # a second writer of one output stops
    assert sorted(p.name for p in folder.iterdir()) == []  # and leaves nothing behind
    pred.run_file(scan, out)
    side = json.loads((folder / "o.nii.gz.volsr.json").read_text(encoding="utf-8"))
    digest = file_digest(out)
    assert side["output"]["size"] == digest["size"] > 0
    assert side["output"]["sha256"] == digest["sha256"]
    assert sorted(p.name for p in folder.iterdir()) == ["o.nii.gz", "o.nii.gz.volsr.json"]
