"""Any-factor thick-slice plane pairs (volsr.data.grid_pairs, plane_transforms): planes
from hr_axes, exact geometry against ThickSlice of the whole plane, one factor per
batch, bad hr_axes and small planes refused before training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from volsr.config import load_config
from volsr.data import build_training_dataset
from volsr.data.grid_pairs import GAUSS_REACH, pair_geometry, thick_slice_rows
from volsr.degrade import ThickSlice
from volsr.engine.build import collate
from volsr.engine.distributed import StepBatchSampler
from volsr.errors import InputError
from volsr.io import Volume, save_volume

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "configs" / "tiny_test.yaml"
NOISE_FREE = ("data.degradation=[{name: random_thick_slice, axes: [1, 2], factor: [1.5, 4.0], "
              "profile: [rect, gaussian], gap: [-0.2, 0.2]}]")


def _volume(path: Path, data: np.ndarray) -> str:
    save_volume(Volume(data[None].astype(np.float32), np.eye(4)), path)
    return path.name


def _manifest(folder: Path, cases: list[tuple[str, np.ndarray, object]]) -> Path:
    entries = []
    for name, data, axes in cases:
        e = {"id": name, "hr": _volume(folder / f"{name}.nii.gz", data)}
        if axes is not None:
            e["hr_axes"] = axes
        entries.append(e)
    (folder / "m.json").write_text(json.dumps({"volsr_manifest": 1, "training": entries}))
    return folder / "m.json"


def _blobs(shape: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(rng.random(shape), 2.0) * 10.0 + 1.0


def _dataset(manifest: Path, *overrides: str, length: int = 64, group: int = 4):
    cfg = load_config(TINY, [f"data.manifest={manifest}", "data.mode=2d",
                             "data.slice_axis=0", "data.patch_size=[16, 16]",
                             "model.name=lraxis_2d", NOISE_FREE, *overrides])
    return build_training_dataset(cfg.data, manifest, upsampling="post",
                                  model_scale=[1.0, 1.0, 4.0], seed=3, length=length,
                                  any_factor=True, group_size=group)


def test_planes_and_thick_axis_follow_hr_axes(tmp_path):
    m = _manifest(tmp_path, [("aniso", _blobs((40, 36, 20), 0), [0, 1]),
                             ("iso", _blobs((32, 32, 32), 1), [0, 1, 2]),
                             ("plain", _blobs((24, 32, 32), 2), None)])
    ds = _dataset(m, length=240)
    seen: dict[str, set] = {"aniso": set(), "iso": set(), "plain": set()}
    for i in range(len(ds)):
        it = ds[i]
        meta = json.loads(it["meta"])
        a, b, k = meta["plane"]
        seen[meta["case"]].add((a, b, k))
        assert json.loads(it["params"])["transforms"][0]["axis"] == a  # thick = rows
        assert it["hr"].shape == (1, 16, 16)
        geom = pair_geometry(meta["factor"], (16, 16), 1.2 * GAUSS_REACH)
        assert it["lr"].shape[1:] == (geom.lr_rows, 16) and it["grid"] == geom.grid
    assert seen["aniso"] == {(0, 1, 2), (1, 0, 2)}  # in-plane only
    assert seen["iso"] == {(a, b, 3 - a - b) for a in range(3) for b in range(3) if a != b}
    assert seen["plain"] == {(1, 2, 0), (2, 1, 0)}  # data.slice_axis, degradation axes


def test_pair_is_the_thick_slices_of_the_whole_plane_cropped(tmp_path):
    vol = _blobs((96, 40, 40), 4)
    m = _manifest(tmp_path, [("c", vol, [0, 1])])
    ds = _dataset(m, "data.augment.flip=false", "data.transforms=[]", length=48)
    for i in range(0, 48, 4):
        it = ds[i]
        meta, params = json.loads(it["meta"]), json.loads(it["params"])
        a, b, k = meta["plane"]
        ts_p = params["transforms"][0]
        s = ts_p["factor"]
        geom = pair_geometry(s, (16, 16), 1.2 * GAUSS_REACH)
        start = meta["start"]
        norm = meta["norm"]  # the pairs are in normalised units
        plane = (np.moveaxis(vol, (a, b, k), (0, 1, 2))[:, :, start[k]]
                 - norm["offset"]) / norm["scale"]
        p0, c0 = start[a], start[b]
        r0 = p0 - geom.hr_row0
        if r0 < 0 or r0 + geom.region_rows > plane.shape[0]:
            continue  # mirrored at the volume's end: not comparable with the plane
        ts = ThickSlice(axis=0, factor=s, profile=ts_p["profile"],
                        thickness=ts_p["thickness"])
        whole = ts.matrix(plane.shape[0] - r0) @ plane[r0:, c0:c0 + 16]  # acquisition from r0
        want = whole[geom.margin:geom.margin + geom.lr_rows]
        np.testing.assert_allclose(it["lr"][0].numpy(), want, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(it["hr"][0].numpy(), plane[p0:p0 + 16, c0:c0 + 16],
                                   atol=1e-5)
        assert it["grid"] == geom.grid


def test_grid_is_exact_for_a_volume_linear_along_the_thick_axis(tmp_path):
    x = np.arange(80, dtype=np.float64)
    vol = np.broadcast_to(2.0 + 0.25 * x[:, None, None], (80, 24, 24)).copy()
    m = _manifest(tmp_path, [("lin", vol, [0, 1])])
    # Gaussian slabs: their voxel-integrated weights keep a linear profile's value at the
    # slab centre (a rect slab cutting through voxels shifts it by up to ~0.03 voxel)
    ds = _dataset(m, "data.augment.flip=false", "data.transforms=[]",
                  "data.foreground_sampling=0",
                  "data.degradation=[{name: random_thick_slice, axes: [1, 2], "
                  "factor: [2.5, 6.0], profile: gaussian, gap: [-0.2, 0.2]}]", length=32)
    checked = 0
    for i in range(32):
        it = ds[i]
        meta = json.loads(it["meta"])
        if meta["plane"][0] != 0:
            continue
        (step, off, n), _ = it["grid"]
        lr = it["lr"][0, :, 0].double().numpy()
        # the thick slices of a linear profile are its values at the slice centres, so
        # linear interpolation of the LR crop at the grid must give the HR rows exactly
        pos = off + step * np.arange(n)
        got = np.interp(pos, np.arange(lr.size), lr)
        if meta["start"][0] - 10 < 0 or meta["start"][0] + 26 > 80:
            continue  # slabs mirrored at the volume's ends
        np.testing.assert_allclose(got, it["hr"][0, :, 0].double().numpy(), atol=1e-5)
        checked += 1
    assert checked >= 3


@pytest.mark.parametrize("s", [1.5, 2.37, 4.0, 6.81, 8.0])
@pytest.mark.parametrize("profile,ratio", [("rect", 1.2), ("gaussian", 1.2), ("rect", 0.8)])
def test_crop_operator_equals_the_thick_slice_matrix(s, profile, ratio):
    g = pair_geometry(s, (64, 48), 1.2 * GAUSS_REACH)
    ts = ThickSlice(axis=0, factor=s, profile=profile, thickness=ratio * s)
    want = ts.matrix(g.region_rows).toarray()[g.margin:g.margin + g.lr_rows]
    np.testing.assert_allclose(thick_slice_rows(ts, g), want, atol=1e-12)
    assert g.hr_row0 + 64 <= g.region_rows
    # every HR patch row lies at least context - 1 LR rows inside the crop
    pos = g.offset + np.arange(64) / s
    assert pos.min() >= 3 - 1e-9 and pos.max() <= g.lr_rows - 3


def test_a_batch_shares_one_factor(tmp_path):
    m = _manifest(tmp_path, [("a", _blobs((40, 36, 36), 5), [0, 1, 2]),
                             ("b", _blobs((36, 40, 24), 6), [0, 1])])
    ds = _dataset(m, length=4 * 6, group=4)
    sampler = StepBatchSampler(len(ds), 4, start_step=0, stop_step=6, shuffle=True,
                               groups=True)
    factors = []
    for idx in sampler:
        items = [ds[i] for i in idx]
        batch = collate(items)
        f = {json.loads(it["meta"])["factor"] for it in items}
        assert len(f) == 1 and batch["grid"] == items[0]["grid"]
        assert batch["lr"].shape[0] == 4
        factors.append(f.pop())
        assert len({json.loads(it["meta"])["case"] for it in items}) == 2  # mixed volumes
    assert len(set(factors)) == 6  # a new factor every batch
    assert sorted(i for idx in sampler for i in idx) == list(range(24))
    with pytest.raises(ValueError, match="mixes"):
        collate([ds[0], ds[4]])
    # reproducible: the same seed gives the same pairs
    again = _dataset(m, length=4 * 6, group=4)
    assert torch.equal(again[5]["lr"], ds[5]["lr"])


@pytest.mark.parametrize("axes,match", [([0, 3], "hr_axes must list"),
                                        ([1], "hr_axes must list"),
                                        ([0, 0], "hr_axes must list"),
                                        ([0, 2], "smaller than the patch")])
def test_bad_hr_axes_and_small_planes_fail_before_training(tmp_path, axes, match):
    m = _manifest(tmp_path, [("ok", _blobs((32, 32, 32), 7), [0, 1, 2]),
                             ("bad", _blobs((32, 32, 10), 8), axes)])
    with pytest.raises(InputError, match=match) as info:
        _dataset(m)
    assert "bad.nii.gz" in str(info.value)


def test_data_check_reports_bad_hr_axes_and_unequal_spacing(tmp_path):
    from volsr.data.check import check_manifest

    vol = Volume(_blobs((16, 16, 8), 9)[None].astype(np.float32), np.diag([1.0, 1.0, 2.0, 1.0]))
    save_volume(vol, tmp_path / "a.nii.gz")
    save_volume(vol, tmp_path / "b.nii.gz")
    save_volume(vol, tmp_path / "c.nii.gz")
    m = {"volsr_manifest": 1, "training": [
        {"id": "ok", "hr": "a.nii.gz", "hr_axes": [0, 1]},
        {"id": "bad", "hr": "b.nii.gz", "hr_axes": [0, "z"]},
        {"id": "odd", "hr": "c.nii.gz", "hr_axes": [0, 1, 2]}]}
    (tmp_path / "m.json").write_text(json.dumps(m))
    report = {c.id: c for c in check_manifest(tmp_path / "m.json").cases}
    assert report["ok"].status == "ok" and not report["ok"].warnings
    assert report["bad"].status == "bad-hr_axes" and "hr_axes" in report["bad"].messages[0]
    assert report["odd"].status == "ok" and "different voxel sizes" in report["odd"].warnings[0]
