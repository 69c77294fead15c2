"""2D thick-slice pairs of "pre" networks from cases with hr_axes: each item's plane
contains two of the case's hr_axes and its thick slices run along one of them; cases
without hr_axes keep data.slice_axis."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from volsr.config import load_config
from volsr.data import build_training_dataset
from volsr.io import Volume, save_volume

TINY = Path(__file__).resolve().parents[2] / "configs" / "tiny_test.yaml"


def test_pre_network_planes_follow_hr_axes(tmp_path):
    rng = np.random.default_rng(0)
    cases = []
    for name, shape, axes in [("iso", (24, 24, 24), [0, 1, 2]), ("aniso", (24, 24, 8), [0, 1]),
                              ("plain", (8, 24, 24), None)]:
        save_volume(Volume(rng.random((1, *shape)).astype(np.float32) + 1, np.eye(4)),
                    tmp_path / f"{name}.nii.gz")
        e = {"id": name, "hr": f"{name}.nii.gz"}
        if axes is not None:
            e["hr_axes"] = axes
        cases.append(e)
    (tmp_path / "m.json").write_text(json.dumps({"volsr_manifest": 1, "training": cases}))
    cfg = load_config(TINY, [f"data.manifest={tmp_path / 'm.json'}", "data.mode=2d",
                             "data.slice_axis=0", "data.patch_size=[12, 12]",
                             "data.degradation=[{name: random_thick_slice, axes: [2], "
                             "factor: [2.0, 3.0]}]"])
    ds = build_training_dataset(cfg.data, tmp_path / "m.json", upsampling="pre",
                                model_scale=[1.0, 1.0, 3.0], seed=0, length=120)
    seen: dict[str, set] = {"iso": set(), "aniso": set(), "plain": set()}
    for i in range(len(ds)):
        it = ds[i]
        meta = json.loads(it["meta"])
        thick = json.loads(it["params"])["transforms"][0]["axis"]
        plane = tuple(meta["plane"]) if "plane" in meta else (thick, None, 0)
        seen[meta["case"]].add((thick, plane[2]))
        assert thick == plane[0] and it["lr"].shape == it["hr"].shape == (1, 12, 12)
    assert seen["iso"] == {(a, k) for a in range(3) for k in range(3) if a != k}
    assert seen["aniso"] == {(0, 2), (1, 2)}
    assert seen["plain"] == {(2, 0)}  # data.slice_axis and the degradation's axis
