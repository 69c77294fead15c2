"""Adversarial training (GAN) of any generator: mDCSRN-GAN, SRGAN, ESRGAN style.

:class:`AdversarialTrainer` extends the supervised :class:`~volsr.engine.trainer.Trainer`
and is chosen by :func:`volsr.engine.train` when the config has an ``adversarial:``
section (:class:`volsr.config.schema.AdversarialConfig`):

1. **Pre-training** (steps ``1..pretrain_steps``, optional): the supervised step,
   ``train.loss`` only; the discriminator is not touched.
2. **Adversarial phase** (the remaining steps). Each step takes one batch and

   * runs the generator once, ``x_f = G(x_lr)``;
   * updates the discriminator ``n_critic`` times on ``(x_r = x_hr, x_f)`` (generator
     output detached; the same batch each time, with a fresh interpolation draw for the
     gradient penalty): ``L_D`` of :class:`~volsr.losses.adversarial.AdversarialLoss`
     (+ ``gp_weight * GP`` for ``wgan_gp``), with its own optimizer, schedule and
     gradient clipping;
   * updates the generator once with ``content_loss`` (default ``train.loss``)
     ``+ weight * L_G + feature_matching * L_FM``; the discriminator's weights are
     frozen for this pass.

Real and generated (and, for WGAN-GP, interpolated) images go through the
discriminator in one batched forward, so under DDP each network sees exactly one
forward per backward; the generator pass calls the discriminator module directly
(it is not updated there, so nothing needs synchronising). Both networks are wrapped
in ``DistributedDataParallel`` when launched with ``torchrun``.

Checkpoints add the discriminator, its optimizer and schedule; ``--resume`` restores
them with everything else, so a resumed run takes the same steps as an uninterrupted
one. A supervised run's checkpoint at a step ``<= pretrain_steps`` can be resumed with
the adversarial config (the discriminator then starts from its initialisation), which
turns an L1-trained run into the pre-training phase of a GAN run. ``metrics.jsonl`` train events carry the generator terms (``loss``, the content
terms, ``g_adv``, ``fm``) and the discriminator's (``d_loss``, ``d_real``, ``d_fake``,
``gp``), ``lr_d`` and ``adv_phase`` (0 in pre-training, 1 after). ``model/`` holds the
generator only (``volsr infer`` never needs the discriminator).

The discriminator runs in float32 (AMP, when on, covers the generator's forward only).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from volsr.engine import distributed as ddp
from volsr.engine.optim import build_optimizer, build_scheduler
from volsr.engine.trainer import Trainer
from volsr.engine.validation import export_weights
from volsr.errors import ConfigError, VolsrError
from volsr.losses import build_loss
from volsr.losses.adversarial import (
    AdversarialLoss,
    feature_matching_loss,
    gradient_penalty,
    interpolates,
)

log = logging.getLogger(__name__)


class AdversarialTrainer(Trainer):
    """The training loop with a discriminator; see the module docs for the schedule.

    Arguments as :class:`~volsr.engine.trainer.Trainer`; ``cfg.adversarial`` must be set.
    """

    def __init__(self, cfg: Any, **kwargs: Any) -> None:
        if cfg.adversarial is None:
            raise ConfigError("AdversarialTrainer needs an 'adversarial:' config section")
        super().__init__(cfg, **kwargs)
        self.dnet: torch.nn.Module = self.disc
        if self.info.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.dnet = torch.nn.parallel.DistributedDataParallel(self.disc, device_ids=ids)

    # -- construction and state ---------------------------------------------------------

    def _build_extra(self) -> None:
        from volsr.models.discriminators import create_discriminator

        cfg = self.cfg
        adv = cfg.adversarial
        self.adv = adv
        spec = adv.discriminator
        clash = sorted({"spatial_dims", "in_channels"} & set(spec.kwargs))
        if clash:
            raise ConfigError(f"adversarial.discriminator: {', '.join(clash)} follow from "
                              "data.mode and the generator; do not set them")
        dims = 3 if cfg.data.mode == "3d" else 2
        channels = int(getattr(self.model, "out_channels", cfg.model.in_channels))
        self.disc = create_discriminator(spec.name, spatial_dims=dims, in_channels=channels,
                                         **dict(spec.kwargs)).to(self.device)
        self.adv_loss = AdversarialLoss(adv.loss)
        self.content_loss = (build_loss(adv.content_loss).to(self.device)
                             if adv.content_loss else self.loss_fn)
        try:
            self.d_optimizer = build_optimizer(adv.optimizer, self.disc.parameters())
        except ConfigError as exc:
            raise ConfigError(f"adversarial.optimizer: {exc}") from None
        adv_steps = max(1, cfg.train.steps - adv.pretrain_steps)
        self.d_scheduler = build_scheduler(adv.scheduler, self.d_optimizer,
                                           total_steps=adv_steps * adv.n_critic)

    def state(self) -> dict[str, Any]:
        """The supervised checkpoint plus the discriminator, its optimizer and schedule."""
        out = super().state()
        out.update({
            "discriminator_name": self.adv.discriminator.name,
            "discriminator_kwargs": self.disc.config(),
            "discriminator": self.disc.state_dict(),
            "d_optimizer": self.d_optimizer.state_dict(),
            "d_scheduler": self.d_scheduler.state_dict(),
        })
        return out

    def _restore_extra(self, state: Mapping[str, Any]) -> None:
        if state.get("discriminator") is None:
            # a supervised run's checkpoint: fine while still in (or at the end of) the
            # pre-training phase; the discriminator then starts from its initialisation
            if int(state["step"]) <= self.adv.pretrain_steps:
                log.info("the checkpoint (step %d) has no discriminator; it starts fresh "
                         "for the adversarial phase", int(state["step"]))
                return
            raise VolsrError("cannot resume adversarial training: the checkpoint has no "
                             "discriminator and is past adversarial.pretrain_steps",
                             path=self.run.latest)
        if state.get("discriminator_name") != self.adv.discriminator.name:
            raise ConfigError(f"cannot resume: the checkpoint's discriminator is "
                              f"{state.get('discriminator_name')!r}, the config's "
                              f"{self.adv.discriminator.name!r}", path=self.run.latest)
        self.disc.load_state_dict(state["discriminator"])
        self.d_optimizer.load_state_dict(state["d_optimizer"])
        self.d_scheduler.load_state_dict(state["d_scheduler"])

    # -- the step -------------------------------------------------------------------------

    def _step(self, batch: dict[str, Any], step: int) -> tuple[float, dict[str, float]]:
        if step <= self.adv.pretrain_steps:
            total, parts = super()._step(batch, step)
            parts["adv_phase"] = 0.0
            return total, parts
        x = batch["lr"].to(self.device, non_blocking=True)
        real = batch["hr"].to(self.device, non_blocking=True).float()
        self.net.train()
        self.disc.train()
        with torch.autocast(device_type=self.device.type, dtype=torch.float16,
                            enabled=self.use_amp):
            fake = self.forward(x, batch)
        fake = fake.float()

        sums: dict[str, float] = {}
        for _ in range(self.adv.n_critic):
            for k, v in self._discriminator_update(real, fake.detach(), step).items():
                sums[k] = sums.get(k, 0.0) + v
        d_parts = {k: v / self.adv.n_critic for k, v in sums.items()}

        loss, g_parts = self._generator_loss(real, fake)
        total = ddp.all_mean(loss.detach())
        if not bool(torch.isfinite(total)):
            self._diverged("generator loss", step, float(total))
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.cfg.train.grad_clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.train.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update(self.model, step - 1)
        parts = {k: float(ddp.all_mean(v)) for k, v in g_parts.items()}
        parts.update(d_parts)
        parts["lr_d"] = float(self.d_optimizer.param_groups[0]["lr"])
        parts["adv_phase"] = 1.0
        return float(total), parts

    def _discriminator_update(self, real: torch.Tensor, fake: torch.Tensor,
                              step: int) -> dict[str, float]:
        """One optimizer step of the discriminator; returns its (rank-averaged) terms."""
        adv, b = self.adv, real.shape[0]
        use_gp = adv.loss == "wgan_gp" and adv.gp_weight > 0
        inputs = [real, fake]
        x_hat: torch.Tensor | None = None
        if use_gp:
            x_hat = interpolates(real, fake).requires_grad_(True)
            inputs.append(x_hat)
        scores = self.dnet(torch.cat(inputs))
        s_real, s_fake = scores[:b], scores[b:2 * b]
        loss = self.adv_loss.discriminator(s_real, s_fake)
        out = {"d_loss": loss.detach(), "d_real": s_real.detach().mean(),
               "d_fake": s_fake.detach().mean()}
        if use_gp:
            assert x_hat is not None
            gp = gradient_penalty(self.dnet, x_hat, scores[2 * b:])
            loss = loss + adv.gp_weight * gp
            out["gp"] = gp.detach()
            out["d_loss"] = loss.detach()
        mean = ddp.all_mean(loss.detach())
        if not bool(torch.isfinite(mean)):
            self._diverged("discriminator loss", step, float(mean))
        self.d_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if adv.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.disc.parameters(), adv.grad_clip)
        self.d_optimizer.step()
        self.d_scheduler.step()
        return {k: float(ddp.all_mean(v)) for k, v in out.items()}

    def _generator_loss(self, real: torch.Tensor,
                        fake: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Content + weighted adversarial (+ feature matching) loss of the generator."""
        adv, b = self.adv, real.shape[0]
        content, parts = self.content_loss(fake, real)
        need_real = self.adv_loss.needs_real_for_generator or adv.feature_matching > 0
        for p in self.disc.parameters():
            p.requires_grad_(False)
        try:
            if need_real:
                scores, feats = self.disc(torch.cat([real, fake]), return_features=True)
                s_real, s_fake = scores[:b], scores[b:]
            else:
                s_fake, feats = self.disc(fake, return_features=True)
                s_real = None
            g_adv = self.adv_loss.generator(s_real, s_fake)
            loss = content + adv.weight * g_adv
            parts = {**parts, "g_adv": g_adv.detach()}
            if adv.feature_matching > 0:
                fm = feature_matching_loss([f[:b] for f in feats], [f[b:] for f in feats])
                loss = loss + adv.feature_matching * fm
                parts["fm"] = fm.detach()
        finally:
            for p in self.disc.parameters():
                p.requires_grad_(True)
        return loss, parts

    def _finish(self, tb: Any) -> Path | None:
        # every rank must hold the same discriminator: record the digests (rank 0 writes)
        digests = ddp.gather_objects(ddp.parameter_digest(self.disc))
        if len(set(digests)) > 1:
            log.error("the ranks ended with different discriminators (digests %s)", digests)
        self.metrics.write({"event": "discriminator", "step": self.step,
                            "rank_digests": digests})
        return super()._finish(tb)

    # -- export ---------------------------------------------------------------------------

    def export(self) -> Path:
        """Write ``model/`` (generator only): the latest weights after an adversarial phase
        unless ``adversarial.export: best``; otherwise as the supervised trainer."""
        adversarial_ran = self.step > self.adv.pretrain_steps
        if not adversarial_ran or self.adv.export == "best":
            return super().export()
        net = copy.deepcopy(self.ema.model if self.ema is not None else self.model).cpu().eval()
        folder = export_weights(net, self.run.model, self.cfg, training={
            "steps": self.step, "data": str(self.manifest),
            "weights": f"latest (step {self.step}, adversarial)",
            "best_psnr": None if self.best_step is None else self.best_psnr,
            "ema": self.cfg.train.ema, "adversarial": self.adv.to_dict()})
        log.info("model/ holds the generator's latest weights (step %d)", self.step)
        return folder


__all__ = ["AdversarialTrainer"]
