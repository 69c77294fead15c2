"""The MONAI-built training data: reproducibility, DDP streams, bad input, extra transforms."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from volsr.config import DataConfig
from volsr.data import build_training_dataset
from volsr.data.registry import TRANSFORMS, build_transform
from volsr.engine.build import collate
from volsr.engine.distributed import StepBatchSampler
from volsr.errors import ConfigError, InputError
from volsr.io import Volume, load_volume, save_volume
from volsr.phantom import phantom_volume

REPO = Path(__file__).resolve().parents[2]
RANDOM = ({"name": "random_thick_slice", "factor": [2, 5]},
          {"name": "random_noise", "sigma": [0.01, 0.03]})


@pytest.fixture(scope="module")
def heads(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("heads")
    for k, shape in enumerate([(32, 32, 32), (28, 30, 32)]):
        save_volume(phantom_volume(shape, (6.0, 6.0, 6.0), supersample=1, seed=k),
                    d / f"h{k}.nii.gz")
    return d


def manifest(folder: Path, training: list[dict], name: str = "m.json") -> Path:
    p = folder / name
    p.write_text(json.dumps({"volsr_manifest": 1, "name": "t", "training": training}))
    return p


def cfg(**kw) -> DataConfig:
    base = {"manifest": "unused", "patch_size": (16, 16, 16), "patches_per_volume": 4,
            "degradation": RANDOM}
    base.update(kw)
    return DataConfig.from_dict(base)


def two(heads: Path) -> Path:
    return manifest(heads, [{"id": "a", "hr": "h0.nii.gz"}, {"id": "b", "hr": "h1.nii.gz"}],
                    "two.json")


def batches(ds, *, rank=0, world=1, steps=3, workers=0) -> list[dict]:
    sampler = StepBatchSampler(len(ds), 2, start_step=0, stop_step=steps, rank=rank,
                               world_size=world, shuffle=True)
    loader = torch.utils.data.DataLoader(ds, batch_sampler=sampler, num_workers=workers,
                                         collate_fn=collate)
    return list(loader)


def same(a: list[dict], b: list[dict]) -> bool:
    return all(torch.equal(x["lr"], y["lr"]) and torch.equal(x["hr"], y["hr"])
               and x["params"] == y["params"] for x, y in zip(a, b, strict=True))


# --------------------------------------------------------------------------- reproducibility


def test_same_seed_same_batches_with_and_without_workers(heads):
    p = two(heads)
    mk = lambda seed: build_training_dataset(cfg(), p, upsampling="pre",  # noqa: E731
                                             model_scale=(1, 1, 4), seed=seed, length=16)
    ref = batches(mk(3))
    assert same(ref, batches(mk(3)))
    assert same(ref, batches(mk(3), workers=2))  # workers do not enter the draw
    assert not same(ref, batches(mk(4)))
    other_epoch = mk(3)
    other_epoch.set_epoch(1)
    assert not same(ref, batches(other_epoch))


def test_ddp_ranks_get_different_deterministic_streams(heads):
    p = two(heads)
    ds = build_training_dataset(cfg(), p, upsampling="pre", model_scale=(1, 1, 4), seed=0,
                                rank=0, world_size=2, length=24)
    r0, r1 = batches(ds, rank=0, world=2), batches(ds, rank=1, world=2)
    assert not any(torch.equal(a["lr"], b["lr"]) for a, b in zip(r0, r1))
    again = build_training_dataset(cfg(), p, upsampling="pre", model_scale=(1, 1, 4), seed=0,
                                   rank=1, world_size=2, length=24)
    assert same(r1, batches(again, rank=1, world=2))


def test_cache_off_gives_the_same_pairs(heads):
    p = two(heads)
    on = build_training_dataset(cfg(), p, upsampling="pre", model_scale=(1, 1, 4), seed=5)
    off = build_training_dataset(cfg(cache=False), p, upsampling="pre",
                                 model_scale=(1, 1, 4), seed=5)
    for i in (0, 5, 2):
        assert torch.equal(on[i]["lr"], off[i]["lr"]) and on[i]["meta"] == off[i]["meta"]


def test_meta_records_the_inverse_normalisation_and_the_patch_origin(heads):
    p = manifest(heads, [{"id": "a", "hr": "h0.nii.gz"}], "one.json")
    c = cfg(augment={"flip": False, "rot90": False})
    ds = build_training_dataset(c, p, upsampling="pre", model_scale=(1, 1, 4), seed=0)
    raw = load_volume(heads / "h0.nii.gz").data
    for i in range(4):
        item = ds[i]
        meta = json.loads(item["meta"])
        x, y, z = meta["start"]
        want = raw[:, x:x + 16, y:y + 16, z:z + 16]
        back = item["hr"].numpy() * meta["norm"]["scale"] + meta["norm"]["offset"]
        np.testing.assert_allclose(back, want, rtol=1e-5, atol=1e-5 * float(raw.max()))
        assert json.loads(item["params"])["name"] == "compose"


# --------------------------------------------------------------------------- bad input


def _fail(tmp_path, training, pattern, bad_file, **kw):
    p = manifest(tmp_path, training, "bad.json")
    with pytest.raises(InputError, match=pattern) as info:
        build_training_dataset(cfg(**kw), p, upsampling="pre", model_scale=(1, 1, 4), seed=0)
    assert str(bad_file) in str(info.value)


def test_unreadable_manifest_entry_names_the_file(tmp_path, heads):
    (tmp_path / "junk.nii.gz").write_bytes(b"not a nifti at all")
    _fail(tmp_path, [{"id": "a", "hr": str(heads / "h0.nii.gz")},
                     {"id": "j", "hr": "junk.nii.gz"}], r"not a readable", tmp_path / "junk.nii.gz")


@pytest.mark.parametrize("cache", [True, False])
def test_volume_smaller_than_the_patch_names_the_file(tmp_path, heads, cache):
    save_volume(phantom_volume((32, 32, 12), (6.0, 6.0, 6.0), supersample=1, seed=2),
                tmp_path / "thin.nii.gz")
    _fail(tmp_path, [{"id": "a", "hr": str(heads / "h0.nii.gz")},
                     {"id": "t", "hr": "thin.nii.gz"}], r"smaller than the training patch",
          tmp_path / "thin.nii.gz", cache=cache)


def test_pad_small_volumes_mirror_pads_instead(tmp_path, caplog):
    save_volume(phantom_volume((32, 32, 12), (6.0, 6.0, 6.0), supersample=1, seed=2),
                tmp_path / "thin.nii.gz")
    p = manifest(tmp_path, [{"id": "t", "hr": "thin.nii.gz"}], "pad.json")
    with caplog.at_level("WARNING", logger="volsr.data.transforms"):
        ds = build_training_dataset(cfg(pad_small_volumes=True), p, upsampling="pre",
                                    model_scale=(1, 1, 4), seed=0)
    assert "thin.nii.gz" in caplog.text and "mirror-padded" in caplog.text
    hr = ds[0]["hr"].numpy()
    assert hr.shape == (1, 16, 16, 16)
    # 12 slices centred in 16: two mirrored slices on each side
    np.testing.assert_array_equal(hr[..., 1], hr[..., 2])
    np.testing.assert_array_equal(hr[..., 14], hr[..., 13])


def test_volume_smaller_than_the_patch_is_fine_across_2d_slices(tmp_path):
    save_volume(phantom_volume((32, 32, 3), (6.0, 6.0, 6.0), supersample=1, seed=2),
                tmp_path / "thin.nii.gz")
    p = manifest(tmp_path, [{"id": "t", "hr": "thin.nii.gz"}], "thin2d.json")
    ds = build_training_dataset(cfg(mode="2d", slice_axis=2, patch_size=(16, 16),
                                    degradation=({"name": "gaussian_blur_downsample",
                                                  "factor": [2, 2, 1]},)),
                                p, upsampling="post", model_scale=(2, 2), seed=0)
    assert tuple(ds[0]["lr"].shape) == (1, 8, 8)


def test_empty_foreground_names_the_file(tmp_path, heads):
    save_volume(Volume(np.full((1, 32, 32, 32), 7.0, np.float32), np.eye(4)),
                tmp_path / "flat.nii.gz")
    training = [{"id": "a", "hr": str(heads / "h0.nii.gz")}, {"id": "f", "hr": "flat.nii.gz"}]
    _fail(tmp_path, training, r"no foreground", tmp_path / "flat.nii.gz",
          normalization={"name": "none"})
    # with the default normalisation the constant volume is refused there, still by name
    _fail(tmp_path, training, r"constant", tmp_path / "flat.nii.gz")


def test_lr_hr_fields_of_view_that_differ_name_the_lr_file(tmp_path):
    hr = phantom_volume((32, 32, 32), (6.0, 6.0, 6.0), supersample=1, seed=0)
    save_volume(hr, tmp_path / "hr.nii.gz")
    lr = Volume(hr.data[:, :, :, ::4].copy(), hr.affine @ np.diag([1.0, 1.0, 4.0, 1.0]))
    lr.affine[:3, 3] += (30.0, 0.0, 0.0)  # moved by 5 HR voxels along x
    save_volume(lr, tmp_path / "lr.nii.gz")
    _fail(tmp_path, [{"id": "p", "hr": "hr.nii.gz", "lr": "lr.nii.gz"}],
          r"fields of view differ", tmp_path / "lr.nii.gz")


def test_cli_train_refuses_bad_input_in_one_line_before_training(tmp_path, heads):
    (tmp_path / "junk.nii.gz").write_bytes(b"\x1f\x8b broken")
    p = manifest(tmp_path, [{"id": "a", "hr": str(heads / "h0.nii.gz")},
                            {"id": "j", "hr": "junk.nii.gz"}], "cli.json")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "volsr", "train", "configs/tiny_test.yaml",
                          f"data.manifest={p}", f"output_dir={tmp_path / 'runs'}",
                          "--device", "cpu"], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode != 0
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()]
    assert len(errors) == 1 and str(tmp_path / "junk.nii.gz") in errors[0], out.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*")), \
        "a run refused for bad data leaves no run folder behind"


# --------------------------------------------------------------------------- extra transforms


def test_registry_is_an_allow_list_with_suggestions():
    with pytest.raises(ConfigError, match=r"Did you mean 'torchio.RandomBiasField'"):
        build_transform("torchio.RandomBiasFeld", {})
    with pytest.raises(ConfigError, match=r"Did you mean 'torchio.RandomGamma'"):
        build_transform("RandomGamma", {})
    for name in ("os.system", "monai.transforms.LoadImaged", "builtins.eval"):
        with pytest.raises(ConfigError, match="unknown transform"):
            build_transform(name, {})
    with pytest.raises(ConfigError, match="keys must be"):
        build_transform("monai.RandGaussianNoised", {"keys": ["image"]})
    with pytest.raises(ConfigError, match="bad arguments"):
        build_transform("monai.RandGaussianNoised", {"sdt": 0.1})
    assert build_transform("MONAI.randgaussiannoised", {"prob": 1.0}) is not None
    assert all(n.split(".")[0] in ("monai", "torchio", "volsr") for n in TRANSFORMS)


def test_extra_transforms_are_reproducible_and_hit_their_targets(heads):
    p = manifest(heads, [{"id": "a", "hr": "h0.nii.gz"}], "extra.json")
    thick = ({"name": "thick_slice", "axis": 2, "factor": 4, "profile": "rect"},)
    no_aug = {"flip": False, "rot90": False}

    def build(extra, seed=1):
        return build_training_dataset(cfg(degradation=thick, augment=no_aug, transforms=extra),
                                      p, upsampling="pre", model_scale=(1, 1, 4), seed=seed)

    plain = build([])
    pair = build([{"name": "torchio.RandomBiasField", "coefficients": 0.5}])
    inputs = [{"name": "monai.RandGaussianNoised", "prob": 1.0, "std": 0.05},
              {"name": "torchio.RandomGhosting", "num_ghosts": 4, "intensity": 0.8}]
    a, b = build(inputs), build(inputs)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    for i in range(3):
        ref, x, y, f = plain[i], a[i], b[i], pair[i]
        assert x["meta"] == ref["meta"] == f["meta"]  # the same patch
        assert torch.equal(x["lr"], y["lr"])  # reproducible
        # input-only transforms: the target is untouched, the input is not
        assert torch.equal(x["hr"], ref["hr"]) and not torch.equal(x["lr"], ref["lr"])
        # a pair transform multiplies input and target by the same bias field
        assert not torch.equal(f["hr"], ref["hr"])
        torch.testing.assert_close(f["hr"] * ref["lr"], f["lr"] * ref["hr"], atol=1e-5,
                                   rtol=1e-4)
    assert torch.equal(torch.rand(1), before)  # the global torch stream is untouched


def test_foreground_inversion_keeps_the_background_and_pairs_consistent():
    t = build_transform("volsr.RandInvertForegroundd", {"prob": 1.0})
    hr = np.array([[0.0, 0.02, 0.3, 1.0]], np.float32)
    lr = np.array([[0.01, 0.2, 0.3, 0.9]], np.float32)
    out = t({"hr": hr, "lr": lr})
    np.testing.assert_allclose(out["hr"], [[0.0, 0.02, 0.7, 0.0]], atol=1e-6)
    # the same mask (from hr) for lr: its 2nd voxel is above the threshold but stays
    np.testing.assert_allclose(out["lr"], [[0.01, 0.2, 0.7, 0.1]], atol=1e-6)
    never = build_transform("volsr.RandInvertForegroundd", {"prob": 0.0})
    np.testing.assert_array_equal(never({"hr": hr, "lr": lr})["hr"], hr)
