"""The ``model`` section: which network is trained and how it is built."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from volsr.config.typed import Section
from volsr.config.values import FieldError, check_at_least, check_positive

__all__ = ["ModelConfig"]


@dataclass(frozen=True, kw_only=True)
class ModelConfig(Section):
    """Which network to train and how it is built.

    Attributes:
        name: Model registry key (see ``volsr.models.list_models()``), e.g. ``dcsrn_3d``.
        scale: Per-axis upsampling factor (x, y, z) of the voxel grid; > 1 means finer.
            Follows the convention of :mod:`volsr.geometry.grid`.
        in_channels: Number of input image channels.
        args: Free-form keyword arguments for the model constructor (e.g. ``growth: 12``).
            When a config file changes ``model.name`` of a file it inherits from, the
            inherited ``args`` are dropped rather than merged.
    """

    name: str
    scale: tuple[float, ...] = (1.0, 1.0, 4.0)
    in_channels: int = 1
    args: Mapping[str, Any] = field(default_factory=dict, metadata={"name_bound": True})

    def _check(self) -> None:
        if not self.name.strip():
            raise FieldError("name", "model name is empty")
        if len(self.scale) != 3:
            raise FieldError("scale", f"expected 3 factors (x, y, z), got {list(self.scale)}")
        check_positive("scale", self.scale)
        check_at_least("in_channels", self.in_channels, 1)
