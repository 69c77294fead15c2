"""Training of super-resolution networks (``volsr train``): supervised, and adversarial
when the config has an ``adversarial:`` section.

* :mod:`volsr.engine.losses`: ``LOSSES`` registry (l1, l2/mse, charbonnier, ssim, hfen,
  gradient, ...) and :func:`build_loss`;
* :mod:`volsr.engine.adversarial`: the GAN trainer (pre-training phase, critic steps,
  both networks in checkpoints and DDP); :mod:`volsr.engine.gan_losses` and
  :mod:`volsr.engine.perceptual`: adversarial, feature-matching, perceptual and texture
  losses;
* :mod:`volsr.engine.optim`: optimizers (adam, adamw, sgd) and step-based schedules
  (constant, cosine, step; all with linear warm-up);
* :mod:`volsr.engine.trainer`: :func:`train`, the step loop with AMP, clipping, EMA,
  validation, exact resume and NaN detection;
* :mod:`volsr.engine.state`: RNG states, EMA and other state a checkpoint carries;
* :mod:`volsr.engine.build`: network, manifest path and batches from the config;
* :mod:`volsr.engine.distributed`: ``torchrun`` / DDP plumbing and the resumable sampler;
* :mod:`volsr.engine.run_folder`: run folder layout, metrics.jsonl, TensorBoard, train.log.

Torch is imported by this package; ``import volsr`` does not import it.
"""

from __future__ import annotations

from volsr.engine.losses import LOSSES, build_loss
from volsr.engine.optim import OPTIMIZERS, SCHEDULES, build_optimizer, build_scheduler
from volsr.engine.run_folder import RunFolder, read_metrics
from volsr.engine.trainer import (
    TrainingDiverged,
    TrainingInterrupted,
    TrainResult,
    Trainer,
    train,
)

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
