"""Fine-tuning a pretrained grid-taking network on LR-grid pairs, guarding the prior.

The guarded mode of the loop shared with ``volsr ssr`` (:func:`volsr.ssr.fit.fit`;
adaptation is self-super-resolution started from the pretrained weights). Three guards
keep a short fine-tune on one scan from undoing what the pretrained network knows:

* a small learning rate (Adam, warm-up then cosine decay over the time budget, gradient
  norm clipped to 1);
* L2-SP (Li et al., "Explicit inductive bias for transfer learning with convolutional
  networks", ICML 2018): the loss adds ``l2sp * sum((w - w_pretrained)^2)``;
* a held-out set: fixed batches from in-plane slices never trained on, scored (L1) before
  training and a few times during it; the state with the lowest held-out loss is kept,
  and that is the pretrained state itself unless training improved on it.

A non-finite loss ends the run with a warning (stopped_by ``"diverged"``); the held-out
guard then keeps the best earlier state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from volsr.ssr.fit import Guard, fit, heldout_loss
from volsr.ssr.lr_pairs import LRBatch, LRPairSampler

__all__ = ["FineTuneResult", "fine_tune", "heldout_l1"]

log = logging.getLogger(__name__)


@dataclass
class FineTuneResult:
    """What :func:`fine_tune` did (JSON-ready via ``to_dict``).

    Attributes:
        adapted: True when the kept state is not the pretrained one.
        steps: optimiser steps taken; best_step: the step of the kept state (0:
            pretrained).
        seconds: wall-clock time of training and held-out scoring.
        heldout_before / heldout_after: held-out L1 of the pretrained and the kept state.
        checks: ``(step, held-out L1)`` of every check.
        stopped_by: ``"steps"`` or ``"time_limit"``.
    """

    adapted: bool
    steps: int
    best_step: int
    seconds: float
    heldout_before: float
    heldout_after: float
    stopped_by: str
    checks: list[tuple[int, float]] = field(default_factory=list)
    train_loss: float = float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {"adapted": self.adapted, "steps": self.steps, "best_step": self.best_step,
                "seconds": round(self.seconds, 3),
                "heldout_l1_before": round(self.heldout_before, 6),
                "heldout_l1_after": round(self.heldout_after, 6),
                "heldout_checks": [[s, round(v, 6)] for s, v in self.checks],
                "train_l1_last": round(self.train_loss, 6), "stopped_by": self.stopped_by}


def _forward(net: Any, b: LRBatch, device: Any) -> tuple[Any, Any]:
    """``(net(lr, grid=...), hr)`` for one batch of LR-grid pairs."""
    import torch

    x = torch.from_numpy(b.lr).to(device)
    y = torch.from_numpy(b.hr).to(device)
    return net(x, grid=b.grid), y


def heldout_l1(net: Any, batches: Sequence[LRBatch], device: Any = "cpu") -> float:
    """Mean L1 of ``net`` over ``batches`` (eval mode, no gradients; mode restored)."""
    return heldout_loss(net, batches, _forward, device)


def fine_tune(net: Any, sampler: LRPairSampler, heldout: Sequence[LRBatch], *,
              seconds: float | None, steps: int | None = None, lr: float = 1e-4,
              l2sp: float = 1e-3, batch_size: int = 8, checks: int = 4, seed: int = 0,
              device: Any = "cpu", warmup: int = 10, min_gain: float = 1e-3,
              on_step: Callable[[int], None] | None = None, dtype: Any = None
              ) -> FineTuneResult:
    """Fine-tune ``net`` in place; on return it holds the kept (best held-out) state.

    Args:
        net: a network with ``forward(x, grid=...)`` (``(B, 1, n_lr, w)`` ->
            ``(B, 1, rows, w)``), already holding the pretrained weights.
        sampler: training pairs (:func:`volsr.ssr.lr_pairs.build_lr_sampler`).
        heldout: fixed held-out batches (from other slices).
        seconds / steps: budget (at least one; both: whichever ends first).
        lr: peak Adam learning rate; l2sp: weight of the pull toward the pretrained
            weights; batch_size: patches per step.
        checks: held-out checks during training (evenly spread over the budget), plus one
            at the end.
        seed: seed of patch sampling.
        min_gain: the kept state must lower the held-out L1 by at least this fraction of
            the pretrained one (else the pretrained state is kept: noise is no gain).
        on_step: called after every step (progress bars, tests).
        dtype: autocast dtype of the training steps (None: float32; see
            :func:`volsr.ssr.fit.fit`).

    Returns:
        A :class:`FineTuneResult`; ``net`` is left in eval mode.
    """
    if seconds is None and steps is None:
        raise ValueError("give seconds or steps")
    res = fit(net, sampler.sample, _forward, steps=steps, seconds=seconds,
              batch_size=batch_size, lr=lr, seed=seed, device=device, warmup=warmup,
              clamp_floor=True, l2sp=l2sp, grad_clip=1.0,
              guard=Guard(heldout, checks=checks, min_gain=min_gain), on_nonfinite="stop",
              desc="adaptation", on_step=on_step, dtype=dtype)
    before, after = res.heldout_before, res.heldout_after
    assert before is not None and after is not None  # a guarded fit scores the held-out set
    out = FineTuneResult(adapted=res.changed, steps=res.steps, best_step=res.best_step,
                         seconds=res.seconds, heldout_before=before, heldout_after=after,
                         stopped_by=res.stopped_by, checks=res.checks,
                         train_loss=res.final_loss)
    log.info("adaptation: %d steps in %.1f s, held-out L1 %.5f -> %.5f (%s)", out.steps,
             out.seconds, out.heldout_before, out.heldout_after,
             "adapted" if out.adapted else "kept the pretrained")
    return out
