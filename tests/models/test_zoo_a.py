"""Tests of the 2D zoo, part A: FSRCNN, ESPCN, VDSR, DRCN, DRRN, LapSRN (+ 3D variants).

Paper-specific checks only; forward, backward, shapes per scale, determinism and rebuild
run for every registered network in test_models.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from volsr.errors import ConfigError
from volsr.models import create_model, list_models, model_entry
from volsr.models.interpolation import Interpolator
from volsr.models.networks._layers import pixel_unshuffle_nd
from volsr.models.networks._upsample import UpConvND
from volsr.models.networks.drcn import DRCN
from volsr.models.networks.drrn import DRRN
from volsr.models.networks.espcn import ESPCN
from volsr.models.networks.fsrcnn import FSRCNN
from volsr.models.networks.lapsrn import LapSRN, pyramid_levels
from volsr.models.networks.vdsr import VDSR

FAMILIES = ("fsrcnn", "espcn", "vdsr", "drcn", "drrn", "lapsrn")
NAMES = [n for n in list_models() if model_entry(n).info["family"] in FAMILIES]
NAMES_2D = [n for n in NAMES if model_entry(n).info["dims"] == 2]
NAMES_3D = [n for n in NAMES if model_entry(n).info["dims"] == 3]



def _family(name: str) -> str:
    return str(model_entry(name).info["family"])


def _dims(name: str) -> int:
    return int(model_entry(name).info["dims"])


def _small(name: str, seed: int = 0, **kwargs) -> nn.Module:
    """The narrow variant declared with the registration (``test_kwargs``); the
    parameter-count tests below use the registered (paper) defaults."""
    torch.manual_seed(seed)
    return create_model(name, **{**model_entry(name).info["test_kwargs"], **kwargs})


def test_expected_names_are_registered() -> None:
    expected = {f"{f}_{d}d" for f in FAMILIES for d in (2, 3)}
    assert expected == set(NAMES)
    kinds = {"fsrcnn": "post", "espcn": "post", "lapsrn": "progressive"}
    for name in NAMES:
        info = model_entry(name).info
        assert info["upsampling"] == kinds.get(info["family"], "pre")
        assert info["dims"] == int(name[-2])
        assert info["paper"]
        assert create_model(name).upsampling == info["upsampling"]


# -- shapes -----------------------------------------------------------------------------


def test_lapsrn_pyramid_shapes_and_levels() -> None:
    net = _small("lapsrn_2d", scale=4).eval()
    x = torch.rand(2, 1, 6, 5)
    with torch.no_grad():
        outs = net.forward_pyramid(x)
        assert torch.equal(net(x), outs[-1])
    assert [tuple(o.shape) for o in outs] == [(2, 1, 12, 10), (2, 1, 24, 20)]
    aniso = _small("lapsrn_2d", scale=(2, 4))
    assert aniso.levels == [(2, 2), (1, 2)]
    outs = aniso.forward_pyramid(torch.rand(1, 1, 6, 5))
    assert [tuple(o.shape) for o in outs] == [(1, 1, 12, 10), (1, 1, 12, 20)]
    slab = _small("lapsrn_3d", scale=(1, 1, 4))
    outs = slab.forward_pyramid(torch.rand(1, 1, 4, 5, 3))
    assert [tuple(o.shape) for o in outs] == [(1, 1, 4, 5, 6), (1, 1, 4, 5, 12)]
    assert pyramid_levels((1.0, 8.0)) == [(1, 2), (1, 2), (1, 2)]


@pytest.mark.parametrize("scale", [3, (2, 3), 1, (1, 1), 0.5, 2.5])
def test_lapsrn_rejects_non_power_of_two(scale) -> None:
    with pytest.raises(ValueError):
        LapSRN(spatial_dims=2, scale=scale, depth=1, features=4)


# -- properties shared by every network --------------------------------------------------


@pytest.mark.parametrize("name", NAMES_2D)
def test_receptive_field_bounds_the_dependence(name: str) -> None:
    # along axis 0, the gradient of an output voxel vanishes beyond the claimed radius
    # from its centre x(o) = (o + 1/2)/s - 1/2, and some voxel of a period reaches it
    kwargs = {"scale": 4} if _family(name) in ("lapsrn", "fsrcnn") else {"scale": 2}
    net = _small(name, **kwargs).eval()
    radius = (net.receptive_field()[0] - 1) / 2
    n = int(2 * radius) + 5
    x = torch.rand(1, 1, n, 5, requires_grad=True)
    y = net(x)
    s = y.shape[2] // n
    reach = 0.0
    for o in range(s * (n // 2), s * (n // 2 + 1)):  # one period of output phases
        (g,) = torch.autograd.grad(y[0, 0, o, y.shape[3] // 2], x, retain_graph=True)
        idx = torch.nonzero(g[0, 0].abs().sum(1)).flatten().double()
        dist = (idx - ((o + 0.5) / s - 0.5)).abs().max().item()
        assert dist <= radius
        reach = max(reach, dist)
    assert reach > radius - 1  # the bound is tight (rounded up to whole voxels)


@pytest.mark.parametrize("cls", [VDSR, DRCN, DRRN])
def test_residual_adds_the_input(cls: type) -> None:
    name = {VDSR: "vdsr_2d", DRCN: "drcn_2d", DRRN: "drrn_2d"}[cls]
    kwargs = model_entry(name).info["test_kwargs"]
    torch.manual_seed(0)
    plain = cls(spatial_dims=2, residual=False, **kwargs).eval()
    torch.manual_seed(0)
    res = cls(spatial_dims=2, **kwargs).eval()
    assert res.residual  # the papers' global residual / skip connection is the default
    x = torch.rand(1, 1, 9, 8)
    with torch.no_grad():
        torch.testing.assert_close(res(x), plain(x) + x)


@pytest.mark.parametrize("cls", [FSRCNN, ESPCN, LapSRN])
def test_post_networks_reject_residual_and_fractional_scale(cls: type) -> None:
    with pytest.raises(ValueError, match="residual"):
        cls(spatial_dims=2, residual=True)
    with pytest.raises((ConfigError, ValueError)):
        cls(spatial_dims=2, scale=2.5)


# -- FSRCNN / UpConvND: alignment with the volsr grid -----------------------------------


@pytest.mark.parametrize(
    ("factors", "kernel"),
    [((2, 2, 2), 4), ((1, 1, 2), (1, 1, 4)), ((2, 3, 4), 9), ((1, 2, 1), (1, 9, 1))],
)
def test_linear_upconv_equals_volsr_linear_interpolation(factors, kernel) -> None:
    # an independent implementation of the grid convention (scipy, half-sample symmetric)
    rng = np.random.default_rng(0)
    arr = rng.random((5, 6, 4)).astype(np.float32)
    up = UpConvND(3, 1, 1, factors, kernel, bias=False).init_linear_()
    with torch.no_grad():
        y = up(torch.from_numpy(arr)[None, None])[0, 0].numpy()
    ref = Interpolator("linear").resample(arr, factors)
    assert y.shape == ref.shape == tuple(n * f for n, f in zip(arr.shape, factors))
    np.testing.assert_allclose(y, ref, atol=1e-5)


@pytest.mark.parametrize(("stride", "kernel"), [(2, 9), (3, 9), (4, 9), (2, 4)])
@pytest.mark.parametrize("padding_mode", ["replicate", "zeros"])
def test_upconv_maps_a_ramp_to_the_ramp_at_the_output_centres(stride, kernel, padding_mode):
    n = 10
    up = UpConvND(1, 1, 1, stride, kernel, bias=False, padding_mode=padding_mode)
    up.init_linear_()
    ramp = 0.7 * torch.arange(n, dtype=torch.float64) + 1.3
    with torch.no_grad():
        y = up.double()(ramp[None, None])[0, 0]
    o = torch.arange(n * stride, dtype=torch.float64)
    expected = 0.7 * ((o + 0.5) / stride - 0.5) + 1.3
    inner = slice(2 * stride, -2 * stride)
    torch.testing.assert_close(y[inner], expected[inner])
    if padding_mode == "replicate":  # a constant stays constant up to the borders
        with torch.no_grad():
            torch.testing.assert_close(
                up(torch.full((1, 1, n), 3.0, dtype=torch.float64)),
                torch.full((1, 1, n * stride), 3.0, dtype=torch.float64),
            )


def test_upconv_rejects_small_kernels() -> None:
    with pytest.raises(ValueError, match="kernel_size"):
        UpConvND(2, 1, 1, (2, 4), (4, 3))
    with pytest.raises(ValueError, match="in == out"):
        UpConvND(2, 2, 1, 2, 4).init_linear_()


def test_fsrcnn_layers_follow_the_paper() -> None:
    net = FSRCNN(spatial_dims=2, scale=3)
    convs = [m for m in net.body if isinstance(m, nn.Conv2d)]
    assert [c.kernel_size[0] for c in convs] == [5, 1, 3, 3, 3, 3, 1]
    assert [c.out_channels for c in convs] == [56, 12, 12, 12, 12, 12, 56]
    prelus = [m for m in net.body if isinstance(m, nn.PReLU)]
    assert [p.num_parameters for p in prelus] == [56, 12, 12, 12, 12, 12, 56]
    assert net.deconv.conv.kernel_size == (9, 9) and net.deconv.conv.stride == (3, 3)
    slab = FSRCNN(spatial_dims=3, scale=(1, 1, 4))
    assert slab.deconv.conv.kernel_size == (1, 1, 9) and slab.deconv.conv.stride == (1, 1, 4)


# -- ESPCN -------------------------------------------------------------------------------


@pytest.mark.parametrize(("dims", "scale"), [(2, 3), (2, (2, 4)), (3, (1, 1, 2))])
def test_espcn_icnr_start_is_checkerboard_free(dims, scale) -> None:
    torch.manual_seed(0)
    net = ESPCN(spatial_dims=dims, scale=scale).eval()
    factors = net.factors
    x = torch.rand(1, 1, *([6] * dims))
    with torch.no_grad():
        blocks = pixel_unshuffle_nd(net(x), factors)  # (1, prod(r), *S): one LR voxel's block
        assert blocks.std() > 0
        torch.testing.assert_close(blocks, blocks[:, :1].expand_as(blocks))
        nn.init.normal_(net.subpixel.weight, std=0.1)  # without ICNR the blocks differ
        blocks = pixel_unshuffle_nd(net(x), factors)
    assert (blocks - blocks[:, :1]).abs().max() > 1e-3


def test_espcn_uses_tanh_by_default() -> None:
    net = ESPCN(spatial_dims=2)
    assert sum(isinstance(m, nn.Tanh) for m in net.modules()) == 2
    relu = ESPCN(spatial_dims=2, activation="relu")
    assert sum(isinstance(m, nn.ReLU) for m in relu.modules()) == 2
    assert relu.config()["activation"] == "relu"
    with pytest.raises(ValueError):
        ESPCN(spatial_dims=2, kernel_sizes=(5, 3))


# -- recursive networks: weight sharing ---------------------------------------------------


def test_drcn_recursive_weights_are_shared() -> None:
    counts = {d: DRCN(spatial_dims=2, features=8, recursions=d).num_parameters() for d in (2, 5)}
    assert counts[5] - counts[2] == 3  # only the ensemble weights grow with D
    net = DRCN(spatial_dims=2, features=8, recursions=5).eval()
    calls: list[int] = []
    net.recursive.register_forward_hook(lambda m, i, o: calls.append(1))
    x = torch.rand(1, 1, 8, 9)
    with torch.no_grad():
        y, preds = net.forward_all(x)
    assert len(calls) == 5 and len(preds) == 5
    assert all(p.shape == x.shape for p in preds)
    with torch.no_grad():
        net.ensemble.copy_(torch.tensor([0.5, 0.0, 0.0, 0.25, 0.25]))
        y2, preds2 = net.forward_all(x)
        torch.testing.assert_close(y2, 0.5 * preds2[0] + 0.25 * (preds2[3] + preds2[4]))
        torch.testing.assert_close(net(x), y2)
    assert not torch.allclose(preds[0], preds[-1])


def test_drrn_units_share_weights_within_a_block() -> None:
    sizes = [DRRN(spatial_dims=2, features=8, num_units=u, norm="none").num_parameters()
             for u in (1, 9)]
    assert sizes[0] == sizes[1]
    net = DRRN(spatial_dims=2, features=8, num_units=4, num_blocks=2).eval()
    calls: list[int] = []
    for block in net.blocks:
        block.conv_a.register_forward_hook(lambda m, i, o: calls.append(1))
    with torch.no_grad():
        net(torch.rand(1, 1, 8, 8))
    assert len(calls) == 8  # 4 units x 2 blocks
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 2 * (2 * 4) + 1 + 1  # per unit (not shared), block-2 entry, tail


def test_vdsr_depth_and_grad_clip_hint() -> None:
    net = VDSR(spatial_dims=2)
    assert sum(isinstance(m, nn.Conv2d) for m in net.modules()) == 20
    assert net.receptive_field() == (41, 41)
    assert VDSR.recommended_grad_clip == 0.4 and DRRN.recommended_grad_clip == 0.4
    assert DRCN(spatial_dims=2).receptive_field() == (41, 41)
    assert DRRN(spatial_dims=2).receptive_field() == (41, 41)


# -- LapSRN ------------------------------------------------------------------------------


def test_lapsrn_image_branch_is_grid_aligned_bilinear() -> None:
    torch.manual_seed(0)
    net = LapSRN(spatial_dims=3, scale=(2, 2, 4), features=4, depth=1).eval()
    for conv in net.residual_convs:  # silence the residuals: only the image branch is left
        nn.init.zeros_(conv.weight)
        nn.init.zeros_(conv.bias)
    rng = np.random.default_rng(1)
    arr = rng.random((4, 5, 3)).astype(np.float32)
    with torch.no_grad():
        first, last = net.forward_pyramid(torch.from_numpy(arr)[None, None])
    np.testing.assert_allclose(
        first[0, 0].numpy(), Interpolator("linear").resample(arr, (2, 2, 2)), atol=1e-5
    )
    ramp = np.broadcast_to(np.arange(3, dtype=np.float32) * 2.0, (4, 5, 3)).copy()
    with torch.no_grad():
        out = net(torch.from_numpy(ramp)[None, None])[0, 0]
    o = torch.arange(12, dtype=torch.float32)
    expected = 2.0 * ((o + 0.5) / 4 - 0.5)
    torch.testing.assert_close(out[2, 2, 3:9], expected[3:9])
    assert last.shape == (1, 1, 8, 10, 12)


def test_lapsrn_rejects_channel_change() -> None:
    with pytest.raises(ValueError, match="out_channels"):
        LapSRN(spatial_dims=2, in_channels=1, out_channels=2)
    assert LapSRN(spatial_dims=2, in_channels=3, depth=1, features=4)(
        torch.rand(1, 3, 5, 5)
    ).shape == (1, 3, 10, 10)


# -- parameter counts (docs/zoo.md) ---------------------------------------------

# (name, kwargs, our count for 1 channel, paper count or None where the paper gives none)
PARAMS = [
    ("fsrcnn_2d", {"scale": 2}, 12_809, 12_464),
    ("fsrcnn_2d", {"scale": 3}, 12_809, 12_464),
    ("fsrcnn_2d", {"scale": 4}, 12_809, 12_464),
    ("espcn_2d", {"scale": 2}, 21_284, None),
    ("espcn_2d", {"scale": 3}, 22_729, None),
    ("espcn_2d", {"scale": 4}, 24_752, None),
    ("vdsr_2d", {}, 665_921, 665_000),
    ("drcn_2d", {}, 1_775_121, 1_774_000),
    ("drrn_2d", {}, 302_465, 297_000),
    ("drrn_2d", {"norm": "none"}, 297_601, 297_000),
    ("lapsrn_2d", {"scale": 2}, 407_441, None),
    ("lapsrn_2d", {"scale": 4}, 814_242, 812_000),
    ("lapsrn_2d", {"scale": 8}, 1_221_043, None),
]


@pytest.mark.parametrize(("name", "kwargs", "ours", "paper"), PARAMS)
def test_parameter_counts(name: str, kwargs: dict, ours: int, paper: int | None) -> None:
    assert create_model(name, **kwargs).num_parameters() == ours
    if paper is not None:
        assert abs(ours - paper) / paper < 0.05


def test_weight_only_counts_match_the_papers_exactly() -> None:
    # convolution weights only (the papers' convention): the architectures are the papers'
    def weights(net: nn.Module) -> int:
        return sum(m.weight.numel() for m in net.modules()
                   if isinstance(m, nn.modules.conv._ConvNd))

    assert weights(create_model("fsrcnn_2d", scale=3)) == 12_464  # 25d+sd+9ms^2+ds+81d
    assert weights(create_model("vdsr_2d")) == 664_704
    assert weights(create_model("drcn_2d")) == 1_774_080
    assert weights(create_model("drrn_2d")) == 297_216
    assert weights(create_model("lapsrn_2d", scale=4)) == 812_768
