"""The one training loop of self-super-resolution and of per-scan adaptation.

``volsr ssr`` trains a network from random weights on pairs made from the scan itself;
``volsr infer --adapt`` trains the pretrained network on the same kind of pairs. Both are
:func:`fit` with different options:

* **pure** (SSR, :func:`volsr.ssr.train.train_network`): no anchor, no held-out guard;
  the run keeps its last state, and a non-finite loss is an error.
* **guarded** (adaptation, :func:`volsr.adapt.finetune.fine_tune`): an L2-SP pull toward
  the starting (pretrained) weights (Li et al., ICML 2018), warm-up, gradient clipping, and
  a :class:`Guard` of fixed held-out batches scored before training and a few times
  during it; the state with the lowest held-out loss is kept, and that is the starting
  state itself unless training improved on it by ``min_gain``.

Each step: the learning rate from :func:`lr_factor`, a batch ``sample(rng, batch_size)``,
``forward(net, batch, device) -> (prediction, target)`` (under bfloat16 autocast, with
the network in channels-last memory, when ``dtype`` asks for it), the mean ``loss`` (L1
by default, in float32; the reported loss), plus ``l2sp * sum((w - w_start)^2)`` when
``l2sp > 0``, Adam. Patch sampling is seeded (``numpy.random.default_rng(seed)``), so on
the CPU a run stopped by ``steps`` (not by a time limit) is reproducible.

The module lives in :mod:`volsr.ssr` because SSR is the base case (adaptation = SSR from
pretrained weights) and :mod:`volsr.adapt` already builds on :mod:`volsr.ssr`. It is not
the supervised trainer of :mod:`volsr.engine` (datasets, checkpoints, distributed runs).
"""

from __future__ import annotations

import copy
import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

__all__ = ["PRECISIONS", "FitResult", "Guard", "fit", "heldout_loss", "lr_factor",
           "training_dtype"]

log = logging.getLogger(__name__)

#: ``forward(net, batch, device) -> (prediction, target)`` (torch tensors).
Forward = Callable[[Any, Any, Any], tuple[Any, Any]]
#: ``sample(rng, batch_size) -> batch`` (whatever ``forward`` takes).
Sample = Callable[[np.random.Generator, int], Any]
#: Names of the training arithmetic (:func:`training_dtype`).
PRECISIONS = ("auto", "bf16", "fp32")


def training_dtype(precision: str, device: Any) -> Any:
    """The autocast dtype of training steps for ``precision`` (None: float32).

    ``fp32``: None; ``bf16``: bfloat16; ``auto``: bfloat16 where the device computes it
    natively (a CPU with AVX512-BF16 or AMX, a CUDA GPU with bfloat16), else None.
    """
    import torch

    from volsr.inference.sliding import cpu_has_native_bf16

    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    dev = torch.device(device)
    if dev.type == "cpu" and cpu_has_native_bf16():
        return torch.bfloat16
    if dev.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def lr_factor(step: int, frac: float, *, warmup: int = 0, floor: float = 0.01,
              clamp: bool = False) -> float:
    """Multiplier of the peak learning rate at ``step`` (0-based), ``frac`` into the run.

    Cosine decay over the run's progress ``frac`` (clipped to 1), after a linear warm-up
    over the first ``warmup`` steps (0: none), never below ``floor``:
    ``floor + (1 - floor) * w * c`` (the SSR schedule), or with ``clamp``
    ``max(floor, w * c)`` (the adaptation schedule), where ``w`` is the warm-up ramp and
    ``c = (1 + cos(pi * frac)) / 2``. The two differ by at most ``floor``; both are kept
    so that published runs reproduce.

    >>> lr_factor(0, 0.0), lr_factor(0, 1.0), lr_factor(0, 0.0, warmup=10, clamp=True)
    (1.0, 0.01, 0.1)
    """
    c = 0.5 * (1.0 + math.cos(math.pi * min(frac, 1.0)))
    if warmup > 0:
        c = min(1.0, (step + 1) / warmup) * c
    if clamp:
        return max(c, floor)
    return floor + (1.0 - floor) * c


def l1_loss(prediction: Any, target: Any) -> Any:
    """Mean absolute error (prediction cast to float32 first)."""
    import torch

    return torch.nn.functional.l1_loss(prediction.float(), target)


@dataclass
class Guard:
    """The held-out guard of a fit.

    Attributes:
        batches: fixed held-out batches (from data never trained on).
        checks: scorings during training, evenly spread over the budget (plus one before
            training and one at the end).
        min_gain: the kept state must lower the held-out loss by at least this fraction of
            the starting one; otherwise the starting state is kept (noise is no gain).
    """

    batches: Sequence[Any]
    checks: int = 4
    min_gain: float = 1e-3


@dataclass
class FitResult:
    """What :func:`fit` did.

    Attributes:
        steps: optimiser steps taken.
        seconds: wall-clock time, held-out scoring included.
        final_loss: the (data) loss of the last step.
        stopped_by: ``"steps"``, ``"time_limit"`` or ``"diverged"``.
        loss_curve: the mean loss over about 50 evenly spaced windows.
        heldout_before / heldout_after: held-out loss of the starting and of the kept
            state (None without a guard).
        best_step: step of the kept state (0: the starting state; without a guard, the
            last step).
        checks: ``(step, held-out loss)`` of every guard check.
    """

    steps: int
    seconds: float
    final_loss: float
    stopped_by: str
    loss_curve: list[float] = field(default_factory=list)
    heldout_before: float | None = None
    heldout_after: float | None = None
    best_step: int = 0
    checks: list[tuple[int, float]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True when the network does not hold its starting state."""
        return self.best_step > 0


def heldout_loss(net: Any, batches: Sequence[Any], forward: Forward, device: Any = "cpu"
                 ) -> float:
    """Mean L1 of ``net`` over all elements of ``batches`` (eval mode, no gradients; the
    mode is restored)."""
    import torch

    was = net.training
    net.eval()
    total, n = 0.0, 0
    try:
        with torch.inference_mode():
            for b in batches:
                out, y = forward(net, b, device)
                total += float(torch.nn.functional.l1_loss(out.float(), y, reduction="sum"))
                n += int(y.numel())
    finally:
        net.train(was)
    return total / max(n, 1)


class _Keeper:
    """The guard's bookkeeping: every check, and the best ``(loss, step, state)``."""

    def __init__(self, net: Any, guard: Guard, forward: Forward, device: Any) -> None:
        self.net, self.guard, self.forward, self.device = net, guard, forward, device
        self.before = heldout_loss(net, guard.batches, forward, device)
        self.start = copy.deepcopy(net.state_dict())
        self.best: tuple[float, int, dict] = (self.before, 0, self.start)
        self.history: list[tuple[int, float]] = [(0, self.before)]
        self.next_check = 1

    def maybe_check(self, step: int, frac: float) -> None:
        """Check now if ``frac`` (the progress before this step) reached the next check."""
        if self.guard.checks > 0 and frac * (self.guard.checks + 1) >= self.next_check:
            self.next_check += 1
            self.check(step)

    def check(self, step: int) -> None:
        """Score the held-out set now; keep the state if it is the best so far."""
        v = heldout_loss(self.net, self.guard.batches, self.forward, self.device)
        self.history.append((step, v))
        if v < self.best[0]:
            self.best = (v, step, copy.deepcopy(self.net.state_dict()))

    def finish(self, step: int) -> tuple[float, int]:
        """Score the last state if not done, load the kept one; ``(held-out, step)``."""
        if self.history[-1][0] != step:
            self.check(step)
        after, best_step, state = self.best
        if after > self.before * (1.0 - self.guard.min_gain):
            after, best_step, state = self.before, 0, self.start
        self.net.load_state_dict(state)
        return after, best_step


def _is_2d(net: Any) -> bool:
    """True when the network's convolutions are 2D (channels-last applies to them)."""
    import torch

    return any(isinstance(m, torch.nn.Conv2d) for m in net.modules())


def fit(net: Any, sample: Sample, forward: Forward, *, steps: int | None,
        seconds: float | None = None, batch_size: int = 16, lr: float = 1e-3,
        seed: int = 0, device: Any = "cpu", loss: Callable[[Any, Any], Any] = l1_loss,
        warmup: int = 0, lr_floor: float = 0.01, clamp_floor: bool = False,
        l2sp: float = 0.0, grad_clip: float | None = None, guard: Guard | None = None,
        on_nonfinite: Literal["raise", "stop"] = "raise", progress: bool | None = False,
        desc: str = "fit", on_step: Callable[[int], None] | None = None,
        dtype: Any = None) -> FitResult:
    """Train ``net`` in place on batches from ``sample`` (see the module docstring).

    Args:
        net: a torch module (weights already initialised or loaded).
        sample: ``sample(rng, batch_size) -> batch``.
        forward: ``forward(net, batch, device) -> (prediction, target)``.
        steps / seconds: budget (at least one; both: whichever ends first).
        batch_size: samples per step.
        lr: peak Adam learning rate; ``warmup``, ``lr_floor``, ``clamp_floor``: its
            schedule (:func:`lr_factor`).
        seed: seed of the batch sampling.
        device: where to train.
        loss: ``loss(prediction, target)``, a scalar tensor (default mean L1).
        l2sp: weight of the pull toward the starting weights (0: none, pure
            self-supervision).
        grad_clip: maximal gradient norm (None: no clipping).
        guard: held-out guard (None: keep the last state).
        on_nonfinite: a NaN/inf loss raises :class:`~volsr.errors.VolsrError` (``"raise"``)
            or logs a warning and ends the run (``"stop"``, stopped_by ``"diverged"``).
        progress: tqdm bar on stderr (None: only when stderr is a terminal).
        desc: label of the bar and of log messages.
        on_step: called with the step count after every step.
        dtype: autocast dtype of the training forward passes (``torch.bfloat16``; None:
            float32). Weights, optimiser state, loss and the held-out scoring stay float32;
            a 2D network trains in channels-last memory meanwhile (1.85x the steps per
            second of float32 for ``thickslice_v2`` adaptation on a CPU with native
            bfloat16, ``benchmarks/adapt_speed.py``) and is handed back in contiguous
            memory.

    Returns:
        A :class:`FitResult`; ``net`` holds the kept state, in eval mode.
    """
    import torch
    from tqdm.auto import tqdm

    if steps is None and seconds is None:
        raise ValueError("give steps or seconds")
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    net.to(device)
    channels_last = dtype is not None and _is_2d(net)
    if channels_last:
        net.to(memory_format=torch.channels_last)
    dev_type = torch.device(device).type
    params = [p for p in net.parameters() if p.requires_grad]
    anchor = [p.detach().clone() for p in params] if l2sp > 0 else []
    keeper = _Keeper(net, guard, forward, device) if guard is not None else None
    opt = torch.optim.Adam(params, lr=lr)
    net.train()
    show = sys.stderr.isatty() if progress is None else bool(progress)
    bar = tqdm(total=steps, desc=desc, unit="step", disable=not show, leave=False,
               dynamic_ncols=True)
    curve: list[float] = []
    window: list[float] = []
    every = max(1, (steps or 1000) // 50)
    step, stopped, loss_v = 0, "steps", float("nan")
    try:
        while steps is None or step < steps:
            elapsed = time.perf_counter() - t0
            if seconds is not None and elapsed >= seconds:
                stopped = "time_limit"
                break
            frac = max(step / steps if steps else 0.0, elapsed / seconds if seconds else 0.0)
            scale = lr_factor(step, frac, warmup=warmup, floor=lr_floor, clamp=clamp_floor)
            for g in opt.param_groups:
                g["lr"] = lr * scale
            with torch.autocast(dev_type, dtype=dtype or torch.bfloat16,
                                enabled=dtype is not None):
                pred, target = forward(net, sample(rng, batch_size), device)
            data_loss = loss(pred.float(), target)
            total = data_loss
            if l2sp > 0:
                total = data_loss + l2sp * sum(((p - a) ** 2).sum()
                                               for p, a in zip(params, anchor))
            opt.zero_grad(set_to_none=True)
            total.backward()
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(params, grad_clip)
            opt.step()
            loss_v = float(data_loss.detach())
            if not math.isfinite(loss_v):
                msg = f"{desc}: the loss became {loss_v} at step {step + 1}"
                if on_nonfinite == "raise":
                    from volsr.errors import VolsrError

                    raise VolsrError(f"{msg}; try a lower learning rate or another seed")
                log.warning("%s; stopped", msg)
                stopped = "diverged"
                break
            step += 1
            window.append(loss_v)
            if step % every == 0:
                curve.append(float(np.mean(window)))
                window = []
            bar.update(1)
            if step % 10 == 0:
                bar.set_postfix(loss=f"{loss_v:.4f}")
            if on_step is not None:
                on_step(step)
            if keeper is not None:
                keeper.maybe_check(step, frac)
    finally:
        bar.close()
        net.eval()
        if channels_last:
            net.to(memory_format=torch.contiguous_format)
    if window:
        curve.append(float(np.mean(window)))
    before, after, best_step = None, None, step
    if keeper is not None:
        after, best_step = keeper.finish(step)
        before = keeper.before
    return FitResult(steps=step, seconds=time.perf_counter() - t0, final_loss=loss_v,
                     stopped_by=stopped, loss_curve=curve, heldout_before=before,
                     heldout_after=after, best_step=best_step,
                     checks=keeper.history if keeper is not None else [])
