"""The radiograph recipes (configs/xray) and the shipped GAN recipes start and train a
few steps on a tiny synthetic PNG manifest through `volsr train`, with no VGG file: the
perceptual term falls back to volsr's built-in features and the log says so. The x4 GAN
recipe warm-starts from the L1 run (`train.init_from`) and its run super-resolves a PNG
with `volsr infer`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from volsr.cli import app

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()

# CI-sized: a 2-block, 8-feature generator, 32x32 HR patches, batch 2
SMALL = ["model.args.num_blocks=2", "model.args.features=8", "data.patch_size=[32,32]",
         "data.batch_size=2", "data.patches_per_volume=1", "train.val_every=0",
         "train.checkpoint_every=2", "train.log_every=1"]


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    """Four 8-bit grey 72x76 PNGs with texture for training, one for validation."""
    tmp = tmp_path_factory.mktemp("xray_recipes")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:72, 0:76]
    names = []
    for i in range(5):
        a = 120 + 80 * np.sin(xx / (2 + i)) * np.cos(yy / 3) + rng.normal(0, 8, xx.shape)
        Image.fromarray(a.clip(0, 255).astype(np.uint8)).save(tmp / f"r{i}.png")
        names.append(str(tmp / f"r{i}.png"))
    man = tmp / "m.json"
    man.write_text(json.dumps({"training": names[:4], "validation": names[4:]}),
                   encoding="utf-8")
    return man


def events(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in
            (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]


def train(recipe: str, manifest: Path, out: Path, *extra: str):
    return run("train", REPO / "configs" / recipe, "--overwrite", "--device", "cpu",
               f"data.manifest={manifest}", f"output_dir={out}", "train.steps=2", *SMALL,
               *extra)


def test_xray_x4_l1_then_gan_warm_start_then_infer(tmp_path, manifest):
    r = train("xray/srresnet_x4_l1.yaml", manifest, tmp_path)
    assert r.exit_code == 0, r.stderr
    l1 = tmp_path / "xray_srresnet_x4_l1"
    assert (l1 / "model").is_dir()
    r = train("xray/srgan_x4.yaml", manifest, tmp_path, f"train.init_from={l1}",
              "adversarial.discriminator={name: srgan, features: 8}")
    assert r.exit_code == 0, r.stderr
    assert "gradient-pyramid features" in r.stderr  # the log names the feature network
    gan = tmp_path / "xray_srgan_x4"
    ev = [e for e in events(gan) if e["event"] == "train"]
    assert [e["adv_phase"] for e in ev] == [1.0, 1.0]  # warm-started: adversarial at once
    assert {"perceptual", "g_adv", "d_loss"} <= set(ev[0])
    img = np.asarray(Image.open(manifest.parent / "r4.png"))
    out = tmp_path / "sr.png"
    r = run("infer", manifest.parent / "r4.png", "-o", out, "--weights", gan, "--device",
            "cpu")
    assert r.exit_code == 0, r.stderr
    with Image.open(out) as im:
        assert im.size == (4 * img.shape[1], 4 * img.shape[0]) and im.mode == "L"


def test_xray_x2_gan_pretrains_then_goes_adversarial(tmp_path, manifest):
    r = train("xray/srgan_x2.yaml", manifest, tmp_path, "adversarial.pretrain_steps=1",
              "adversarial.discriminator={name: srgan, features: 8}")
    assert r.exit_code == 0, r.stderr
    ev = [e for e in events(tmp_path / "xray_srgan_x2") if e["event"] == "train"]
    assert [e["adv_phase"] for e in ev] == [0.0, 1.0]


@pytest.mark.parametrize("recipe", ["srgan_2d.yaml", "esrgan_2d.yaml"])
def test_shipped_2d_gan_recipes_run_without_a_vgg_file(tmp_path, manifest, recipe):
    extra = ["adversarial.pretrain_steps=1", "data.pad_small_volumes=true"]
    if recipe == "esrgan_2d.yaml":  # RRDBNet: blocks / growth instead of SRResNet's
        small = ["model.args.num_blocks=1", "model.args.features=8", "model.args.growth_rate=4",
                 "adversarial.discriminator={name: esrgan, features: 8}"]
    else:
        small = ["adversarial.discriminator={name: srgan, features: 8}"]
    r = train(recipe, manifest, tmp_path, *extra, *small)
    assert r.exit_code == 0, r.stderr
    assert "gradient-pyramid features" in r.stderr
    name = recipe.removesuffix(".yaml")
    ev = [e for e in events(tmp_path / name) if e["event"] == "train"]
    assert ev[-1]["adv_phase"] == 1.0 and "perceptual" in ev[-1]


def test_shipped_mdcsrn_gan_recipe_needs_no_vgg(tmp_path):
    """mDCSRN-GAN's generator loss is L1 + adversarial (no perceptual term): it trains
    into the adversarial phase on a synthetic volume with no weights file at all."""
    from volsr.io import save_volume
    from volsr.phantom import phantom_volume

    for i in range(2):
        save_volume(phantom_volume((24, 24, 24), (1.0, 1.0, 1.0)), tmp_path / f"v{i}.nii.gz")
    man = tmp_path / "m.json"
    man.write_text(json.dumps({"training": [str(tmp_path / "v0.nii.gz")],
                               "validation": [str(tmp_path / "v1.nii.gz")]}),
                   encoding="utf-8")
    r = run("train", REPO / "configs" / "mdcsrn_gan.yaml", "--overwrite", "--device", "cpu",
            f"data.manifest={man}", f"output_dir={tmp_path}", "train.steps=2",
            "adversarial.pretrain_steps=1", "data.patch_size=[16,16,16]", "data.batch_size=1",
            "data.patches_per_volume=1", "model.args.num_blocks=1", "model.args.num_units=2",
            "model.args.growth_rate=4", "train.val_every=0", "train.checkpoint_every=2",
            "train.log_every=1",
            "adversarial.discriminator={name: mdcsrn_critic, features: 4, max_features: 8,"
            " hidden: 8}")
    assert r.exit_code == 0, r.stderr
    ev = [e for e in events(tmp_path / "mdcsrn_gan") if e["event"] == "train"]
    assert [e["adv_phase"] for e in ev] == [0.0, 1.0] and "perceptual" not in ev[-1]
