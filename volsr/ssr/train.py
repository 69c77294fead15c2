"""Training one 2D refining network on self-made pairs (SAA or SSR).

The pure mode of the loop shared with adaptation (:func:`volsr.ssr.fit.fit`: no anchor,
no held-out guard): Adam, L1 loss (as EDSR and SMORE), cosine learning-rate decay over
the run's progress (the larger of ``step / steps`` and ``elapsed / time_limit``). The
networks are built with ``residual=True`` (:func:`volsr.ssr.config.build_net`): each
predicts a correction that it adds to its own (pre-interpolated) input. Weights
initialisation and patch sampling are seeded, so on the CPU the same seed gives the same
network (when the run is stopped by ``steps``, not by a time limit). A non-finite loss is
an error.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from volsr.ssr.fit import fit
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
                  desc: str = "train", dtype: Any = None) -> TrainResult:
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
        dtype: autocast dtype of the training steps (None: float32;
            :func:`volsr.ssr.fit.fit`).

    Returns:
        A :class:`TrainResult`; ``net`` is left in eval mode.
    """
    if steps is None and time_limit is None:
        raise ValueError("give steps or time_limit")
    res = fit(net, sampler.sample, _forward, steps=steps, seconds=time_limit,
              batch_size=batch_size, lr=lr, seed=seed, device=device, progress=progress, desc=desc,
              dtype=dtype)
    log.info("%s: %d steps in %.1f s, loss %.5f (stopped by %s)", desc, res.steps,
             res.seconds, res.final_loss, res.stopped_by)
    return TrainResult(steps=res.steps, seconds=res.seconds, final_loss=res.final_loss,
                       stopped_by=res.stopped_by, loss_curve=res.loss_curve)


def _forward(net: Any, batch: tuple[np.ndarray, np.ndarray], device: Any
             ) -> tuple[Any, Any]:
    """``(refine(net, x), y)`` for a ``(inputs, targets)`` batch of ``(B, 1, h, w)``."""
    import torch

    x = torch.from_numpy(batch[0]).to(device)
    y = torch.from_numpy(batch[1]).to(device)
    return refine(net, x), y
