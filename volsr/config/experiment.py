"""The top-level section: a whole training experiment."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from volsr.config.data import DataConfig
from volsr.config.infer import InferConfig
from volsr.config.model import ModelConfig
from volsr.config.train import AdversarialConfig, TrainConfig
from volsr.config.typed import Section
from volsr.config.values import FieldError

__all__ = ["ExperimentConfig"]


@dataclass(frozen=True, kw_only=True)
class ExperimentConfig(Section):
    """A whole training experiment.

    Attributes:
        name: Experiment name; used as a folder name under ``output_dir``.
        seed: Random seed for Python, NumPy and torch (0 <= seed < 2**32).
        output_dir: Folder that receives ``<output_dir>/<name>/`` run folders
            (relative paths are relative to the current working directory).
        model: Network settings.
        data: Training data settings.
        train: Optimisation settings.
        infer: Sliding-window inference settings.
        adversarial: GAN training settings, or null (absent) for supervised training.
        config_dir: Folder of the config file this was loaded from (absolute), or None.
            Bookkeeping only: not a config key, not serialised, ignored by ``==``.
    """

    name: str
    seed: int = 0
    output_dir: str = "runs"
    model: ModelConfig
    data: DataConfig
    train: TrainConfig
    infer: InferConfig = field(default_factory=InferConfig)
    adversarial: AdversarialConfig | None = None
    config_dir: str | None = field(default=None, compare=False, repr=False,
                                   metadata={"internal": True})

    def _check(self) -> None:
        bad = {"", ".", ".."}
        if self.name.strip() in bad or any(c in self.name for c in "/\\"):
            raise FieldError("name", f"must be a plain folder name, got {self.name!r}")
        if not 0 <= self.seed < 2**32:
            raise FieldError("seed", f"must be in [0, 2**32), got {self.seed}")
        if not self.output_dir.strip():
            raise FieldError("output_dir", "output folder is empty")
        adv = self.adversarial
        if adv is not None and adv.pretrain_steps >= self.train.steps:
            raise FieldError("adversarial.pretrain_steps",
                             f"must be below train.steps ({self.train.steps}) so that an "
                              f"adversarial phase remains, got {adv.pretrain_steps}")

    def to_dict(self) -> dict[str, Any]:
        """As :meth:`Section.to_dict`; ``adversarial`` is left out when it is null, so
        supervised configs serialise exactly as before the section existed."""
        out = super().to_dict()
        if out.get("adversarial") is None:
            out.pop("adversarial", None)
        return out
