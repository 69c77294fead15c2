"""Optimizers and learning-rate schedules built from config specs.

Optimizers (``train.optimizer``): ``adam``, ``adamw`` and ``sgd``; every option of the
spec is passed to the ``torch.optim`` class (``lr``, ``betas``, ``weight_decay``,
``momentum``, ``nesterov``, ...). ``sgd`` defaults to ``momentum: 0.9`` so that
``{name: sgd, nesterov: true}`` works as written (Nesterov needs momentum).

Schedules (``train.scheduler``, null = ``constant``) are pure functions of the step,
applied as a multiplier of the base rate through ``torch.optim.lr_scheduler.LambdaLR``
(so resuming restores them exactly). Step ``s`` (0-based: the ``s+1``-th optimisation
step) uses ``lr * factor(s)``:

* every schedule accepts ``warmup_steps`` ``W``: ``factor(s) = (s + 1) / W`` for
  ``s < W`` (a linear ramp that reaches the base rate at step ``W``), then the
  schedule below, whose clock starts after the warm-up;
* ``constant``: 1;
* ``cosine``: ``min_factor + (1 - min_factor) * (1 + cos(pi * t / T)) / 2`` with
  ``t = s - W`` and ``T = total_steps - W`` (Loshchilov & Hutter, SGDR, ICLR 2017);
  ``min_factor`` defaults to 0;
* ``step``: ``gamma ** ((s - W) // step_size)`` (``gamma`` 0.1).

Example:
    >>> import torch
    >>> opt = build_optimizer({"name": "sgd", "lr": 0.1, "nesterov": True},
    ...                       [torch.nn.Parameter(torch.zeros(1))])
    >>> sched = build_scheduler({"name": "cosine", "warmup_steps": 2}, opt, total_steps=10)
    >>> [round(schedule_factor({"name": "cosine", "warmup_steps": 2}, s, 10), 4)
    ...  for s in (0, 1, 2, 6)]
    [0.5, 1.0, 1.0, 0.5]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

from volsr._registry import Registry
from volsr.config.schema import Spec
from volsr.errors import ConfigError

OPTIMIZERS: Registry[torch.optim.Optimizer] = Registry("optimizer")
SCHEDULES: Registry[Callable[[int], float]] = Registry("scheduler")


def _as_spec(spec: Spec | Mapping[str, Any] | str, where: str) -> Spec:
    return Spec.from_dict(spec, where)


def _number(value: Any, name: str, *, low: float = 0.0, low_open: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (value <= low if low_open else value < low):
        bound = f"> {low:g}" if low_open else f">= {low:g}"
        raise ConfigError(f"{name} must be a number {bound}, got {value!r}")
    return float(value)


# --------------------------------------------------------------------------- optimizers


@OPTIMIZERS.register("adam")
def _adam(params: Iterable[Any], **kw: Any) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, **kw)


@OPTIMIZERS.register("adamw")
def _adamw(params: Iterable[Any], **kw: Any) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, **kw)


@OPTIMIZERS.register("sgd")
def _sgd(params: Iterable[Any], **kw: Any) -> torch.optim.Optimizer:
    kw.setdefault("momentum", 0.9)
    return torch.optim.SGD(params, **kw)


def build_optimizer(spec: Spec | Mapping[str, Any] | str,
                    params: Iterable[Any]) -> torch.optim.Optimizer:
    """A ``torch.optim`` optimizer for ``params`` from ``{name: adam, lr: 1e-4, ...}``.

    Raises:
        ConfigError: unknown optimizer (did-you-mean hint), a missing or non-positive
            ``lr``, or options the optimizer rejects (e.g. Nesterov without momentum).
    """
    spec = _as_spec(spec, "train.optimizer")
    entry = OPTIMIZERS.entry(spec.name)
    kwargs = dict(spec.kwargs)
    if "lr" not in kwargs:
        raise ConfigError(f"train.optimizer: {spec.name} needs lr (e.g. lr: 1.0e-4)")
    kwargs["lr"] = _number(kwargs["lr"], "train.optimizer.lr", low_open=True)
    if "betas" in kwargs and isinstance(kwargs["betas"], list):
        kwargs["betas"] = tuple(kwargs["betas"])
    try:
        return entry.factory(params, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"train.optimizer: bad options for {spec.name!r}: {exc}") from None


# --------------------------------------------------------------------------- schedules


def _warmup(fn: Callable[[int], float], warmup_steps: int) -> Callable[[int], float]:
    if warmup_steps <= 0:
        return fn

    def factor(step: int) -> float:
        return (step + 1) / warmup_steps if step < warmup_steps else fn(step - warmup_steps)

    return factor


@SCHEDULES.register("constant")
def _constant(total_steps: int) -> Callable[[int], float]:
    return lambda step: 1.0


SCHEDULES.register("none")(_constant)


@SCHEDULES.register("cosine")
def _cosine(total_steps: int, min_factor: float = 0.0) -> Callable[[int], float]:
    lo = _number(min_factor, "train.scheduler.min_factor")
    if lo > 1:
        raise ConfigError(f"train.scheduler.min_factor must be <= 1, got {min_factor!r}")
    span = max(1, total_steps)

    def factor(step: int) -> float:
        t = min(step, span) / span
        return lo + (1.0 - lo) * 0.5 * (1.0 + math.cos(math.pi * t))

    return factor


@SCHEDULES.register("step")
def _step(total_steps: int, step_size: int = 1000, gamma: float = 0.1) -> Callable[[int], float]:
    if isinstance(step_size, bool) or not isinstance(step_size, int) or step_size < 1:
        raise ConfigError(f"train.scheduler.step_size must be an integer >= 1, got {step_size!r}")
    g = _number(gamma, "train.scheduler.gamma", low_open=True)
    return lambda step: g ** (step // step_size)


def schedule_factor(spec: Spec | Mapping[str, Any] | str | None, step: int,
                    total_steps: int) -> float:
    """The learning-rate multiplier of schedule ``spec`` at 0-based step ``step``."""
    return make_schedule(spec, total_steps)(step)


def make_schedule(spec: Spec | Mapping[str, Any] | str | None,
                  total_steps: int) -> Callable[[int], float]:
    """The multiplier function ``step -> factor`` of ``spec`` (None: constant).

    Raises:
        ConfigError: unknown schedule or bad options.
    """
    spec = Spec("constant") if spec is None else _as_spec(spec, "train.scheduler")
    entry = SCHEDULES.entry(spec.name)
    kwargs = dict(spec.kwargs)
    warmup = kwargs.pop("warmup_steps", 0)
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ConfigError(f"train.scheduler.warmup_steps must be an integer >= 0, got {warmup!r}")
    try:
        fn = entry.factory(max(1, total_steps - warmup), **kwargs)
    except TypeError as exc:
        raise ConfigError(f"train.scheduler: bad options for {spec.name!r}: {exc}") from None
    return _warmup(fn, warmup)


def build_scheduler(spec: Spec | Mapping[str, Any] | str | None, optimizer: torch.optim.Optimizer,
                    *, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` applying :func:`make_schedule` to every parameter group.

    Call ``scheduler.step()`` once after every optimizer step.
    """
    return torch.optim.lr_scheduler.LambdaLR(optimizer, make_schedule(spec, total_steps))


__all__ = ["OPTIMIZERS", "SCHEDULES", "build_optimizer", "build_scheduler", "make_schedule",
           "schedule_factor"]
