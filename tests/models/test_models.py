"""Tests every registered network gets for free (timm style): forward, backward, shape for
each supported scale, no NaN, determinism and rebuild from its config.

Each network is built with the small ``test_kwargs`` declared with its registration
(``register_network(..., test_kwargs=...)``), so a new model joins these tests by being
registered. Paper-specific checks (parameter counts, layer layouts, grid alignment)
stay in test_networks.py, test_zoo_a.py and test_zoo_b.py. Also here: the model tables
generated from the registry, and the state-dict keys checkpoints depend on.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from volsr.models import create_model, list_models, model_entry
from volsr.models.catalog import model_table, replace_block, targets
from volsr.models.networks._base import normalize_scale

ROOT = Path(__file__).resolve().parents[2]
NETWORKS = [n for n in list_models() if model_entry(n).info["upsampling"] != "interpolation"]

# the scales each kind of network supports, per spatial dims
SCALES: dict[tuple[str, int], list] = {
    ("pre", 2): [2, (1.5, 2.5)],
    ("pre", 3): [2, (1, 1, 2.5)],
    ("post", 2): [2, 3, 4, (2, 3)],
    ("post", 3): [(1, 1, 2), (2, 2, 1), (1, 3, 1)],
    ("progressive", 2): [2, 4, (2, 4)],
    ("progressive", 3): [(1, 1, 2), (1, 1, 4), (2, 2, 1)],
}
BASE = {2: (10, 9), 3: (6, 5, 4)}


pytestmark = pytest.mark.usefixtures("one_thread")


def _info(name: str) -> dict:
    return model_entry(name).info


def _build(name: str, seed: int = 0, **kwargs) -> nn.Module:
    torch.manual_seed(seed)
    return create_model(name, **{**_info(name)["test_kwargs"], **kwargs})


def _input(net: nn.Module, batch: int = 1, channels: int = 1, seed: int = 1) -> torch.Tensor:
    size = tuple(max(n, m) for n, m in zip(BASE[net.spatial_dims], net.min_input_size()))
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, channels, *size, generator=g)


def _cases() -> list:
    return [(n, s) for n in NETWORKS
            for s in SCALES[(_info(n)["upsampling"], _info(n)["dims"])]]


# -- registration ------------------------------------------------------------------------


def test_every_network_family_declares_small_test_kwargs() -> None:
    families = {_info(n)["family"] for n in NETWORKS}
    assert len(families) >= 15
    for name in NETWORKS:
        info = _info(name)
        assert isinstance(info.get("test_kwargs"), dict), f"{name} has no test_kwargs"
        json.dumps(info["test_kwargs"])  # configs are plain data
        small = _build(name)
        assert small.num_parameters() < 60_000, name  # small enough for the CPU suite


# -- forward / backward / shapes ---------------------------------------------------------


@pytest.mark.parametrize(("name", "scale"), _cases())
def test_output_shape_for_each_supported_scale(name: str, scale) -> None:
    net = _build(name, scale=scale).eval()
    x = _input(net, batch=2)
    with torch.no_grad():
        y = net(x)
    size = tuple(x.shape[2:])
    if net.upsampling == "pre":
        expected = size
    else:
        factors = (scale,) * len(size) if isinstance(scale, int) else scale
        expected = tuple(n * int(f) for n, f in zip(size, factors))
    assert tuple(y.shape) == (2, net.out_channels, *expected)
    assert net.output_spatial_shape(size) == expected
    assert net.scale == normalize_scale(scale, net.spatial_dims)  # "pre": metadata only
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", NETWORKS)
def test_every_parameter_gets_a_finite_gradient(name: str) -> None:
    net = _build(name).train()
    x = _input(net, batch=2)
    out = net(x)
    assert torch.isfinite(out).all()
    ((out - torch.rand_like(out)) ** 2).mean().backward()
    for pname, p in net.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, pname  # every parameter is used


@pytest.mark.parametrize("name", NETWORKS)
def test_multichannel_input_and_output(name: str) -> None:
    out = 3 if _info(name)["upsampling"] == "post" else 2  # "pre" residuals need in == out
    net = _build(name, in_channels=2, out_channels=out).eval()
    with torch.no_grad():
        y = net(_input(net, channels=2))
    assert y.shape[1] == out and torch.isfinite(y).all()
    with pytest.raises(ValueError, match="channels"):
        net(_input(net, channels=1))


# -- determinism and rebuild ---------------------------------------------------------------


@pytest.mark.parametrize("name", NETWORKS)
def test_same_seed_same_model_and_eval_is_deterministic(name: str) -> None:
    a, b = _build(name, seed=3).eval(), _build(name, seed=3).eval()
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    x = _input(a)
    with torch.no_grad():
        assert torch.equal(a(x), a(x))
        assert torch.equal(a(x), b(x))


@pytest.mark.parametrize("name", NETWORKS)
def test_rebuild_from_config(name: str) -> None:
    net = _build(name, seed=1).eval()
    cfg = json.loads(json.dumps(net.config()))  # what a checkpoint stores
    assert cfg["spatial_dims"] == _info(name)["dims"]
    torch.manual_seed(2)
    clone = create_model(name, **cfg).eval()
    assert clone.config() == net.config()
    assert {k: v.shape for k, v in clone.state_dict().items()} == \
        {k: v.shape for k, v in net.state_dict().items()}
    x = _input(net)
    with torch.no_grad():
        before = clone(x)
        clone.load_state_dict(net.state_dict())
        assert torch.equal(clone(x), net(x))
    assert not torch.equal(before, net(x))  # the different init really was replaced


# -- checkpoint compatibility ----------------------------------------------------------------


# One key per dense block: the shared DenseConcat must keep the keys of the
# checkpoints written before it existed.
DENSE_KEYS = {
    "dcsrn_3d": "block.units.1.2.weight",
    "mdcsrn_3d": "blocks.1.units.1.2.weight",
    "rdn_2d": "blocks.1.layers.1.0.weight",
    "rrdbnet_2d": "body.0.blocks.2.convs.3.weight",
    "srdensenet_2d": "blocks.1.layers.1.0.weight",
}


@pytest.mark.parametrize(("name", "key"), list(DENSE_KEYS.items()))
def test_dense_blocks_keep_their_state_dict_keys(name: str, key: str) -> None:
    assert key in _build(name).state_dict()


def test_bundled_weights_load_into_the_current_networks() -> None:
    from volsr.checkpoint import load_weights, read_weights_meta
    from volsr.weights import bundled_models

    bundled = bundled_models()
    assert bundled, "volsr/weights/ holds no bundled model"
    for folder in bundled.values():
        meta = read_weights_meta(folder)
        net, _ = load_weights(folder)  # strict: fails on any missing or unexpected key
        fresh = create_model(meta.model_name, **meta.model_kwargs)
        assert list(net.state_dict()) == list(fresh.state_dict())


# -- generated tables ----------------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 1])
def test_committed_model_tables_are_generated_from_the_registry(index: int) -> None:
    path, table, comment = targets(ROOT)[index]
    text = path.read_text(encoding="utf-8")
    assert replace_block(text, table, comment=comment) == text, \
        f"{path} is out of date; run `python -m volsr.models.catalog`"
    for name in list_models() if index else NETWORKS:
        assert f"`{name}`" in table


def test_model_table_formats() -> None:
    md = model_table("markdown", pattern="srcnn_3d").splitlines()
    assert md[0].startswith("| name |") and md[2].startswith("| `srcnn_3d` | 3 | pre | srcnn |")
    assert "bspline" not in model_table("rst", networks_only=True)
    with pytest.raises(ValueError, match="fmt"):
        model_table("html")  # type: ignore[arg-type]
