"""Super-resolving volumes: output-grid planning, the Python API and batch running."""

from volsr.inference.api import super_resolve
from volsr.inference.grid import GridPlan, plan_output_grid
from volsr.inference.predictor import Predictor

__all__ = ["GridPlan", "Predictor", "plan_output_grid", "super_resolve"]
