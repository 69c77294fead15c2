"""Experiment configuration: YAML files -> validated, frozen dataclasses.

Layout: :mod:`~volsr.config.typed` (the engine: ``Section``, ``Spec``, strict
``from_dict``) and :mod:`~volsr.config.values` (coercion, messages, range checks); one
module per section group (:mod:`~volsr.config.model`, :mod:`~volsr.config.data`,
:mod:`~volsr.config.train`, :mod:`~volsr.config.infer`, :mod:`~volsr.config.experiment`,
:mod:`~volsr.config.ssr`);
:mod:`~volsr.config.loader` reads YAML files with ``defaults`` and overrides.

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
from volsr.config.data import AugmentConfig, DataConfig
from volsr.config.experiment import ExperimentConfig
from volsr.config.infer import InferConfig
from volsr.config.model import ModelConfig
from volsr.config.ssr import SSR_BUDGETS, SSRConfig
from volsr.config.train import AdversarialConfig, TrainConfig
from volsr.config.typed import Section, Spec, WeightedSpec

__all__ = [
    "AdversarialConfig",
    "AugmentConfig",
    "DataConfig",
    "ExperimentConfig",
    "InferConfig",
    "ModelConfig",
    "SSRConfig",
    "SSR_BUDGETS",
    "Section",
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
