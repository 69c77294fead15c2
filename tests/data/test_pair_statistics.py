"""What the MONAI draw chain puts into training pairs, checked against the numpy kernels.

Issue 14 (a DCSRN regression after the data layer moved to MONAI) asked whether the new
chain draws different pairs from the old hand-written one: a different crop, the
degradation applied to a padded volume, augmentation applied to one side only, a
swapped thick axis, crops made of padding, volumes drawn unevenly. These tests pin each
of those on phantoms: every pair must be exactly what the kernels of
:mod:`volsr.data.patches` make from its recorded draws (crop at ``start`` with the
margin, degrade, take the middle, flip, rot90), the volumes are drawn in the documented
blocks, a patch of a volume larger than patch + margin holds no mirrored voxel, and the
thick axis stays the configured one after augmentation.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from volsr.config import DataConfig
from volsr.data import build_training_dataset
from volsr.data.patches import crop, pair_margin, synthesize_lr
from volsr.degrade import build_degradation
from volsr.io import save_volume
from volsr.phantom import phantom_volume

PATCH = (16, 16, 16)
THICK = ({"name": "random_thick_slice", "axes": [2], "factor": [3.0, 5.0],
          "profile": ["rect", "gaussian"]},)


@pytest.fixture(scope="module")
def two_heads(tmp_path_factory) -> Path:
    """A manifest of two head phantoms of different shapes (both larger than the patch)."""
    d = tmp_path_factory.mktemp("pairstats")
    for k, shape in enumerate([(40, 36, 48), (36, 40, 44)]):
        save_volume(phantom_volume(shape, (5.0, 5.0, 5.0), supersample=1, seed=k),
                    d / f"h{k}.nii.gz")
    p = d / "m.json"
    p.write_text(json.dumps({"volsr_manifest": 1, "name": "t", "training": [
        {"id": "a", "hr": "h0.nii.gz"}, {"id": "b", "hr": "h1.nii.gz"}]}))
    return p


def dataset(manifest: Path, **kw):
    base = {"manifest": "unused", "patch_size": PATCH, "patches_per_volume": 4,
            "degradation": THICK, "foreground_sampling": 0.8}
    base.update(kw)
    return build_training_dataset(DataConfig.from_dict(base), manifest, upsampling="pre",
                                  model_scale=(1, 1, 4), seed=3, length=48)


def rebuild(vol: dict, meta: dict, params: dict) -> tuple[np.ndarray, np.ndarray]:
    """The pair the kernels make from the recorded draws (the old pipeline's recipe)."""
    det = build_degradation(params)
    p = np.asarray(PATCH)
    m = pair_margin(det, p)
    region = crop(vol["hr"], np.asarray(meta["start"]) - m, p + 2 * m)
    lr, _, _ = synthesize_lr(region, det, m, p, "pre")
    hr = region[(slice(None), *(slice(int(a), int(a + b)) for a, b in zip(m, p)))]
    out = []
    for arr in (lr, hr):
        if meta["flip"]:
            arr = np.flip(arr, axis=tuple(1 + a for a in meta["flip"]))
        if meta["rot90"] is not None:
            a, b, k = meta["rot90"]
            arr = np.rot90(arr, k=k, axes=(1 + a, 1 + b))
        out.append(np.ascontiguousarray(arr, dtype=np.float32))
    return out[0], out[1]


def test_every_pair_is_the_kernels_output_for_its_recorded_draws(two_heads):
    ds = dataset(two_heads)
    flipped = rotated = 0
    for i in range(len(ds)):
        item = ds[i]
        meta, params = json.loads(item["meta"]), json.loads(item["params"])
        vol = ds.volume((i // 4) % 2)
        assert meta["case"] == vol["id"]
        lr, hr = rebuild(vol, meta, params)
        np.testing.assert_array_equal(item["hr"].numpy(), hr)
        np.testing.assert_allclose(item["lr"].numpy(), lr, rtol=0, atol=1e-6)
        flipped += bool(meta["flip"])
        rotated += meta["rot90"] is not None
    assert flipped > 10 and rotated > 10  # the augmentation was exercised


def test_volumes_are_drawn_in_blocks_and_patches_hold_no_padding(two_heads):
    ds = dataset(two_heads, foreground_sampling=1.0)
    counts = {"a": 0, "b": 0}
    for i in range(len(ds)):
        meta = json.loads(ds[i]["meta"])
        counts[meta["case"]] += 1
        vol = ds.volume((i // 4) % 2)
        shape = np.asarray(vol["hr"].shape[1:])
        start = np.asarray(meta["start"])
        params = json.loads(ds[i]["params"])
        m = pair_margin(build_degradation(params), PATCH)
        # the patch itself never reaches outside a volume larger than it (no mirrored
        # voxel in a target), and its degradation margin neither where the volume holds
        # patch + margin
        end = start + np.asarray(PATCH)
        assert np.all(start >= 0) and np.all(end <= shape)
        roomy = shape >= np.asarray(PATCH) + 2 * m
        assert np.all((start - m >= 0)[roomy]) and np.all((end + m <= shape)[roomy])
        # foreground_sampling 1: the patch centre lies on the foreground (the crop may
        # be moved inward, but stays within half a patch of it)
        hr = ds[i]["hr"].numpy()[0]
        assert float((np.abs(hr) > 1e-3).mean()) > 0.25
    assert counts == {"a": 24, "b": 24}


def test_the_thick_axis_of_augmented_pairs_is_the_configured_one(two_heads):
    ds = dataset(two_heads)
    for i in range(len(ds)):
        item = ds[i]
        lr, hr = item["lr"].numpy()[0], item["hr"].numpy()[0]
        # the LR keeps the in-plane detail and loses the through-plane one
        ratio = [float(np.mean(np.diff(lr, axis=a) ** 2) / max(np.mean(np.diff(hr, axis=a) ** 2),
                                                                 1e-12)) for a in range(3)]
        assert ratio[2] < 0.6 * min(ratio[0], ratio[1]), ratio
        rot = json.loads(item["meta"])["rot90"]
        assert rot is None or rot[:2] == [0, 1]
