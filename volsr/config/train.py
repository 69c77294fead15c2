"""The optimisation sections: ``train`` (the supervised loop) and ``adversarial`` (GAN)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from volsr.config.typed import Section, Spec, WeightedSpec
from volsr.config.values import FieldError, check_at_least, check_positive, check_unit

__all__ = ["AdversarialConfig", "TrainConfig"]


@dataclass(frozen=True, kw_only=True)
class TrainConfig(Section):
    """Optimisation loop settings.

    Attributes:
        steps: Total optimisation steps.
        loss: Loss terms summed with their weights, e.g. ``[{name: l1}, {name: ssim,
            weight: 0.1}]``.
        optimizer: Optimizer spec; ``lr`` etc. are its kwargs.
        scheduler: Learning-rate scheduler spec (e.g. ``{name: cosine, warmup_steps:
            100}``) or null for a constant rate.
        grad_clip: Max global gradient norm, or null for no clipping.
        amp: Mixed precision (used on CUDA only; ignored on CPU).
        deterministic: Request deterministic kernels (slower).
        val_every: Validate every this many steps (0: never during training).
        checkpoint_every: Save a checkpoint every this many steps (0: only at the end).
        log_every: Log training metrics every this many steps.
        val_patch_size: Sliding-window size (3 entries) for validation; null uses
            ``infer.patch_size``.
        val_overlap: Sliding-window overlap fraction for validation, in [0, 1).
        ema: Decay of an exponential moving average of the weights, or null for none.
        init_from: Warm start: a bundled model name (e.g. ``thickslice_v1``) or an exported
            weights folder / training run folder whose network weights start this run
            (optimiser, schedule and EMA start afresh); the weights must be of the same
            network with the same arguments as ``model``. Null: random initialisation.
    """

    steps: int
    loss: tuple[WeightedSpec, ...] = (WeightedSpec("l1"),)
    optimizer: Spec = field(default_factory=lambda: Spec("adam", {"lr": 1e-4}))
    scheduler: Spec | None = None
    grad_clip: float | None = None
    amp: bool = True
    deterministic: bool = False
    val_every: int = 500
    checkpoint_every: int = 500
    log_every: int = 50
    val_patch_size: tuple[int, ...] | None = None
    val_overlap: float = 0.25
    ema: float | None = None
    init_from: str | None = None

    def _check(self) -> None:
        check_at_least("steps", self.steps, 1)
        if not self.loss:
            raise FieldError("loss", "needs at least one loss term")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise FieldError("grad_clip", f"must be > 0 or null, got {self.grad_clip}")
        check_at_least("val_every", self.val_every, 0)
        check_at_least("checkpoint_every", self.checkpoint_every, 0)
        check_at_least("log_every", self.log_every, 1)
        if self.val_patch_size is not None and len(self.val_patch_size) != 3:
            raise FieldError("val_patch_size", f"expected 3 entries, got "
                                               f"{list(self.val_patch_size)}")
        check_positive("val_patch_size", self.val_patch_size)
        check_unit("val_overlap", self.val_overlap, high_open=True)
        check_unit("ema", self.ema, low_open=True, high_open=True)
        if self.init_from is not None and not str(self.init_from).strip():
            raise FieldError("init_from", "must be a bundled model name or a weights folder")


@dataclass(frozen=True, kw_only=True)
class AdversarialConfig(Section):
    """GAN training of the generator (``model``) against a discriminator.

    Present only in adversarial configs (``adversarial:``); without it training is the
    supervised loop. Steps ``1..pretrain_steps`` minimise ``train.loss`` only (the
    PSNR-oriented pre-training); every later step first updates the discriminator
    ``n_critic`` times, then the generator once with ``content_loss`` (default
    ``train.loss``) + ``weight`` x adversarial loss + ``feature_matching`` x the
    discriminator-feature-matching loss. See ``docs/gan.md``.

    Attributes:
        discriminator: Discriminator registry spec, e.g. ``{name: mdcsrn_critic,
            features: 32}`` (``volsr.models.discriminators``); ``spatial_dims`` and
            ``in_channels`` come from ``data.mode`` and ``model.in_channels``.
        loss: Adversarial objective: ``vanilla`` (BCE, non-saturating generator loss),
            ``lsgan``, ``wgan_gp`` (Wasserstein critic with gradient penalty) or
            ``relativistic`` (relativistic average BCE, as in ESRGAN).
        weight: Weight of the adversarial term in the generator loss (> 0).
        gp_weight: Gradient-penalty weight (``wgan_gp`` only; lambda = 10 in the paper).
        feature_matching: Weight of the discriminator-feature-matching term (0: off).
        content_loss: Generator loss terms of the adversarial phase (e.g. perceptual
            loss); null: ``train.loss``.
        n_critic: Discriminator updates per generator update in the adversarial phase.
        pretrain_steps: Generator-only steps before the adversarial phase (0: none);
            must be below ``train.steps``.
        optimizer: The discriminator's optimizer spec.
        scheduler: The discriminator's learning-rate schedule (its clock counts
            discriminator updates; the horizon is ``n_critic`` x the adversarial steps),
            or null for a constant rate.
        grad_clip: Max gradient norm of the discriminator, or null.
        export: Which generator weights ``model/`` holds after an adversarial phase:
            ``latest`` (the end of training) or ``best`` (best validation PSNR, which
            tends to pick the least adversarial weights).
    """

    discriminator: Spec = field(default_factory=lambda: Spec("patch"))
    loss: Literal["vanilla", "lsgan", "wgan_gp", "relativistic"] = "vanilla"
    weight: float = 1e-3
    gp_weight: float = 10.0
    feature_matching: float = 0.0
    content_loss: tuple[WeightedSpec, ...] | None = None
    n_critic: int = 1
    pretrain_steps: int = 0
    optimizer: Spec = field(
        default_factory=lambda: Spec("adam", {"lr": 1e-4, "betas": [0.5, 0.999]}))
    scheduler: Spec | None = None
    grad_clip: float | None = None
    export: Literal["latest", "best"] = "latest"

    def _check(self) -> None:
        if self.weight <= 0:
            raise FieldError("weight", f"must be > 0, got {self.weight}")
        if self.gp_weight < 0:
            raise FieldError("gp_weight", f"must be >= 0, got {self.gp_weight}")
        if self.feature_matching < 0:
            raise FieldError("feature_matching", f"must be >= 0, got {self.feature_matching}")
        if self.content_loss is not None and not self.content_loss:
            raise FieldError("content_loss", "needs at least one loss term, or null")
        check_at_least("n_critic", self.n_critic, 1)
        check_at_least("pretrain_steps", self.pretrain_steps, 0)
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise FieldError("grad_clip", f"must be > 0 or null, got {self.grad_clip}")
