"""Experiment configuration: YAML files -> validated, frozen dataclasses.

Example:
    >>> from volsr.config import ExperimentConfig, config_from_dict
    >>> cfg = config_from_dict({"name": "demo", "model": {"name": "dcsrn_3d"},
    ...                         "data": {"manifest": "data.csv"}, "train": {"steps": 10}})
    >>> cfg.train.optimizer.name, cfg.train.optimizer.kwargs["lr"]
    ('adam', 0.0001)
    >>> cfg.model.scale
    (1.0, 1.0, 4.0)
"""

from __future__ import annotations

from volsr.config.loader import (
    apply_overrides,
    config_from_dict,
    config_to_dict,
    dump_config,
    load_config,
    load_raw,
)
from volsr.config.schema import (
    AdversarialConfig,
    AugmentConfig,
    DataConfig,
    ExperimentConfig,
    InferConfig,
    ModelConfig,
    Spec,
    TrainConfig,
    WeightedSpec,
)

__all__ = [
    "AdversarialConfig",
    "AugmentConfig",
    "DataConfig",
    "ExperimentConfig",
    "InferConfig",
    "ModelConfig",
    "Spec",
    "TrainConfig",
    "WeightedSpec",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "dump_config",
    "load_config",
    "load_raw",
]
