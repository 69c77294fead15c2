"""What a training run reports: its result record and the two ways it stops early."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from volsr.errors import VolsrError


class TrainingDiverged(VolsrError):
    """The loss (or the weights) became NaN or infinite."""


class TrainingInterrupted(VolsrError):
    """Ctrl-C during training (the checkpoints on disk stay valid)."""

    exit_code = 130


@dataclasses.dataclass
class TrainResult:
    """What a call to :func:`train` did.

    Attributes:
        run_dir: The run folder.
        step: Steps completed (global count, including resumed ones).
        resumed_from: Step of the checkpoint this call resumed from, or None.
        best_psnr: Best mean validation PSNR (dB), or None without validation.
        best_step: Step of ``best_psnr``, or None.
        last_loss: Mean total loss of the last logging window.
        model_dir: The exported weights folder (``run_dir/model``).
    """

    run_dir: Path
    step: int
    resumed_from: int | None
    best_psnr: float | None
    best_step: int | None
    last_loss: float | None
    model_dir: Path | None


__all__ = ["TrainResult", "TrainingDiverged", "TrainingInterrupted"]
