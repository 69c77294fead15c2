"""Distributed training for real: ``torchrun`` with 2 CPU processes (gloo backend)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from volsr.config import load_config
from volsr.engine import read_metrics, train
from volsr.engine.distributed import parameter_digest

from conftest import torchrun_volsr, write_phantom_manifest

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "configs" / "tiny_test.yaml"


@pytest.fixture
def manifest(tmp_path) -> Path:
    return write_phantom_manifest(tmp_path)


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed missing")
def test_torchrun_two_cpu_processes_train_identical_weights(tmp_path, manifest):
    out = tmp_path / "ddp"
    proc = torchrun_volsr(["train", str(TINY), f"data.manifest={manifest}", "train.steps=3",
                           "train.val_every=3", "--output-dir", str(out), "--device", "cpu"],
                          cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 processes" in proc.stderr and "backend gloo" in proc.stderr
    run = out / "tiny_test"
    assert sorted(p.name for p in run.glob("checkpoint_*.pt")) == ["checkpoint_best.pt",
                                                                   "checkpoint_latest.pt"]
    events = read_metrics(run / "metrics.jsonl")
    # one writer: each step logged once, by rank 0
    assert [(e["event"], e["step"]) for e in events] == [
        ("train", 1), ("train", 2), ("train", 3), ("val", 3), ("end", 3)]
    end = events[-1]
    assert len(end["rank_digests"]) == 2 and len(set(end["rank_digests"])) == 1
    ckpt = torch.load(run / "checkpoint_latest.pt", weights_only=True)
    from volsr.engine.build import build_network

    cfg = load_config(run / "config.yaml")
    net = build_network(cfg)
    net.load_state_dict(ckpt["model"])
    assert parameter_digest(net) == end["param_digest"]

    # DDP averages the two ranks' gradients of batch 2 = one process with batch 4 drawing
    # the same (rank-interleaved) indices.
    single = train(load_config(TINY, [f"data.manifest={manifest}", "train.steps=3",
                                      "train.val_every=0", "data.batch_size=4",
                                      f"output_dir={tmp_path / 'single'}"]), device="cpu")
    ref = torch.load(single.run_dir / "checkpoint_latest.pt", weights_only=True)["model"]
    for key, value in ckpt["model"].items():
        torch.testing.assert_close(value, ref[key], atol=1e-6, rtol=1e-5)
    losses = [e["loss"] for e in read_metrics(single.run_dir / "metrics.jsonl")
              if e["event"] == "train"]
    ddp_losses = [e["loss"] for e in events if e["event"] == "train"]
    assert losses == pytest.approx(ddp_losses, rel=1e-5)
