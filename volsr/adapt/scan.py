"""Fine-tuning a pretrained thick-slice network on one scan's own in-plane pairs.

:func:`adapt_to_scan` is self-super-resolution started from pretrained weights (``volsr
ssr`` starts from random ones): the same header analysis
(:func:`volsr.ssr.header.analyze_header`), the same slice-profile choice
(:func:`volsr.ssr.profile_choice.choose_profile`: estimated by default, Gaussian with a
warning when the estimate is unsure), the same acquisition of in-plane slices
(:mod:`volsr.ssr.lr_pairs` on top of :mod:`volsr.ssr.pairs`), then a guarded fine-tune
(:func:`volsr.adapt.finetune.fine_tune`: small learning rate, L2-SP, held-out slices;
the pretrained weights are kept unless the held-out loss improves).

Shapes: the scan is ``(1, X, Y, Z)`` with one thick axis; training pairs are in-plane
slices with one in-plane axis acquired at the slice spacing (LR crop ``(B, 1, n_lr, w)``,
HR patch ``(B, 1, rows, w)``).
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from volsr.adapt.finetune import fine_tune
from volsr.errors import ConfigError, InputError
from volsr.io.volume import Volume
from volsr.ssr.fit import PRECISIONS, training_dtype
from volsr.ssr.header import Acquisition, analyze_header
from volsr.ssr.lr_pairs import build_lr_sampler
from volsr.ssr.profile_choice import FALLBACKS, choose_profile, training_profiles

__all__ = [
    "MIN_INPLANE",
    "MIN_SLICES",
    "AdaptResult",
    "AdaptSettings",
    "adapt_to_scan",
    "scan_acquisition",
    "split_slices",
]

log = logging.getLogger(__name__)

MIN_INPLANE = 32
"""Fewest pixels along each in-plane axis for in-plane training pairs."""
MIN_SLICES = 3
"""Fewest slices: some to train on, one held out."""


@dataclass(frozen=True)
class AdaptSettings:
    """The knobs of :func:`adapt_to_scan` (defaults: the ``--adapt`` budget).

    Attributes:
        seconds: wall-clock budget of the fine-tune (held-out checks included).
        steps: cap on optimiser steps (None: the time budget alone). The default, 600,
            is where the gain stopped growing in ``benchmarks/adapt.py`` (x4, profile
            estimated): over the unadapted model, +0.19 dB on average at 600 and at 1800
            steps on the six 128-voxel crops, +0.25 and +0.27 dB on the whole volumes,
            at 41-55 s against 90-124 s per case (docs/ssr.md).
        profile: ``auto`` (estimated), ``rect`` or ``gaussian`` (FWHM = slice spacing).
        min_confidence: with ``auto``, an estimate less confident than this is set aside
            for the Gaussian profile (FWHM = slice spacing), with a warning.
        fallback: what trains when the estimate is set aside: ``gaussian`` (that
            profile alone) or ``mixed`` (pairs of the Gaussian and of the rect profile of
            the same width, as the pretrained model saw both; the default: on a rect
            scan, x4, Gaussian alone lost 0.18 dB to the unadapted model, mixed gained
            0.14 dB). Shared with ``volsr ssr``
            (:func:`volsr.ssr.profile_choice.training_profiles`).
        family_min_confidence: an estimate in use whose ``family_confidence`` is below
            this also trains on the other family (0, the default: never).
        lr, l2sp, batch_size, patch: learning rate, weight of the pull toward the
            pretrained weights, patches per step, largest HR patch side.
        heldout_every: every so many slices is held out (at least one slice).
        heldout_batches: fixed held-out batches of ``batch_size`` patches.
        seed: seed of sampling (training and held-out).
        precision: arithmetic of the training steps: ``auto`` (bfloat16 autocast where
            the device computes it natively: a CPU with AVX512-BF16/AMX, a CUDA GPU with
            bfloat16; float32 elsewhere), ``bf16`` or ``fp32``. Weights and the held-out
            scoring stay float32.
    """

    seconds: float = 120.0
    steps: int | None = 600
    profile: str = "auto"
    min_confidence: float = 0.05
    fallback: str = "mixed"
    family_min_confidence: float = 0.0
    lr: float = 1e-3
    l2sp: float = 1e-3
    batch_size: int = 8
    patch: int = 64
    heldout_every: int = 5
    heldout_batches: int = 8
    seed: int = 0
    precision: str = "auto"

    def __post_init__(self) -> None:
        if self.profile not in ("auto", "rect", "gaussian"):
            raise ConfigError(f"--profile must be auto, rect or gaussian, got {self.profile!r}")
        if not self.seconds > 0:
            raise ConfigError(f"--adapt-seconds must be > 0, got {self.seconds}")
        if self.fallback not in FALLBACKS:
            raise ConfigError(f"fallback must be one of {', '.join(FALLBACKS)}, got "
                              f"{self.fallback!r}")
        if not 0.0 <= self.family_min_confidence <= 1.0:
            raise ConfigError("family_min_confidence must be in [0, 1], got "
                              f"{self.family_min_confidence}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"adaptation precision must be one of {', '.join(PRECISIONS)}, "
                              f"got {self.precision!r}")
        if self.steps is not None and self.steps < 1:
            raise ConfigError(f"adaptation steps must be >= 1, got {self.steps}")

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class AdaptResult:
    """What :func:`adapt_to_scan` returns.

    Attributes:
        net: the network to apply (the adapted copy, or the pretrained network itself
            when adaptation did not improve the held-out loss).
        record: JSON-ready record for the sidecar (adapted, steps, seconds, held-out
            L1 before/after, profile used and its estimate, acquisition, settings).
        warnings: things the user should know (low-confidence profile, ...).
    """

    net: Any
    record: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def scan_acquisition(volume: Volume) -> Acquisition:
    """The thick-slice geometry of ``volume``, refusing scans adaptation cannot use.

    Raises:
        InputError: an isotropic scan (nothing to learn from: no thick axis), two coarse
            axes, fewer than :data:`MIN_SLICES` slices, or in-plane axes under
            :data:`MIN_INPLANE` pixels.
    """
    try:
        acq = analyze_header(volume)
    except InputError as exc:
        raise InputError(f"--adapt needs a thick-slice scan (one voxel axis coarser than the "
                         f"other two): {exc}", path=exc.path) from None
    shape = volume.spatial_shape
    small = [f"{shape[a]} pixels along axis {a}" for a in acq.inplane_axes
             if shape[a] < MIN_INPLANE]
    if small:
        raise InputError(f"--adapt: the scan is too small for in-plane training pairs "
                         f"({', '.join(small)}; need at least {MIN_INPLANE})",
                         path=volume.meta.path)
    if shape[acq.axis] < MIN_SLICES:
        raise InputError(f"--adapt: the scan has {shape[acq.axis]} slice(s) along axis "
                         f"{acq.axis}; in-plane training pairs with a held-out slice need at "
                         f"least {MIN_SLICES}", path=volume.meta.path)
    return acq


def split_slices(n: int, every: int) -> tuple[np.ndarray, np.ndarray]:
    """``(train, heldout)`` slice indices: every ``every``-th slice (from the middle of the
    first group) is held out, at least one, and at least one is kept for training.

    >>> [a.tolist() for a in split_slices(12, 5)]
    [[0, 1, 3, 4, 5, 6, 8, 9, 10, 11], [2, 7]]
    """
    idx = np.arange(n)
    held = idx[idx % every == every // 2] if n >= every else np.array([n // 2])
    return np.setdiff1d(idx, held), held


def adapt_to_scan(volume: Volume, net: Any, normalization: Any,
                  settings: AdaptSettings | None = None, *, device: Any = "cpu"
                  ) -> AdaptResult:
    """Fine-tune a copy of ``net`` on ``volume``'s in-plane pairs (see the module docstring).

    Args:
        volume: the thick-slice scan ``(1, X, Y, Z)``.
        net: the pretrained ``any_factor`` 2D network (not modified).
        normalization: the intensity normalisation spec the network was trained with
            (as inference applies it).
        settings: the budget and guards (default :class:`AdaptSettings`).
        device: where to train.

    Raises:
        InputError: a scan adaptation cannot use (:func:`scan_acquisition`).
    """
    from volsr.config.ssr import SSRConfig
    from volsr.data.normalize import fit_normalization
    from volsr.ssr.pairs import _foreground

    s = settings or AdaptSettings()
    t0 = time.perf_counter()
    acq = scan_acquisition(volume)
    cfg = SSRConfig.preset("fast", profile=s.profile, profile_min_confidence=s.min_confidence,
                           profile_fallback=s.fallback)
    acq, prof, estimate = choose_profile(volume, acq, cfg)
    warnings = list(acq.warnings)
    for w in warnings:
        log.warning("%s", w)
    profiles = training_profiles(acq, prof, estimate, fallback=s.fallback,
                                 family_min_confidence=s.family_min_confidence)
    norm = fit_normalization(volume.data, normalization)
    hr = ((volume.data[0].astype(np.float32) - np.float32(norm.offset))
          / np.float32(norm.scale)).astype(np.float32)
    train_idx, held_idx = split_slices(hr.shape[acq.axis], s.heldout_every)
    mask = _foreground(hr)
    try:
        train = build_lr_sampler(hr, acq, profiles, slices=train_idx, patch=s.patch, mask=mask)
        held = build_lr_sampler(hr, acq, profiles, slices=held_idx, patch=s.patch, mask=mask)
    except ValueError as exc:
        raise InputError(f"--adapt: {exc}", path=volume.meta.path) from None
    hrng = np.random.default_rng(s.seed + 1)
    heldout = [held.sample(hrng, s.batch_size) for _ in range(s.heldout_batches)]
    t_prep = time.perf_counter() - t0
    log.info("adapting to the scan: slice axis %d, factor %.3g, %s profile %.3g mm, %d train "
             "/ %d held-out slices, %.0f s", acq.axis, acq.factor, prof.kind, prof.thickness,
             train_idx.size, held_idx.size, s.seconds)
    tuned = copy.deepcopy(net)
    dtype = training_dtype(s.precision, device)
    res = fine_tune(tuned, train, heldout, seconds=s.seconds, steps=s.steps, lr=s.lr,
                    l2sp=s.l2sp, batch_size=s.batch_size, seed=s.seed, device=device,
                    dtype=dtype)
    record = {
        **res.to_dict(),
        "prepare_seconds": round(t_prep, 3),
        "total_seconds": round(time.perf_counter() - t0, 3),
        "profile": {"used": prof.to_dict(), "estimate": estimate,
                    "trained_on": [p.to_dict() for p in profiles]},
        "acquisition": acq.to_dict(),
        "pairs": {"train_slices": int(train_idx.size), "heldout_slices": int(held_idx.size),
                  "heldout_patches": s.heldout_batches * s.batch_size,
                  "patch": [train.rows, train.cols], "context": train.context},
        "settings": s.to_dict(),
        "training_dtype": str(dtype or "torch.float32").removeprefix("torch."),
        "warnings": warnings,
    }
    if not res.adapted:
        msg = (f"adaptation did not lower the held-out loss ({res.heldout_before:.5f} before "
               "training); the pretrained model is used")
        log.warning("%s", msg)
        warnings.append(msg)
    return AdaptResult(net=tuned if res.adapted else net, record=record, warnings=warnings)
