"""Chaining degradations, and building them from config specs.

A spec is a dict ``{"name": <registered name>, **options}`` (e.g.
``{"name": "thick_slice", "factor": 4, "profile": "gaussian"}``), a list of specs
(a :class:`Compose`), or ``{"name": "compose", "transforms": [...]}``. The ``params`` of
any degradation -- and the ``last_params`` of a random one -- are valid specs, so a
logged degradation can be rebuilt and replayed exactly.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np

from volsr.degrade.base import (
    DEGRADATIONS,
    Degradation,
    RandomDegradation,
    RngLike,
    as_generator,
    register_degradation,
)
from volsr.errors import ConfigError
from volsr.io.volume import Volume

__all__ = ["Compose", "build_degradation", "degrade_volume"]

Spec = dict[str, Any] | Sequence[Any] | Degradation | RandomDegradation


@register_degradation("compose", tags=("container",))
class Compose(Degradation):
    """Apply degradations in order; each step sees the previous step's output grid.

    Args:
        transforms: degradations, random degradations or specs (dicts).
        seed: seed of the Generator used for random members when no ``rng`` is passed.

    The LR affine composes exactly: ``scale_affine`` of a product of scales equals the
    chain of ``scale_affine`` calls. With random members, each call first samples a
    deterministic Compose (kept in ``last`` / ``last_params``).
    """

    name = "compose"

    def __init__(self, transforms: Sequence[Spec], *, seed: int | None = None) -> None:
        if isinstance(transforms, (dict, Degradation, RandomDegradation)) or not transforms:
            raise ConfigError("compose needs a non-empty list of degradations")
        self.transforms = [build_degradation(t) for t in transforms]
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self.last: Compose | None = None
        self.last_params: dict[str, Any] | None = None

    @property
    def is_random(self) -> bool:
        return any(isinstance(t, RandomDegradation) or (isinstance(t, Compose) and t.is_random)
                   for t in self.transforms)

    def _params(self) -> dict[str, Any]:
        return {"transforms": [t.params for t in self.transforms]}

    def sample(self, rng: RngLike = None) -> Compose:
        """A deterministic Compose with every random member sampled (from ``rng``)."""
        gen = self._rng if rng is None else as_generator(rng)
        steps = [t.sample(gen) if isinstance(t, (RandomDegradation, Compose)) else t
                 for t in self.transforms]
        return Compose(steps)

    def _deterministic(self) -> Compose:
        if self.is_random:
            raise ValueError("this Compose has random members: call it or sample() it first")
        return self

    def output_scale(self, spatial_shape: Sequence[int]) -> np.ndarray:
        total, shape = np.ones(3), tuple(spatial_shape)
        for t in self._deterministic().transforms:
            total = total * t.output_scale(shape)
            shape = t.output_shape(shape)
        return total

    def output_shape(self, spatial_shape: Sequence[int]) -> tuple[int, int, int]:
        shape = tuple(spatial_shape)
        for t in self._deterministic().transforms:
            shape = t.output_shape(shape)
        return shape  # type: ignore[return-value]

    def _apply(self, data: np.ndarray) -> np.ndarray:
        for t in self._deterministic().transforms:
            data = t._apply(data)
        return data

    def apply_volume(self, volume: Volume) -> Volume:
        for t in self._deterministic().transforms:
            volume = t.apply_volume(volume)
        return volume

    def __call__(self, x: Any, rng: RngLike = None) -> Any:
        det = self.sample(rng) if self.is_random else self
        self.last, self.last_params = det, det.params
        return Degradation.__call__(det, x)


def build_degradation(spec: Spec) -> Degradation | RandomDegradation:
    """Build a degradation from a spec dict, a list of specs, or return an instance as is.

    Raises:
        ConfigError: unknown name (with suggestions), missing ``name``, bad options.
    """
    if isinstance(spec, (Degradation, RandomDegradation)):
        return spec
    if isinstance(spec, (list, tuple)):
        return Compose(list(spec))
    if not isinstance(spec, dict):
        raise ConfigError(f"a degradation spec must be a dict or a list, got {spec!r}")
    opts = dict(spec)
    name = opts.pop("name", None)
    if not isinstance(name, str):
        raise ConfigError(f"degradation spec needs a 'name', got {spec!r}")
    factory = DEGRADATIONS.get(name)
    try:
        inspect.signature(factory).bind(**opts)
    except TypeError as exc:
        raise ConfigError(f"bad options for degradation {name!r}: {exc}") from None
    return factory(**opts)


def degrade_volume(volume: Volume, spec: Spec, *, seed: int | None = None,
                   return_params: bool = False) -> Volume | tuple[Volume, dict[str, Any]]:
    """Degrade ``volume`` with the degradation(s) described by ``spec``.

    Args:
        volume: the HR volume.
        spec: dict, list of dicts, or a degradation instance (see module docstring).
        seed: seed for random degradations (and reproducible results).
        return_params: also return the deterministic params actually applied (a spec
            that reproduces the output exactly).

    Returns:
        The LR Volume (with its LR affine), or ``(volume, params)``.
    """
    deg = build_degradation(spec)
    if isinstance(deg, RandomDegradation) or (isinstance(deg, Compose) and deg.is_random):
        out = deg(volume, rng=np.random.default_rng(seed))
        params = deg.last_params
    else:
        out = deg(volume)
        params = deg.params
    return (out, params) if return_params else out  # type: ignore[return-value]
