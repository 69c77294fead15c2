"""One validated object for every sliding-window / slice-wise inference setting.

:class:`WindowSettings` is what :class:`~volsr.config.InferConfig` (training configs),
the :class:`~volsr.inference.predictor.Predictor`,
:func:`~volsr.inference.slicewise.predict_slicewise` and
:func:`~volsr.inference.sliding.sliding_window_predict` take. Values are checked once,
here, when the object is made; it is frozen, so a checked object stays valid.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from volsr.errors import ConfigError

__all__ = ["BLENDS", "FUSIONS", "PRECISIONS", "WindowSettingError", "WindowSettings"]

BLENDS = ("gaussian", "constant")
FUSIONS = ("average", "fba")
PRECISIONS = ("auto", "fp32", "bf16")


class WindowSettingError(ConfigError):
    """A :class:`WindowSettings` value is out of range; ``field`` names it."""

    def __init__(self, field_name: str, message: str) -> None:
        self.field = field_name
        self.message = message
        super().__init__(f"{field_name} {message}")


def _ints(value: Any, name: str, *, low: int) -> tuple[int, int, int]:
    """One integer or three, each ``>= low``, as a 3-tuple."""
    try:
        vals = ([operator.index(value)] * 3 if not isinstance(value, Sequence)
                else [operator.index(v) for v in value])
    except TypeError:
        vals = []
    if len(vals) != 3 or any(v < low for v in vals):
        what = "positive" if low > 0 else "non-negative"
        shown = list(value) if isinstance(value, Sequence) and not isinstance(value, str) \
            else value
        raise WindowSettingError(name, f"needs 1 or 3 {what} integers, got {shown!r}")
    return tuple(vals)  # type: ignore[return-value]


@dataclass(frozen=True)
class WindowSettings:
    """How a network is run over a volume (none of it changes the output grid).

    Attributes:
        patch_size: window size in output voxels per axis ``(X, Y, Z)`` (one integer means
            the same on every axis); None: the whole volume (or whole slices) at once.
        overlap: fraction of overlap of neighbouring windows, in [0, 1).
        blend: ``"gaussian"`` or ``"constant"`` weighting of overlapping windows.
        sw_batch_size: windows per forward pass (>= 1).
        tta: test-time augmentation (flips; 2D networks also transposes).
        halo: extra input context per window side: ``"auto"`` (the receptive radius, at
            most 16), or 1 or 3 non-negative integers.
        amp: allow autocast under ``precision="auto"`` (False: float32 unless
            ``precision="bf16"``).
        device: compute device of the network (``auto``, ``cpu``, ``cuda[:N]``, ``mps``).
        fusion: how a 2D network's slice orientations are combined: ``"average"`` or
            ``"fba"`` (Fourier burst accumulation).
        precision: arithmetic of the network: ``"fp32"`` (float32, 2D planes in NCHW:
            the reference, bit-identical to volsr before this setting), ``"bf16"``
            (bfloat16 autocast on any device) or ``"auto"`` (with ``amp``): float16
            autocast on CUDA (as before), bfloat16 for 2D networks on a CPU with native
            bfloat16 (AVX512-BF16 or AMX; measured to move the thickslice_v1 output by
            < 0.02 dB), float32 otherwise (:func:`volsr.inference.sliding.compute_dtype`).
            All but ``"fp32"`` run 2D networks channels-last (faster; float32 rounding
            differs from NCHW in the last bits).

    Example:
        >>> WindowSettings(patch_size=8).patch_size
        (8, 8, 8)
        >>> WindowSettings(overlap=1.0)
        Traceback (most recent call last):
        ...
        volsr.inference.settings.WindowSettingError: overlap must be in [0, 1), got 1.0
    """

    patch_size: tuple[int, int, int] | None = None
    overlap: float = 0.25
    blend: str = "gaussian"
    sw_batch_size: int = 1
    tta: bool = False
    halo: int | tuple[int, int, int] | str = "auto"
    amp: bool = True
    device: str = "auto"
    fusion: str = "average"
    precision: str = "auto"

    def __post_init__(self) -> None:
        put = object.__setattr__  # frozen: normalise through the back door, once
        if self.patch_size is not None:
            put(self, "patch_size", _ints(self.patch_size, "patch_size", low=1))
        try:
            overlap = float(self.overlap)
        except (TypeError, ValueError):
            overlap = float("nan")
        if not 0 <= overlap < 1:
            raise WindowSettingError("overlap", f"must be in [0, 1), got {self.overlap}")
        put(self, "overlap", overlap)
        if self.blend not in BLENDS:
            raise WindowSettingError("blend", f"must be one of {BLENDS}, got {self.blend!r}")
        if isinstance(self.sw_batch_size, bool) or int(self.sw_batch_size) < 1:
            raise WindowSettingError("sw_batch_size", f"must be >= 1, got {self.sw_batch_size}")
        put(self, "sw_batch_size", int(self.sw_batch_size))
        put(self, "tta", bool(self.tta))
        put(self, "amp", bool(self.amp))
        if self.halo != "auto":
            put(self, "halo", _ints(self.halo, "halo", low=0))
        if not isinstance(self.device, str):
            put(self, "device", str(self.device))
        if self.fusion not in FUSIONS:
            raise WindowSettingError("fusion", f"must be one of {FUSIONS}, got {self.fusion!r}")
        if self.precision not in PRECISIONS:
            raise WindowSettingError("precision",
                                     f"must be one of {PRECISIONS}, got {self.precision!r}")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The setting names, in order."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None, *,
                     strict: bool = False) -> WindowSettings:
        """Settings from a mapping (e.g. the ``inference`` block stored with weights).

        ``None`` values mean "default". Unknown keys are ignored unless ``strict``.
        """
        return cls().with_overrides(values or {}, strict=strict)

    def with_overrides(self, values: Mapping[str, Any], *, strict: bool = True
                       ) -> WindowSettings:
        """A copy with ``values`` replaced; ``None`` values are ignored.

        Raises:
            ConfigError: (``strict``) a name that is not a setting.
        """
        known = self.names()
        bad = sorted(set(values) - set(known))
        if bad and strict:
            raise ConfigError(f"unknown predictor option(s) {bad}; known: {list(known)}")
        given = {k: v for k, v in values.items() if k in known and v is not None}
        return replace(self, **given) if given else self

    def record(self) -> dict[str, Any]:
        """JSON-ready values (tuples as lists)."""
        return {k: (list(v) if isinstance(v, tuple) else v)
                for k, v in ((n, getattr(self, n)) for n in self.names())}
