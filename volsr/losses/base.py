"""The loss registry and the input check every loss shares.

:data:`LOSSES` maps a config name (``l1``, ``ssim``, ``perceptual``, ...) to a loss
class; the modules of :mod:`volsr.losses` register into it with ``@LOSSES.register``,
and :mod:`volsr.losses` imports each of them, so the table is complete once the package
is imported.

Example:
    >>> import torch
    >>> check_pair(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4))
    >>> check_pair(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5))
    Traceback (most recent call last):
    ...
    ValueError: prediction shape (1, 1, 4, 4) differs from target shape (1, 1, 4, 5)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from volsr._registry import Registry

#: ``(pred, target) -> scalar tensor``.
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

LOSSES: Registry[nn.Module] = Registry("loss")


def check_pair(pred: torch.Tensor, target: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``pred`` and ``target`` have the same shape.

    Args:
        pred: Prediction ``(B, C, *S)``.
        target: Target, same shape.
    """
    if pred.shape != target.shape:
        raise ValueError(f"prediction shape {tuple(pred.shape)} differs from target shape "
                         f"{tuple(target.shape)}")


__all__ = ["LOSSES", "LossFn", "check_pair"]
