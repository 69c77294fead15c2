"""Tests of the 2D/3D zoo, part B: EDSR, SRResNet, SRDenseNet, RDN, RRDBNet, FMEN, U-Net.

Paper-specific checks only; forward, backward, shapes per scale, determinism and rebuild
run for every registered network in test_models.py.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from volsr.errors import ConfigError
from volsr.models import create_model, list_models, model_entry
from volsr.models.networks._upsample import NearestUp, Upsampler, upsample_stages
from volsr.models.networks.fmen import FMEN, HFAB, RRRB

FAMILIES = ("edsr", "srresnet", "srdensenet", "rdn", "rrdbnet", "fmen", "unet_park")
EXPECTED = {
    f"{n}_{d}d"
    for n in ("edsr", "edsr_baseline", "srresnet", "srdensenet", "rdn", "rrdbnet", "fmen",
              "unet_park")
    for d in (2, 3)
}
NAMES = sorted(n for n in list_models() if model_entry(n).info["family"] in FAMILIES)
NAMES_2D = [n for n in NAMES if n.endswith("_2d")]
NAMES_3D = [n for n in NAMES if n.endswith("_3d")]


pytestmark = pytest.mark.usefixtures("one_thread")


def _family(name: str) -> str:
    return model_entry(name).info["family"]


def _dims(name: str) -> int:
    return int(model_entry(name).info["dims"])


def _small(name: str, seed: int = 0, **kwargs) -> nn.Module:
    """The reduced variant declared with the registration (``test_kwargs``)."""
    torch.manual_seed(seed)
    return create_model(name, **{**model_entry(name).info["test_kwargs"], **kwargs})


def _post(name: str) -> bool:
    return model_entry(name).info["upsampling"] == "post"


def test_expected_names_are_registered() -> None:
    assert set(NAMES) == EXPECTED
    for name in NAMES:
        info = model_entry(name).info
        assert info["dims"] == int(name[-2])
        assert info["paper"]
        assert info["upsampling"] == ("pre" if name.startswith("unet") else "post")


# -- shapes, gradients, determinism, rebuild -----------------------------------------


def test_post_networks_reject_non_integer_scale() -> None:
    for name in ("edsr_2d", "rrdbnet_3d", "fmen_2d", "srdensenet_2d", "rdn_2d", "srresnet_2d"):
        with pytest.raises(ConfigError, match="integer"):
            _small(name, scale=2.5)
    assert _small("unet_park_3d", scale=[1, 1, 2.5]).scale == (1.0, 1.0, 2.5)  # "pre": metadata
    with pytest.raises(ValueError, match="pre"):
        _small("edsr_2d", residual=True)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [("fmen_2d", {"attention_erbs": [1, 1]}), ("edsr_2d", {"res_scale": 0}),
     ("srdensenet_2d", {"upsampler": "nearest"}), ("unet_park_2d", {"up_mode": "bilinear"}),
     ("rrdbnet_2d", {"negative_slope": 1.5}), ("srresnet_2d", {"norm": "group"})],
)
def test_bad_options_raise(name: str, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        _small(name, **kwargs)


# -- the shared up-sampler ------------------------------------------------------------


def test_upsample_stages_decompose_like_edsr() -> None:
    assert upsample_stages((2, 2)) == [(2, 2)]
    assert upsample_stages((3, 3)) == [(3, 3)]
    assert upsample_stages((4, 4)) == [(2, 2), (2, 2)]
    assert upsample_stages((1, 1, 4)) == [(1, 1, 2), (1, 1, 2)]
    assert upsample_stages((8, 6)) == [(2, 2), (2, 3), (2, 1)]


def _blockwise_constant(y: torch.Tensor, factors: tuple) -> bool:
    coarse = y[(slice(None), slice(None), *(slice(None, None, r) for r in factors))]
    return torch.allclose(NearestUp(factors)(coarse), y, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("factors", "block"),
    [((2, 2), (2, 2)), ((3, 3), (3, 3)), ((2, 3), (2, 3)), ((4, 4), (2, 2)),
     ((1, 1, 2), (1, 1, 2)), ((2, 1, 4), (1, 1, 2))],
)
def test_icnr_upsampler_is_checkerboard_free_at_init(factors: tuple, block: tuple) -> None:
    torch.manual_seed(0)
    d = len(factors)
    up = Upsampler(d, 4, factors, activation="prelu")
    x = torch.randn(1, 4, *(5,) * d)
    with torch.no_grad():
        y = up(x)
    assert y.shape == (1, 4, *(5 * r for r in factors))
    assert _blockwise_constant(y, block)  # every sub-pixel of a (last) stage is equal
    assert y.std() > 0.01
    # without ICNR the sub-pixels differ: the property is the initialisation's doing
    with torch.no_grad():
        plain = Upsampler(d, 4, factors, icnr=False)(x)
    assert not _blockwise_constant(plain, block)


def test_models_use_the_icnr_upsampler() -> None:
    net = _small("edsr_2d", scale=3)
    x = torch.randn(1, net.features, 4, 5)
    with torch.no_grad():
        assert _blockwise_constant(net.upsampler(x), (3, 3))


@pytest.mark.parametrize("mode", ["nearest", "deconv"])
def test_other_upsampler_modes_keep_exact_sizes(mode: str) -> None:
    up = Upsampler(3, 2, (1, 2, 3), mode=mode, activation="relu")
    assert up(torch.rand(1, 2, 3, 4, 5)).shape == (1, 2, 3, 8, 15)
    assert Upsampler(2, 2, 1, mode=mode)(torch.rand(1, 2, 3, 4)).shape == (1, 2, 3, 4)


def test_deconv_stage_is_centred_on_the_voxel_grid() -> None:
    # a transposed conv whose kernel is the linear-interpolation tent reproduces linear
    # interpolation at (o + 1/2) / 2 - 1/2 away from the borders
    up = Upsampler(1, 1, 2, mode="deconv")
    conv = up.stages[0][0]
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([0.25, 0.75, 0.75, 0.25]).view(1, 1, 4))
        conv.bias.zero_()
        x = torch.arange(6.0).view(1, 1, 6)
        y = up(x)[0, 0]
    o = torch.arange(12.0)
    torch.testing.assert_close(y[1:-1], ((o + 0.5) / 2 - 0.5)[1:-1])


# -- FMEN re-parameterisation -----------------------------------------------------------


def _randomise_batch_norms(net: nn.Module) -> None:
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
            if isinstance(m, nn.modules.conv._ConvNd):
                m.bias.uniform_(-0.3, 0.3)  # non-zero biases exercise the border padding


@pytest.mark.parametrize(("dims", "scale"), [(2, 2), (2, 3), (3, (1, 1, 2))])
def test_fmen_deploy_equals_train_eval_output(dims: int, scale) -> None:
    torch.manual_seed(0)
    net = _small(f"fmen_{dims}d", scale=scale).double()
    _randomise_batch_norms(net)
    net.eval()
    x = torch.rand((2, 1) + ((7, 6) if dims == 2 else (5, 4, 6)), dtype=torch.float64)
    with torch.no_grad():
        before = net(x)
        trained_params = net.num_parameters()
        assert net.switch_to_deploy() is net
        after = net(x)
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-10)
    assert net.deploy and net.config()["deploy"] is True
    assert net.num_parameters() < trained_params
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())
    rrrbs = [m for m in net.modules() if isinstance(m, RRRB)]
    assert rrrbs and all(len(list(m.children())) == 1 for m in rrrbs)  # one conv each
    # the fused weights load into a model built with deploy=True
    clone = create_model(f"fmen_{dims}d", **net.config()).double().eval()
    clone.load_state_dict(net.state_dict())
    with torch.no_grad():
        assert torch.equal(clone(x), after)


def test_fmen_deploy_in_float32_within_1e5() -> None:
    torch.manual_seed(3)
    net = FMEN(spatial_dims=2, scale=4, features=12, mid_features=8, num_stages=2,
               attention_erbs=(2, 1, 1))
    _randomise_batch_norms(net)
    net.eval()
    x = torch.rand(1, 1, 9, 8)
    with torch.no_grad():
        before = net(x)
        after = net.switch_to_deploy()(x)
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)


def test_fmen_border_padding_is_what_makes_fusion_exact() -> None:
    # zero-padding the expanded features instead would break equality at the borders
    torch.manual_seed(0)
    block = RRRB(2, 3).double()
    with torch.no_grad():
        block.expand.bias.uniform_(0.5, 1.0)
    x = torch.rand(1, 3, 6, 5, dtype=torch.float64)
    with torch.no_grad():
        e = block.expand(x)
        zero_padded = block.reduce(block.fea(nn.functional.pad(e, [1] * 4)) + e) + x
        ref = block(x)
        block.fuse()
        fused = block(x)
    torch.testing.assert_close(fused, ref, rtol=0, atol=1e-12)
    assert not torch.allclose(zero_padded[..., 0, :], ref[..., 0, :])
    torch.testing.assert_close(zero_padded[..., 1:-1, 1:-1], ref[..., 1:-1, 1:-1])


def test_hfab_attention_multiplies_the_input() -> None:
    torch.manual_seed(0)
    hfab = HFAB(2, 4, 3, 1).eval()
    x = torch.rand(1, 4, 5, 5)
    with torch.no_grad():
        y = hfab(x)
    assert torch.all(y.abs() <= x.abs() + 1e-7)  # sigmoid gate in (0, 1)
    assert torch.equal(hfab(torch.zeros_like(x)), torch.zeros_like(x))


# -- U-Net (Park et al.) -----------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 1, 10, 13), (1, 1, 4, 4), (1, 1, 5, 6, 7)])
def test_unet_any_size_and_global_residual(shape: tuple) -> None:
    name = "unet_park_2d" if len(shape) == 4 else "unet_park_3d"
    net = _small(name).eval()
    with torch.no_grad():
        nn.init.zeros_(net.head.weight)
        nn.init.zeros_(net.head.bias)
        x = torch.rand(shape)
        assert torch.equal(net(x), x)  # zero correction: output is exactly the input
        plain = _small(name, residual=False).eval()
        assert plain(x).shape == shape


def test_unet_internal_padding_and_crop_are_aligned() -> None:
    # levels=2 pads to multiples of 4: 13 -> 16 as (1, 2) edge replication, 9 -> 12 as (1, 2)
    net = _small("unet_park_2d", residual=False).eval()
    x = torch.rand(1, 1, 9, 13)
    with torch.no_grad():
        y = net(x)
        padded = nn.functional.pad(x, [1, 2, 1, 2], mode="replicate")
        ref = net(padded)[:, :, 1:10, 1:14]  # already a multiple of 4: no internal padding
    assert torch.equal(y, ref)
    with torch.no_grad():
        shifted = net(nn.functional.pad(x, [2, 1, 1, 2], mode="replicate"))[:, :, 1:10, 2:15]
    assert not torch.allclose(shifted, y)  # a misplaced crop would be detected


# -- receptive fields ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["edsr_2d", "rdn_2d", "rrdbnet_2d", "srresnet_2d",
                                  "srdensenet_2d", "fmen_2d", "unet_park_2d"])
def test_receptive_field_bounds_the_gradient_support(name: str) -> None:
    net = _small(name, scale=2).double().eval()
    n = 61
    x = torch.rand(1, 1, n, n, dtype=torch.float64, requires_grad=True)
    y = net(x)
    c = y.shape[2] // 2
    y[0, 0, c, c].backward()
    rows = (x.grad[0, 0].abs().sum(dim=1) > 0).nonzero().flatten()
    support = int(rows.max() - rows.min() + 1)
    rf = net.receptive_field()[0]
    assert rf - 3 <= support <= rf  # the bound is (nearly) tight


# -- parameter counts -----------------------------------------------------------------


def _count(name: str, **kwargs) -> int:
    with torch.device("meta"):
        return create_model(name, **kwargs).num_parameters()


# papers' totals for RGB models; the RGB build of our model must be within 5%
PAPER_RGB = {
    ("edsr_2d", 2): 40.7e6, ("edsr_2d", 4): 43.1e6,
    ("edsr_baseline_2d", 2): 1.37e6, ("edsr_baseline_2d", 4): 1.52e6,
    ("srresnet_2d", 4): 1.5e6,
    ("rdn_2d", 2): 22.1e6, ("rdn_2d", 4): 22.3e6,
    ("rrdbnet_2d", 4): 16.7e6,
}


@pytest.mark.parametrize(("key", "paper"), list(PAPER_RGB.items()))
def test_parameter_count_matches_paper(key: tuple, paper: float) -> None:
    name, scale = key
    rgb = _count(name, in_channels=3, scale=scale)
    assert abs(rgb - paper) <= 0.05 * paper, (rgb, paper)
    # single-channel: only the first/last convolutions shrink (and SRResNet's too)
    assert _count(name, scale=scale) < rgb


def _conv(c_in: int, c_out: int, k: int, bias: bool = True) -> int:
    return c_in * c_out * k * k + (c_out if bias else 0)


def test_exact_counts_from_the_layer_definitions() -> None:
    # EDSR x2 RGB: head, 32 blocks of two 256-convs, body conv, 256 -> 1024 sub-pixel, tail
    edsr = _conv(3, 256, 3) + 64 * _conv(256, 256, 3) + _conv(256, 256, 3)
    assert _count("edsr_2d", in_channels=3) == edsr + _conv(256, 1024, 3) + _conv(256, 3, 3)
    # RDN x2 RGB (D=16, C=8, G=G0=64)
    rdb = sum(_conv(64 + 64 * c, 64, 3) for c in range(8)) + _conv(64 * 9, 64, 1)
    rdn = _conv(3, 64, 3) + _conv(64, 64, 3) + 16 * rdb
    rdn += _conv(16 * 64, 64, 1) + _conv(64, 64, 3) + _conv(64, 256, 3) + _conv(64, 3, 3)
    assert _count("rdn_2d", in_channels=3) == rdn == 22_123_395
    # RRDBNet x4 RGB: the ESRGAN generator
    rdb5 = sum(_conv(64 + 32 * c, 32, 3) for c in range(4)) + _conv(64 + 128, 64, 3)
    rrdb = _conv(3, 64, 3) + 23 * 3 * rdb5 + 4 * _conv(64, 64, 3) + _conv(64, 3, 3)
    assert _count("rrdbnet_2d", in_channels=3, scale=4) == rrdb == 16_697_987
    # SRDenseNet x4, 1 channel (the paper's luminance model): 4x4 transposed convs
    dense = sum(_conv(128 + 16 * j, 16, 3) for j in range(8))
    srd = _conv(1, 128, 3) + 8 * dense + _conv(128 + 8 * 128, 256, 1)
    srd += 2 * (256 * 256 * 16 + 256) + _conv(256, 1, 3)
    assert _count("srdensenet_2d", scale=4) == srd
    assert _count("srdensenet_2d", scale=4, upsampler="subpixel") == (
        srd - 2 * (256 * 256 * 16 + 256) + 2 * _conv(256, 1024, 3)
    )
    # U-Net (Park et al.) 2D, 1 channel: bias-free convs + BN (2 per channel)

    def double(c_in: int, c_out: int) -> int:
        return _conv(c_in, c_out, 3, False) + _conv(c_out, c_out, 3, False) + 4 * c_out

    w = [64 * 2**i for i in range(5)]
    unet = double(1, 64) + sum(double(w[i - 1], w[i]) for i in range(1, 5))
    unet += sum(w[i + 1] * w[i] * 4 + w[i] + double(2 * w[i], w[i]) for i in range(4))
    unet += _conv(64, 1, 1)
    assert _count("unet_park_2d") == unet


def test_fmen_deployed_count_matches_the_official_configuration() -> None:
    # the deployed NTIRE 2022 model (RGB, x4, 50 features): 341,066 parameters
    deployed = _count("fmen_2d", in_channels=3, scale=4, deploy=True)
    assert deployed == 341_066
    assert abs(deployed - 0.341e6) <= 0.05 * 0.341e6
    assert _count("fmen_2d", in_channels=3, scale=4) > 3 * deployed  # training-time branches


def test_3d_full_models_build_with_the_paper_widths() -> None:
    with torch.device("meta"):
        net = create_model("edsr_baseline_3d", scale=[1, 1, 2])
        big = create_model("edsr_3d", scale=[1, 1, 4])
    assert net.features == 64 and net.num_blocks == 16
    assert net.upsampler.plan == [(1, 1, 2)]
    assert math.isclose(net.res_scale, 1.0)
    assert big.res_scale == pytest.approx(0.1) and big.features == 256
    assert big.upsampler.plan == [(1, 1, 2), (1, 1, 2)]
    # 3D convs have 27 taps: the body grows by 3x over 2D
    body = 64 * (256 * 256 * 27 + 256)
    assert big.num_parameters() > body
