"""configs/zoo/*.yaml: every 2D recipe loads and builds; one 2-step training run per family."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from volsr.config import load_config
from volsr.engine import train
from volsr.engine.build import build_network
from volsr.models import list_models, model_entry

from conftest import write_phantom_manifest

ZOO = Path(__file__).resolve().parents[2] / "configs" / "zoo"
CONFIGS = sorted(ZOO.glob("*.yaml"))

# Parameter counts of the papers' architectures (1 channel, x2; see docs/zoo.md), so a
# recipe cannot silently train a different network. SRCNN 9-1-5 by hand:
# 81*64+64 + 64*32+32 + 25*32+1 = 8,129.
PARAMS = {
    "srcnn_2d": 8_129, "fsrcnn_2d": 12_809, "espcn_2d": 21_284, "vdsr_2d": 665_921,
    "drcn_2d": 1_775_121, "drrn_2d": 302_465, "lapsrn_2d": 407_441, "edsr_2d": 40_720_385,
    "edsr_baseline_2d": 1_367_553, "srresnet_2d": 1_378_899, "srdensenet_2d": 3_044_353,
    "rdn_2d": 22_121_089, "rrdbnet_2d": 16_658_753, "fmen_2d": 1_025_122,
    "unet_park_2d": 31_036_481,
}

# Tiny widths for the smoke runs, one representative per family.
TINY = {
    "srcnn_2d": {"features": [4, 4], "kernel_sizes": [3, 1, 3]},
    "fsrcnn_2d": {"features": 4, "shrinking": 2, "mapping_layers": 1, "deconv_kernel_size": 3},
    "espcn_2d": {"features": [4, 4], "kernel_sizes": [3, 3, 3]},
    "vdsr_2d": {"num_layers": 3, "features": 4},
    "drcn_2d": {"recursions": 2, "features": 4},
    "drrn_2d": {"num_units": 2, "features": 4},
    "lapsrn_2d": {"depth": 2, "features": 4},
    "edsr_2d": {"num_blocks": 1, "features": 4},
    "srresnet_2d": {"num_blocks": 1, "features": 4},
    "srdensenet_2d": {"num_blocks": 1, "num_layers": 2, "growth_rate": 2, "low_features": 4,
                      "bottleneck_features": 4},
    "rdn_2d": {"num_blocks": 1, "num_layers": 2, "growth_rate": 2, "features": 4},
    "rrdbnet_2d": {"num_blocks": 1, "features": 4, "growth_rate": 2},
    "fmen_2d": {"features": 4, "mid_features": 2, "warmup_mid_features": 2, "num_stages": 1,
                "attention_erbs": [1, 1]},
    "unet_park_2d": {"features": 4, "levels": 2},
    "dcsrn_2d": {"growth_rate": 2, "num_units": 2},
}


def test_one_recipe_per_2d_network():
    names = {p.stem for p in CONFIGS}
    assert names == set(list_models("*_2d", tag="2d"))
    assert set(TINY) <= names


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_recipe_loads_and_builds_the_paper_network(path):
    cfg = load_config(path)
    assert cfg.model.name == path.stem == cfg.name
    assert cfg.data.mode == "2d" and len(cfg.data.patch_size) == 2
    assert cfg.model.scale == (2.0, 2.0, 1.0)
    specs = [s.to_dict() for s in cfg.data.degradation]
    assert specs == [{"name": "resize", "factor": [2.0, 2.0, 1.0], "kernel": "cubic"}]
    with torch.device("meta"):  # full size, without the cost of initialising weights
        net = build_network(cfg)
    assert net.spatial_dims == 2 and net.scale == (2.0, 2.0)
    if path.stem in PARAMS:
        assert net.num_parameters() == PARAMS[path.stem]
    if net.upsampling != "pre":  # post models: whole LR patches
        assert all(p % 2 == 0 for p in cfg.data.patch_size)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    """Two small head phantoms for training, one for validation."""
    return write_phantom_manifest(tmp_path_factory.mktemp("zoo_data"), (20, 20, 6), 3.0)


def _families() -> list[str]:
    seen: dict[str, str] = {}
    for name in sorted(TINY):
        seen.setdefault(model_entry(name).info["family"], name)
    return sorted(seen.values())


@pytest.mark.parametrize("name", _families())
def test_two_step_training_smoke_run(name, manifest, tmp_path):
    from volsr.inference.predictor import Predictor
    from volsr.io import Volume

    args = [f"model.args.{k}={json.dumps(v)}" for k, v in TINY[name].items()]
    cfg = load_config(ZOO / f"{name}.yaml", [
        f"data.manifest={manifest}", f"output_dir={tmp_path}", "train.steps=2",
        "train.val_every=2", "train.checkpoint_every=2", "train.log_every=1",
        "data.patch_size=[16,16]", "data.batch_size=2", "data.patches_per_volume=1", *args])
    result = train(cfg, device="cpu")
    assert result.step == 2 and np.isfinite(result.last_loss)
    assert result.best_step == 2 and np.isfinite(result.best_psnr)  # slice-wise validation
    pred = Predictor.from_pretrained(result.model_dir, device="cpu")
    assert pred.model_name == name
    vol = Volume(np.random.default_rng(0).random((1, 12, 10, 3)).astype(np.float32),
                 np.eye(4))
    out = pred.run(vol)  # the recipe's own factor: x2 in-plane, slice by slice
    assert out.spatial_shape == (24, 20, 3) and np.all(np.isfinite(out.data))
