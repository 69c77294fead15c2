"""Exceptions volsr raises for problems a user can fix.

The CLI turns every :class:`VolsrError` into one line on stderr and a non-zero exit
status; anything else is a bug and is reported as an internal error.
"""

from __future__ import annotations

from pathlib import Path


class VolsrError(Exception):
    """A problem with the user's input, settings or environment (not a bug in volsr)."""

    exit_code = 1

    def __init__(self, message: str, *, path: str | Path | None = None) -> None:
        self.path = None if path is None else str(path)
        super().__init__(message)

    def __str__(self) -> str:
        msg = super().__str__()
        return f"{self.path}: {msg}" if self.path else msg


class InputError(VolsrError):
    """An input file that cannot be read or is not a usable volume."""


class GeometryError(InputError):
    """A header whose geometry (affine, voxel size) is unusable."""


class NothingToSuperResolve(InputError):
    """A scan that already has the grid asked for (e.g. isotropic, no grid option given):
    ``volsr infer`` exits 1 on a single file and reports the case as skipped in a folder."""


class OutputError(VolsrError):
    """An output that cannot or must not be written."""


class ConfigError(VolsrError):
    """A configuration, option or name that is invalid."""

    exit_code = 2


class DeviceError(VolsrError):
    """A requested compute device that is not available."""


class ResourceError(VolsrError):
    """Not enough memory (or scratch disk) for the requested run, even streamed."""
