"""Argument validators shared by the networks and their building blocks.

Each returns the checked value (so ``self.x = check_positive_int(x, "x")`` reads as one
step) and raises ``ValueError`` naming the argument and the offending value.

Example:
    >>> check_positive_int(4, "features"), check_odd(3, "kernel_size")
    (4, 3)
    >>> as_int_tuple(2, 3, "factors")
    (2, 2, 2)
    >>> check_odd(4, "kernel_size")
    Traceback (most recent call last):
    ...
    ValueError: kernel_size must be odd, got 4
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SPATIAL_DIMS = (1, 2, 3)


def check_spatial_dims(spatial_dims: int) -> int:
    """Return ``spatial_dims`` if it is 1, 2 or 3, else raise ``ValueError``."""
    if isinstance(spatial_dims, bool) or spatial_dims not in SPATIAL_DIMS:
        raise ValueError(f"spatial_dims must be one of {SPATIAL_DIMS}, got {spatial_dims!r}")
    return int(spatial_dims)


def check_positive_int(value: Any, name: str) -> int:
    """Return ``value`` if it is an ``int >= 1`` (not a bool), else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def check_odd(value: Any, name: str) -> int:
    """A positive odd integer (kernel sizes that keep the grid centred)."""
    v = check_positive_int(value, name)
    if v % 2 == 0:
        raise ValueError(f"{name} must be odd, got {value!r}")
    return v


def as_int_tuple(value: int | Sequence[int], n: int, name: str) -> tuple[int, ...]:
    """Broadcast an int (or check a length-``n`` sequence) to a tuple of positive ints."""
    if isinstance(value, int) and not isinstance(value, bool):
        out = (value,) * n
    else:
        out = tuple(value)  # type: ignore[arg-type]
        if len(out) != n:
            raise ValueError(f"{name} needs {n} values, got {value!r}")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in out):
        raise ValueError(f"{name} must be positive integers, got {value!r}")
    return out


__all__ = ["SPATIAL_DIMS", "as_int_tuple", "check_odd", "check_positive_int",
           "check_spatial_dims"]
