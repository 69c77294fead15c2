"""The ``infer`` section: sliding-window inference settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from volsr.config.typed import Section
from volsr.config.values import FieldError

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
        from volsr.inference.settings import WindowSettingError

        try:
            self.window()  # the checks of WindowSettings, written once there
        except WindowSettingError as exc:
            raise FieldError(exc.field, exc.message) from None

    def window(self, **overrides: Any) -> Any:
        """These settings as a :class:`~volsr.inference.settings.WindowSettings`
        (``overrides``: other window settings by name, e.g. ``device``)."""
        from volsr.inference.settings import WindowSettings

        return WindowSettings(patch_size=self.patch_size, overlap=self.overlap,
                              blend=self.blend, sw_batch_size=self.sw_batch_size,
                              tta=self.tta).with_overrides(overrides)
