"""Index of the config schema: every section and spec type, importable from one place.

The typed-config engine is :mod:`volsr.config.typed` (with :mod:`volsr.config.values`);
each section group has its own module: ``model`` (:class:`ModelConfig`), ``data``
(:class:`DataConfig`, :class:`AugmentConfig`), ``train`` (:class:`TrainConfig`,
:class:`AdversarialConfig`), ``infer`` (:class:`InferConfig`), ``experiment``
(:class:`ExperimentConfig`) and ``ssr`` (:class:`SSRConfig`, ``volsr ssr``; its budgets
are presets).
"""

from __future__ import annotations

from volsr.config.data import AugmentConfig, DataConfig
from volsr.config.experiment import ExperimentConfig
from volsr.config.infer import InferConfig
from volsr.config.model import ModelConfig
from volsr.config.ssr import SSR_BUDGETS, SSRConfig
from volsr.config.train import AdversarialConfig, TrainConfig
from volsr.config.typed import Section, Spec, WeightedSpec, child_type, to_plain

__all__ = ["SSR_BUDGETS", "AdversarialConfig", "AugmentConfig", "DataConfig", "ExperimentConfig",
           "InferConfig", "ModelConfig", "SSRConfig", "Section", "Spec", "TrainConfig",
           "WeightedSpec", "child_type", "to_plain"]
