"""Training losses: the ``LOSSES`` registry, its members, and the adversarial objectives.

* :mod:`volsr.losses.base`: the :data:`LOSSES` registry and :func:`check_pair`, the
  shape check every loss applies to ``(pred, target)``;
* :mod:`volsr.losses.pixel`: ``l1``, ``l2``/``mse``, ``charbonnier``, ``ssim``,
  ``gradient``, ``hfen``;
* :mod:`volsr.losses.perceptual`: ``perceptual`` and ``texture`` (VGG features from a
  weights file you provide; nothing is downloaded; without a file, the fixed
  gradient-pyramid features of :mod:`volsr.losses.features`);
* :mod:`volsr.losses.adversarial`: GAN objectives (vanilla, LSGAN, WGAN-GP,
  relativistic), the gradient penalty and feature matching (not in ``LOSSES``: they
  score discriminator outputs, not images);
* :mod:`volsr.losses.weighted`: :func:`build_loss`, the weighted sum ``train.loss``
  describes.

The registering modules are imported here, by name, so ``LOSSES`` is complete as soon
as any part of the package is imported.

Example:
    >>> from volsr.losses import LOSSES
    >>> LOSSES.names()[:4]
    ['charbonnier', 'gradient', 'hfen', 'l1']
"""

from __future__ import annotations

from volsr.losses import adversarial, perceptual, pixel
from volsr.losses.adversarial import (
    ADVERSARIAL_LOSSES,
    AdversarialLoss,
    feature_matching_loss,
    gradient_penalty,
    interpolates,
)
from volsr.losses.base import LOSSES, LossFn, check_pair
from volsr.losses.perceptual import PerceptualLoss, TextureLoss, VGGFeatures
from volsr.losses.pixel import (
    CharbonnierLoss,
    GradientLoss,
    HFENLoss,
    L1Loss,
    L2Loss,
    SSIMLoss,
)
from volsr.losses.weighted import WeightedLoss, build_loss

__all__ = [
    "ADVERSARIAL_LOSSES",
    "LOSSES",
    "AdversarialLoss",
    "CharbonnierLoss",
    "GradientLoss",
    "HFENLoss",
    "L1Loss",
    "L2Loss",
    "LossFn",
    "PerceptualLoss",
    "SSIMLoss",
    "TextureLoss",
    "VGGFeatures",
    "WeightedLoss",
    "adversarial",
    "build_loss",
    "check_pair",
    "feature_matching_loss",
    "gradient_penalty",
    "interpolates",
    "perceptual",
    "pixel",
]
