"""Bad input for learned models (issue 15, section 6): an already isotropic scan with no
grid asked (nothing to super-resolve), a factor outside the trained range, a 2D image given
to a model for volumes. Real files, the real command line."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image
from typer.testing import CliRunner

import volsr
from volsr.cli import app

cli = CliRunner()
MODEL = "thickslice_v1"


def infer(*args):
    return cli.invoke(app, ["infer", *[str(a) for a in args], "--device", "cpu",
                            "--model", MODEL])


def one_line(r) -> str:
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1, r.output
    return lines[0]


def write(path, shape, spacing, seed=0):
    volsr.save_volume(volsr.phantom_volume(shape, spacing, supersample=1, seed=seed), path)
    return path


def sidecar(out):
    return json.loads(next(out.parent.glob(out.name.split(".")[0] + "*.json"))
                      .read_text(encoding="utf-8"))


def test_isotropic_scan_single_file_exits_1(tmp_path):
    src = write(tmp_path / "iso.nii.gz", (32, 32, 32), (2.0, 2.0, 2.0))
    before = src.read_bytes()
    r = infer(src, "-o", tmp_path / "out.nii.gz")
    assert r.exit_code == 1
    line = one_line(r)
    assert "already isotropic" in line and "nothing" in line and "--scale" in line
    assert not (tmp_path / "out.nii.gz").exists() and src.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iso.nii.gz"]
    # asking for a grid explicitly still runs (a refinement on the same grid)
    r = infer(src, "-o", tmp_path / "same.nii.gz", "--scale", "1", "1", "1")
    assert r.exit_code == 0, r.output


def test_isotropic_scan_in_a_folder_is_skipped_not_failed(tmp_path):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    write(inp / "a_iso.nii.gz", (32, 32, 32), (2.0, 2.0, 2.0))
    write(inp / "b_thick.nii.gz", (32, 32, 8), (2.0, 2.0, 8.0), seed=1)
    report = tmp_path / "report.json"
    r = infer(inp, "-o", out, "--report", report)
    assert r.exit_code == 0, r.output
    rep = json.loads(report.read_text(encoding="utf-8"))
    assert rep["counts"] == {"skipped": 1, "written": 1}
    status = {c["input"].rsplit("/", 1)[-1]: c for c in rep["cases"]}
    assert status["a_iso.nii.gz"]["status"] == "skipped"
    assert "already isotropic" in status["a_iso.nii.gz"]["error"]
    assert status["b_thick.nii.gz"]["status"] == "written"
    assert sorted(p.name for p in out.glob("*.nii.gz")) == ["b_thick.nii.gz"]
    assert "1 written, 1 skipped, 0 failed" in r.output


def test_factor_outside_the_trained_range_warns_in_log_and_sidecar(tmp_path, caplog):
    inside = write(tmp_path / "x4.nii.gz", (32, 32, 8), (2.0, 2.0, 8.0))
    outside = write(tmp_path / "x8.nii.gz", (32, 32, 6), (1.5, 1.5, 12.0))
    r = infer(inside, "-o", tmp_path / "sr4.nii.gz")
    assert r.exit_code == 0, r.output
    assert not [w for w in sidecar(tmp_path / "sr4.nii.gz")["warnings"] if "trained" in w]
    r = infer(outside, "-o", tmp_path / "sr8.nii.gz")
    assert r.exit_code == 0, r.output
    warn = [w for w in sidecar(tmp_path / "sr8.nii.gz")["warnings"] if "trained on" in w]
    assert len(warn) == 1 and "x8 along voxel axis 2" in warn[0] and "x2 to x6" in warn[0]
    assert f"range {MODEL} was trained on" in warn[0]  # the bundled name, not the network
    assert "outside the range" in r.output  # the log line on stderr
    out = volsr.load_volume(tmp_path / "sr8.nii.gz")
    assert out.spatial_shape == (32, 32, 48)  # the run itself goes on, on the planned grid
    np.testing.assert_allclose(out.spacing, [1.5, 1.5, 1.5], atol=1e-6)


def test_2d_image_to_a_volume_model_is_refused(tmp_path):
    png = tmp_path / "slice.png"
    Image.fromarray((np.random.default_rng(0).random((40, 48)) * 255).astype(np.uint8)).save(png)
    r = infer(png, "-o", tmp_path / "out.png", "--scale", "2")
    assert r.exit_code == 2
    line = one_line(r)
    assert f"model {MODEL} is for volumes" in line and "2D image" in line
    assert not (tmp_path / "out.png").exists()
