"""train.init_from: a real tiny run warm-started from another run's exported weights (and
from the bundled thickslice_v1) starts from those weights with a fresh optimiser; weights of
another network or other arguments are refused with one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import write_phantom_manifest
from typer.testing import CliRunner

from volsr.checkpoint import load_weights
from volsr.cli import app
from volsr.config import load_config
from volsr.engine import train
from volsr.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "configs" / "tiny_test.yaml"


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    return write_phantom_manifest(tmp_path_factory.mktemp("data"))


def tiny(manifest: Path, out: Path, *overrides: str):
    return load_config(TINY, [f"data.manifest={manifest}", f"output_dir={out}", *overrides])


def flat(net: torch.nn.Module) -> torch.Tensor:
    return torch.cat([v.flatten().float() for v in net.state_dict().values()])


def test_warm_start_continues_from_the_weights_with_a_fresh_optimiser(tmp_path, manifest):
    first = train(tiny(manifest, tmp_path / "a", "train.steps=6"), device="cpu")
    start, meta_a = load_weights(first.run_dir)
    cfg = tiny(manifest, tmp_path / "b", "train.steps=2", "seed=7",
               "train.optimizer.lr=1.0e-5", f"train.init_from={first.run_dir}")
    second = train(cfg, device="cpu")
    assert second.step == 2  # a new schedule, not step 6 + 2
    ckpt = torch.load(second.run_dir / "checkpoint_latest.pt", weights_only=True)
    assert ckpt["step"] == 2
    adam_steps = {float(s["step"]) for s in ckpt["optimizer"]["state"].values()}
    assert adam_steps == {2.0}  # the optimiser state started afresh
    end, meta_b = load_weights(second.run_dir)
    assert meta_b.training["init_from"]["sha256"] == meta_a.sha256
    # two tiny steps from A's weights stay next to them, far from a fresh start
    fresh = train(tiny(manifest, tmp_path / "c", "train.steps=2", "seed=7",
                       "train.optimizer.lr=1.0e-5"), device="cpu")
    cold, _ = load_weights(fresh.run_dir)
    near = (flat(end) - flat(start)).abs().max().item()
    far = (flat(cold) - flat(start)).abs().max().item()
    assert near < 1e-3 < far, (near, far)


def test_bundled_model_by_name(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    man = write_phantom_manifest(data, shape=(64, 64, 64), spacing=3.0)
    cfg = load_config(REPO / "configs" / "pretrained" / "thickslice_v1.yaml",
                      [f"data.manifest={man}", f"output_dir={tmp_path}", "train.steps=1",
                       "train.optimizer.lr=1.0e-9", "train.scheduler=null",
                       "data.batch_size=2", "data.patches_per_volume=2",
                       "train.init_from=thickslice_v1"])
    res = train(cfg, device="cpu")
    shipped, _ = load_weights(REPO / "volsr" / "weights" / "thickslice_v1")
    got, meta = load_weights(res.run_dir)
    assert meta.training["init_from"]["model"] == "edsr_baseline_2d"
    assert (flat(got) - flat(shipped)).abs().max().item() < 1e-5


def test_mismatched_weights_are_refused(tmp_path, manifest):
    first = train(tiny(manifest, tmp_path / "a", "train.steps=1"), device="cpu")
    wider = tiny(manifest, tmp_path / "b", f"train.init_from={first.run_dir}",
                 "model.args.features=[8,4]")
    with pytest.raises(ConfigError, match=r"features: config \[8, 4\], weights \[4, 4\]"):
        train(wider, device="cpu")
    assert not (tmp_path / "b" / "tiny_test" / "model").exists()
    # another network, through the command line: one line, non-zero exit
    r = CliRunner().invoke(app, ["train", str(TINY), "--device", "cpu",
                                 f"data.manifest={manifest}", f"output_dir={tmp_path / 'c'}",
                                 "train.init_from=thickslice_v1"])
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert r.exit_code != 0 and len(lines) == 1, r.output
    assert "'edsr_baseline_2d' network, the config trains 'srcnn_3d'" in lines[0]
    r = CliRunner().invoke(app, ["train", str(TINY), "--device", "cpu",
                                 f"data.manifest={manifest}", f"output_dir={tmp_path / 'd'}",
                                 "train.init_from=no_such_model"])
    assert r.exit_code != 0 and "neither a bundled model" in r.output
