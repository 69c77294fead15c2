"""Tests of the super-resolution networks and their dims-generic layers."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from volsr.errors import ConfigError
from volsr.models import create_model, list_models, model_entry
from volsr.models.networks import DCSRN, MDCSRN, SRCNN
from volsr.models.networks._layers import (
    activation,
    conv_nd,
    icnr_,
    pixel_shuffle_nd,
    pixel_unshuffle_nd,
)

# The 3D-SR families of this file (at their paper sizes); forward, backward, shapes,
# determinism and rebuild run for every registered network in test_models.py.
NETWORKS = [n for n in list_models(tag="pre")
            if model_entry(n).info["family"] in {"srcnn", "dcsrn", "mdcsrn"}]
SHAPES = {3: [(1, 1, 12, 12, 12), (2, 1, 11, 13, 9)], 2: [(1, 1, 16, 16), (2, 1, 15, 17)]}


def _dims(name: str) -> int:
    return int(model_entry(name).info["dims"])


def _build(name: str, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return create_model(name)


def test_expected_networks_are_registered() -> None:
    expected = {"srcnn_2d", "srcnn_3d", "srcnn_rrelu_3d", "dcsrn_2d", "dcsrn_3d", "mdcsrn_3d"}
    assert expected <= set(NETWORKS)
    for name in expected:
        info = model_entry(name).info
        assert info["upsampling"] == "pre"
        assert info["dims"] == int(name[-2])
        assert info["paper"]


# -- behaviour common to every "pre" network ------------------------------------------


@pytest.mark.parametrize("name", NETWORKS)
def test_global_residual_adds_the_input(name: str) -> None:
    torch.manual_seed(0)
    plain = create_model(name, residual=False).eval()
    torch.manual_seed(0)
    res = create_model(name, residual=True).eval()
    x = torch.rand(SHAPES[_dims(name)][0])
    with torch.no_grad():
        torch.testing.assert_close(res(x), plain(x) + x)


def test_factory_rejects_wrong_dims_and_unknown_options() -> None:
    with pytest.raises(ConfigError, match="3D"):
        create_model("srcnn_3d", spatial_dims=2)
    with pytest.raises(ConfigError, match="bogus"):
        create_model("dcsrn_3d", bogus=1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"scale": 0},
        {"scale": (2, 2)},
        {"scale": float("nan")},
        {"in_channels": 0},
        {"activation": "swish"},
        {"padding_mode": "wrap"},
        {"kernel_sizes": (9, 5)},
        {"residual": True, "out_channels": 2},
    ],
)
def test_srcnn_rejects_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        SRCNN(spatial_dims=3, **kwargs)


def test_forward_rejects_wrong_input_layout() -> None:
    net = SRCNN(spatial_dims=3)
    with pytest.raises(ValueError, match="spatial"):
        net(torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="channels"):
        net(torch.zeros(1, 2, 8, 8, 8))


def test_min_input_size_and_receptive_field() -> None:
    net = SRCNN(spatial_dims=3)
    assert net.receptive_field() == (13, 13, 13)  # 1 + 8 + 0 + 4
    assert net.min_input_size() == (1, 1, 1)
    assert net(torch.rand(1, 1, 1, 2, 3)).shape == (1, 1, 1, 2, 3)
    reflect = SRCNN(spatial_dims=3, padding_mode="reflect")
    assert reflect.min_input_size() == (5, 5, 5)  # pad 4 of the 9-kernel
    with pytest.raises(ValueError, match="minimum"):
        reflect(torch.rand(1, 1, 4, 8, 8))
    assert DCSRN(spatial_dims=3).receptive_field() == (11, 11, 11)  # 1 + 2 + 4 * 2
    assert MDCSRN(spatial_dims=3).receptive_field() == (35, 35, 35)  # 1 + 2 + 16 * 2


# -- parameter counts from the papers' layer definitions -----------------------------


def _conv(c_in: int, c_out: int, k: int, d: int = 3) -> int:
    return c_in * c_out * k**d + c_out  # weights + bias


def test_srcnn3d_parameter_count() -> None:
    # 9x9x9 conv 1->64, 1x1x1 conv 64->32, 5x5x5 conv 32->1, with biases
    expected = (729 * 64 + 64) + (64 * 32 + 32) + (125 * 32 + 1)
    assert expected == 52801
    assert create_model("srcnn_3d").num_parameters() == expected
    assert create_model("srcnn_rrelu_3d").num_parameters() == expected  # RReLU has no weights
    assert create_model("srcnn_2d").num_parameters() == (81 * 64 + 64) + 2080 + (25 * 32 + 1)


def test_dcsrn_parameter_count() -> None:
    # k = 24: conv3 1->2k; 4 units BN(c) + conv3 c->k for c = 48, 72, 96, 120; conv1 144->1
    k = 24
    expected = _conv(1, 2 * k, 3)
    c = 2 * k
    for _ in range(4):
        expected += 2 * c + _conv(c, k, 3)  # BN scale/shift + conv
        c += k
    expected += _conv(c, 1, 1)
    assert expected == 219985
    assert create_model("dcsrn_3d").num_parameters() == expected


def test_mdcsrn_parameter_count() -> None:
    # b4u4, k = 16, no BN: conv3 1->32; each block 4 units conv3 c->16 (c = 32..80) and
    # outputs 96 channels; compressors conv1 (96 i)->32 for i = 1..3; reconstruction 384->1
    k, blocks = 16, 4
    block = sum(_conv(2 * k + j * k, k, 3) for j in range(4))
    block_out = 2 * k + 4 * k
    expected = _conv(1, 2 * k, 3) + blocks * block
    expected += sum(_conv(i * block_out, 2 * k, 1) for i in range(1, blocks))
    expected += _conv(blocks * block_out, 1, 1)
    assert expected == 407137
    net = create_model("mdcsrn_3d")
    assert net.num_parameters() == expected
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())
    assert any(isinstance(m, nn.ELU) for m in net.modules())


def test_dcsrn_uses_batch_norm_and_can_drop_it() -> None:
    assert any(isinstance(m, nn.BatchNorm3d) for m in create_model("dcsrn_3d").modules())
    plain = create_model("dcsrn_3d", norm="none")  # create_model drops None kwargs
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in plain.modules())
    assert plain.config()["norm"] == "none"  # survives create_model's None-dropping
    assert create_model("dcsrn_3d", **plain.config()).num_parameters() == plain.num_parameters()


def test_rrelu_variant_uses_rrelu() -> None:
    acts = [m for m in create_model("srcnn_rrelu_3d").modules() if isinstance(m, nn.RReLU)]
    assert len(acts) == 2
    assert not any(isinstance(m, nn.ReLU) for m in create_model("srcnn_rrelu_3d").modules())
    assert sum(isinstance(m, nn.ReLU) for m in create_model("srcnn_3d").modules()) == 2


def test_mdcsrn_features_reach_reconstruction_from_every_level() -> None:
    net = MDCSRN(spatial_dims=3, num_blocks=3, num_units=2, growth_rate=4).eval()
    seen: list[int] = []
    net.reconstruct.register_forward_hook(lambda m, i, o: seen.append(i[0].shape[1]))
    net(torch.rand(1, 1, 6, 6, 6))
    assert seen == [3 * (8 + 2 * 4)]
    assert [c.in_channels for c in net.compressors] == [16, 32]


# -- layers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "factors", "expected"),
    [
        ((2, 8, 3, 4, 5), (1, 1, 4), (2, 2, 3, 4, 20)),
        ((2, 16, 3, 4, 5), (2, 2, 2), (2, 2, 6, 8, 10)),
        ((1, 12, 4, 5), (2, 3), (1, 2, 8, 15)),
    ],
)
def test_pixel_shuffle_nd_shape_and_round_trip(shape, factors, expected) -> None:
    x = torch.randn(shape)
    y = pixel_shuffle_nd(x, factors)
    assert y.shape == expected
    assert torch.equal(pixel_unshuffle_nd(y, factors), x)
    z = torch.randn(expected)
    assert torch.equal(pixel_shuffle_nd(pixel_unshuffle_nd(z, factors), factors), z)


def test_pixel_shuffle_nd_matches_torch_in_2d() -> None:
    x = torch.randn(2, 18, 4, 5)
    assert torch.equal(pixel_shuffle_nd(x, 3), F.pixel_shuffle(x, 3))
    assert torch.equal(pixel_shuffle_nd(x, (3, 3)), F.pixel_shuffle(x, 3))
    y = torch.randn(2, 2, 12, 15)
    assert torch.equal(pixel_unshuffle_nd(y, 3), F.pixel_unshuffle(y, 3))


def test_pixel_shuffle_nd_places_sub_voxels_along_the_right_axis() -> None:
    # channel j of a (1, 1, 4) shuffle is the j-th sub-voxel along the last axis only
    x = torch.arange(4.0).reshape(1, 4, 1, 1, 1).expand(1, 4, 2, 2, 2)
    y = pixel_shuffle_nd(x.contiguous(), (1, 1, 4))
    assert torch.equal(y[0, 0, 0, 0], torch.tensor([0.0, 1, 2, 3, 0, 1, 2, 3]))
    assert torch.equal(y[0, 0, :, 0, 0], torch.zeros(2))


def test_pixel_shuffle_nd_rejects_bad_factors() -> None:
    with pytest.raises(ValueError, match="divisible"):
        pixel_shuffle_nd(torch.zeros(1, 6, 2, 2, 2), (2, 2, 1))
    with pytest.raises(ValueError, match="divisible"):
        pixel_unshuffle_nd(torch.zeros(1, 1, 3, 4, 4), 2)
    with pytest.raises(ValueError, match="3 values"):
        pixel_shuffle_nd(torch.zeros(1, 4, 2, 2, 2), (2, 2))


def test_icnr_makes_subpixel_conv_a_nearest_upsampler() -> None:
    torch.manual_seed(0)
    factors = (1, 2, 2)
    conv = conv_nd(3, 2, 3 * 4, 3)
    icnr_(conv.weight, factors)
    nn.init.zeros_(conv.bias)
    x = torch.randn(1, 2, 4, 5, 6)
    y = pixel_shuffle_nd(conv(x), factors)
    base = F.conv3d(x, conv.weight[::4], padding=1)
    nearest = base.repeat_interleave(2, dim=3).repeat_interleave(2, dim=4)
    torch.testing.assert_close(y, nearest)
    assert y.shape == (1, 3, 4, 10, 12)


def test_conv_nd_keeps_size_and_dims() -> None:
    for d, cls in [(1, nn.Conv1d), (2, nn.Conv2d), (3, nn.Conv3d)]:
        conv = conv_nd(d, 2, 3, 5, padding_mode="replicate")
        assert isinstance(conv, cls)
        assert conv(torch.zeros((1, 2) + (7,) * d)).shape == (1, 3) + (7,) * d
    assert conv_nd(3, 1, 1, (1, 1, 3))(torch.zeros(1, 1, 3, 3, 6)).shape == (1, 1, 3, 3, 6)
    with warnings.catch_warnings():  # torch may warn that even "same" padding copies
        warnings.simplefilter("ignore", UserWarning)
        even = conv_nd(3, 1, 1, (1, 1, 4))(torch.zeros(1, 1, 3, 3, 6))
    assert even.shape == (1, 1, 3, 3, 6)
    with pytest.raises(ValueError):
        conv_nd(4, 1, 1)


@pytest.mark.parametrize(
    ("name", "cls"),
    [("relu", nn.ReLU), ("rrelu", nn.RReLU), ("prelu", nn.PReLU), ("leaky", nn.LeakyReLU),
     ("LeakyReLU", nn.LeakyReLU), ("elu", nn.ELU)],
)
def test_activation_factory(name: str, cls: type) -> None:
    assert isinstance(activation(name), cls)


def test_prelu_variant_adds_learned_slopes() -> None:
    base = create_model("srcnn_3d").num_parameters()
    assert create_model("srcnn_3d", activation="prelu").num_parameters() == base + 2
