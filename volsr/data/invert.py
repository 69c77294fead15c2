"""Contrast inversion inside the foreground, a volsr augmentation for thick-slice training.

Real contrasts invert each other's tissue order (T1 vs T2: dark fluid vs bright fluid) but
keep a dark background. ``x -> max(1 - x, 0)`` inside the foreground (``x > threshold``
in normalised units, percentile 0.5-99.5 mapped to 0-1) does the same, where MONAI's
``RandScaleIntensityd(factors=-2)`` would make a negative image no scan looks like.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from monai.transforms import MapTransform, Randomizable

__all__ = ["RandInvertForegroundd"]


class RandInvertForegroundd(Randomizable, MapTransform):
    """With probability ``prob``, invert ``keys`` inside the foreground (same draw, same
    mask for all keys; the mask comes from ``hr`` when present, else the first key).

    Args:
        keys: channel-first arrays, normalised intensities.
        prob: probability of inverting a sample.
        threshold: foreground is ``x > threshold``.

    Example:
        >>> t = RandInvertForegroundd(keys=["hr"], prob=1.0)
        >>> t({"hr": np.array([[0.0, 0.2, 0.9]])})["hr"].round(2).tolist()
        [[0.0, 0.8, 0.1]]
    """

    def __init__(self, keys: Sequence[str], prob: float = 0.2, threshold: float = 0.05) -> None:
        MapTransform.__init__(self, keys=tuple(keys))
        if not 0.0 <= float(prob) <= 1.0:
            raise ValueError(f"prob must be in [0, 1], got {prob}")
        self.prob, self.threshold = float(prob), float(threshold)
        self._do = False

    def randomize(self, data: Any = None) -> None:
        self._do = bool(self.R.random_sample() < self.prob)

    def __call__(self, data: Mapping[str, Any]) -> dict[str, Any]:
        d = dict(data)
        self.randomize()
        if not self._do:
            return d
        keys = list(self.key_iterator(d))
        if not keys:
            return d
        ref = "hr" if "hr" in keys else keys[0]
        mask = np.asarray(d[ref]) > self.threshold
        for k in keys:
            x = np.asarray(d[k])
            d[k] = np.where(mask, np.clip(1.0 - x, 0.0, None), x).astype(x.dtype, copy=False)
        return d
