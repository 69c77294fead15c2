"""2D radiographs end to end through the CLI: import a folder of 16-bit PNGs, check it,
train a 2D network for a few steps, and super-resolve a PNG with the run; bad 2D inputs
stop with one line and write nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image
from typer.testing import CliRunner

from volsr.cli import app

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()

RECIPE = """defaults: [{base}]
name: xray_tiny
model:
  name: espcn_2d
  scale: [2.0, 2.0, 1.0]
data:
  mode: 2d
  slice_axis: 2
  patch_size: [{patch}, {patch}]
  patches_per_volume: 2
  batch_size: 2
  degradation:
    - {{name: resize, factor: [2.0, 2.0, 1.0], kernel: cubic}}
train:
  steps: 3
  val_every: 0
  checkpoint_every: 3
  log_every: 1
"""


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def radiograph(path: Path, seed: int, shape=(40, 44)) -> np.ndarray:
    """A smooth 12-bit pattern with noise in a 16-bit PNG at 0.1 mm (254 dpi)."""
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    rng = np.random.default_rng(seed)
    a = 2000 + 1500 * np.sin(xx / (3 + seed)) * np.cos(yy / 5) + rng.normal(0, 40, shape)
    a = a.clip(0, 4095).astype(np.uint16)
    Image.fromarray(a).save(path, dpi=(254, 254))
    return a


def recipe(tmp_path: Path, patch: int = 24) -> Path:
    cfg = tmp_path / "xray_tiny.yaml"
    cfg.write_text(RECIPE.format(base=REPO / "configs" / "base.yaml", patch=patch),
                   encoding="utf-8")
    return cfg


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A 3-step espcn_2d run on five synthetic radiographs imported with `volsr data`,
    validated on the validation split's image."""
    tmp = tmp_path_factory.mktemp("xray")
    src = tmp / "imgs"
    src.mkdir()
    for i in range(5):
        radiograph(src / f"cxr{i}.png", i)
    man = tmp / "m.json"
    r = run("data", "import", src, "-o", man, "--fractions", 0.6, 0.2, 0.2)
    assert r.exit_code == 0, r.stderr
    data = json.loads(man.read_text(encoding="utf-8"))
    assert all(c["hr"].endswith(".png") for s in ("training", "validation", "test")
               for c in data[s])
    r = run("data", "check", man)
    assert r.exit_code == 0 and "5 ok" in r.stdout, r.stdout + r.stderr
    r = run("train", recipe(tmp), "--device", "cpu", f"data.manifest={man}",
            f"output_dir={tmp / 'runs'}", "train.val_every=3", "train.val_patch_size=[32,32,1]")
    assert r.exit_code == 0, r.stderr
    run_dir = tmp / "runs" / "xray_tiny"
    events = [json.loads(line) for line in
              (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [e["step"] for e in events if e["event"] == "train"] == [1, 2, 3]
    assert [e["step"] for e in events if e["event"] == "val"] == [3]  # on the held-out PNG
    return run_dir


def test_train_on_pngs_then_infer_png_keeps_bit_depth_and_physical_size(tmp_path, trained):
    src = radiograph(tmp_path / "new.png", 9)
    out = tmp_path / "sr.png"
    r = run("infer", tmp_path / "new.png", "-o", out, "--weights", trained, "--device", "cpu")
    assert r.exit_code == 0, r.stderr
    with Image.open(out) as im:
        assert im.mode.startswith("I;16") or im.mode == "I"
        assert im.size == (2 * src.shape[1], 2 * src.shape[0])
        np.testing.assert_allclose(im.info["dpi"], (508, 508), rtol=1e-4)  # 0.05 mm pixels
        assert np.asarray(im).dtype == np.uint16
    side = json.loads((tmp_path / "sr.png.volsr.json").read_text(encoding="utf-8"))
    assert side["output"]["spacing_mm"] == [0.05, 0.05]
    assert side["output"]["shape"] == [80, 88]
    assert side["input"]["bit_depth"] == 16


def test_int16_dicom_to_png_is_refused_in_one_line_and_tiff_works(tmp_path, trained):
    im = sitk.GetImageFromArray((np.arange(30 * 32).reshape(30, 32) % 900 - 400)
                                .astype(np.int16))
    im.SetSpacing((0.2, 0.2))
    sitk.WriteImage(im, str(tmp_path / "ct.dcm"))
    before = (tmp_path / "ct.dcm").read_bytes()
    r = run("infer", tmp_path / "ct.dcm", "-o", tmp_path / "ct.png", "--weights", trained,
            "--device", "cpu")
    assert r.exit_code != 0
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "PNG cannot store int16" in err[0] and ".tif" in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ct.dcm"]  # nothing written
    assert (tmp_path / "ct.dcm").read_bytes() == before
    r = run("infer", tmp_path / "ct.dcm", "-o", tmp_path / "ct.tif", "--weights", trained,
            "--device", "cpu")
    assert r.exit_code == 0, r.stderr
    with Image.open(tmp_path / "ct.tif") as out:
        assert np.asarray(out).min() < 0  # signed values kept (32-bit integer TIFF)


def test_one_pixel_image_is_refused_in_one_line(tmp_path, trained):
    Image.fromarray(np.full((1, 1), 5, np.uint8)).save(tmp_path / "dot.png")
    r = run("infer", tmp_path / "dot.png", "-o", tmp_path / "out.png", "--weights", trained,
            "--device", "cpu")
    assert r.exit_code != 0
    assert "image is 1x1 pixels" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.png").exists()


def test_image_smaller_than_the_patch_stops_training_in_one_line(tmp_path):
    radiograph(tmp_path / "small.png", 1, shape=(20, 22))
    (tmp_path / "m.json").write_text('{"training": ["small.png"]}', encoding="utf-8")
    r = run("train", recipe(tmp_path, patch=24), "--device", "cpu",
            f"data.manifest={tmp_path / 'm.json'}", f"output_dir={tmp_path / 'runs'}")
    assert r.exit_code != 0
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "small.png" in err[0] and "smaller than the training patch" in err[0]
