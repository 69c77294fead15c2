"""Fine-tuning a pretrained grid-taking network on LR-grid pairs, guarding the prior.

Three guards keep a short fine-tune on one scan from undoing what the pretrained
network knows:

* a small learning rate (Adam, warm-up then cosine decay over the time budget);
* L2-SP (Li et al., "Explicit inductive bias for transfer learning with convolutional
  networks", ICML 2018): the loss adds ``l2sp * sum((w - w_pretrained)^2)``;
* a held-out set: fixed batches from in-plane slices never trained on, scored (L1) before
  training and a few times during it; the state with the lowest held-out loss is kept,
  and that is the pretrained state itself unless training improved on it.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

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
    import torch

    x = torch.from_numpy(b.lr).to(device)
    y = torch.from_numpy(b.hr).to(device)
    return net(x, grid=b.grid), y


def heldout_l1(net: Any, batches: Sequence[LRBatch], device: Any = "cpu") -> float:
    """Mean L1 of ``net`` over ``batches`` (eval mode, no gradients; mode restored)."""
    import torch

    was = net.training
    net.eval()
    total, n = 0.0, 0
    with torch.inference_mode():
        for b in batches:
            out, y = _forward(net, b, device)
            total += float(torch.nn.functional.l1_loss(out.float(), y, reduction="sum"))
            n += int(y.numel())
    net.train(was)
    return total / max(n, 1)


def fine_tune(net: Any, sampler: LRPairSampler, heldout: Sequence[LRBatch], *,
              seconds: float | None, steps: int | None = None, lr: float = 1e-4,
              l2sp: float = 1e-3, batch_size: int = 8, checks: int = 4, seed: int = 0,
              device: Any = "cpu", warmup: int = 10, min_gain: float = 1e-3,
              on_step: Callable[[int], None] | None = None) -> FineTuneResult:
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

    Returns:
        A :class:`FineTuneResult`; ``net`` is left in eval mode.
    """
    import torch

    if seconds is None and steps is None:
        raise ValueError("give seconds or steps")
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    net.to(device)
    params = [p for p in net.parameters() if p.requires_grad]
    anchor = [p.detach().clone() for p in params]
    before = heldout_l1(net, heldout, device)
    first = copy.deepcopy(net.state_dict())
    best = (before, 0, first)
    history = [(0, before)]
    opt = torch.optim.Adam(params, lr=lr)
    net.train()
    step, stopped, loss_v, next_check = 0, "steps", float("nan"), 1
    try:
        while steps is None or step < steps:
            elapsed = time.perf_counter() - t0
            if seconds is not None and elapsed >= seconds:
                stopped = "time_limit"
                break
            frac = max(step / steps if steps else 0.0, elapsed / seconds if seconds else 0.0)
            scale = min(1.0, (step + 1) / warmup) * (0.5 * (1.0 + math.cos(math.pi * min(frac, 1))))
            for g in opt.param_groups:
                g["lr"] = lr * max(scale, 0.01)
            out, y = _forward(net, sampler.sample(rng, batch_size), device)
            loss = torch.nn.functional.l1_loss(out.float(), y)
            if l2sp > 0:
                pull = sum(((p - a) ** 2).sum() for p, a in zip(params, anchor))
                total = loss + l2sp * pull
            else:
                total = loss
            opt.zero_grad(set_to_none=True)
            total.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            loss_v = float(loss.detach())
            if not math.isfinite(loss_v):
                log.warning("adaptation: the loss became %s at step %d; stopped", loss_v, step)
                stopped = "diverged"
                break
            step += 1
            if on_step is not None:
                on_step(step)
            if checks > 0 and frac * (checks + 1) >= next_check:
                next_check += 1
                best = _check(net, heldout, device, step, history, best)
    finally:
        net.eval()
    if history[-1][0] != step:
        best = _check(net, heldout, device, step, history, best)
    after, best_step, state = best
    if after > before * (1.0 - min_gain):
        after, best_step, state = before, 0, first
    net.load_state_dict(state)
    res = FineTuneResult(adapted=best_step > 0, steps=step, best_step=best_step,
                         seconds=time.perf_counter() - t0, heldout_before=before,
                         heldout_after=after, stopped_by=stopped, checks=history,
                         train_loss=loss_v)
    log.info("adaptation: %d steps in %.1f s, held-out L1 %.5f -> %.5f (%s)", step,
             res.seconds, before, after, "adapted" if res.adapted else "kept the pretrained")
    return res


def _check(net: Any, heldout: Sequence[LRBatch], device: Any, step: int,
           history: list[tuple[int, float]], best: tuple[float, int, dict]
           ) -> tuple[float, int, dict]:
    """Score the held-out set now; the new best ``(loss, step, state)``."""
    v = heldout_l1(net, heldout, device)
    history.append((step, v))
    if v < best[0]:
        return v, step, copy.deepcopy(net.state_dict())
    return best
