"""Exported weights (safetensors + JSON) and training checkpoints: round trips and refusals."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
import torch

from volsr.checkpoint import (
    load_checkpoint,
    load_weights,
    read_weights_meta,
    save_checkpoint,
    save_weights,
)
from volsr.errors import ConfigError, InputError
from volsr.models import create_model

KW = {"features": (8, 4), "kernel_sizes": (5, 1, 3), "scale": (1, 1, 2)}


def tiny_net(seed: int = 0, **kw):
    torch.manual_seed(seed)
    return create_model("srcnn_3d", **{**KW, **kw}).eval()


def export(tmp_path, net=None, name="w", **kw):
    net = net if net is not None else tiny_net()
    folder = save_weights(net, tmp_path / name, model_name="srcnn_3d",
                          normalization={"name": "zscore"},
                          inference={"patch_size": [16, 16, 16], "overlap": 0.5,
                                     "blend": "constant"},
                          training={"steps": 3}, **kw)
    return net, folder


def test_weights_round_trip_gives_identical_outputs(tmp_path):
    net, folder = export(tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["model.json", "model.safetensors"]
    loaded, meta = load_weights(folder)
    x = torch.randn(1, 1, 9, 8, 7)
    with torch.no_grad():
        assert torch.equal(net(x), loaded(x))
    assert not loaded.training
    assert meta.model_name == "srcnn_3d" and meta.scale == (1.0, 1.0, 2.0)
    assert meta.normalization == {"name": "zscore"} and meta.inference["overlap"] == 0.5
    assert meta.model_kwargs["features"] == [8, 4]
    digest = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    assert meta.sha256 == digest
    raw = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    assert raw["format"] == "volsr-model" and raw["format_version"] == 1
    assert raw["model"]["name"] == "srcnn_3d" and raw["upsampling"] == "pre"
    assert raw["training"] == {"steps": 3} and raw["volsr_version"]


def test_weights_are_float32_and_found_from_files_and_run_folder(tmp_path):
    from safetensors.torch import load_file

    net = tiny_net().to(torch.float64)
    run = tmp_path / "run"
    run.mkdir()
    _, folder = export(run, net=net, name="model")
    assert all(t.dtype == torch.float32 for t in load_file(folder / "model.safetensors").values())
    for p in (run, folder, folder / "model.json", folder / "model.safetensors"):
        assert read_weights_meta(p).folder == folder


def test_pickled_code_checkpoint_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"
    torch.save({"model": {"w": torch.zeros(2)}, "extra": Evil()}, path)
    with pytest.raises(InputError, match="pickled Python objects.*never unpickles code"):
        load_checkpoint(path)
    assert not marker.exists()


def test_checkpoint_round_trip_with_optimizer_state(tmp_path):
    net = tiny_net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    net(torch.randn(1, 1, 6, 6, 6)).mean().backward()
    opt.step()
    state = {"model": net.state_dict(), "optimizer": opt.state_dict(), "step": 7,
             "best": {"psnr": 31.5, "history": [1.0, None, "x"]}}
    path = save_checkpoint(tmp_path / "ckpt.pt", state)
    back = load_checkpoint(path)
    assert back["step"] == 7 and back["best"]["history"] == [1.0, None, "x"]
    for k, v in net.state_dict().items():
        assert torch.equal(back["model"][k], v)
    exp_avg = opt.state_dict()["state"][0]["exp_avg"]
    assert torch.equal(back["optimizer"]["state"][0]["exp_avg"], exp_avg)
    assert not list(tmp_path.glob(".*part*"))  # no temporary left behind


def test_save_checkpoint_rejects_arbitrary_objects(tmp_path):
    import numpy as np

    with pytest.raises(TypeError, match=r"state\['arr'\].*ndarray"):
        save_checkpoint(tmp_path / "c.pt", {"arr": np.zeros(3)})
    assert not (tmp_path / "c.pt").exists()


def test_truncated_files_are_refused(tmp_path):
    _, folder = export(tmp_path)
    st = folder / "model.safetensors"
    st.write_bytes(st.read_bytes()[: st.stat().st_size // 2])
    with pytest.raises(InputError, match="truncated or corrupt"):
        load_weights(folder)
    ck = save_checkpoint(tmp_path / "c.pt", {"w": torch.randn(100)})
    ck.write_bytes(ck.read_bytes()[:200])
    with pytest.raises(InputError, match="truncated or corrupt"):
        load_checkpoint(ck)


def test_foreign_json_and_folders_are_refused(tmp_path):
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "model.json").write_text(json.dumps({"architectures": ["Bert"]}))
    (folder / "model.safetensors").write_bytes(b"")
    with pytest.raises(InputError, match="not a volsr weights folder: format is None"):
        load_weights(folder)
    (folder / "model.json").write_text("{not json")
    with pytest.raises(InputError, match="not a volsr weights folder: unreadable JSON"):
        load_weights(folder)
    with pytest.raises(InputError, match="not a volsr weights folder: no model.json"):
        load_weights(tmp_path)
    other = tmp_path / "weights.pth"
    other.write_bytes(b"x")
    with pytest.raises(InputError, match="not a volsr weights folder"):
        load_weights(other)
    with pytest.raises(InputError, match="no such"):
        load_weights(tmp_path / "missing")


def test_newer_format_and_unknown_model_are_clear_errors(tmp_path):
    _, folder = export(tmp_path)
    raw = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    (folder / "model.json").write_text(json.dumps({**raw, "format_version": 2}))
    with pytest.raises(InputError, match="newer volsr"):
        load_weights(folder)
    raw["model"]["name"] = "srcnn_3x"
    (folder / "model.json").write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match="Did you mean"):
        load_weights(folder)


def test_key_and_shape_mismatches_are_listed(tmp_path):
    from safetensors.torch import save_file

    _, folder = export(tmp_path)
    raw = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    raw["model"]["kwargs"]["features"] = [6, 4]
    (folder / "model.json").write_text(json.dumps(raw))
    with pytest.raises(InputError, match="do not fit model 'srcnn_3d'.*size mismatch"):
        load_weights(folder)
    # an extra and a missing tensor
    _, folder = export(tmp_path, name="w2")
    sd = {k: v.contiguous() for k, v in tiny_net().state_dict().items()}
    sd["head.weight"] = sd.pop("body.0.weight")
    save_file(sd, str(folder / "model.safetensors"))
    with pytest.raises(InputError, match=r"1 missing \(e\.g\. body\.0\.weight\); "
                                         r"1 unexpected \(e\.g\. head\.weight\)"):
        load_weights(folder)
