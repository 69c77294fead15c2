"""The front door (volsr.predictors.load_predictor), the VolumePredictor protocol, the
batch runner taking a ready predictor, and WindowSettings validated once."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from volsr.checkpoint import save_weights
from volsr.config.schema import InferConfig
from volsr.errors import ConfigError
from volsr.inference import Predictor, VolumePredictor, WindowSettings
from volsr.inference.interpolate import InterpolationPredictor
from volsr.inference.records import InferSettings
from volsr.inference.runner import run_inference
from volsr.io import load_volume, save_volume
from volsr.models import create_model
from volsr.phantom import phantom_volume
from volsr.predictors import load_predictor, resolve_settings, super_resolve
from volsr.ssr.infer_hook import PerScanSSR


@pytest.mark.parametrize("bad,field", [
    ({"overlap": 1.0}, "overlap"), ({"overlap": -0.1}, "overlap"),
    ({"blend": "max"}, "blend"), ({"sw_batch_size": 0}, "sw_batch_size"),
    ({"patch_size": (8, 8)}, "patch_size"), ({"patch_size": (0, 8, 8)}, "patch_size"),
    ({"halo": -1}, "halo"), ({"halo": "big"}, "halo"), ({"fusion": "max"}, "fusion"),
])
def test_window_settings_refuse_bad_values_naming_the_field(bad, field):
    with pytest.raises(ConfigError, match=f"^{field} ") as info:
        WindowSettings(**bad)
    assert info.value.field == field
    # a training config's infer section is checked by the same code, under its path
    if field in ("overlap", "blend", "sw_batch_size", "patch_size"):
        with pytest.raises(ConfigError, match=f"^{field}: "):
            InferConfig.from_dict(bad)


def test_window_settings_normalise_freeze_and_override():
    w = WindowSettings(patch_size=8, halo=2, overlap=0)
    assert w.patch_size == (8, 8, 8) and w.halo == (2, 2, 2) and w.overlap == 0.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        w.overlap = 0.5  # type: ignore[misc]
    v = w.with_overrides({"overlap": 0.5, "tta": None})
    assert v.overlap == 0.5 and v.tta is False and w.overlap == 0.0
    with pytest.raises(ConfigError, match="unknown predictor option.*'patch'"):
        w.with_overrides({"patch": 4})
    assert InferConfig().window(device="cpu") == WindowSettings(patch_size=(64, 64, 64),
                                                                device="cpu")


@pytest.fixture
def weights_dir(tmp_path):
    torch.manual_seed(0)
    net = create_model("srcnn_3d", features=(4, 4), kernel_sizes=(3, 1, 3))
    return save_weights(net, tmp_path / "w", model_name="srcnn_3d",
                        normalization={"name": "percentile"},
                        inference={"patch_size": [8, 8, 8], "overlap": 0.5}, scale=[1, 1, 2])


def test_load_predictor_builds_every_kind_behind_one_interface(weights_dir):
    lin = load_predictor("linear")
    assert isinstance(lin, InterpolationPredictor) and lin.record() == {}
    net = load_predictor("srcnn_3d", weights_dir, device="cpu", tta=True)
    assert isinstance(net, Predictor) and net.window.tta and net.window.overlap == 0.5
    ssr = load_predictor("SSR")
    assert isinstance(ssr, PerScanSSR) and ssr.record()["trained_per_scan"] is True
    for p in (lin, net, ssr):
        assert isinstance(p, VolumePredictor)
    with pytest.raises(ConfigError, match="is a network"):
        load_predictor("srcnn_3d")
    with pytest.raises(ConfigError, match="does not match the weights"):
        load_predictor("dcsrn_3d", weights_dir)
    with pytest.raises(ConfigError, match="only apply to networks"):
        load_predictor("linear", tta=True)
    with pytest.raises(ConfigError, match="patch_size: not used by --model ssr"):
        load_predictor("ssr", patch_size=(8, 8, 8))
    with pytest.raises(ConfigError, match="Did you mean: bspline"):
        load_predictor("bsplin")
    settings = resolve_settings(InferSettings(model=None, weights=str(weights_dir)), net)
    assert settings.model == "srcnn_3d" and settings.weights == str(weights_dir.resolve())
    assert len(settings.weights_sha256) == 64


def test_runner_runs_the_predictor_it_is_given(tmp_path, weights_dir):
    vol = phantom_volume((12, 12, 6), (2.0, 2.0, 4.0))
    src = tmp_path / "in.nii.gz"
    save_volume(vol, src)
    lin = load_predictor("linear")
    settings = resolve_settings(InferSettings(model="linear", isotropic=True), lin)
    out = tmp_path / "lin.nii.gz"
    [res] = run_inference(src, out, settings, lin, progress=False)
    assert res.status == "written"
    expected = super_resolve(load_volume(src), "linear", isotropic=True)
    np.testing.assert_array_equal(load_volume(out).data, expected.data)
    side = json.loads(out.with_name("lin.nii.gz.volsr.json").read_text(encoding="utf-8"))
    assert side["model"] == "linear" and side["predictor"] is None
    # a network predictor: memory plan and weights recorded, same result as run()
    net = load_predictor(None, weights_dir, device="cpu")
    out2 = tmp_path / "net.nii.gz"
    run_inference(src, out2, InferSettings(model=None, scale=(1.0, 1.0, 2.0)), net,
                  progress=False, max_memory=2**34)
    side = json.loads(out2.with_name("net.nii.gz.volsr.json").read_text(encoding="utf-8"))
    assert side["memory"]["mode"] == "ram" and side["memory"]["available_bytes"] == 2**34
    assert side["weights"]["sha256"] == net.record()["weights_sha256"]
    np.testing.assert_allclose(load_volume(out2).data,
                               net.run(load_volume(src), scale=(1, 1, 2)).data, atol=1e-6)


def test_inference_imports_nothing_from_ssr_nor_from_the_application_layer():
    root = Path(__file__).resolve().parents[1] / "volsr" / "inference"
    for path in sorted(root.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert not name.startswith("volsr.ssr"), f"{path.name} imports {name}"
                if path.name != "__init__.py":  # only the lazy super_resolve alias there
                    assert name != "volsr.predictors", f"{path.name} imports {name}"
