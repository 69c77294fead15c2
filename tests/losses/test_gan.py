"""GAN building blocks: discriminators, adversarial losses, gradient penalty, VGG/HFEN losses,
the adversarial config section and the shipped GAN configs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from volsr.config import config_from_dict, config_to_dict, load_config
from volsr.errors import ConfigError
from volsr.losses import build_loss
from volsr.losses.adversarial import (
    AdversarialLoss,
    feature_matching_loss,
    gradient_penalty,
    interpolates,
)
from volsr.models.discriminators import DISCRIMINATORS, create_discriminator

REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- discriminators


@pytest.mark.parametrize("name", ["mdcsrn_critic", "srgan", "esrgan", "patch"])
@pytest.mark.parametrize("dims", [2, 3])
def test_discriminators_are_dims_generic_and_rebuild_from_config(name, dims):
    torch.manual_seed(0)
    d = create_discriminator(name, spatial_dims=dims, in_channels=2, features=2)
    size = 32 if dims == 2 or name == "esrgan" else 16
    x = torch.randn(3, 2, *([size] * dims))
    scores, feats = d(x, return_features=True)
    if name == "patch":
        assert scores.shape == (3, 1, *([size // 8] * dims))
    else:
        assert scores.shape == (3, 1)
    assert feats and all(f.shape[0] == 3 and f.ndim == dims + 2 for f in feats)
    again = create_discriminator(name, **d.config())
    again.load_state_dict(d.state_dict())
    d.eval()
    again.eval()
    torch.testing.assert_close(again(x), d(x))


def test_mdcsrn_critic_has_no_batch_norm_and_is_per_sample():
    d = create_discriminator("mdcsrn_critic", spatial_dims=3, features=2).eval()
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in d.modules())
    x = torch.randn(4, 1, 16, 16, 16)
    # a sample's score does not depend on the rest of the batch (needed by WGAN-GP)
    torch.testing.assert_close(d(x)[1:2], d(x[1:2]))
    assert any(isinstance(m, torch.nn.BatchNorm3d)
               for m in create_discriminator("srgan", spatial_dims=3).modules())


def test_discriminator_registry_errors():
    assert {"mdcsrn_critic", "srgan", "esrgan", "patch"} <= set(DISCRIMINATORS.names())
    with pytest.raises(ConfigError, match="Did you mean: srgan"):
        create_discriminator("srgn", spatial_dims=2)
    with pytest.raises(ConfigError, match="norm"):
        create_discriminator("patch", spatial_dims=2, norm="weird")
    with pytest.raises(ValueError, match=">= 32"):
        create_discriminator("esrgan", spatial_dims=2, features=2)(torch.zeros(1, 1, 16, 16))


# --------------------------------------------------------------------------- adversarial losses


def test_gradient_penalty_equals_hand_computed_value():
    # C(x) = 0.5 * sum(x^2) has gradient x: the penalty is mean (||x_hat|| - 1)^2
    real = torch.tensor([[3.0, 4.0], [0.0, 2.0]]).reshape(2, 1, 2, 1)
    fake = torch.tensor([[0.0, 0.0], [0.0, 0.0]]).reshape(2, 1, 2, 1)
    x_hat = interpolates(real, fake, alpha=torch.tensor([0.5, 0.25]))
    torch.testing.assert_close(x_hat.flatten(1), torch.tensor([[1.5, 2.0], [0.0, 0.5]]))

    def critic(x):
        return 0.5 * x.square().flatten(1).sum(1, keepdim=True)

    gp = gradient_penalty(critic, x_hat)
    # norms 2.5 and 0.5 -> ((1.5)^2 + (-0.5)^2) / 2
    assert float(gp.detach()) == pytest.approx((1.5 ** 2 + 0.5 ** 2) / 2)


def test_gradient_penalty_is_differentiable_in_the_critic_weights():
    w = torch.tensor([0.6, 0.0, 0.0, 1.2], requires_grad=True)  # ||w|| = sqrt(1.8)

    def critic(x):
        return (x.flatten(1) * w).sum(1, keepdim=True)

    x_hat = torch.randn(3, 1, 2, 2).requires_grad_(True)
    gp = gradient_penalty(critic, x_hat, critic(x_hat))
    n = math.sqrt(1.8)
    assert float(gp.detach()) == pytest.approx((n - 1) ** 2, rel=1e-6)
    gp.backward()
    torch.testing.assert_close(w.grad, 2 * (n - 1) * w.detach() / n)


def test_wgan_gp_sign_conventions():
    loss = AdversarialLoss("wgan_gp")
    real, fake = torch.tensor([[2.0], [4.0]]), torch.tensor([[-1.0], [1.0]])
    # critic loss = mean C(fake) - mean C(real): negative when real scores higher
    assert float(loss.discriminator(real, fake)) == pytest.approx(0.0 - 3.0)
    assert float(loss.generator(None, fake)) == pytest.approx(-0.0)
    assert float(loss.generator(None, fake + 1)) == pytest.approx(-1.0)
    # one critic step separates real from fake: the Wasserstein estimate grows
    torch.manual_seed(0)
    critic = create_discriminator("mdcsrn_critic", spatial_dims=2, features=2, hidden=4)
    opt = torch.optim.SGD(critic.parameters(), lr=1e-2)
    r = torch.rand(4, 1, 16, 16) + 1.0
    f = torch.rand(4, 1, 16, 16)
    with torch.no_grad():
        before = float(critic(r).mean() - critic(f).mean())
    d_loss = loss.discriminator(critic(r), critic(f))
    opt.zero_grad()
    d_loss.backward()
    opt.step()
    with torch.no_grad():
        assert float(critic(r).mean() - critic(f).mean()) > before
    # the generator gradient pushes fake scores up
    fake_img = f.clone().requires_grad_(True)
    loss.generator(None, critic(fake_img)).backward()
    step = -1e-2 * fake_img.grad
    with torch.no_grad():
        assert float(critic(f + step).mean()) > float(critic(f).mean())


def test_other_adversarial_losses_hand_values():
    real, fake = torch.tensor([[1.0], [3.0]]), torch.tensor([[0.0], [2.0]])

    def bce(z, t):
        return float(torch.nn.functional.binary_cross_entropy_with_logits(
            z, torch.full_like(z, t)))

    v = AdversarialLoss("vanilla")
    assert float(v.discriminator(real, fake)) == pytest.approx(bce(real, 1) + bce(fake, 0))
    assert float(v.generator(None, fake)) == pytest.approx(bce(fake, 1))
    ls = AdversarialLoss("lsgan")
    assert float(ls.discriminator(real, fake)) == pytest.approx(0.5 * ((0 + 4) / 2 + (0 + 4) / 2))
    assert float(ls.generator(None, fake)) == pytest.approx(0.5 * (1 + 1) / 2)
    ra = AdversarialLoss("relativistic")
    # C(real) - mean C(fake) = [0, 2]; C(fake) - mean C(real) = [-2, 0]
    d_ra = 0.5 * (bce(torch.tensor([[0.0], [2.0]]), 1) + bce(torch.tensor([[-2.0], [0.0]]), 0))
    assert float(ra.discriminator(real, fake)) == pytest.approx(d_ra)
    g_ra = 0.5 * (bce(torch.tensor([[0.0], [2.0]]), 0) + bce(torch.tensor([[-2.0], [0.0]]), 1))
    assert float(ra.generator(real, fake)) == pytest.approx(g_ra)
    with pytest.raises(ConfigError):
        AdversarialLoss("hinge")


def test_feature_matching_loss():
    a = [torch.ones(2, 3, 4), torch.zeros(2, 1)]
    b = [torch.zeros(2, 3, 4), torch.full((2, 1), 3.0)]
    assert float(feature_matching_loss(a, b)) == pytest.approx((1 + 3) / 2)
    assert float(feature_matching_loss(a, a)) == 0.0


# --------------------------------------------------------------------------- content losses


def _vgg_file(tmp_path, layout=(4, "M", 8, "M")):
    from volsr.losses.perceptual import VGGFeatures, save_vgg_weights

    torch.manual_seed(0)
    v = VGGFeatures(["relu2_1"], arch=list(layout), random_init=True)
    return save_vgg_weights(v, tmp_path / "vgg.safetensors"), v


def test_perceptual_loss_loads_weights_and_is_slice_wise_in_3d(tmp_path):
    path, vgg = _vgg_file(tmp_path)
    opts = {"weights": str(path), "arch": [4, "M", 8, "M"], "layers": ["relu2_1"]}
    loss = build_loss([{"name": "perceptual", **opts, "slice_axes": [2]}])
    torch.testing.assert_close(loss.terms[0][2].vgg.features[0].weight, vgg.features[0].weight)
    torch.manual_seed(1)
    p, t = torch.rand(2, 1, 8, 8, 5), torch.rand(2, 1, 8, 8, 5)
    total, parts = loss(p, t)
    # the same as the 2D loss on the stack of z slices
    loss2d = build_loss([{"name": "perceptual", **opts}])
    as2d = lambda v: v.permute(0, 4, 1, 2, 3).reshape(10, 1, 8, 8)  # noqa: E731
    ref, _ = loss2d(as2d(p), as2d(t))
    assert float(total) == pytest.approx(float(ref), rel=1e-5)
    assert float(loss(t, t)[0]) == 0.0 and float(total) > 0
    texture = build_loss([{"name": "texture", **opts, "layers": ["relu1_1", "relu2_1"]}])
    assert float(texture(p, t)[0]) > 0 and float(texture(t, t)[0]) == 0.0
    p.requires_grad_(True)
    loss(p, t)[0].backward()
    assert p.grad is not None and float(p.grad.abs().sum()) > 0


def test_perceptual_loss_never_downloads(tmp_path):
    with pytest.raises(ConfigError, match="downloads nothing"):
        build_loss([{"name": "perceptual", "network": "vgg"}])  # no file: the built-in is
    assert build_loss([{"name": "perceptual"}]).terms[0][2].network == "gradient_pyramid"
    with pytest.raises(ConfigError, match="not found"):
        build_loss([{"name": "perceptual", "weights": str(tmp_path / "none.safetensors")}])
    path, _ = _vgg_file(tmp_path)
    with pytest.raises(ConfigError, match="missing|shape"):  # file lacks the vgg19 layers
        build_loss([{"name": "perceptual", "weights": str(path)}])


def test_hfen_and_gradient_losses():
    torch.manual_seed(0)
    t = torch.rand(1, 1, 12, 12, 12)
    loss = build_loss([{"name": "hfen"}, {"name": "gradient"}])
    _, parts = loss(t + 5.0, t)  # both are blind to a constant offset
    assert float(parts["hfen"]) == pytest.approx(0.0, abs=1e-5)
    assert float(parts["gradient"]) == pytest.approx(0.0, abs=1e-6)
    blurred = torch.nn.functional.avg_pool3d(t, 3, stride=1, padding=1)
    _, parts = loss(blurred, t)
    assert float(parts["hfen"]) > 1e-3 and float(parts["gradient"]) > 1e-2
    _, parts2d = loss(blurred[..., 5], t[..., 5])
    assert float(parts2d["hfen"]) > 0


# --------------------------------------------------------------------------- config


def _base(**adv):
    d = {"name": "g", "model": {"name": "mdcsrn_3d"}, "data": {"manifest": "m.json"},
         "train": {"steps": 10}}
    if adv:
        d["adversarial"] = adv
    return d


def test_adversarial_section_is_strict_and_optional():
    plain = config_from_dict(_base())
    assert plain.adversarial is None and "adversarial" not in config_to_dict(plain)
    cfg = config_from_dict(_base(discriminator={"name": "srgan", "features": 8},
                                 loss="wgan_gp", n_critic=5, pretrain_steps=4))
    assert cfg.adversarial.n_critic == 5 and cfg.adversarial.discriminator.kwargs == {
        "features": 8}
    assert config_from_dict(config_to_dict(cfg)) == cfg
    with pytest.raises(ConfigError, match="did you mean 'adversarial.n_critic'"):
        config_from_dict(_base(n_critc=2))
    with pytest.raises(ConfigError, match="adversarial.loss"):
        config_from_dict(_base(loss="hinge"))
    with pytest.raises(ConfigError, match="pretrain_steps"):
        config_from_dict(_base(pretrain_steps=10))
    with pytest.raises(ConfigError, match="n_critic"):
        config_from_dict(_base(n_critic=0))


@pytest.mark.parametrize("name", ["mdcsrn_gan", "srgan_2d", "esrgan_2d"])
def test_shipped_gan_configs_load_and_build(name):
    from volsr.engine.build import build_network

    cfg = load_config(REPO / "configs" / f"{name}.yaml")
    adv = cfg.adversarial
    assert adv is not None and adv.pretrain_steps < cfg.train.steps
    net = build_network(cfg)
    dims = 3 if cfg.data.mode == "3d" else 2
    disc = create_discriminator(adv.discriminator.name, spatial_dims=dims,
                                in_channels=net.out_channels, **dict(adv.discriminator.kwargs))
    assert disc.spatial_dims == dims
    specs = list(adv.content_loss or cfg.train.loss)
    build_loss(specs)  # out of the box: no VGG file needed (built-in features)
    if any(s.name == "perceptual" for s in specs):  # a user's VGG file is still honoured
        over = [f"adversarial.content_loss.{i}.weights=/no/vgg19.safetensors"
                for i, s in enumerate(specs) if s.name == "perceptual"]
        cfg2 = load_config(REPO / "configs" / f"{name}.yaml", over)
        with pytest.raises(ConfigError, match="VGG weights file not found"):
            build_loss(list(cfg2.adversarial.content_loss))
