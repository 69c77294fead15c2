"""Training of super-resolution networks (``volsr train``): supervised, and adversarial
when the config has an ``adversarial:`` section.

* :mod:`volsr.engine.adversarial`: the GAN trainer (pre-training phase, critic steps,
  both networks in checkpoints and DDP); the losses themselves live in
  :mod:`volsr.losses` (``LOSSES`` and :func:`build_loss` are re-exported here);
* :mod:`volsr.engine.optim`: optimizers (adam, adamw, sgd) and step-based schedules
  (constant, cosine, step; all with linear warm-up);
* :mod:`volsr.engine.launch`: :func:`train`, which prepares the run folder and process
  group and picks the trainer class;
* :mod:`volsr.engine.trainer`: :class:`Trainer`, the step loop with AMP, clipping, EMA,
  validation, exact resume and NaN detection;
* :mod:`volsr.engine.results`: :class:`TrainResult` and the early-stop errors;
* :mod:`volsr.engine.state`: RNG states, EMA and other state a checkpoint carries;
* :mod:`volsr.engine.build`: network, manifest path and batches from the config;
* :mod:`volsr.engine.distributed`: ``torchrun`` / DDP plumbing and the resumable sampler;
* :mod:`volsr.engine.run_folder`: run folder layout, metrics.jsonl, TensorBoard, train.log.

Torch is imported by this package; ``import volsr`` does not import it.
"""

from __future__ import annotations

from volsr.engine.launch import train
from volsr.engine.optim import OPTIMIZERS, SCHEDULES, build_optimizer, build_scheduler
from volsr.engine.results import TrainingDiverged, TrainingInterrupted, TrainResult
from volsr.engine.run_folder import RunFolder, read_metrics
from volsr.engine.trainer import Trainer
from volsr.losses import LOSSES, build_loss

__all__ = [
    "LOSSES",
    "OPTIMIZERS",
    "SCHEDULES",
    "RunFolder",
    "TrainResult",
    "Trainer",
    "TrainingDiverged",
    "TrainingInterrupted",
    "build_loss",
    "build_optimizer",
    "build_scheduler",
    "read_metrics",
    "train",
]
