"""The ``infer`` section: sliding-window inference settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from volsr.config.typed import Section
from volsr.config.values import FieldError, check_at_least, check_positive, check_unit

__all__ = ["InferConfig"]


@dataclass(frozen=True, kw_only=True)
class InferConfig(Section):
    """Sliding-window inference settings (also the validation default).

    Attributes:
        patch_size: Window size in output voxels (3 entries, also in 2D mode, where the
            network runs slice by slice inside each window); null: whole volume at once.
        overlap: Fraction of overlap between neighbouring windows, in [0, 1).
        blend: How overlapping window outputs are weighted.
        sw_batch_size: Windows per forward pass.
        tta: Average predictions over flips (test-time augmentation).
    """

    patch_size: tuple[int, ...] | None = (64, 64, 64)
    overlap: float = 0.25
    blend: Literal["gaussian", "constant"] = "gaussian"
    sw_batch_size: int = 1
    tta: bool = False

    def _check(self) -> None:
        if self.patch_size is not None and len(self.patch_size) != 3:
            raise FieldError("patch_size", f"expected 3 entries or null, got "
                                           f"{list(self.patch_size)}")
        check_positive("patch_size", self.patch_size)
        check_unit("overlap", self.overlap, high_open=True)
        check_at_least("sw_batch_size", self.sw_batch_size, 1)
