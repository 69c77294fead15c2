"""Adversarial training end to end: both networks learn, exact resume, DDP on 2 CPU ranks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from volsr.config import load_config
from volsr.engine import read_metrics, train
from volsr.engine.distributed import DistInfo
from volsr.engine.run_folder import RunFolder

from conftest import torchrun_volsr, write_phantom_manifest

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "configs" / "tiny_test.yaml"
GAN = ["adversarial.discriminator={name: mdcsrn_critic, features: 4, num_stages: 2, hidden: 8}",
       "adversarial.loss=wgan_gp", "adversarial.n_critic=2", "adversarial.feature_matching=0.1"]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    return write_phantom_manifest(tmp_path_factory.mktemp("gan_data"))


def _cfg(manifest, out, *extra):
    return load_config(TINY, [f"data.manifest={manifest}", f"output_dir={out}", *GAN, *extra])


def test_one_adversarial_step_updates_both_networks(tmp_path, manifest):
    from volsr.engine.adversarial import AdversarialTrainer

    cfg = _cfg(manifest, tmp_path, "train.steps=1", "adversarial.loss=relativistic",
               "adversarial.discriminator={name: patch, features: 4, num_down: 2}")
    run_dir = tmp_path / cfg.name
    RunFolder(run_dir).prepare(resume=False, overwrite=False)
    trainer = AdversarialTrainer(cfg, run_dir=run_dir, device=torch.device("cpu"),
                                 info=DistInfo(), resume=False, max_steps=None)
    g0 = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    d0 = {k: v.clone() for k, v in trainer.disc.state_dict().items()}
    result = trainer.fit()
    assert result.step == 1
    g_changed = [k for k, v in trainer.model.state_dict().items() if not torch.equal(v, g0[k])]
    d_changed = [k for k, v in trainer.disc.state_dict().items()
                 if v.is_floating_point() and not torch.equal(v, d0[k])]
    assert len(g_changed) == len(g0)  # every generator tensor moved
    assert any(k.endswith("weight") for k in d_changed) and len(d_changed) >= len(d0) // 2
    (event,) = [e for e in read_metrics(run_dir / "metrics.jsonl") if e["event"] == "train"]
    assert event["adv_phase"] == 1.0
    for key in ("loss", "l1", "g_adv", "fm", "d_loss", "d_real", "d_fake", "lr_d"):
        assert isinstance(event[key], float), key
    # model/ holds the generator only; the checkpoint holds both networks and optimizers
    meta = json.loads((run_dir / "model" / "model.json").read_text(encoding="utf-8"))
    assert meta["model"]["name"] == "srcnn_3d"
    from volsr.checkpoint import load_weights

    net, _ = load_weights(run_dir / "model")
    assert set(net.state_dict()) == set(g0)
    ckpt = torch.load(run_dir / "checkpoint_latest.pt", weights_only=True)
    assert ckpt["discriminator_name"] == "patch"
    assert set(ckpt["discriminator"]) == set(d0)
    assert ckpt["d_optimizer"]["state"] and ckpt["optimizer"]["state"]


def test_resume_mid_adversarial_phase_continues_identically(tmp_path, manifest):
    extra = ("train.steps=5", "adversarial.pretrain_steps=1", "train.checkpoint_every=0")
    full = train(_cfg(manifest, tmp_path / "full", *extra), device="cpu")
    part = train(_cfg(manifest, tmp_path / "part", *extra), device="cpu", max_steps=3)
    assert part.step == 3
    resumed = train(_cfg(manifest, tmp_path / "part", *extra), device="cpu", resume=True)
    assert resumed.resumed_from == 3 and resumed.step == 5

    def train_events(run):
        return {e["step"]: e for e in read_metrics(run.run_dir / "metrics.jsonl")
                if e["event"] == "train"}

    a, b = train_events(full), train_events(resumed)
    assert a[1]["adv_phase"] == 0.0 and a[2]["adv_phase"] == 1.0
    assert "d_loss" not in a[1] and "gp" in a[4]
    for step in (4, 5):  # the steps after the resume: same generator and critic losses
        for key in ("loss", "l1", "g_adv", "fm", "d_loss", "gp", "d_real", "d_fake"):
            assert b[step][key] == a[step][key], (step, key)
    ca = torch.load(full.run_dir / "checkpoint_latest.pt", weights_only=True)
    cb = torch.load(resumed.run_dir / "checkpoint_latest.pt", weights_only=True)
    for part_name in ("model", "discriminator"):
        for k, v in ca[part_name].items():
            assert torch.equal(v, cb[part_name][k]), (part_name, k)


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed missing")
def test_ddp_adversarial_two_cpu_processes(tmp_path, manifest):
    out = tmp_path / "ddp"
    proc = torchrun_volsr(["train", str(TINY), f"data.manifest={manifest}", "train.steps=3",
                           "adversarial.pretrain_steps=1", *GAN, "--output-dir", str(out),
                           "--device", "cpu"], cwd=REPO, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 processes" in proc.stderr and "backend gloo" in proc.stderr
    events = read_metrics(out / "tiny_test" / "metrics.jsonl")
    assert [(e["event"], e["step"]) for e in events] == [
        ("train", 1), ("train", 2), ("train", 3), ("discriminator", 3), ("end", 3)]
    assert all("d_loss" in e and "gp" in e for e in events[1:3])
    # both networks identical on the two ranks
    assert len(set(events[3]["rank_digests"])) == 1 and len(events[3]["rank_digests"]) == 2
    assert len(set(events[4]["rank_digests"])) == 1 and len(events[4]["rank_digests"]) == 2
    ckpt = torch.load(out / "tiny_test" / "checkpoint_latest.pt", weights_only=True)
    assert ckpt["discriminator"] and ckpt["d_optimizer"]["state"]
