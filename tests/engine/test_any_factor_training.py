"""`volsr train` of an any_factor network (lraxis_2d) on thick-slice plane pairs: a tiny
run on phantoms (planes from hr_axes, validation through the inference path, with the
gain over B-spline) writes
weights that load_predictor runs at a non-integer factor; warm start; bad hr_axes stop
the command with one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from volsr.cli import app
from volsr.config import load_config
from volsr.engine import train
from volsr.io import save_volume
from volsr.phantom import phantom_volume
from volsr.predictors import load_predictor

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "configs" / "tiny_test.yaml"
LRAXIS = ["model.name=lraxis_2d", "model.scale=[1.0, 1.0, 4.0]",
          "model.args={features: 8, num_blocks: 1, subpixel: 4}", "data.mode=2d",
          "data.slice_axis=0", "data.patch_size=[16, 16]", "data.batch_size=3",
          ("data.degradation=[{name: random_thick_slice, axes: [1, 2], factor: [1.5, 5.0], "
           "profile: [rect, gaussian], gap: [-0.2, 0.2]}, {name: random_noise, "
           "kind: [gaussian], sigma: [0.0, 0.02], relative_to: p99}]"),
          "data.transforms=[{name: torchio.RandomGamma, log_gamma: [-0.3, 0.3]}]",
          "infer.patch_size=null"]


def _manifest(folder: Path, hr_axes: object = (0, 1, 2)) -> Path:
    cases = []
    for i, shape in enumerate([(32, 32, 32), (40, 36, 24)]):
        name = f"head{i}.nii.gz"
        save_volume(phantom_volume(shape, (2.0,) * 3, supersample=1, seed=i), folder / name)
        cases.append({"id": f"h{i}", "hr": name,
                      "hr_axes": list(hr_axes) if i == 0 else [0, 1]})
    save_volume(phantom_volume((28, 28, 24), (2.0,) * 3, supersample=1, seed=5),
                folder / "val.nii.gz")
    m = {"volsr_manifest": 1, "training": cases,
         "validation": [{"id": "v", "hr": "val.nii.gz"}]}
    (folder / "m.json").write_text(json.dumps(m))
    return folder / "m.json"


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    return _manifest(tmp_path_factory.mktemp("lraxis_data"))


def test_tiny_lraxis_run_validates_and_exports_runnable_weights(tmp_path, manifest):
    cfg = load_config(TINY, [f"data.manifest={manifest}", f"output_dir={tmp_path}",
                             *LRAXIS, "train.steps=4", "train.val_every=2"])
    result = train(cfg, device="cpu")
    assert result.step == 4 and result.best_psnr is not None  # validated (inference path)
    meta = json.loads((result.model_dir / "model.json").read_text())
    assert meta["model"]["kwargs"]["scale"] == [4.0, 1.0]  # thick axis = plane rows
    vals = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").open()]
    val = [v for v in vals if v.get("event") == "val"]
    assert [v["step"] for v in val] == [2, 4]
    # the gain over cubic B-spline, scored the same way, is the learning curve
    case = val[-1]["cases"]["v"]
    assert np.isfinite(val[-1]["gain_psnr"]) and abs(case["gain_psnr"]) < 5.0
    assert val[-1]["gain_psnr"] == pytest.approx(case["gain_psnr"])
    pred = load_predictor(None, result.model_dir, device="cpu")
    lr = phantom_volume((24, 24, 8), (2.0, 2.0, 5.0), supersample=1, seed=9)
    out = pred.run(lr, scale=(1.0, 1.0, 2.5))  # a non-integer factor
    assert out.data.shape[1:] == (24, 24, 20) and np.isfinite(out.data).all()
    # a warm start from those weights (same architecture) runs
    again = load_config(TINY, [f"data.manifest={manifest}", f"output_dir={tmp_path / 'b'}",
                               *LRAXIS, "train.steps=2",
                               f"train.init_from={result.model_dir}"])
    assert train(again, device="cpu").step == 2


def test_bad_hr_axes_stop_volsr_train_with_one_line(tmp_path):
    m = _manifest(tmp_path, hr_axes=(0, 5))
    res = CliRunner().invoke(app, ["train", str(TINY), "--device", "cpu",
                                   f"data.manifest={m}", f"output_dir={tmp_path / 'o'}",
                                   *LRAXIS])
    assert res.exit_code == 1, res.output
    lines = [x for x in res.output.splitlines() if "error" in x]
    assert len(lines) == 1 and "hr_axes" in lines[0] and "head0.nii.gz" in lines[0]
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").rglob("*.pt"))
