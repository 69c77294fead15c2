"""The weighted sum of registered losses that the trainers minimise.

:func:`build_loss` turns the config's ``train.loss`` list of weighted specs into one
callable returning ``(total, parts)``.

Example:
    >>> import torch
    >>> loss = build_loss([{"name": "l1"}, {"name": "ssim", "weight": 0.1}])
    >>> total, parts = loss(torch.zeros(1, 1, 8, 8, 8), torch.zeros(1, 1, 8, 8, 8))
    >>> float(total), sorted(parts)
    (0.0, ['l1', 'ssim'])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from volsr.config import WeightedSpec
from volsr.errors import ConfigError
from volsr.losses.base import LOSSES, LossFn


class WeightedLoss:
    """A weighted sum of registered losses; call it as ``total, parts = loss(pred, target)``.

    ``parts`` maps each term's name (``l1``, ``ssim``; repeated names get ``_2``, ``_3``
    suffixes) to its unweighted value as a detached tensor.
    """

    def __init__(self, terms: Sequence[tuple[str, float, LossFn]]) -> None:
        if not terms:
            raise ConfigError("train.loss needs at least one loss term")
        self.terms = list(terms)

    def __call__(self, pred: torch.Tensor,
                 target: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        parts: dict[str, torch.Tensor] = {}
        weighted: list[torch.Tensor] = []
        for key, weight, fn in self.terms:
            value = fn(pred, target)
            parts[key] = value.detach()
            weighted.append(value * weight)
        total = weighted[0]
        for term in weighted[1:]:
            total = total + term
        return total, parts

    def to(self, device: torch.device | str) -> WeightedLoss:
        """Move module losses (if they hold buffers) to ``device``; returns self."""
        for _, _, fn in self.terms:
            if isinstance(fn, nn.Module):
                fn.to(device)
        return self


def build_loss(specs: Sequence[WeightedSpec | Mapping[str, Any] | str]) -> WeightedLoss:
    """Build the summed loss from weighted specs such as ``[{name: l1}, {name: ssim,
    weight: 0.1}]`` (config objects, plain mappings or bare names).

    Raises:
        ConfigError: an unknown loss name (with a did-you-mean hint), a negative weight or
            bad options for a loss.
    """
    terms: list[tuple[str, float, LossFn]] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(specs):
        spec = WeightedSpec.from_dict(raw, f"train.loss.{i}")
        entry = LOSSES.entry(spec.name)
        try:
            fn = entry.factory(**dict(spec.kwargs))
        except TypeError as exc:
            raise ConfigError(f"train.loss.{i}: bad options for loss {spec.name!r}: {exc}") \
                from None
        seen[entry.name] = seen.get(entry.name, 0) + 1
        key = entry.name if seen[entry.name] == 1 else f"{entry.name}_{seen[entry.name]}"
        terms.append((key, float(spec.weight), fn))
    return WeightedLoss(terms)


__all__ = ["WeightedLoss", "build_loss"]
