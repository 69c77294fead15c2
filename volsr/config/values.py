"""Values of the typed config: coercion of plain data, error messages, range checks.

The building blocks of :mod:`volsr.config.typed`: converting YAML scalars (``"1e-4"`` ->
float, whole floats -> int), deep-copying free-form mappings as plain data, the error of
an unknown key (with a "did you mean" hint naming the dotted path) and the range checks
that the sections' ``_check`` methods raise as :class:`FieldError`.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from typing import Any

from volsr.errors import ConfigError

__all__ = ["FieldError", "check_at_least", "check_positive", "check_unit", "join_path",
           "plain", "scalar", "show", "type_error", "unknown_key_error", "where"]

_INT_RE = re.compile(r"^[+-]?[0-9]+$")
_FLOAT_RE = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")


class FieldError(ConfigError):
    """A value check failed for ``field`` (a dotted path relative to the section)."""

    def __init__(self, field_name: str, message: str) -> None:
        self.field = field_name
        self.message = message
        super().__init__(f"{field_name}: {message}")


def join_path(path: str, key: str | int) -> str:
    """Dotted path of ``key`` under ``path``; list entries are numbers, as in overrides."""
    return f"{path}.{key}" if path else str(key)


def where(path: str) -> str:
    """``path`` for messages (``"config"`` for the top level)."""
    return path or "config"


def show(value: Any) -> str:
    """A value and its type for messages, shortened to about 60 characters."""
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def type_error(path: str, expected: str, value: Any) -> ConfigError:
    """The error for a value of the wrong type at ``path``."""
    return ConfigError(f"{where(path)}: expected {expected}, got {show(value)}")


def unknown_key_error(key: str, path: str, valid: list[str]) -> ConfigError:
    """The error for a key that is not a field of the section at ``path``."""
    full = join_path(path, key)
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    if close:
        return ConfigError(f"unknown key {full!r} — did you mean {join_path(path, close[0])!r}?")
    place = f"under {path!r}" if path else "at the top level"
    return ConfigError(f"unknown key {full!r}; valid keys {place}: {', '.join(valid)}")


def plain(value: Any, path: str) -> Any:
    """Deep-copy free-form ``value`` as plain data (tuples -> lists); reject anything else."""
    if value is None or isinstance(value, str):
        return None if value is None else str(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [plain(v, join_path(path, i)) for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ConfigError(f"{where(path)}: keys must be strings, got {show(k)} "
                                  "(quote it in YAML)")
            out[str(k)] = plain(v, join_path(path, k))
        return out
    raise type_error(path, "plain data (string, number, boolean, null, list or mapping)",
                     value)


def scalar(tp: type, value: Any, path: str) -> Any:
    """``value`` as ``tp`` (bool, int, float or str); numeric strings become numbers."""
    if tp is bool:
        if isinstance(value, bool):
            return bool(value)
        raise type_error(path, "a boolean (true/false)", value)
    if tp is str:
        if isinstance(value, str):
            return str(value)
        raise type_error(path, "a string (quote it in YAML)", value)
    if isinstance(value, bool):
        raise type_error(path, "an integer" if tp is int else "a number", value)
    if isinstance(value, str):
        text = value.strip()
        if tp is int and _INT_RE.match(text):
            return int(text)
        if _FLOAT_RE.match(text):
            value = float(text)
    if tp is int:
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise type_error(path, "an integer", value)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    raise type_error(path, "a finite number", value)


def check_positive(name: str, values: tuple[float, ...] | None) -> None:
    """Every entry of ``values`` (if given) is > 0, and there is at least one."""
    if values is not None and (not values or any(v <= 0 for v in values)):
        raise FieldError(name, f"entries must be > 0, got {list(values)}")


def check_unit(name: str, value: float | None, *, high_open: bool = False,
               low_open: bool = False) -> None:
    """``value`` (if given) lies in [0, 1], each end open on request."""
    if value is None:
        return
    ok = (value > 0 if low_open else value >= 0) and (value < 1 if high_open else value <= 1)
    if not ok:
        lo, hi = "(0" if low_open else "[0", "1)" if high_open else "1]"
        raise FieldError(name, f"must be in {lo}, {hi}, got {value}")


def check_at_least(name: str, value: int, low: int) -> None:
    """``value >= low``."""
    if value < low:
        raise FieldError(name, f"must be >= {low}, got {value}")

