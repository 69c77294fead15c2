"""Running predictors on volumes: output-grid planning, networks, batch running.

``volsr.inference.super_resolve`` is :func:`volsr.predictors.super_resolve` (the name
resolution lives in the application layer above this package; loaded on first use).
"""

from __future__ import annotations

from typing import Any

from volsr.inference.grid import GridPlan, plan_output_grid
from volsr.inference.predictor import Predictor
from volsr.inference.protocol import VolumePredictor
from volsr.inference.settings import WindowSettings

__all__ = ["GridPlan", "Predictor", "VolumePredictor", "WindowSettings", "plan_output_grid",
           "super_resolve"]


def __getattr__(name: str) -> Any:
    if name == "super_resolve":
        from volsr.predictors import super_resolve

        return super_resolve
    raise AttributeError(f"module 'volsr.inference' has no attribute {name!r}")
