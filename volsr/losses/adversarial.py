"""Adversarial objectives, the WGAN-GP gradient penalty and discriminator feature matching.

Scores are raw discriminator outputs (logits / critic values), ``(B, 1)`` or patch maps
``(B, 1, *S')``; every mean runs over all their entries.

* ``vanilla``: Goodfellow et al., "Generative adversarial nets", NeurIPS 2014, with
  the non-saturating generator loss. ``L_D = BCE(D(x_r), 1) + BCE(D(x_f), 0)``,
  ``L_G = BCE(D(x_f), 1)`` (binary cross-entropy on logits).
* ``lsgan``: Mao et al., "Least squares generative adversarial networks", ICCV 2017.
  ``L_D = (mean (D(x_r) - 1)^2 + mean D(x_f)^2) / 2``, ``L_G = mean (D(x_f) - 1)^2 / 2``.
* ``wgan_gp``: Arjovsky et al., "Wasserstein GAN", ICML 2017; Gulrajani et al.,
  "Improved training of Wasserstein GANs", NeurIPS 2017.
  ``L_D = mean C(x_f) - mean C(x_r) + lambda * GP``, ``L_G = -mean C(x_f)``; the critic
  estimates the Wasserstein distance as ``mean C(x_r) - mean C(x_f)`` (= ``-L_D``
  without the penalty), so real data should score high.
* ``relativistic``: Jolicoeur-Martineau, "The relativistic discriminator", ICLR 2019,
  in the average form used by ESRGAN (Wang et al., 2018):
  ``D_Ra(a, b) = C(a) - mean C(b)``;
  ``L_D = (BCE(D_Ra(x_r, x_f), 1) + BCE(D_Ra(x_f, x_r), 0)) / 2``,
  ``L_G = (BCE(D_Ra(x_r, x_f), 0) + BCE(D_Ra(x_f, x_r), 1)) / 2`` (the generator also
  gets gradients through the real term).

Gradient penalty: ``GP = mean_i (||grad_x C(x_hat_i)||_2 - 1)^2`` on interpolates
``x_hat_i = alpha_i x_r,i + (1 - alpha_i) x_f,i`` with ``alpha_i ~ U[0, 1]`` per sample.

Feature matching: ``mean_l mean |f_l(x_r) - f_l(x_f)|`` over the discriminator's block
activations (Salimans et al., "Improved techniques for training GANs", NeurIPS 2016;
the L1 form of Wang et al., pix2pixHD, CVPR 2018); needs no pretrained network.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from volsr.errors import ConfigError

ADVERSARIAL_LOSSES = ("vanilla", "lsgan", "wgan_gp", "relativistic")


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


class AdversarialLoss:
    """One of :data:`ADVERSARIAL_LOSSES`: discriminator and generator objectives.

    Args:
        kind: ``vanilla``, ``lsgan``, ``wgan_gp`` or ``relativistic``.

    Example:
        >>> import torch
        >>> loss = AdversarialLoss("wgan_gp")
        >>> float(loss.discriminator(torch.tensor([[3.0]]), torch.tensor([[1.0]])))
        -2.0
    """

    def __init__(self, kind: str) -> None:
        if kind not in ADVERSARIAL_LOSSES:
            raise ConfigError(f"adversarial loss must be one of {ADVERSARIAL_LOSSES}, got "
                              f"{kind!r}")
        self.kind = kind

    @property
    def needs_real_for_generator(self) -> bool:
        """True when the generator loss looks at real scores (relativistic)."""
        return self.kind == "relativistic"

    def discriminator(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """Discriminator loss (to minimise) from scores of real and generated images
        (without the gradient penalty)."""
        if self.kind == "vanilla":
            return _bce(real, 1.0) + _bce(fake, 0.0)
        if self.kind == "lsgan":
            return 0.5 * ((real - 1.0).square().mean() + fake.square().mean())
        if self.kind == "wgan_gp":
            return fake.mean() - real.mean()
        return 0.5 * (_bce(real - fake.mean(), 1.0) + _bce(fake - real.mean(), 0.0))

    def generator(self, real: torch.Tensor | None, fake: torch.Tensor) -> torch.Tensor:
        """Generator loss from the scores of generated images (and real ones for
        ``relativistic``; their gradient w.r.t. the generator is used when present)."""
        if self.kind == "vanilla":
            return _bce(fake, 1.0)
        if self.kind == "lsgan":
            return 0.5 * (fake - 1.0).square().mean()
        if self.kind == "wgan_gp":
            return -fake.mean()
        if real is None:
            raise ValueError("the relativistic generator loss needs the real scores")
        return 0.5 * (_bce(real - fake.mean(), 0.0) + _bce(fake - real.mean(), 1.0))


def interpolates(real: torch.Tensor, fake: torch.Tensor,
                 alpha: torch.Tensor | None = None) -> torch.Tensor:
    """``alpha * real + (1 - alpha) * fake`` with one ``alpha ~ U[0, 1]`` per sample
    (drawn from torch's global generator unless given, shape ``(B,)``)."""
    if real.shape != fake.shape:
        raise ValueError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} differ")
    if alpha is None:
        alpha = torch.rand(real.shape[0], device=real.device, dtype=real.dtype)
    a = alpha.to(real).reshape(-1, *([1] * (real.ndim - 1)))
    return a * real.detach() + (1.0 - a) * fake.detach()


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], x_hat: torch.Tensor,
                     scores: torch.Tensor | None = None, *, target: float = 1.0) -> torch.Tensor:
    """WGAN-GP penalty ``mean_i (||grad C(x_hat_i)||_2 - target)^2``, differentiable
    w.r.t. the critic's parameters (``create_graph=True``).

    Args:
        critic: The critic (called on ``x_hat`` unless ``scores`` is given).
        x_hat: Interpolates ``(B, C, *S)`` (see :func:`interpolates`); gradients are
            taken w.r.t. this tensor, which must require grad when ``scores`` is given.
        scores: ``critic(x_hat)`` if already computed (e.g. in one batched forward).
        target: The norm the gradient is pulled to (1).

    Returns:
        A scalar tensor.
    """
    if scores is None:
        x_hat = x_hat.detach().requires_grad_(True)
        scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norms = grad.flatten(1).norm(2, dim=1)
    return (norms - target).square().mean()


def feature_matching_loss(real: Sequence[torch.Tensor],
                          fake: Sequence[torch.Tensor]) -> torch.Tensor:
    """Mean over layers of the mean absolute difference of discriminator activations
    (real activations are treated as constants)."""
    if len(real) != len(fake) or not real:
        raise ValueError("feature matching needs the same, non-zero number of layers")
    terms = [(f - r.detach()).abs().mean() for r, f in zip(real, fake)]
    return torch.stack(terms).mean()


__all__ = ["ADVERSARIAL_LOSSES", "AdversarialLoss", "feature_matching_loss",
           "gradient_penalty", "interpolates"]
