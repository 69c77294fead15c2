"""Data layer of supervised training: manifests, checks, training pairs, validation cases."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from volsr.config import DataConfig
from volsr.data import (
    build_training_dataset,
    build_validation_cases,
    check_manifest,
    load_manifest,
    manifest_from_folder,
    write_manifest,
)
from volsr.data.patches import crop, rot_planes, synthesize_lr
from volsr.degrade import ThickSlice, degrade_volume
from volsr.errors import ConfigError, InputError
from volsr.io import Volume, file_sha256, save_volume
from volsr.phantom import phantom_volume

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def vols(tmp_path_factory) -> Path:
    """Folder with two small head phantoms, a smooth z-profile volume and white noise."""
    d = tmp_path_factory.mktemp("vols")
    save_volume(phantom_volume((32, 32, 32), (6.0, 6.0, 6.0), supersample=1, seed=0),
                d / "head0.nii.gz")
    save_volume(phantom_volume((28, 30, 32), (6.0, 6.0, 6.0), supersample=1, seed=1),
                d / "head1.nii.gz")
    z = np.arange(64, dtype=np.float32)
    wave = (2.0 + np.sin(2 * np.pi * z / 16.0))[None, None, None, :]
    save_volume(Volume(np.broadcast_to(wave, (1, 24, 24, 64)).copy(), np.eye(4)),
                d / "wave.nii.gz")
    noise = np.random.default_rng(0).normal(10.0, 1.0, (1, 32, 32, 32)).astype(np.float32)
    save_volume(Volume(noise, np.eye(4)), d / "noise.nii.gz")
    return d


def manifest(folder: Path, training, validation=(), name="m.json", **extra) -> Path:
    data = {"volsr_manifest": 1, "name": "t", "modality": "MR", "training": list(training),
            "validation": list(validation), **extra}
    p = folder / name
    p.write_text(json.dumps(data))
    return p


def cfg(**kw) -> DataConfig:
    base = {"manifest": "unused", "patch_size": (16, 16, 16), "patches_per_volume": 4}
    base.update(kw)
    return DataConfig.from_dict(base)


THICK4 = ({"name": "thick_slice", "axis": 2, "factor": 4, "profile": "rect"},)


# --------------------------------------------------------------------------- manifests


def test_manifest_relative_paths_alias_and_string_cases(tmp_path, vols):
    sub = tmp_path / "data"
    sub.mkdir()
    (sub / "a.nii.gz").write_bytes((vols / "head0.nii.gz").read_bytes())
    p = manifest(tmp_path, [{"id": "a", "image": "data/a.nii.gz", "modality": "CT",
                             "label": "data/seg.nii.gz"}],
                 test=[str(vols / "head1.nii.gz")])
    m = load_manifest(p)
    (a,) = m.cases("training")
    assert a.hr == sub / "a.nii.gz" and a.hr.is_absolute() and a.lr is None
    assert a.modality == "CT" and a.extra == {"label": "data/seg.nii.gz"}
    (t,) = m.cases("test")
    assert t.id == "head1" and t.modality == "MR" and t.hr == vols / "head1.nii.gz"
    assert m.cases("validation") == []
    with pytest.raises(ConfigError, match="unknown split 'train'.*did you mean 'training'"):
        m.cases("train")


@pytest.mark.parametrize("content, pattern", [
    ('{"training": [{"id": "a", "hr": "x.nii"}, {"id": "a", "hr": "y.nii"}]}',
     r"duplicate case id 'a'"),
    ('{"training": [{"id": "a", "lr": "x.nii"}]}', r"training\[0\]: case needs 'hr'"),
    ('{"training": [\n{"id": "a",, }]}', r"invalid JSON at line 2"),
    ('{"traning": [{"hr": "x.nii"}]}', r"unknown split 'traning'.*'training'"),
    ('{"training": [{"hr": "x.nii"}], "test": [{"id": "b", "hr": "x.nii"}]}',
     r"already used by"),
    ('{"training": [{"hr": "x.nii", "sha265": "ab"}]}', r"did you mean 'sha256'"),
    ('{"training": [{"hr": "x.nii", "sha256": "abc"}]}', r"64 hex digits"),
])
def test_manifest_errors_name_the_file(tmp_path, content, pattern):
    p = tmp_path / "bad.json"
    p.write_text(content)
    with pytest.raises(ConfigError, match=pattern) as info:
        load_manifest(p)
    assert str(p) in str(info.value)


def test_manifest_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such manifest"):
        load_manifest(tmp_path / "none.json")


def test_strict_paths_refuse_escaping_paths(tmp_path, vols):
    inner = tmp_path / "archive"
    inner.mkdir()
    (tmp_path / "out.nii.gz").write_bytes(b"")
    p = manifest(inner, [{"id": "a", "hr": "../out.nii.gz"}])
    assert load_manifest(p).cases("training")[0].hr == tmp_path / "out.nii.gz"
    with pytest.raises(ConfigError, match="leaves the manifest's folder"):
        load_manifest(p, strict_paths=True)
    p2 = manifest(inner, [{"id": "a", "hr": str(vols / "head0.nii.gz")}], name="abs.json")
    with pytest.raises(ConfigError, match="leaves"):
        load_manifest(p2, strict_paths=True)
    p3 = manifest(inner, [{"id": "a", "hr": "sub/../x.nii.gz"}], name="ok.json")
    assert load_manifest(p3, strict_paths=True).cases("training")[0].hr == inner / "x.nii.gz"


def test_manifest_from_folder_and_write_roundtrip(tmp_path, vols):
    m1 = manifest_from_folder(vols, fractions=(0.5, 0.25, 0.25), seed=3, modality="MR")
    m2 = manifest_from_folder(vols, fractions=(0.5, 0.25, 0.25), seed=3, modality="MR")
    sizes = [len(m1.cases(s)) for s in ("training", "validation", "test")]
    assert sizes == [2, 1, 1]
    assert [c.id for _, c in m1.all_cases()] == [c.id for _, c in m2.all_cases()]
    assert sorted(c.id for _, c in m1.all_cases()) == ["head0", "head1", "noise", "wave"]
    out = tmp_path / "sub" / "m.json"
    out.parent.mkdir()
    write_manifest(out, m1)
    raw = json.loads(out.read_text(encoding="utf-8"))
    assert raw["volsr_manifest"] == 1 and raw["modality"] == "MR"
    assert all(c["hr"].startswith("../") for c in raw["training"])  # relative to sub/
    back = load_manifest(out)
    assert [c.hr for c in back.cases("test")] == [c.hr for c in m1.cases("test")]
    with pytest.raises(Exception, match="already exists"):
        write_manifest(out, m1)
    with pytest.raises(ConfigError, match="fractions"):
        manifest_from_folder(vols, fractions=(0.5, 0.5, 0.5))


def test_check_manifest_detects_hash_and_fov_mismatch(tmp_path, vols):
    hr = phantom_volume((24, 24, 24), (4.0, 4.0, 4.0), supersample=1)
    lr = degrade_volume(hr, {"name": "thick_slice", "factor": 4, "profile": "rect"})
    save_volume(hr, tmp_path / "hr.nii.gz")
    save_volume(lr, tmp_path / "lr.nii.gz")
    shifted = lr.with_data(lr.data, lr.affine @ np.diag([1.0, 1.0, 1.0, 1.0]))
    shifted.affine[2, 3] += 10.0  # 10 mm > LR voxel / 2 = 8 mm
    save_volume(shifted, tmp_path / "lr_shifted.nii.gz")
    (tmp_path / "junk.nii.gz").write_bytes(b"not a volume")
    good = file_sha256(tmp_path / "hr.nii.gz")
    p = manifest(tmp_path, [
        {"id": "ok", "hr": "hr.nii.gz", "lr": "lr.nii.gz", "sha256": {"hr": good}},
        {"id": "hash", "hr": "hr2.nii.gz", "sha256": {"hr": "0" * 64}},
        {"id": "fov", "hr": "hr3.nii.gz", "lr": "lr_shifted.nii.gz"},
        {"id": "gone", "hr": "missing.nii.gz"},
        {"id": "junk", "hr": "junk.nii.gz"},
    ])
    for n in ("hr2", "hr3"):
        (tmp_path / f"{n}.nii.gz").write_bytes((tmp_path / "hr.nii.gz").read_bytes())
    report = check_manifest(p)
    status = {c.id: c.status for c in report.cases}
    assert status == {"ok": "ok", "hash": "hash-mismatch", "fov": "fov-mismatch",
                      "gone": "missing", "junk": "unreadable"}
    assert not report.ok
    ok_case = report.cases[0]
    assert ok_case.hr_shape == (24, 24, 24) and ok_case.lr_shape == (24, 24, 6)
    assert ok_case.lr_spacing == (4.0, 4.0, 16.0)
    d = json.loads(json.dumps(report.to_dict()))
    assert d["counts"]["ok"] == 1 and "fov" in report.summary()
    assert check_manifest(p, hashes=False).cases[1].status == "ok"


@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="needs ../shared/data beside the repo")
def test_shared_data_manifest_validates():
    path = REPO / "data_manifests" / "shared_data.json"
    report = check_manifest(path)
    assert report.ok, report.summary()
    m = load_manifest(path, strict_paths=False)
    nc = {c.id for s, c in m.all_cases() if c.licence == "CC BY-NC 4.0"}
    assert nc == {"t1_brain_niivue_chris", "pd_brain_aniso_niivue_chris"}
    assert nc.isdisjoint({c.id for c in m.cases("training") + m.cases("validation")})
    assert {c.modality for c in m.cases("validation")} == {"MR", "CT"}
    assert all(c.sha256.get("hr") for _, c in m.all_cases())


# --------------------------------------------------------------------------- patches


def test_crop_mirrors_outside_the_volume():
    a = np.arange(5, dtype=np.float32)[None, :, None, None]
    out = crop(a, (-2, 0, 0), (9, 1, 1))[0, :, 0, 0]
    assert out.tolist() == [1, 0, 0, 1, 2, 3, 4, 4, 3]


def test_rect_thick_slice_lr_is_slab_average():
    rng = np.random.default_rng(0)
    region = rng.normal(size=(1, 8, 8, 8 + 2 * 12)).astype(np.float32)
    lr_in, lr_region, scale = synthesize_lr(region, ThickSlice(axis=2, factor=4, profile="rect"),
                                            (0, 0, 12), (8, 8, 8), "pre")
    expected = region.reshape(1, 8, 8, 8, 4).mean(-1)
    np.testing.assert_allclose(lr_region, expected, atol=1e-5)
    assert scale.tolist() == [1.0, 1.0, 0.25] and lr_in.shape == (1, 8, 8, 8)
    lr_post, _, _ = synthesize_lr(region, ThickSlice(axis=2, factor=4, profile="rect"),
                                  (0, 0, 12), (8, 8, 8), "post", (1, 1, 4))
    np.testing.assert_allclose(lr_post, expected[..., 3:5], atol=1e-5)


def test_rot_planes_keep_the_degraded_axis():
    assert rot_planes((0, 1, 2), (16, 16, 16), (1, 1, 0.25), (1, 1, 1)) == [(0, 1)]
    assert rot_planes((0, 1, 2), (16, 16, 16), (1, 1, 1), (1, 1, 2)) == [(0, 1)]
    assert rot_planes((0, 1, 2), (16, 16, 8), (0.5, 0.5, 0.5), (1, 1, 1)) == [(0, 1)]
    assert len(rot_planes((0, 1, 2), (8, 8, 8), (0.5, 0.5, 0.5), (1, 1, 1))) == 3


# --------------------------------------------------------------------------- datasets


def test_pairs_are_reproducible_per_index(vols):
    p = manifest(vols, [{"id": "h0", "hr": "head0.nii.gz"}, {"id": "h1", "hr": "head1.nii.gz"}],
                 name="two.json")
    c = cfg(degradation=({"name": "random_thick_slice", "factor": [2, 5]},
                         {"name": "random_noise", "sigma": [0.01, 0.03]}))
    a = build_training_dataset(c, p, upsampling="pre", model_scale=(1, 1, 4), seed=7)
    b = build_training_dataset(c, p, upsampling="pre", model_scale=(1, 1, 4), seed=7)
    assert len(a) == 8
    for i in (0, 5):
        x, y = a[i], b[i]
        assert x["params"] == y["params"] and x["meta"] == y["meta"]
        assert np.array_equal(x["lr"].numpy(), y["lr"].numpy())
        assert np.array_equal(x["hr"].numpy(), y["hr"].numpy())
    assert not np.array_equal(a[0]["lr"].numpy(), a[1]["lr"].numpy())
    assert json.loads(a[5]["meta"])["case"] == "h1"
    other = build_training_dataset(c, p, upsampling="pre", model_scale=(1, 1, 4), seed=8)
    assert other[0]["params"] != a[0]["params"]
    a.set_epoch(1)
    assert a[0]["params"] != b[0]["params"]
    # the logged params rebuild the exact degradation
    from volsr.degrade import build_degradation
    params = json.loads(b[0]["params"])
    assert build_degradation(params).params == params


def test_post_pairs_hold_the_slab_average_through_the_dataset(vols):
    p = manifest(vols, [{"id": "h0", "hr": "head0.nii.gz"}], name="one.json")
    ds = build_training_dataset(cfg(degradation=THICK4, patch_size=(16, 16, 16)), p,
                                upsampling="post", model_scale=(1, 1, 4), seed=0)
    for i in range(4):
        item = ds[i]
        lr, hr = item["lr"].numpy(), item["hr"].numpy()
        assert lr.shape == (1, 16, 16, 4) and hr.shape == (1, 16, 16, 16)
        np.testing.assert_allclose(lr, hr.reshape(1, 16, 16, 4, 4).mean(-1), atol=1e-5)
    with pytest.raises(ValueError, match="divisible"):
        build_training_dataset(cfg(degradation=THICK4, patch_size=(16, 16, 18)), p,
                               upsampling="post", model_scale=(1, 1, 4), seed=0)
    with pytest.raises(ValueError, match="exactly that factor"):
        build_training_dataset(cfg(degradation=THICK4), p, upsampling="post",
                               model_scale=(1, 1, 2), seed=0)


def test_pre_pairs_are_aligned_for_non_integer_factor(vols):
    p = manifest(vols, [{"id": "w", "hr": "wave.nii.gz"}], name="wave.json")
    c = cfg(patch_size=(8, 8, 32), foreground_sampling=0.0,
            degradation=({"name": "thick_slice", "axis": 2, "factor": 2.5, "profile": "rect"},))
    ds = build_training_dataset(c, p, upsampling="pre", model_scale=(1, 1, 2.5), seed=0)
    for i in range(4):
        item = ds[i]
        lr, hr = item["lr"].numpy()[0, 4, 4], item["hr"].numpy()[0, 4, 4]

        def corr(u, v):
            return float(np.corrcoef(u, v)[0, 1])

        c0 = corr(lr, hr)
        assert c0 > 0.99
        assert c0 > corr(lr[1:], hr[:-1]) and c0 > corr(lr[:-1], hr[1:])


def test_rot90_never_moves_the_thick_slice_axis(vols):
    p = manifest(vols, [{"id": "n", "hr": "noise.nii.gz"}], name="noise.json")
    c = cfg(patch_size=(16, 16, 16), patches_per_volume=12,
            degradation=({"name": "thick_slice", "axis": 2, "factor": 4, "profile": "rect"},))
    ds = build_training_dataset(c, p, upsampling="pre", model_scale=(1, 1, 4), seed=1)
    rotated = 0
    for i in range(len(ds)):
        item = ds[i]
        lr = item["lr"].numpy()[0]
        vz, vx, vy = (float(np.diff(lr, axis=a).var()) for a in (2, 0, 1))
        assert vz < 0.3 * min(vx, vy)
        rot = json.loads(item["meta"])["rot90"]
        if rot is not None:
            assert rot[:2] == [0, 1]
            rotated += 1
    assert rotated >= 3


def test_two_d_slices_shapes_and_physics(vols):
    p = manifest(vols, [{"id": "n", "hr": "noise.nii.gz"}], name="noise2d.json")
    blur = ({"name": "gaussian_blur_downsample", "factor": [2, 2, 1]},)
    ds = build_training_dataset(cfg(mode="2d", slice_axis=2, patch_size=(16, 16),
                                    degradation=blur), p, upsampling="post",
                                model_scale=(2, 2), seed=0)
    item = ds[0]
    assert tuple(item["lr"].shape) == (1, 8, 8) and tuple(item["hr"].shape) == (1, 16, 16)
    # slices across x with thick slices along z: degraded in 3D, z is the 2nd slice axis
    ds = build_training_dataset(cfg(mode="2d", slice_axis=0, patch_size=(16, 16),
                                    degradation=THICK4), p, upsampling="pre",
                                model_scale=(1, 1, 4), seed=0)
    for i in range(4):
        lr = ds[i]["lr"].numpy()
        assert lr.shape == (1, 16, 16) and ds[i]["hr"].shape == (1, 16, 16)
        assert np.diff(lr[0], axis=1).var() < 0.3 * np.diff(lr[0], axis=0).var()
    post = build_training_dataset(cfg(mode="2d", slice_axis=0, patch_size=(16, 16),
                                      degradation=THICK4), p, upsampling="post",
                                  model_scale=(1, 1, 4), seed=0)
    assert tuple(post[0]["lr"].shape) == (1, 16, 4)
    with pytest.raises(ValueError, match="divisible"):  # a 2D net cannot upsample across
        build_training_dataset(cfg(mode="2d", slice_axis=2, patch_size=(16, 16),
                                   degradation=THICK4), p, upsampling="post",
                               model_scale=(1, 1, 4), seed=0)


def test_normalisation_is_applied_to_both(vols):
    p = manifest(vols, [{"id": "h0", "hr": "head0.nii.gz"}], name="norm.json")
    c = cfg(degradation=THICK4, cache=False,
            normalization={"name": "percentile", "lower": 0.0, "upper": 100.0})
    ds = build_training_dataset(c, p, upsampling="pre", model_scale=(1, 1, 4), seed=0)
    for i in range(4):
        hr, lr = ds[i]["hr"].numpy(), ds[i]["lr"].numpy()
        assert hr.min() >= -1e-6 and hr.max() <= 1 + 1e-6 and hr.max() > 0.5
        assert abs(float(lr.mean()) - float(hr.mean())) < 0.05


def test_relative_noise_uses_the_whole_volume_reference(vols):
    p = manifest(vols, [{"id": "h0", "hr": "head0.nii.gz"}], name="noise_ref.json")
    c = cfg(foreground_sampling=0.0, augment={"flip": False, "rot90": False},
            degradation=({"name": "gaussian_noise", "sigma": 0.05, "relative_to": "p99",
                          "seed": 3},))
    ds = build_training_dataset(c, p, upsampling="pre", model_scale=(1, 1, 1), seed=0)
    ref = float(np.percentile(ds.volume(0)["hr"], 99))
    for i in range(4):
        item = ds[i]
        (step,) = json.loads(item["params"])["transforms"]
        assert step["relative_to"] is None
        assert step["sigma"] == pytest.approx(0.05 * ref, rel=1e-3)
        diff = (item["lr"] - item["hr"]).numpy()  # no grid change: input = HR + noise
        assert float(diff.std()) == pytest.approx(step["sigma"], rel=0.1)


def test_paired_real_lr_matches_world_coordinates(tmp_path, vols):
    hr = phantom_volume((32, 32, 32), (6.0, 6.0, 6.0), supersample=1, seed=0)
    hr.affine[:3, 3] += (11.0, -7.0, 3.0)
    save_volume(hr, tmp_path / "hr.nii.gz")
    save_volume(degrade_volume(hr, {"name": "thick_slice", "factor": 4, "profile": "rect"}),
                tmp_path / "lr.nii.gz")
    p = manifest(tmp_path, [{"id": "pair", "hr": "hr.nii.gz", "lr": "lr.nii.gz"}])
    ds = build_training_dataset(cfg(), p, upsampling="post", model_scale=(1, 1, 4), seed=0)
    for i in range(4):
        item = ds[i]
        lr, hrp = item["lr"].numpy(), item["hr"].numpy()
        assert json.loads(item["params"])["name"] == "paired"
        np.testing.assert_allclose(lr, hrp.reshape(1, 16, 16, 4, 4).mean(-1), atol=1e-5)
    pre = build_training_dataset(cfg(), p, upsampling="pre", model_scale=(1, 1, 4), seed=0)
    synth = manifest(tmp_path, [{"id": "s", "hr": "hr.nii.gz"}], name="synth.json")
    ref = build_training_dataset(cfg(degradation=THICK4), synth, upsampling="pre",
                                 model_scale=(1, 1, 4), seed=0)
    a, b = pre[0], ref[0]
    assert json.loads(a["meta"])["start"] == json.loads(b["meta"])["start"]
    # same HR patch; the real LR equals the synthetic one up to the slab phase/edges
    assert np.array_equal(a["hr"].numpy(), b["hr"].numpy())
    assert np.corrcoef(a["lr"].numpy().ravel(), a["hr"].numpy().ravel())[0, 1] > 0.8
    rot = hr.with_data(hr.data, hr.affine[:, [1, 0, 2, 3]])
    save_volume(rot, tmp_path / "lr_rot.nii.gz")
    bad = manifest(tmp_path, [{"id": "r", "hr": "hr.nii.gz", "lr": "lr_rot.nii.gz"}],
                   name="bad.json")
    with pytest.raises(InputError, match="axis-aligned"):
        build_training_dataset(cfg(), bad, upsampling="pre", model_scale=(1, 1, 4), seed=0)


def test_validation_cases_are_deterministic_whole_volumes(tmp_path, vols):
    save_volume(degrade_volume(phantom_volume((28, 30, 32), (6.0, 6.0, 6.0), supersample=1,
                                              seed=1), THICK4[0]), tmp_path / "lr1.nii.gz")
    p = manifest(tmp_path, [{"id": "t", "hr": str(vols / "noise.nii.gz")}],
                 validation=[{"id": "h0", "hr": str(vols / "head0.nii.gz")},
                             {"id": "h1", "hr": str(vols / "head1.nii.gz"), "lr": "lr1.nii.gz"}])
    c = cfg(degradation=({"name": "random_thick_slice", "factor": [2, 5]},
                         {"name": "random_noise", "sigma": [0.01, 0.03]}))
    a = build_validation_cases(c, p, seed=0)
    b = build_validation_cases(c, p, seed=0)
    assert [v.id for v in a] == ["h0", "h1"]
    assert a[0].params == b[0].params and np.array_equal(a[0].lr.data, b[0].lr.data)
    assert a[0].hr.spatial_shape == (32, 32, 32)
    assert abs(float(a[0].lr.data.mean()) - float(a[0].hr.data.mean())) < 0.02  # HR units
    f = a[0].params["transforms"][0]["factor"]
    assert a[0].lr.spatial_shape == (32, 32, round(32 / f))
    np.testing.assert_allclose(a[0].lr.spacing, [6.0, 6.0, 6.0 * f], rtol=1e-6)
    assert a[1].params == {"name": "paired"} and a[1].lr.spatial_shape == (28, 30, 8)
    assert build_validation_cases(c, p, seed=1)[0].params != a[0].params
    cropped = build_validation_cases(cfg(), p, model_scale=(1, 1, 3), multiple_of=(1, 1, 3))
    assert cropped[0].hr.spatial_shape == (32, 32, 30)
    assert cropped[0].lr.spatial_shape == (32, 32, 10)
