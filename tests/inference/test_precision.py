"""WindowSettings.precision: fp32 is bit-identical to the NCHW float32 path it replaced,
bf16 autocast really runs (and stays close, on the exact same grid), ``auto`` resolves as
documented, and the choice reaches the sidecar and the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from volsr.cli import app
from volsr.inference import Predictor
from volsr.inference.settings import WindowSettingError, WindowSettings
from volsr.inference.sliding import compute_dtype, cpu_has_native_bf16, sliding_window_predict
from volsr.models import create_model

cli = CliRunner()


def small_2d_net() -> torch.nn.Module:
    torch.manual_seed(0)
    net = create_model("edsr_baseline_2d", spatial_dims=2, scale=[1.0, 1.0], residual=True,
                       num_blocks=2, features=16)
    return net.eval()


def test_precision_is_a_validated_setting():
    assert WindowSettings().precision == "auto"
    assert WindowSettings(precision="bf16").record()["precision"] == "bf16"
    with pytest.raises(WindowSettingError, match="precision must be one of"):
        WindowSettings(precision="fp16")


def test_auto_resolves_as_documented():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert compute_dtype("fp32", cuda) is None
    assert compute_dtype("bf16", cpu, two_d=False) is torch.bfloat16
    assert compute_dtype("auto", cuda) is torch.float16  # today's CUDA amp
    assert compute_dtype("auto", cuda, amp=False) is None
    assert compute_dtype("auto", cpu, two_d=False) is None  # 3D nets: not measured
    assert compute_dtype("auto", cpu, amp=False) is None  # self-SR keeps float32
    want = torch.bfloat16 if cpu_has_native_bf16() else None
    assert compute_dtype("auto", cpu, two_d=True) is want


def test_fp32_is_bit_identical_to_plain_nchw_float32():
    net = small_2d_net()
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(1, 1, 40, 36, 7))
                         .astype(np.float32))
    got = sliding_window_predict(net, x, WindowSettings(precision="fp32"))
    # the path before channels-last and bf16: all slices NCHW, one batch, no autocast
    with torch.inference_mode():
        slices = x.permute(0, 4, 1, 2, 3).reshape(7, 1, 40, 36).contiguous()
        ref = net(slices).reshape(1, 7, 1, 40, 36).permute(0, 2, 3, 4, 1)
    assert torch.equal(got, ref)
    # auto without bf16 (amp off): float32 channels-last, equal up to rounding
    fast = sliding_window_predict(net, x, WindowSettings(precision="auto", amp=False))
    torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-5)


def test_bf16_runs_close_to_fp32_on_the_same_grid():
    import volsr
    from volsr.degrade import ThickSlice

    truth = volsr.phantom_volume((40, 44, 40), (2.5, 2.5, 2.5), seed=5)
    lowres = ThickSlice(axis=2, factor=4, profile="rect")(truth)
    out = {p: Predictor.from_pretrained("thickslice_v1", device="cpu", precision=p)
           .run(lowres, reference=truth.grid) for p in ("fp32", "bf16")}
    assert out["bf16"].spatial_shape == out["fp32"].spatial_shape == truth.spatial_shape
    assert np.array_equal(out["bf16"].affine, out["fp32"].affine)
    diff = np.abs(out["bf16"].data - out["fp32"].data)
    assert diff.max() > 0  # autocast really ran in bfloat16
    assert diff.mean() < 0.01 * float(np.ptp(truth.data))
    p32 = volsr.evaluate(truth, out["fp32"], mask="auto", data_range=1.0).psnr
    p16 = volsr.evaluate(truth, out["bf16"], mask="auto", data_range=1.0).psnr
    assert abs(p16 - p32) < 0.05, (p16, p32)


def test_cli_records_precision_and_refuses_a_bad_one(tmp_path, phantom_path):
    out = tmp_path / "sr.nii.gz"
    r = cli.invoke(app, ["infer", str(phantom_path), "-o", str(out), "--device", "cpu",
                         "--model", "thickslice_v1", "--scale", "1", "1", "2",
                         "--precision", "fp32"])
    assert r.exit_code == 0, r.output
    side = json.loads(next(tmp_path.glob("sr*.json")).read_text(encoding="utf-8"))
    text = json.dumps(side)
    assert '"precision": "fp32"' in text and '"compute_dtype": "float32"' in text
    bad = tmp_path / "bad.nii.gz"
    r = cli.invoke(app, ["infer", str(phantom_path), "-o", str(bad), "--device", "cpu",
                         "--model", "thickslice_v1", "--precision", "half"])
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert r.exit_code != 0 and len(lines) == 1 and "precision" in lines[0], r.output
    assert not bad.exists()
