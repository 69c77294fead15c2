"""Training one 2D refining network on self-made pairs (SAA or SSR).

Adam, L1 loss (as EDSR and SMORE), cosine learning-rate decay over the run's progress
(the larger of ``step / steps`` and ``elapsed / time_limit``). The networks are built
with ``residual=True`` (:func:`volsr.ssr.config.build_net`): each predicts a correction
that it adds to its own (pre-interpolated) input. Weights initialisation and patch
sampling are seeded, so on the CPU the same seed gives the same network (when the run is
stopped by ``steps``, not by a time limit).
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from volsr.ssr.pairs import PairSampler

__all__ = ["TrainResult", "refine", "torch_threads", "train_network"]

log = logging.getLogger(__name__)


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch CPU threads (None: unchanged), then restore."""
    import torch

    if n is None:
        yield
        return
    if isinstance(n, bool) or int(n) != n or n < 1:
        from volsr.errors import ConfigError

        raise ConfigError(f"--threads must be a positive integer, got {n!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def refine(net: Any, x: Any) -> Any:
    """``net(x)`` for ``x`` ``(B, 1, H, W)``; refuses an output of another shape."""
    y = net(x)
    if tuple(y.shape) != tuple(x.shape):
        from volsr.errors import ConfigError

        raise ConfigError(f"the 2D network returned shape {tuple(y.shape)} for input "
                          f"{tuple(x.shape)}; self-super-resolution needs a same-size refiner")
    return y


@dataclass
class TrainResult:
    """What one training run did (JSON-ready via ``to_dict``)."""

    steps: int
    seconds: float
    final_loss: float
    stopped_by: str
    loss_curve: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "seconds": round(self.seconds, 3),
                "final_loss": round(self.final_loss, 6), "stopped_by": self.stopped_by,
                "loss_curve": [round(v, 6) for v in self.loss_curve]}


def train_network(net: Any, sampler: PairSampler, *, steps: int | None,
                  time_limit: float | None = None, batch_size: int = 16, lr: float = 1e-3,
                  device: Any = "cpu", seed: int = 0, progress: bool | None = None,
                  desc: str = "train") -> TrainResult:
    """Train ``net`` in place on patches from ``sampler``.

    Args:
        net: a 2D network mapping ``(B, 1, h, w)`` to the same shape (adding its input).
        sampler: pair source (:func:`volsr.ssr.pairs.build_sampler`).
        steps: optimiser steps (None: until ``time_limit``).
        time_limit: wall-clock cap in seconds (None: none).
        batch_size: patches per step.
        lr: initial Adam learning rate (cosine decay to 1% of it).
        device: a ``torch.device``.
        seed: seed of patch sampling (weights are initialised by the caller).
        progress: tqdm bar on stderr (None: only when stderr is a terminal).
        desc: bar label.

    Returns:
        A :class:`TrainResult`; ``net`` is left in eval mode.
    """
    import torch
    from tqdm.auto import tqdm

    if steps is None and time_limit is None:
        raise ValueError("give steps or time_limit")
    rng = np.random.default_rng(seed)
    net.to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    show = sys.stderr.isatty() if progress is None else bool(progress)
    bar = tqdm(total=steps, desc=desc, unit="step", disable=not show, leave=False,
               dynamic_ncols=True)
    t0 = time.perf_counter()
    curve: list[float] = []
    window: list[float] = []
    loss_v, step, stopped = float("nan"), 0, "steps"
    every = max(1, (steps or 1000) // 50)
    try:
        while steps is None or step < steps:
            elapsed = time.perf_counter() - t0
            if time_limit is not None and elapsed >= time_limit:
                stopped = "time_limit"
                break
            frac = max(step / steps if steps else 0.0,
                       elapsed / time_limit if time_limit else 0.0)
            for g in opt.param_groups:
                g["lr"] = lr * (0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * min(frac, 1.0))))
            xs, ys = sampler.sample(rng, batch_size)
            x = torch.from_numpy(xs).to(device)
            y = torch.from_numpy(ys).to(device)
            loss = torch.nn.functional.l1_loss(refine(net, x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_v = float(loss.detach())
            if not math.isfinite(loss_v):
                from volsr.errors import VolsrError

                raise VolsrError(f"{desc}: the loss became {loss_v} at step {step + 1}; try a "
                                 "lower learning rate or another seed")
            step += 1
            window.append(loss_v)
            if step % every == 0:
                curve.append(float(np.mean(window)))
                window = []
            bar.update(1)
            if step % 10 == 0:
                bar.set_postfix(loss=f"{loss_v:.4f}")
    finally:
        bar.close()
        net.eval()
    if window:
        curve.append(float(np.mean(window)))
    seconds = time.perf_counter() - t0
    log.info("%s: %d steps in %.1f s, loss %.5f (stopped by %s)", desc, step, seconds,
             loss_v, stopped)
    return TrainResult(steps=step, seconds=seconds, final_loss=loss_v, stopped_by=stopped,
                       loss_curve=curve)
