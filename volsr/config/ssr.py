"""The self-super-resolution section (``volsr ssr``) and its budgets, which are presets of it.

:class:`SSRConfig` is a typed :class:`~volsr.config.typed.Section` like the experiment
sections: strict keys, coercion and range checks with one clear
:class:`~volsr.errors.ConfigError`. A budget is a named preset: the field values that
differ from the defaults (which are the ``default`` budget); :meth:`SSRConfig.preset`
applies one and then explicit settings (``--steps`` / ``--time-limit`` override the
length).

Budgets (``steps`` are the SSR network's; the SAA network trains ``saa_share`` times as
many, and gets that share of any time limit; time SAA leaves unused goes to SSR):

============  =====  =========  =====  =====  ========  ==========  ============
budget        steps  saa_share  batch  patch  features  num_blocks  orientations
============  =====  =========  =====  =====  ========  ==========  ============
``fast``        900        1/3     16     40        24           6             2
``default``    1500        1/2     16     40        24           6             2
``thorough``   6000          1     32     48        64          16             4
============  =====  =========  =====  =====  ========  ==========  ============

Why SAA gets fewer steps: with the usual Gaussian profile (FWHM = slice spacing) there is
little aliasing to remove, and SAA's loss settles far sooner than SSR's; steps spent on
SSR buy more (``benchmarks/ssr.py``, numbers in ``docs/ssr.md``).

``fast`` also caps all training at ``max_seconds`` (420 s in total), so that a
~200x200x45 scan finishes in under 10 minutes on two CPU cores including inference;
the cap only matters on slow or busy machines (the run is then no longer
bit-reproducible, and the report says the cap stopped it). ``default`` takes tens of
minutes on a CPU and a few on a GPU; ``thorough`` is meant for a GPU.

Example:
    >>> cfg = SSRConfig.preset("fast", steps=30)
    >>> cfg.steps, cfg.saa_share, cfg.max_seconds, cfg.features
    (30, 0.3333333333333333, 420.0, 24)
    >>> SSRConfig.preset("thorough").num_blocks
    16
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from volsr.config.typed import Section, Spec
from volsr.config.values import FieldError, check_at_least, check_unit
from volsr.errors import ConfigError

__all__ = ["DEFAULT_SSR_MODEL", "SSR_BUDGETS", "SSRConfig"]

DEFAULT_SSR_MODEL = "edsr_baseline_2d"

SSR_BUDGETS: dict[str, dict[str, Any]] = {
    "fast": {"steps": 900, "saa_share": 1 / 3, "max_seconds": 420.0},
    "default": {},
    "thorough": {"steps": 6000, "saa_share": 1.0, "batch_size": 32, "patch_size": 48,
                 "features": 64, "num_blocks": 16, "orientations": 4, "lr": 5e-4},
}


@dataclass(frozen=True, kw_only=True)
class SSRConfig(Section):
    """Resolved self-super-resolution settings (what the sidecar records).

    Attributes:
        budget: name of the preset the settings started from.
        steps: training steps of the SSR network (None: until ``time_limit``).
        time_limit: seconds for all training (split between the networks in proportion
            to their steps).
        max_seconds: the budget's safety cap on all training, in seconds (None: none).
        batch_size, patch_size, lr: optimisation settings (Adam, L1 loss, cosine decay).
        model: registry name of both 2D networks; ``model_kwargs``: further constructor
            kwargs (they win over ``features``/``num_blocks``).
        features, num_blocks: feature channels and block count of the networks, passed as
            the constructor arguments of those names when the network has them (None:
            the network's default).
        saa: train and apply the anti-aliasing network.
        saa_share: SAA's training steps (and share of the time) relative to SSR's.
        cascade: with SAA, train the SSR network on the trained SAA network's output for
            the aliased inputs (what it meets when applied) instead of on alias-free
            profile-blurred inputs (``False``, the textbook pairing).
        orientations: 2 (the two through-plane slice stacks) or 4 (each also flipped).
        fusion: ``fba`` or ``average``; ``fba_p``: FBA exponent.
        angles: in-plane rotation angles (degrees) of the training slices; 0 keeps them
            exact (the 90 degree rotation is always in: both in-plane axes are degraded).
        random_angles: this many further angles drawn uniformly in (0, 90) from the seed
            (each adds a resampled copy of the slices; cubic B-spline).
        fg_fraction: share of patches centred on the foreground.
        identity_init: zero the networks' last convolution, so that each starts as the
            identity on its B-spline-interpolated input.
        normalization: intensity normalisation spec.
        seed: seed of weights initialisation and patch sampling.
        profile: slice-profile shape: ``auto`` (estimated from the scan by
            :func:`volsr.ssr.profile_estimate.estimate_profile`), ``gaussian`` (FWHM =
            thickness), ``rect`` or ``custom``.
        profile_min_confidence: with ``auto``, an estimate less confident than this is
            not used: the Gaussian profile with the header's thickness is (with a warning).
        profile_fallback: with ``auto``, what trains when the estimate is set aside:
            ``gaussian`` (that profile alone) or ``mixed`` (pairs of the Gaussian and of
            the rect profile of the header's thickness, half of each batch each; see
            :func:`volsr.ssr.profile_choice.training_profiles`). Default ``mixed``: on
            a rect scan (x4, fast budget, 128 crop) whose estimate was set aside, the
            Gaussian alone scored 0.41 dB below the true profile, mixed 0.03 dB.
        profile_family_min_confidence: with ``auto``, an estimate in use whose
            ``family_confidence`` is below this also trains on the other family (its
            width from the estimate), half of each batch each; 0: never. Default 0.1:
            the wrong-family estimates measured had 0.03 and 0.094; mixed gained 0.08
            and 0.015 dB over the estimate alone there.
        precision: arithmetic of the training steps: ``auto`` (the default: bfloat16
            where the device computes it natively, see
            :func:`volsr.ssr.fit.training_dtype`), ``bf16`` (bfloat16 autocast,
            channels-last; weights stay float32) or ``fp32``. On the 2-core test CPU,
            ``fast`` trained 2.7-2.9x faster in bf16, and the PSNR of four 128-crop
            cases moved by -0.07 to +0.07 dB (mean -0.002), inside float32's own
            seed-to-seed spread (0.09 dB over three seeds); see docs/ssr.md. Runs
            published before this default (float32) reproduce with ``fp32``.
    """

    budget: Literal["fast", "default", "thorough"] = "default"
    steps: int | None = 1500
    time_limit: float | None = None
    max_seconds: float | None = None
    batch_size: int = 16
    patch_size: int = 40
    lr: float = 1e-3
    model: str = DEFAULT_SSR_MODEL
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)
    features: int | None = 24
    num_blocks: int | None = 6
    saa: bool = True
    saa_share: float = 0.5
    cascade: bool = True
    orientations: Literal[2, 4] = 2
    fusion: Literal["fba", "average"] = "fba"
    fba_p: float = 11.0
    angles: tuple[float, ...] = (0.0,)
    random_angles: int = 0
    fg_fraction: float = 0.8
    identity_init: bool = True
    normalization: Spec = field(
        default_factory=lambda: Spec("percentile", {"lower": 0.5, "upper": 99.5}))
    seed: int = 0
    profile: Literal["auto", "gaussian", "rect", "custom"] = "auto"
    profile_min_confidence: float = 0.05
    profile_fallback: Literal["gaussian", "mixed"] = "mixed"
    profile_family_min_confidence: float = 0.1
    precision: Literal["auto", "bf16", "fp32"] = "auto"

    def _check(self) -> None:
        if self.steps is not None:
            check_at_least("steps", self.steps, 1)
        if self.time_limit is not None and not self.time_limit > 0:
            raise FieldError("time_limit", f"must be > 0 seconds, got {self.time_limit}")
        if self.steps is None and self.time_limit is None:
            raise FieldError("steps", "give steps or time_limit (or a budget)")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise FieldError("max_seconds", f"must be > 0 or null, got {self.max_seconds}")
        check_at_least("batch_size", self.batch_size, 1)
        check_at_least("patch_size", self.patch_size, 1)
        if not self.lr > 0:
            raise FieldError("lr", f"learning rate must be > 0, got {self.lr}")
        if not self.model.strip():
            raise FieldError("model", "model name is empty")
        for name in ("features", "num_blocks"):
            if getattr(self, name) is not None:
                check_at_least(name, getattr(self, name), 1)
        if not 0 < self.saa_share <= 4:
            raise FieldError("saa_share", f"must be in (0, 4], got {self.saa_share}")
        check_at_least("random_angles", self.random_angles, 0)
        check_unit("fg_fraction", self.fg_fraction)
        check_unit("profile_min_confidence", self.profile_min_confidence)
        check_unit("profile_family_min_confidence", self.profile_family_min_confidence)
        if not 0 <= self.seed < 2**32:
            raise FieldError("seed", f"must be in [0, 2**32), got {self.seed}")

    @classmethod
    def preset(cls, budget: str = "default", **settings: Any) -> SSRConfig:
        """The ``budget`` preset with explicit ``settings`` on top (None = the preset's).

        An explicit ``time_limit`` without ``steps`` makes the run time-bound
        (``steps=None``).

        Raises:
            ConfigError: unknown budget or setting (with a "did you mean" hint), bad values.
        """
        if budget not in SSR_BUDGETS:
            raise ConfigError(f"budget must be one of {', '.join(SSR_BUDGETS)}, got {budget!r}")
        given = {k: v for k, v in settings.items() if v is not None}
        values: dict[str, Any] = {**SSR_BUDGETS[budget], "budget": budget}
        if "time_limit" in given and "steps" not in given:
            values["steps"] = None  # an explicit time limit alone decides the length
        values.update(given)
        return cls.from_dict(values)
