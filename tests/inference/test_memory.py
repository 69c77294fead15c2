"""Memory preflight: RAM or a memory-mapped output buffer, or a clear refusal."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from volsr.checkpoint import save_weights
from volsr.cli import app
from volsr.errors import ResourceError
from volsr.inference.memory import SAFETY, MemoryPlan, available_memory, plan_memory
from volsr.inference.predictor import Predictor
from volsr.io import Volume, save_volume
from volsr.models import create_model

cli = CliRunner()


def _plan(**kw):
    net = create_model("srcnn_3d", features=(8, 4), kernel_sizes=(5, 1, 3))
    args = dict(input_bytes=4 * 10**6, input_voxels=10**6, channels=1,
                out_shape=(200, 200, 100), out_channels=1, model=net, streamable=True,
                window_voxels=64**3, slab_voxels=32 * 200 * 100)
    return plan_memory(**{**args, **kw})


def test_available_memory_is_positive():
    assert available_memory() > 0


def test_ram_when_it_fits_memmap_when_not_and_refusal_below(tmp_path):
    big = _plan(max_bytes=10**12)
    assert big.mode == "ram" and big.streamed_bytes < big.ram_bytes
    assert big.buffer_bytes == 4 * 200 * 200 * 100
    between = int((big.ram_bytes + big.streamed_bytes) / 2 / SAFETY)
    mid = _plan(max_bytes=between, scratch_dir=tmp_path)
    assert mid.mode == "memmap" and "memory-mapped" in mid.describe()
    with pytest.raises(ResourceError, match="even streaming"):
        _plan(max_bytes=int(big.streamed_bytes / 2))
    with pytest.raises(ResourceError, match="cannot stream"):
        _plan(max_bytes=between, streamable=False)


def test_memmap_buffer_leaves_no_file(tmp_path):
    plan = MemoryPlan("memmap", 10, 5, 8, 4 * 24, tmp_path)
    buf = plan.allocate((2, 3, 4))
    buf[...] = 7.0
    assert isinstance(buf, np.memmap) and float(buf.sum()) == 7.0 * 24
    assert list(tmp_path.iterdir()) == []  # unlinked at once: nothing left after a kill


@pytest.fixture
def scan(tmp_path):
    rng = np.random.default_rng(0)
    from scipy import ndimage

    data = ndimage.gaussian_filter(rng.normal(size=(24, 20, 8)), 1.2).astype(np.float32)
    path = tmp_path / "scan.nii.gz"
    save_volume(Volume(data[None] * 100 + 300, np.diag([1.0, 1.0, 3.0, 1.0])), path)
    return path


@pytest.mark.parametrize("name,kw", [
    ("srcnn_3d", {"features": (8, 4), "kernel_sizes": (5, 1, 3)}),
    ("edsr_baseline_2d", {"scale": 1, "num_blocks": 1, "features": 8}),
])
def test_infer_memmap_equals_ram_and_refuses_cleanly(tmp_path, scan, name, kw):
    torch.manual_seed(0)
    w = save_weights(create_model(name, **kw), tmp_path / f"w_{name}", model_name=name,
                     normalization={"name": "percentile"})
    # the estimate for this scan, to put --max-memory between streamed and in-RAM peaks
    pred = Predictor.from_pretrained(w, device="cpu")
    from volsr.io import load_volume

    pred.run(load_volume(scan), scale=(1, 1, 3))
    est = pred.last_memory_plan
    assert est.mode == "ram" and est.streamed_bytes < est.ram_bytes
    between = (est.ram_bytes + est.streamed_bytes) / 2 / SAFETY / 2**30

    ram_out, mm_out = tmp_path / "ram" / "o.nii.gz", tmp_path / "mm" / "o.nii.gz"
    ram_out.parent.mkdir()
    mm_out.parent.mkdir()
    base = ["infer", str(scan), "--weights", str(w), "--scale", "1", "1", "3",
            "--device", "cpu"]
    r = cli.invoke(app, [*base, "-o", str(ram_out)])
    assert r.exit_code == 0, r.output
    r = cli.invoke(app, [*base, "-o", str(mm_out), "--max-memory", f"{between:.9f}"])
    assert r.exit_code == 0, r.output
    assert "memory-mapped" in r.output
    a, b = nib.load(ram_out), nib.load(mm_out)
    np.testing.assert_array_equal(a.get_fdata(), b.get_fdata())
    np.testing.assert_array_equal(a.affine, b.affine)
    side = json.loads((mm_out.parent / "o.nii.gz.json").read_text(encoding="utf-8")) if (
        mm_out.parent / "o.nii.gz.json").exists() else json.loads(
        next(mm_out.parent.glob("*.json")).read_text(encoding="utf-8"))
    assert side["memory"]["mode"] == "memmap"
    assert sorted(p.name for p in mm_out.parent.iterdir()) == sorted(
        [mm_out.name, next(mm_out.parent.glob("*.json")).name])  # no scratch file left

    bad = tmp_path / "bad" / "o.nii.gz"
    bad.parent.mkdir()
    tiny = est.streamed_bytes / 4 / 2**30
    r = cli.invoke(app, [*base, "-o", str(bad), "--max-memory", f"{tiny:.9f}"])
    assert r.exit_code != 0
    assert "not enough memory" in r.output and "Traceback" not in r.output
    assert list(bad.parent.iterdir()) == []
