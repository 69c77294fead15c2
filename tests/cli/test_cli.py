"""The CLI through typer's CliRunner: real files in, real files out."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from typer.testing import CliRunner

from volsr._version import __version__
from volsr.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_version():
    r = run("--version")
    assert r.exit_code == 0 and __version__ in r.stdout


def test_models_lists_baselines_with_dims_and_kind():
    r = run("models", "--json")
    assert r.exit_code == 0
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    for name in ("nearest", "linear", "bspline", "lanczos", "fourier"):
        assert rows[name]["upsampling"] == "interpolation" and rows[name]["dims"] == 3


def test_infer_file_to_file_with_sidecar(tmp_path, phantom_path):
    out = tmp_path / "out" / "sr.nii.gz"
    out.parent.mkdir()
    r = run("infer", phantom_path, "-o", out, "--model", "linear", "--scale", 1, 1, 2)
    assert r.exit_code == 0, r.stderr
    img = nib.load(out)
    src = nib.load(phantom_path)
    assert img.shape == (48, 52, 80)
    expected = src.affine @ np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0.5, -0.25],
                                      [0, 0, 0, 1]])
    np.testing.assert_allclose(img.affine, expected, atol=1e-6)
    np.testing.assert_allclose(img.header.get_qform(), expected, atol=1e-5)
    side = json.loads((tmp_path / "out" / "sr.nii.gz.volsr.json").read_text(encoding="utf-8"))
    assert side["model"] == "linear" and side["settings"]["scale"] == [1.0, 1.0, 2.0]
    assert len(side["input"]["sha256"]) == 64 and side["output"]["shape"] == [48, 52, 80]
    assert "compute_s" in side["timings"]


def test_infer_refuses_overwrite_then_skip_existing(tmp_path, phantom_path):
    out = tmp_path / "sr.nii.gz"
    assert run("infer", phantom_path, "-o", out, "--scale", 1, 1, 2).exit_code == 0
    before = out.read_bytes()
    r = run("infer", phantom_path, "-o", out, "--scale", 1, 1, 2)
    assert r.exit_code != 0 and "already exists" in r.stderr
    r = run("infer", phantom_path, "-o", out, "--scale", 1, 1, 2, "--skip-existing")
    assert r.exit_code == 0 and "1 skipped" in r.stderr
    assert out.read_bytes() == before
    # different settings: the sidecar no longer matches, so it is redone
    r = run("infer", phantom_path, "-o", out, "--scale", 1, 1, 3, "--skip-existing")
    assert r.exit_code == 0 and "1 written" in r.stderr
    assert nib.load(out).shape[2] == 120


def test_infer_folder_to_folder_loads_once_and_names_outputs(tmp_path, phantom_path):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.nii.gz", "b.nii.gz"):
        (src / name).write_bytes(phantom_path.read_bytes())
    r = run("infer", src, "-o", tmp_path / "out", "--model", "nearest", "--isotropic")
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "a.nii.gz", "a.nii.gz.volsr.json", "b.nii.gz", "b.nii.gz.volsr.json"]


def test_infer_default_is_isotropic(tmp_path):
    from volsr.io import save_volume
    from volsr.phantom import phantom_volume

    p = tmp_path / "thick.nii.gz"
    save_volume(phantom_volume((20, 22, 6), (2.0, 2.0, 5.0), supersample=1), p)
    r = run("infer", p, "-o", tmp_path / "iso.nii.gz")
    assert r.exit_code == 0, r.stderr
    img = nib.load(tmp_path / "iso.nii.gz")
    assert img.shape == (20, 22, 15)
    np.testing.assert_allclose(img.header.get_zooms(), (2.0, 2.0, 2.0))


def test_device_cuda_without_cuda_is_an_error(tmp_path, phantom_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    out = tmp_path / "x.nii.gz"
    r = run("infer", phantom_path, "-o", out, "--device", "cuda")
    assert r.exit_code != 0 and "CUDA is not available" in r.stderr
    assert not out.exists()


def test_eval_identical_and_resampled(tmp_path, phantom_path):
    r = run("eval", phantom_path, phantom_path, "--json")
    assert r.exit_code == 0
    res = json.loads(r.stdout)
    assert res["psnr"] == "inf" and res["ssim"] == pytest.approx(1.0)
    fine = tmp_path / "fine.nii.gz"
    assert run("infer", phantom_path, "-o", fine, "--model", "bspline", "--scale", 2, 2, 2)\
        .exit_code == 0
    r = run("eval", phantom_path, fine, "--json", "--mask", "auto")
    res = json.loads(r.stdout)
    assert res["resampled"] is True and res["psnr"] > 25


def test_info_prints_grid(phantom_path):
    r = run("info", phantom_path, "--json")
    rec = json.loads(r.stdout)
    assert rec["shape"] == [48, 52, 40] and rec["spacing_mm"] == [4.0, 4.0, 4.0]


def test_phantom_command(tmp_path):
    out = tmp_path / "p.nii.gz"
    r = run("phantom", "-o", out, "--shape", 24, 26, 20, "--spacing", 16, 16, 16, "--kind", "body")
    assert r.exit_code == 0
    arr = nib.load(out).get_fdata()
    assert arr.min() == pytest.approx(-1000) and arr.max() > 200


def test_unknown_model_suggests(tmp_path, phantom_path):
    r = run("infer", phantom_path, "-o", tmp_path / "x.nii.gz", "--model", "bsplin")
    assert r.exit_code == 2 and "Did you mean: bspline" in r.stderr
