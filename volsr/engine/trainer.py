"""The supervised training loop: steps, AMP, clipping, EMA, validation, checkpoints, DDP.

:class:`Trainer` runs one experiment config in a prepared run folder (layout in
:mod:`volsr.engine.run_folder`; :func:`volsr.engine.launch.train` prepares it and picks
the trainer class). Training counts optimisation steps, not epochs. Each
step's batch is a pure function of ``(seed, step, rank)`` (see
:class:`~volsr.engine.distributed.StepBatchSampler`), and checkpoints hold the model,
optimizer, scheduler, grad-scaler, EMA and every RNG state, so ``resume=True`` continues
bit-for-bit where the checkpoint left off (training items are pure functions of
``(seed, index)``, so this holds with DataLoader workers too).

"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from volsr.config import ExperimentConfig, config_to_dict, dump_config
from volsr.engine import distributed as ddp
from volsr.engine.build import build_network, collate, grid_pairs, resolve_manifest
from volsr.engine.optim import build_optimizer, build_scheduler
from volsr.engine.results import TrainingDiverged, TrainResult
from volsr.engine.run_folder import LogFile, MetricsLog, RunFolder, TensorBoard
from volsr.engine.state import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    EMA,
    finite_module,
    flatten,
    rng_state,
    seed_everything,
    set_rng_state,
)
from volsr.engine.validation import bspline_scores, export_weights, validate_cases, with_gains
from volsr.engine.warm_start import warm_start
from volsr.errors import ConfigError, VolsrError
from volsr.losses import build_loss
from volsr.models.networks import SRNet

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- the loop


class Trainer:
    """One training run; :func:`~volsr.engine.launch.train` prepares the run folder and
    the process group.

    Each step: forward (autocast on CUDA when ``train.amp``), the summed loss, a NaN/inf
    check on the loss averaged over ranks, backward (GradScaler), optional gradient-norm
    clipping, optimiser and scheduler step, EMA update. Every ``log_every`` steps rank 0
    writes the window means of the loss terms, the learning rate and steps/s; every
    ``val_every`` steps it validates (sliding-window inference onto each case's HR grid,
    PSNR/SSIM with :func:`volsr.metrics.evaluate`, ``mask="auto"``) and keeps
    ``checkpoint_best.pt``; every ``checkpoint_every`` steps and at the end it writes
    ``checkpoint_latest.pt`` (never with non-finite weights).

    Args:
        cfg: The experiment config.
        run_dir: The (prepared) run folder.
        device: Where to train.
        info: Rank and world size.
        resume: Restore ``checkpoint_latest.pt`` of ``run_dir``.
        max_steps: Stop after this global step (None: ``train.steps``).
    """

    def __init__(self, cfg: ExperimentConfig, *, run_dir: Path, device: torch.device,
                 info: ddp.DistInfo, resume: bool, max_steps: int | None) -> None:
        self.cfg, self.device, self.info = cfg, device, info
        self.run = RunFolder(run_dir)
        self.resume = resume
        self.stop_step = min(cfg.train.steps, max_steps) if max_steps else cfg.train.steps
        self.is_main = info.is_main
        self.use_amp = bool(cfg.train.amp and device.type == "cuda")
        self.manifest = resolve_manifest(cfg)
        self.step = 0
        self.best_psnr = -math.inf
        self.best_step: int | None = None
        self.elapsed = 0.0
        self.last_ckpt: tuple[Path, int] | None = None
        self.resumed_from: int | None = None
        self._resume_rng: Mapping[str, Any] | None = None
        self._changed: list[str] = []
        self._baseline: dict[str, dict[str, float]] | None = None

        seed_everything(cfg.seed, deterministic=cfg.train.deterministic)
        self.model = build_network(cfg)
        # any_factor networks on thick slices: batches of one factor, forward(x, grid=...)
        self.grid_pairs = grid_pairs(cfg, isinstance(self.model, SRNet)
                                     and self.model.any_factor)
        self.init_from = None if resume or not cfg.train.init_from else warm_start(
            self.model, cfg.train.init_from, model_name=cfg.model.name,
            config_dir=cfg.config_dir)
        self.model = self.model.to(device)
        self.loss_fn = build_loss(cfg.train.loss).to(device)
        self.optimizer = build_optimizer(cfg.train.optimizer, self.model.parameters())
        self.scheduler = build_scheduler(cfg.train.scheduler, self.optimizer,
                                         total_steps=cfg.train.steps)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.ema = EMA(self.model, cfg.train.ema) if cfg.train.ema else None
        self._build_extra()
        if resume:
            self._restore()
        self.net: torch.nn.Module = self.model
        if info.distributed:
            ids = [device.index] if device.type == "cuda" else None
            self.net = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)

    def _build_extra(self) -> None:
        """Hook for subclasses: build further networks/optimizers before a resume restores
        them (the adversarial trainer builds its discriminator here)."""

    def _restore_extra(self, state: Mapping[str, Any]) -> None:
        """Hook for subclasses: restore what :meth:`_build_extra` built from ``state``."""

    # -- state ------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The checkpoint dict (tensors and primitives only)."""
        return {
            "format": CHECKPOINT_FORMAT,
            "format_version": CHECKPOINT_VERSION,
            "config": config_to_dict(self.cfg),
            "model_name": self.cfg.model.name,
            "model_kwargs": self.model.config() if hasattr(self.model, "config") else {},
            "model": self.model.state_dict(),
            "ema": None if self.ema is None else self.ema.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "best_psnr": self.best_psnr,
            "best_step": self.best_step,
            "elapsed_s": self.elapsed,
            "rng": rng_state(),
        }

    def _restore(self) -> None:
        from volsr.checkpoint import load_checkpoint

        state = load_checkpoint(self.run.latest)
        if state.get("format") != CHECKPOINT_FORMAT:
            raise VolsrError(f"not a volsr training checkpoint (format "
                             f"{state.get('format')!r})", path=self.run.latest)
        if state.get("model_name") != self.cfg.model.name:
            raise ConfigError(f"cannot resume: the checkpoint trains {state.get('model_name')!r}"
                              f", the config {self.cfg.model.name!r}", path=self.run.latest)
        old, new = flatten(state.get("config", {})), flatten(config_to_dict(self.cfg))
        self._changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
        self.model.load_state_dict(state["model"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.model.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.use_amp and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        self.best_psnr = float(state.get("best_psnr", -math.inf))
        self.best_step = state.get("best_step")
        self.elapsed = float(state.get("elapsed_s", 0.0))
        self._resume_rng = state["rng"]
        self._restore_extra(state)
        self.last_ckpt = (self.run.latest, self.step)
        self.resumed_from = self.step

    def _save(self, path: Path) -> None:
        from volsr.checkpoint import save_checkpoint

        save_checkpoint(path, self.state())
        if path == self.run.latest:
            self.last_ckpt = (path, self.step)

    def _diverged(self, what: str, step: int | None = None, value: float | None = None) -> None:
        step = self.step if step is None else step
        kind = ("NaN or infinite" if value is None else "NaN" if math.isnan(value)
                else "infinite")
        if self.last_ckpt is None:
            where = "no checkpoint was saved before it"
        else:
            where = f"the last good checkpoint is {self.last_ckpt[0]} (step {self.last_ckpt[1]})"
        self.metrics.write({"event": "diverged", "step": step})
        raise TrainingDiverged(f"{what} became {kind} at step {step}; {where}")

    # -- data -------------------------------------------------------------------------

    def _loader(self) -> torch.utils.data.DataLoader:
        from volsr.data import build_training_dataset

        cfg, info = self.cfg, self.info
        per_rank = cfg.data.batch_size
        # one pair per index for the whole run: item i is a pure function of (seed, i)
        dataset = build_training_dataset(
            cfg.data, self.manifest, upsampling=self.model.upsampling,
            model_scale=cfg.model.scale, seed=cfg.seed, rank=info.rank,
            world_size=info.world_size, length=cfg.train.steps * per_rank * info.world_size,
            any_factor=self.grid_pairs, group_size=per_rank)
        sampler = ddp.StepBatchSampler(len(dataset), per_rank, start_step=self.step,
                                       stop_step=self.stop_step, rank=info.rank,
                                       world_size=info.world_size, shuffle=cfg.data.cache,
                                       groups=self.grid_pairs)
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + self.step)
        return torch.utils.data.DataLoader(
            dataset, batch_sampler=sampler, num_workers=cfg.data.num_workers,
            collate_fn=collate, generator=gen, pin_memory=self.device.type == "cuda")

    def _validation_cases(self) -> list[Any]:
        if self.cfg.train.val_every <= 0 or not self.is_main:
            return []
        from volsr.data import build_validation_cases

        cfg = self.cfg
        post = self.model.upsampling != "pre" and not self.grid_pairs
        cases = build_validation_cases(
            cfg.data, self.manifest, seed=cfg.seed, split="validation",
            model_scale=cfg.model.scale,
            multiple_of=[round(s) for s in cfg.model.scale] if post else None)
        if not cases:
            log.info("the manifest has no validation cases; the exported model is the last one")
        return list(cases)

    # -- validation -------------------------------------------------------------------

    def validate(self, cases: list[Any]) -> dict[str, Any]:
        """PSNR/SSIM of the current (EMA) weights on ``cases`` (see :mod:`.validation`)."""
        net = self.ema.model if self.ema is not None else self.model
        val = validate_cases(net, cases, self.cfg, self.device)
        if self._baseline is None:  # once per run: the reference of the gains
            self._baseline = bspline_scores(cases)
        return with_gains(val, self._baseline)

    # -- main loop --------------------------------------------------------------------

    def fit(self) -> TrainResult:
        cfg, main = self.cfg, self.is_main
        # the data first: a manifest entry that cannot be used fails before any run file exists
        cases = self._validation_cases()
        loader = self._loader()
        self.metrics = MetricsLog(self.run.metrics, enabled=main)
        logfile = LogFile(self.run.log_file, enabled=main)
        tb = TensorBoard(self.run.tensorboard, enabled=main,
                         purge_step=self.step + 1 if self.resumed_from is not None else None)
        last_loss: float | None = None
        try:
            if main:
                if self.resumed_from is not None:
                    log.info("resuming from %s at step %d", self.run.latest, self.step)
                if self._changed:
                    log.warning("the config differs from the checkpoint's in: %s",
                                ", ".join(self._changed))
                self.metrics.truncate_after(self.step)
                dump_config(self.cfg, self.run.config)
                log.info("training %s (%s parameters) on %s for steps %d-%d of %d%s",
                         cfg.model.name, f"{sum(p.numel() for p in self.model.parameters()):,}",
                         self.device, self.step + 1, self.stop_step, cfg.train.steps,
                         f", {self.info.world_size} processes" if self.info.distributed else "")
            if self._resume_rng is not None:
                # last, so that building the data cannot shift the restored streams
                set_rng_state(self._resume_rng)
            window: dict[str, float] = {}
            counts: dict[str, int] = {}  # per key: terms may exist in some steps only
            n_window, t_window, t0 = 0, time.perf_counter(), time.perf_counter() - self.elapsed
            for batch in loader:
                step = self.step + 1
                lr_now = self.optimizer.param_groups[0]["lr"]
                loss, parts = self._step(batch, step)
                self.step = step
                self.elapsed = time.perf_counter() - t0
                for k, v in {"loss": loss, **parts}.items():
                    window[k] = window.get(k, 0.0) + float(v)
                    counts[k] = counts.get(k, 0) + 1
                n_window += 1
                if step % cfg.train.log_every == 0 or step == self.stop_step:
                    rate = n_window / max(time.perf_counter() - t_window, 1e-9)
                    rec = {k: v / counts[k] for k, v in window.items()}
                    last_loss = rec["loss"]
                    rec.update(lr=lr_now, steps_per_s=rate)
                    self.metrics.write({"event": "train", "step": step, **rec,
                                        "seconds": self.elapsed})
                    tb.scalars(rec, step, "train/")
                    if main:
                        log.info("step %d/%d  loss %.5g%s  lr %.3g  %.2f steps/s", step,
                                 cfg.train.steps, rec["loss"],
                                 f"  d_loss {rec['d_loss']:.5g}" if "d_loss" in rec else "",
                                 lr_now, rate)
                    window, counts, n_window, t_window = {}, {}, 0, time.perf_counter()
                validate = bool(cases) and step % cfg.train.val_every == 0
                save = step == self.stop_step or bool(
                    cfg.train.checkpoint_every and step % cfg.train.checkpoint_every == 0)
                val_due = bool(cfg.train.val_every) and step % cfg.train.val_every == 0
                if (val_due or save) and not finite_module(self.model):
                    self._diverged("the weights")  # same weights, same verdict on every rank
                if validate:
                    t_val = time.perf_counter()
                    self._validate_and_log(cases, tb)
                    t_window += time.perf_counter() - t_val  # steps/s counts training only
                if main and save:
                    self._save(self.run.latest)
                ddp.barrier()
            model_dir = self._finish(tb)
        finally:
            tb.close()
            logfile.close()
        return TrainResult(
            run_dir=self.run.root, step=self.step, resumed_from=self.resumed_from,
            best_psnr=None if self.best_step is None else self.best_psnr,
            best_step=self.best_step, last_loss=last_loss, model_dir=model_dir)

    def forward(self, x: torch.Tensor, batch: Mapping[str, Any]) -> torch.Tensor:
        """The network on a batch input ``(B, C, *spatial)``; any-factor plane pairs pass
        the batch's shared output grid."""
        return self.net(x, grid=batch["grid"]) if self.grid_pairs else self.net(x)

    def _step(self, batch: dict[str, Any], step: int) -> tuple[float, dict[str, float]]:
        cfg = self.cfg
        x = batch["lr"].to(self.device, non_blocking=True)
        y = batch["hr"].to(self.device, non_blocking=True)
        self.net.train()
        with torch.autocast(device_type=self.device.type, dtype=torch.float16,
                            enabled=self.use_amp):
            pred = self.forward(x, batch)
        loss, parts = self.loss_fn(pred.float(), y.float())
        total = ddp.all_mean(loss.detach())
        if not bool(torch.isfinite(total)):
            self._diverged("loss", step, float(total))
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if cfg.train.grad_clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.train.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update(self.model, step - 1)
        return float(total), {k: float(ddp.all_mean(v)) for k, v in parts.items()}

    def _validate_and_log(self, cases: list[Any], tb: TensorBoard) -> None:
        t = time.perf_counter()
        val = self.validate(cases)
        improved = val["psnr"] > self.best_psnr
        if improved:
            self.best_psnr, self.best_step = val["psnr"], self.step
        gains = {k: val[k] for k in ("gain_psnr", "gain_ssim") if k in val}
        self.metrics.write({"event": "val", "step": self.step, "psnr": val["psnr"],
                            "ssim": val["ssim"], **gains, "best_psnr": self.best_psnr,
                            "cases": val["cases"], "val_seconds": time.perf_counter() - t})
        tb.scalars({"psnr": val["psnr"], "ssim": val["ssim"], **gains}, self.step, "val/")
        log.info("validation at step %d: PSNR %.3f dB, SSIM %.4f%s%s", self.step, val["psnr"],
                 val["ssim"], f" ({val['gain_psnr']:+.3f} dB over B-spline)" if gains else "",
                 "  (best)" if improved else "")
        if improved:
            self._save(self.run.best)

    def _finish(self, tb: TensorBoard) -> Path | None:
        digests = ddp.gather_objects(ddp.parameter_digest(self.model))
        if not self.is_main:
            ddp.barrier()
            return None
        if len(set(digests)) > 1:
            log.error("the ranks ended with different weights (digests %s)", digests)
        model_dir = self.export()
        self.metrics.write({"event": "end", "step": self.step,
                            "best_psnr": None if self.best_step is None else self.best_psnr,
                            "best_step": self.best_step, "param_digest": digests[0],
                            "rank_digests": digests, "seconds": self.elapsed})
        tb.flush()
        log.info("done at step %d; run folder %s", self.step, self.run.root)
        ddp.barrier()
        return model_dir

    def export(self) -> Path:
        """Write ``model/`` from the best checkpoint (or the current weights without one)."""
        from volsr.checkpoint import load_checkpoint

        net = copy.deepcopy(self.ema.model if self.ema is not None else self.model).cpu().eval()
        source = "latest"
        if self.best_step is not None and self.run.best.exists():
            best = load_checkpoint(self.run.best)
            net.load_state_dict(best["ema"] if best.get("ema") is not None else best["model"])
            source = f"best (step {self.best_step}, PSNR {self.best_psnr:.3f} dB)"
        folder = export_weights(net, self.run.model, self.cfg, training={
            "steps": self.step, "data": str(self.manifest), "weights": source,
            "best_psnr": None if self.best_step is None else self.best_psnr,
            "ema": self.cfg.train.ema, "init_from": self.init_from})
        log.info("model/ holds the %s weights", source)
        return folder


__all__ = ["Trainer"]
