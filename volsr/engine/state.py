"""Training state that must survive a restart: RNG streams, the EMA weights, finiteness.

Checkpoints hold tensors and primitives only (so ``torch.load(weights_only=True)``
reads them): :func:`rng_state` converts the Python, NumPy and torch generator states
into that form and :func:`set_rng_state` restores them.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

CHECKPOINT_FORMAT = "volsr-checkpoint"
CHECKPOINT_VERSION = 1


def rng_state() -> dict[str, Any]:
    """Python, NumPy (global) and torch (CPU and CUDA) RNG states as tensors and primitives."""
    name, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    version, words, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": list(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else [],
        "numpy": {"name": str(name), "keys": torch.from_numpy(keys.astype(np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(gauss)},
        "python": {"version": int(version), "state": torch.tensor(words, dtype=torch.int64),
                   "gauss_next": gauss_next},
    }


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` captured (CUDA only with the same device count)."""
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available() \
            and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["state"].tolist()), p["gauss_next"]))


def seed_everything(seed: int, *, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch; optionally request deterministic kernels.

    ``deterministic`` calls ``torch.use_deterministic_algorithms(True, warn_only=True)``
    (ops without a deterministic kernel warn instead of failing) and turns off cuDNN
    benchmarking.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


class EMA:
    """Exponential moving average of a network's weights (buffers are copied).

    ``ema = d * ema + (1 - d) * weights`` after every optimiser step, with the decay
    warmed up as ``d = min(decay, (1 + n) / (10 + n))`` for the ``n``-th update (the
    schedule of TensorFlow's ``ExponentialMovingAverage(num_updates=...)``): without
    it a decay of 0.999 would still hold 22 % of the random initial weights after 1500
    steps. The averaged copy (:attr:`model`) is what validation and the export use.
    """

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        if not 0 < decay < 1:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    def decay_at(self, n: int) -> float:
        """Decay used for update number ``n`` (0-based)."""
        return min(self.decay, (1.0 + n) / (10.0 + n))

    @torch.no_grad()
    def update(self, model: torch.nn.Module, n: int) -> None:
        """Fold ``model``'s weights in as update number ``n`` (the 0-based step index)."""
        d = self.decay_at(int(n))
        for e, p in zip(self.model.parameters(), model.parameters()):
            e.lerp_(p.detach(), 1.0 - d)
        for e, b in zip(self.model.buffers(), model.buffers()):
            e.copy_(b)


def finite_module(module: torch.nn.Module) -> bool:
    """True when every floating-point parameter and buffer is finite."""
    return all(bool(torch.isfinite(t).all()) for t in module.state_dict().values()
               if t.is_floating_point())


def flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists are leaves)."""
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "EMA", "finite_module", "flatten",
           "rng_state", "seed_everything", "set_rng_state"]
