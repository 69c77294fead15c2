"""Resolving ``--device`` strings; an explicit request that cannot be met is an error."""

from __future__ import annotations

import logging
import re

from volsr.errors import ConfigError, DeviceError

log = logging.getLogger(__name__)

_PATTERN = re.compile(r"^(auto|cpu|mps|cuda|gpu)(?::(\d+))?$")


def resolve_device(spec: str = "auto"):  # noqa: ANN201 - returns torch.device
    """Turn ``auto|cpu|cuda[:N]|gpu[:N]|mps`` into a ``torch.device``.

    ``auto`` picks CUDA, then MPS, then CPU and logs its choice. Asking for CUDA or MPS
    explicitly when it is missing raises :class:`DeviceError`; there is no silent fallback.
    """
    import torch

    m = _PATTERN.match(spec.strip().lower())
    if not m:
        raise ConfigError(f"unknown device {spec!r}; use auto, cpu, cuda, cuda:N or mps")
    kind, index = m.group(1), m.group(2)
    if kind == "gpu":
        kind = "cuda"
    if kind == "auto":
        if torch.cuda.is_available():
            dev = torch.device("cuda", 0)
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            dev = torch.device("mps")
        else:
            dev = torch.device("cpu")
        log.info("device auto -> %s", dev)
        return dev
    if kind == "cpu":
        return torch.device("cpu")
    if kind == "mps":
        if getattr(torch.backends, "mps", None) is None or not torch.backends.mps.is_available():
            raise DeviceError("--device mps was requested but MPS is not available here")
        return torch.device("mps")
    if not torch.cuda.is_available():
        raise DeviceError(f"--device {spec} was requested but CUDA is not available "
                          "(use --device cpu or auto)")
    i = int(index or 0)
    if i >= torch.cuda.device_count():
        raise DeviceError(f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s)")
    return torch.device("cuda", i)
