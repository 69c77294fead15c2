"""``volsr train`` as a function: prepare the run folder and process group, pick the trainer.

:func:`train` runs one experiment config into ``<output_dir>/<name>/`` with the
supervised :class:`~volsr.engine.trainer.Trainer`, or with the
:class:`~volsr.engine.adversarial.AdversarialTrainer` when the config has an
``adversarial:`` section (so the supervised trainer never imports its subclass).

Example:
    >>> from volsr.config import load_config  # doctest: +SKIP
    >>> result = train(load_config("configs/tiny_test.yaml"), device="cpu")  # doctest: +SKIP
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import torch

from volsr.config import ExperimentConfig
from volsr.engine import distributed as ddp
from volsr.engine.results import TrainingInterrupted, TrainResult
from volsr.engine.run_folder import RunFolder
from volsr.engine.trainer import Trainer
from volsr.errors import ConfigError, VolsrError


def train(cfg: ExperimentConfig, *, output_dir: str | Path | None = None, resume: bool = False,
          overwrite: bool = False, device: str = "auto",
          max_steps: int | None = None) -> TrainResult:
    """Train ``cfg`` into ``<output_dir or cfg.output_dir>/<cfg.name>/``.

    Args:
        cfg: The experiment config (e.g. from :func:`volsr.config.load_config`).
        output_dir: Overrides ``cfg.output_dir``.
        resume: Continue from ``checkpoint_latest.pt`` of the run folder (start afresh,
            with a warning, if there is none).
        overwrite: Delete a previous run in the folder first.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``. Under ``torchrun`` on CUDA
            each process uses ``cuda:LOCAL_RANK``.
        max_steps: Stop after this global step (the schedule still follows
            ``train.steps``); a checkpoint is saved there so ``resume`` continues.

    Returns:
        A :class:`TrainResult`.

    Raises:
        OutputError: the run folder is not empty and neither ``resume`` nor ``overwrite``.
        TrainingDiverged: the loss became NaN/inf (the last good checkpoint is kept).
        ConfigError: invalid settings (model, optimizer, loss, manifest path, ...).
    """
    from volsr.devices import resolve_device

    if max_steps is not None and max_steps < 1:
        raise ConfigError(f"--max-steps must be >= 1, got {max_steps}")
    dev = resolve_device(device)
    info = ddp.init_distributed(dev.type)
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    trainer: Trainer | None = None
    try:
        if info.distributed and dev.type == "cuda":
            dev = torch.device("cuda", info.local_rank)
        run_dir = Path(output_dir if output_dir is not None else cfg.output_dir) / cfg.name
        outcome: Any = None
        created = not run_dir.exists()
        if info.is_main:
            try:
                outcome = RunFolder(run_dir).prepare(resume=resume, overwrite=overwrite)
            except VolsrError as exc:
                ddp.broadcast_object(exc)
                raise
        outcome = ddp.broadcast_object(outcome)
        if isinstance(outcome, BaseException):
            raise VolsrError(f"rank 0 could not prepare the run folder: {outcome}")
        trainer_cls: type[Trainer] = Trainer
        if cfg.adversarial is not None:
            from volsr.engine.adversarial import AdversarialTrainer

            trainer_cls = AdversarialTrainer
        trainer = trainer_cls(cfg, run_dir=run_dir, device=dev, info=info,
                              resume=bool(outcome), max_steps=max_steps)
        try:
            return trainer.fit()
        except VolsrError:
            if info.is_main and created:
                _remove_if_empty(run_dir)  # bad data found before the first file: leave nothing
            raise
        except KeyboardInterrupt:
            ckpt = trainer.last_ckpt
            where = ("no checkpoint was saved yet" if ckpt is None else
                     f"the last checkpoint is {ckpt[0]} (step {ckpt[1]}); continue with --resume")
            raise TrainingInterrupted(f"interrupted at step {trainer.step}; {where}") from None
    finally:
        torch.use_deterministic_algorithms(was_deterministic, warn_only=warn_only)
        # Free the DDP-wrapped networks (their reducers hold the process group) before
        # leaving the group: destroying it under a live reducer let gloo's threads outlive
        # the group, and a rank could abort at exit ("terminate called without an active
        # exception").
        trainer = None
        gc.collect()
        ddp.cleanup(info)


def _remove_if_empty(folder: Path) -> None:
    """Remove ``folder`` (which this run created) when nothing was written into it."""
    try:
        folder.rmdir()
    except OSError:
        pass  # not empty: keep what the run wrote


__all__ = ["train"]
