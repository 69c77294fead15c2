"""The training engine: losses, optimizers, schedules, the loop, run folders and resume."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_phantom_manifest
from typer.testing import CliRunner

from volsr.cli import app
from volsr.config import load_config
from volsr.engine import (
    TrainingInterrupted,
    build_loss,
    build_optimizer,
    build_scheduler,
    read_metrics,
    train,
)
from volsr.engine.distributed import StepBatchSampler
from volsr.engine.optim import schedule_factor
from volsr.engine.run_folder import MetricsLog, RunFolder, TensorBoard
from volsr.errors import ConfigError, OutputError

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "configs" / "tiny_test.yaml"
runner = CliRunner()


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    """Three 32^3 head phantoms: two for training, one for validation."""
    return write_phantom_manifest(tmp_path_factory.mktemp("data"))


def tiny(manifest: Path, out: Path, *overrides: str):
    return load_config(TINY, [f"data.manifest={manifest}", f"output_dir={out}", *overrides])


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


# --------------------------------------------------------------------------- losses


def test_losses_hand_values():
    p = torch.tensor([0.0, 1.0, 2.0]).reshape(1, 1, 3)
    t = torch.tensor([1.0, 1.0, 0.0]).reshape(1, 1, 3)
    total, parts = build_loss([{"name": "l1"}, {"name": "mse", "weight": 0.5},
                               {"name": "l1", "weight": 2.0}])(p, t)
    assert parts["l1"] == pytest.approx(1.0) and parts["mse"] == pytest.approx(5 / 3)
    assert sorted(parts) == ["l1", "l1_2", "mse"]
    assert float(total) == pytest.approx(1.0 + 0.5 * 5 / 3 + 2.0)
    x = torch.rand(2, 1, 6, 6, 6)
    same = build_loss(["charbonnier"])(x, x)[0]
    assert float(same) == pytest.approx(1e-3, rel=1e-4)
    far = build_loss([{"name": "charbonnier", "eps": 1e-3}])(x + 3.0, x)[0]
    assert float(far) == pytest.approx(math.sqrt(9 + 1e-6), rel=1e-5)
    with pytest.raises(ConfigError, match="Did you mean: charbonnier"):
        build_loss(["charbonier"])
    with pytest.raises(ConfigError, match="eps must be > 0"):
        build_loss([{"name": "charbonnier", "eps": 0}])


@pytest.mark.parametrize("shape", [(2, 1, 24, 24), (1, 2, 16, 16, 16)])
def test_ssim_loss_2d_3d(shape):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(shape, generator=g)
    loss = build_loss(["ssim"])
    assert abs(float(loss(x, x)[0])) < 1e-6
    noisy = float(loss(x + 0.2 * torch.rand(shape, generator=g), x)[0])
    inverted = float(loss(1 - x, x)[0])
    assert 0 < noisy < inverted and inverted > 1.0  # anti-correlated: SSIM < 0
    y = x.clone().requires_grad_(True)
    loss(y * 0.5, x)[0].backward()
    assert torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0


# --------------------------------------------------------------------------- optim


def test_optimizers_from_specs():
    params = [torch.nn.Parameter(torch.zeros(3))]
    sgd = build_optimizer({"name": "sgd", "lr": 0.1, "nesterov": True}, params)
    group = sgd.param_groups[0]
    assert isinstance(sgd, torch.optim.SGD) and group["nesterov"] and group["momentum"] == 0.9
    adamw = build_optimizer({"name": "AdamW", "lr": 1e-3, "betas": [0.8, 0.9],
                             "weight_decay": 0.05}, params)
    assert isinstance(adamw, torch.optim.AdamW)
    assert adamw.param_groups[0]["betas"] == (0.8, 0.9)
    assert adamw.param_groups[0]["weight_decay"] == 0.05
    with pytest.raises(ConfigError, match="Nesterov"):
        build_optimizer({"name": "sgd", "lr": 0.1, "momentum": 0, "nesterov": True}, params)
    with pytest.raises(ConfigError, match="needs lr"):
        build_optimizer({"name": "adam"}, params)
    with pytest.raises(ConfigError, match="Did you mean: adam"):
        build_optimizer({"name": "adma", "lr": 1.0}, params)


def test_schedules_values():
    cos = {"name": "cosine", "warmup_steps": 4}
    got = [schedule_factor(cos, s, 12) for s in (0, 1, 3, 4, 8, 11)]
    want = [0.25, 0.5, 1.0, 1.0, 0.5, 0.5 * (1 + math.cos(math.pi * 7 / 8))]
    assert got == pytest.approx(want)
    assert schedule_factor({"name": "cosine", "min_factor": 0.1}, 10, 10) == pytest.approx(0.1)
    step = {"name": "step", "step_size": 2, "gamma": 0.5, "warmup_steps": 1}
    assert [schedule_factor(step, s, 9) for s in range(6)] == pytest.approx(
        [1.0, 1.0, 1.0, 0.5, 0.5, 0.25])
    assert schedule_factor(None, 7, 10) == 1.0
    opt = build_optimizer({"name": "adam", "lr": 0.2}, [torch.nn.Parameter(torch.zeros(1))])
    sched = build_scheduler(cos, opt, total_steps=12)
    lrs = []
    for _ in range(9):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.05) and lrs[8] == pytest.approx(0.1)
    with pytest.raises(ConfigError, match="warmup_steps"):
        schedule_factor({"name": "cosine", "warmup_steps": -1}, 0, 10)
    with pytest.raises(ConfigError, match="Did you mean: cosine"):
        schedule_factor({"name": "cosin"}, 0, 10)


def test_step_sampler_is_a_pure_function_of_the_step():
    full = StepBatchSampler(100, 4, start_step=0, stop_step=6, rank=1, world_size=2)
    later = StepBatchSampler(100, 4, start_step=3, stop_step=6, rank=1, world_size=2)
    assert list(full)[3:] == list(later) and len(later) == 3
    r0 = StepBatchSampler(100, 4, start_step=0, stop_step=6, rank=0, world_size=2)
    assert not set(sum(list(r0), [])) & set(sum(list(full), []))
    assert full.indices(0) == [4, 5, 6, 7]
    mixed = StepBatchSampler(24, 4, start_step=0, stop_step=6, shuffle=True)
    flat = sum(list(mixed), [])
    assert sorted(flat) == list(range(24)) and flat[:4] != [0, 1, 2, 3]


# --------------------------------------------------------------------------- run folder


def test_run_folder_prepare_rules(tmp_path):
    run = RunFolder(tmp_path / "r")
    assert run.prepare(resume=False, overwrite=False) is False
    run.metrics.write_text("{}\n")
    (run.root / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="--resume"):
        run.prepare(resume=False, overwrite=False)
    assert run.prepare(resume=True, overwrite=False) is False  # nothing to resume: afresh
    assert not run.metrics.exists() and (run.root / "notes.txt").exists()
    run.latest.write_bytes(b"x")
    assert run.prepare(resume=True, overwrite=False) is True
    assert run.prepare(resume=False, overwrite=True) is False
    assert not run.latest.exists() and (run.root / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_metrics_truncate_and_tensorboard_fallback(tmp_path, monkeypatch, caplog):
    m = MetricsLog(tmp_path / "metrics.jsonl")
    for s in (1, 2, 3):
        m.write({"event": "train", "step": s, "loss": float("nan") if s == 2 else 0.5})
    m.write({"event": "end", "step": 3})
    with open(m.path, "a") as fh:
        fh.write('{"event": "tra')  # a line cut by a kill
    m.truncate_after(2)
    recs = read_metrics(m.path)
    assert [r["step"] for r in recs] == [1, 2] and recs[1]["loss"] == "nan"
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    tb = TensorBoard(tmp_path / "tb")
    assert not tb.active and "tensorboard is not installed" in caplog.text
    tb.scalars({"loss": 1.0}, 1)
    tb.close()


def test_manifest_found_next_to_the_config(tmp_path, monkeypatch, manifest):
    from volsr.engine.build import resolve_manifest

    cfg_dir = tmp_path / "exp"
    cfg_dir.mkdir()
    (cfg_dir / "data.json").write_text(manifest.read_text(encoding="utf-8"))
    (cfg_dir / "exp.yaml").write_text(f"defaults: [{TINY}]\ndata: {{manifest: data.json}}\n")
    monkeypatch.chdir(tmp_path)
    cfg = load_config(cfg_dir / "exp.yaml")
    assert resolve_manifest(cfg) == (cfg_dir / "data.json").resolve()
    sub = cfg_dir / "nested"
    sub.mkdir()
    (sub / "exp.yaml").write_text(f"defaults: [{TINY}]\ndata: {{manifest: data.json}}\n")
    assert resolve_manifest(load_config(sub / "exp.yaml")) == (cfg_dir / "data.json").resolve()
    (tmp_path / "data.json").write_text("{}")  # the working directory wins
    assert resolve_manifest(cfg) == (tmp_path / "data.json").resolve()
    cfg = load_config(cfg_dir / "exp.yaml", ["data.manifest=missing.json"])
    with pytest.raises(ConfigError, match="'missing.json' not found"):
        resolve_manifest(cfg)


# --------------------------------------------------------------------------- training


def test_training_run_writes_the_run_folder(tmp_path, manifest):
    from volsr.checkpoint import load_weights

    cfg = tiny(manifest, tmp_path, "train.steps=4", "train.val_every=4",
               "train.checkpoint_every=2", "train.log_every=2")
    result = train(cfg, device="cpu")
    run = result.run_dir
    assert run == tmp_path / "tiny_test" and result.step == 4
    for name in ("config.yaml", "train.log", "metrics.jsonl", "checkpoint_latest.pt",
                 "checkpoint_best.pt", "model/model.json", "model/model.safetensors"):
        assert (run / name).exists(), name
    recs = read_metrics(run / "metrics.jsonl")
    steps = [(r["event"], r["step"]) for r in recs]
    assert steps == [("train", 2), ("train", 4), ("val", 4), ("end", 4)]
    tr = recs[0]
    assert tr["loss"] > 0 and tr["l1"] == pytest.approx(tr["loss"]) and tr["lr"] == 1e-3
    assert tr["steps_per_s"] > 0 and tr["seconds"] > 0
    val = recs[2]
    assert np.isfinite(val["psnr"]) and -1 <= val["ssim"] <= 1 and set(val["cases"]) == {"c"}
    assert result.best_psnr == val["psnr"] and result.best_step == 4
    assert load_config(run / "config.yaml") == cfg
    ckpt = torch.load(run / "checkpoint_latest.pt", weights_only=True)
    assert ckpt["format"] == "volsr-checkpoint" and ckpt["format_version"] == 1
    assert ckpt["step"] == 4 and ckpt["model_name"] == "srcnn_3d"
    assert {"optimizer", "scheduler", "scaler", "rng", "config", "best_psnr"} <= set(ckpt)
    model, meta = load_weights(run)
    assert meta.model_name == "srcnn_3d" and meta.training["steps"] == 4
    assert meta.inference["patch_size"] == [16, 16, 16]
    assert meta.normalization["name"] == "percentile"
    best = torch.load(run / "checkpoint_best.pt", weights_only=True)
    for key, value in model.state_dict().items():
        assert torch.equal(value, best["model"][key])
    assert "step 4/4" in (run / "train.log").read_text(encoding="utf-8")


def test_exact_resume_matches_a_straight_run(tmp_path, manifest):
    # RReLU draws random slopes (torch RNG), SGD keeps momentum, cosine + warm-up and EMA
    # keep state: all of it must come back from the checkpoint.
    opts = ["train.steps=6", "model.name=srcnn_rrelu_3d",
            "model.args={kernel_sizes: [3, 1, 3], features: [4, 4]}",
            "train.optimizer={name: sgd, lr: 0.05, nesterov: true}",
            "train.scheduler={name: cosine, warmup_steps: 2}", "train.ema=0.5",
            "train.val_every=0", "train.checkpoint_every=0"]
    a = train(tiny(manifest, tmp_path / "a", *opts), device="cpu")
    b1 = train(tiny(manifest, tmp_path / "b", *opts), device="cpu", max_steps=3)
    assert b1.step == 3
    b = train(tiny(manifest, tmp_path / "b", *opts), device="cpu", resume=True)
    assert b.resumed_from == 3 and b.step == 6
    ca = torch.load(a.run_dir / "checkpoint_latest.pt", weights_only=True)
    cb = torch.load(b.run_dir / "checkpoint_latest.pt", weights_only=True)
    for part in ("model", "ema"):
        for key, value in ca[part].items():
            assert torch.equal(value, cb[part][key]), (part, key)
    la = [r["loss"] for r in read_metrics(a.run_dir / "metrics.jsonl") if r["event"] == "train"]
    lb = [r["loss"] for r in read_metrics(b.run_dir / "metrics.jsonl") if r["event"] == "train"]
    assert len(la) == len(lb) == 6 and la == lb


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, manifest, monkeypatch):
    from volsr.engine import TrainingDiverged
    from volsr.engine import trainer as trainer_mod

    class Poisoned:
        """The configured loss, but NaN at the third call (= step 3)."""

        def __init__(self, fn):
            self.fn, self.calls = fn, 0

        def to(self, device):
            return self

        def __call__(self, pred, target):
            self.calls += 1
            total, parts = self.fn(pred, target)
            return (total * float("nan") if self.calls == 3 else total), parts

    real = trainer_mod.build_loss
    monkeypatch.setattr(trainer_mod, "build_loss", lambda specs: Poisoned(real(specs)))
    cfg = tiny(manifest, tmp_path, "train.steps=5", "train.checkpoint_every=2",
               "train.val_every=0")
    latest = tmp_path / "tiny_test" / "checkpoint_latest.pt"
    with pytest.raises(TrainingDiverged, match=r"loss became NaN at step 3; the last good "
                                               r"checkpoint is .*checkpoint_latest.pt \(step 2\)"):
        train(cfg, device="cpu")
    state = torch.load(latest, weights_only=True)
    assert state["step"] == 2
    assert all(torch.isfinite(v).all() for v in state["model"].values())
    events = read_metrics(tmp_path / "tiny_test" / "metrics.jsonl")
    assert events[-1] == {"event": "diverged", "step": 3}


# --------------------------------------------------------------------------- CLI


def test_cli_train_overrides_and_existing_folder(tmp_path, manifest):
    base = ["train", TINY, f"data.manifest={manifest}", "train.steps=2", "train.val_every=0",
            "--output-dir", tmp_path, "--device", "cpu"]
    r = cli(*base)
    assert r.exit_code == 0, r.output
    ckpt = torch.load(tmp_path / "tiny_test" / "checkpoint_latest.pt", weights_only=True)
    assert ckpt["step"] == 2 and ckpt["config"]["train"]["steps"] == 2
    r = cli(*base)
    assert r.exit_code == 1 and "--resume" in r.stderr and "not empty" in r.stderr
    r = cli(*base, "--overwrite", "-q")
    assert r.exit_code == 0 and r.stderr == ""
    r = cli("train", TINY, f"data.manifest={manifest}", "train.stesp=2", "--output-dir",
            tmp_path)
    assert r.exit_code == 2 and "did you mean 'train.steps'" in r.stderr


def test_killed_training_resumes_without_losing_checkpointed_steps(tmp_path, manifest):
    out = tmp_path / "runs"
    latest = out / "tiny_test" / "checkpoint_latest.pt"
    args = [TINY, f"data.manifest={manifest}", "train.steps=100000", "train.val_every=0",
            "train.checkpoint_every=1", "--output-dir", out, "--device", "cpu", "-q"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "volsr", "train", *map(str, args)],
                            cwd=REPO, env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        step = 0
        while step < 3:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no checkpoint at step >= 3 within 60 s"
            time.sleep(0.2)
            if latest.exists():
                step = torch.load(latest, weights_only=True)["step"]
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    k = torch.load(latest, weights_only=True)["step"]
    r = cli("train", *args, "--resume", "--max-steps", k + 2)
    assert r.exit_code == 0, r.output
    assert f"resuming from {latest} at step {k}" in (out / "tiny_test" / "train.log").read_text(encoding="utf-8")
    steps = [e["step"] for e in read_metrics(out / "tiny_test" / "metrics.jsonl")
             if e["event"] == "train"]
    assert steps == list(range(1, k + 3))
    assert torch.load(latest, weights_only=True)["step"] == k + 2


def test_deterministic_flag_is_scoped_to_the_run(tmp_path, manifest, monkeypatch):
    from volsr.engine import trainer as trainer_mod

    assert not torch.are_deterministic_algorithms_enabled()
    seen = {}
    real = trainer_mod.Trainer.fit

    def fit(self):
        seen["inside"] = torch.are_deterministic_algorithms_enabled()
        return real(self)

    monkeypatch.setattr(trainer_mod.Trainer, "fit", fit)
    train(tiny(manifest, tmp_path, "train.steps=1", "train.val_every=0",
               "train.deterministic=true"), device="cpu")
    assert seen["inside"] and not torch.are_deterministic_algorithms_enabled()


def test_ctrl_c_reports_the_checkpoint_to_resume_from(tmp_path, manifest, monkeypatch):
    from volsr.engine import trainer as trainer_mod

    real = trainer_mod.Trainer._step

    def step(self, batch, n):
        if n == 3:
            raise KeyboardInterrupt
        return real(self, batch, n)

    monkeypatch.setattr(trainer_mod.Trainer, "_step", step)
    cfg = tiny(manifest, tmp_path, "train.steps=5", "train.checkpoint_every=1",
               "train.val_every=0")
    with pytest.raises(TrainingInterrupted,
                       match=r"interrupted at step 2; the last checkpoint is .* \(step 2\); "
                             r"continue with --resume") as info:
        train(cfg, device="cpu")
    assert info.value.exit_code == 130
