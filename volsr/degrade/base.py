"""Base classes of the degradation simulator and the DEGRADATIONS registry.

A :class:`Degradation` is a small deterministic, parameterised transform from a
high-resolution (HR) image to a low-resolution (LR) one. It accepts

* a :class:`~volsr.io.Volume` -> a new Volume whose affine is
  ``scale_affine(hr_affine, scale)`` (the LR grid is ``scaled_grid(hr_grid, scale)``);
* a numpy array ``(C, X, Y, Z)`` or ``(X, Y, Z)`` -> a numpy array (:meth:`apply_array`);
* a ``torch.Tensor`` ``(C, X, Y, Z)`` -> a tensor on the same device (converted through
  numpy; MONAI ``MetaTensor`` inputs get their affine updated too).

A :class:`RandomDegradation` samples the parameters of its deterministic twin from a
``numpy.random.Generator``, applies it and records what it drew in ``last_params``
(JSON-serialisable, and accepted back by :func:`volsr.degrade.build_degradation`), so
every training pair can be logged and replayed exactly.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from volsr._registry import Registry
from volsr.errors import ConfigError
from volsr.geometry.grid import output_size, scale_affine
from volsr.io.volume import Volume

__all__ = [
    "DEGRADATIONS",
    "Degradation",
    "RandomDegradation",
    "register_degradation",
]

DEGRADATIONS: Registry[Any] = Registry("degradation")

RngLike = np.random.Generator | int | None


def register_degradation(name: str, *, tags: Sequence[str] = (), **info: Any) -> Any:
    """Register a degradation class (or factory) under ``name`` in :data:`DEGRADATIONS`."""
    return DEGRADATIONS.register(name, tags=tags, **info)


def jsonable(value: Any) -> Any:
    """Plain Python (JSON-serialisable) version of numbers, arrays, tuples and dicts."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    return value


def as_generator(rng: RngLike) -> np.random.Generator:
    """A Generator from a Generator, an int seed or ``None`` (fresh entropy)."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def per_axis(value: float | Sequence[float], name: str) -> np.ndarray:
    """One or three positive numbers -> array (3,) (raises ConfigError otherwise)."""
    arr = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if arr.size == 1:
        arr = np.repeat(arr, 3)
    if arr.shape != (3,) or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ConfigError(f"{name} needs 1 or 3 positive numbers, got {jsonable(value)!r}")
    return arr


def check_axis(axis: int) -> int:
    if isinstance(axis, bool) or int(axis) != axis or int(axis) not in (0, 1, 2):
        raise ConfigError(f"axis must be 0, 1 or 2 (a voxel axis), got {axis!r}")
    return int(axis)


def _torch_tensor_type() -> Any:
    torch = sys.modules.get("torch")
    return None if torch is None else torch.Tensor


class Degradation:
    """A deterministic HR -> LR transform (subclasses implement :meth:`_apply`).

    Subclasses set :attr:`name` (the registry name), implement ``_apply(data)`` on a
    float32 ``(C, X, Y, Z)`` array, ``output_scale(shape)`` when they change the grid,
    and ``_params()`` (their constructor arguments).
    """

    name: ClassVar[str] = ""

    def _apply(self, data: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _params(self) -> dict[str, Any]:
        return {}

    @property
    def params(self) -> dict[str, Any]:
        """JSON-serialisable parameters, ``{"name": ..., **arguments}``; rebuildable."""
        return jsonable({"name": self.name, **self._params()})

    def output_scale(self, spatial_shape: Sequence[int]) -> np.ndarray:
        """Per-axis grid scale (``< 1`` coarser) this degradation applies to a grid."""
        return np.ones(3)

    def output_shape(self, spatial_shape: Sequence[int]) -> tuple[int, int, int]:
        """Spatial shape of the output for an input of ``spatial_shape``."""
        s = self.output_scale(spatial_shape)
        n0, n1, n2 = (output_size(int(n), float(f)) for n, f in zip(spatial_shape, s))
        return n0, n1, n2

    def apply_array(self, arr: np.ndarray, spacing: Sequence[float] | None = None
                    ) -> np.ndarray:
        """Degrade a ``(C, X, Y, Z)`` or ``(X, Y, Z)`` array; returns float32 of the same rank.

        Args:
            arr: the HR voxels.
            spacing: HR voxel size (mm); accepted for API symmetry -- the degradations
                here are parameterised in HR voxel units and do not need it.
        """
        a = np.asarray(arr)
        if a.ndim not in (3, 4):
            raise ValueError(f"expected a (C, X, Y, Z) or (X, Y, Z) array, got shape {a.shape}")
        if not np.issubdtype(a.dtype, np.number):
            raise ValueError(f"expected a numeric array, got dtype {a.dtype}")
        data = np.asarray(a if a.ndim == 4 else a[None], dtype=np.float32)
        out = np.asarray(self._apply(data), dtype=np.float32)
        return out if a.ndim == 4 else out[0]

    def apply_volume(self, volume: Volume) -> Volume:
        """Degrade a Volume: LR voxels on ``scaled_grid(volume.grid, output_scale)``."""
        data = self.apply_array(volume.data, volume.spacing)
        affine = scale_affine(volume.affine, self.output_scale(volume.spatial_shape))
        return volume.with_data(data, affine)

    def __call__(self, x: Any) -> Any:
        """Degrade a Volume, a numpy array or a torch tensor (see the module docstring)."""
        if isinstance(x, Volume):
            return self.apply_volume(x)
        tensor_type = _torch_tensor_type()
        if tensor_type is not None and isinstance(x, tensor_type):
            return self._apply_tensor(x)
        if isinstance(x, np.ndarray):
            return self.apply_array(x)
        raise TypeError(f"{type(self).__name__} takes a Volume, numpy array or torch tensor, "
                        f"got {type(x).__name__}")

    def _apply_tensor(self, x: Any) -> Any:
        import torch

        if x.ndim not in (3, 4):
            raise ValueError(f"expected a (C, X, Y, Z) or (X, Y, Z) tensor, got {tuple(x.shape)}")
        arr = x.detach().cpu().float().numpy()
        out = torch.as_tensor(self.apply_array(arr))
        dtype = x.dtype if x.is_floating_point() else torch.float32
        out = out.to(device=x.device, dtype=dtype)
        affine = getattr(x, "affine", None)
        if affine is not None and hasattr(x, "meta") and x.ndim == 4:  # MONAI MetaTensor
            new_aff = scale_affine(np.asarray(affine.cpu(), dtype=np.float64),
                                   self.output_scale(tuple(x.shape[1:])))
            out = type(x)(out, affine=torch.as_tensor(new_aff, dtype=affine.dtype),
                          meta={k: v for k, v in x.meta.items() if k != "affine"})
        return out

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({args})"


class RandomDegradation:
    """Samples a deterministic :class:`Degradation` per call (reproducible from a seed).

    Args:
        seed: seed of the internal Generator used when no ``rng`` is passed; successive
            calls then draw successive parameters, the same sequence for the same seed.
    """

    name: ClassVar[str] = ""

    def __init__(self, *, seed: int | None = None) -> None:
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self.last: Degradation | None = None
        self.last_params: dict[str, Any] | None = None

    def _sample(self, rng: np.random.Generator) -> Degradation:
        raise NotImplementedError

    def _params(self) -> dict[str, Any]:
        return {}

    @property
    def params(self) -> dict[str, Any]:
        """The sampling ranges (JSON-serialisable); see ``last_params`` for a draw."""
        return jsonable({"name": self.name, **self._params(), "seed": self.seed})

    def sample(self, rng: RngLike = None) -> Degradation:
        """Draw a deterministic degradation (from ``rng``, else the internal Generator)."""
        gen = self._rng if rng is None else as_generator(rng)
        return self._sample(gen)

    def __call__(self, x: Any, rng: RngLike = None) -> Any:
        """Sample, apply to ``x`` (Volume, array or tensor) and record ``last_params``."""
        deg = self.sample(rng)
        self.last, self.last_params = deg, deg.params
        return deg(x)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({args}, seed={self.seed!r})"


def draw_uniform(rng: np.random.Generator, spec: float | Sequence[float], name: str) -> float:
    """A number: ``spec`` itself, or uniform in ``[lo, hi]`` for a pair."""
    if isinstance(spec, (int, float, np.number)):
        return float(spec)
    vals = [float(v) for v in spec]
    if len(vals) != 2 or vals[0] > vals[1]:
        raise ConfigError(f"{name} must be a number or a (low, high) pair, got {jsonable(spec)}")
    return float(rng.uniform(vals[0], vals[1])) if vals[0] < vals[1] else vals[0]


def draw_choice(rng: np.random.Generator, options: Any, name: str) -> Any:
    """One of ``options`` (a single string / None is returned as is)."""
    if options is None or isinstance(options, (str, int, float)):
        return options
    opts = list(options)
    if not opts:
        raise ConfigError(f"{name} needs at least one option")
    return opts[int(rng.integers(len(opts)))]


def draw_seed(rng: np.random.Generator) -> int:
    """A fresh 31-bit seed for a deterministic stochastic step (e.g. noise)."""
    return int(rng.integers(0, 2**31 - 1))
