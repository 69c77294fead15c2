"""The thick-slice (2D, slice-wise) part of benchmarks/infer_speed.py.

* peak: a dense 2D conv 3x3, C -> C (C = the model's width), batch 16 of 128 x 128,
  timed in this run in fp32 NCHW, fp32 channels-last and bf16 autocast channels-last;
* the model through the real path (:meth:`volsr.Predictor.run`, x4 to isotropic on a
  thick-slice phantom) in the three arithmetics ``WindowSettings`` offers:
  ``precision="fp32"`` (NCHW, the old path), ``"auto"`` with ``amp=False`` (fp32
  channels-last) and ``"bf16"`` (channels-last); achieved GFLOP/s = conv FLOPs per plane
  pixel x output voxels x plane families / seconds (the B-spline and fusion are in the
  seconds, not in the FLOPs), "% peak" against the peak of the same arithmetic;
* end to end: ``volsr infer`` (a subprocess, default precision) on a 256 x 256 x 40 scan
  at 1 x 1 x 4 mm to isotropic, including reading, writing and start-up.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

VARIANTS = {  # name: (Predictor settings, peak key)
    "fp32 NCHW (old)": ({"precision": "fp32"}, "fp32 NCHW"),
    "fp32 channels-last": ({"precision": "auto", "amp": False}, "fp32 channels-last"),
    "bf16 channels-last": ({"precision": "bf16"}, "bf16 channels-last"),
}


def conv2d_peaks(width: int, repeats: int = 5) -> dict[str, float]:
    """GFLOP/s of Conv2d(width, width, 3) on 16 x width x 128 x 128 per arithmetic
    (the fastest of ``repeats`` calls: a peak, on a machine that may be shared)."""
    conv = torch.nn.Conv2d(width, width, 3, padding=1).eval()
    x = torch.randn(16, width, 128, 128)
    flops = 2 * 9 * width * width * 16 * 128 * 128
    out = {}
    for key, cl, bf in (("fp32 NCHW", False, False), ("fp32 channels-last", True, False),
                        ("bf16 channels-last", True, True)):
        xi = x.contiguous(memory_format=torch.channels_last) if cl else x
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf):
            conv(xi)
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                conv(xi)
                times.append(time.perf_counter() - t0)
        out[key] = flops / min(times) / 1e9
    return out


def plane_flops(model: torch.nn.Module) -> int:
    """2 x multiply-adds of all (stride-1, size-preserving) convs per plane pixel."""
    total = 0
    for m in model.modules():
        if isinstance(m, torch.nn.modules.conv._ConvNd):
            total += 2 * math.prod(m.kernel_size) * (m.in_channels // m.groups) * m.out_channels
    return total


def bench_thickslice(weights: str, shape: tuple[int, int, int], factor: int,
                     e2e_shape: tuple[int, int, int], threads: int) -> dict:
    """Rows for the three arithmetics and the end-to-end run (see the module docstring)."""
    import volsr
    from volsr.inference import Predictor

    probe = Predictor.from_pretrained(weights, device="cpu")
    width = max(m.out_channels for m in probe.model.modules()
                if isinstance(m, torch.nn.Conv2d))
    per_pixel = plane_flops(probe.model)
    if getattr(probe.model, "any_factor", False):  # convs on the LR grid: 1/factor as many
        per_pixel = per_pixel / factor
    before = conv2d_peaks(width)
    lr = volsr.phantom_volume(shape, (1.0, 1.0, float(factor)), supersample=1, seed=1)
    runs = []
    for name, (opts, peak_key) in VARIANTS.items():
        pred = Predictor.from_pretrained(weights, device="cpu", **opts)
        t0 = time.perf_counter()
        out = pred.run(lr, isotropic=True)
        secs = time.perf_counter() - t0
        runs.append((name, peak_key, secs, out.spatial_shape, pred.compute_dtype))
        print(f"# {name}: {secs:.1f} s", flush=True)
    after = conv2d_peaks(width)  # the peak before and after the model runs: the best
    peaks = {k: max(before[k], after[k]) for k in before}
    rows = []
    for name, peak_key, secs, out_shape, dtype in runs:
        n_out = math.prod(out_shape)
        gflops = 2 * per_pixel * n_out / secs / 1e9  # two plane families per output voxel
        rows.append({"arithmetic": name, "volume": "x".join(map(str, shape)),
                     "output": "x".join(map(str, out_shape)), "seconds": secs,
                     "Mvox/s": n_out / secs / 1e6, "achieved GFLOP/s": gflops,
                     "peak GFLOP/s": peaks[peak_key], "% peak": 100 * gflops / peaks[peak_key],
                     "compute dtype": dtype})
    e2e = end_to_end(weights, e2e_shape, factor, threads)
    return {"width": width, "kflop_per_pixel": per_pixel / 1e3, "peaks": peaks, "rows": rows,
            "e2e": e2e}


def end_to_end(weights: str, shape: tuple[int, int, int], factor: int, threads: int) -> dict:
    """Wall seconds of ``volsr infer`` (a fresh process) on a phantom, I/O included."""
    import volsr

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "thick.nii.gz", Path(tmp) / "iso.nii.gz"
        volsr.save_volume(volsr.phantom_volume(shape, (1.0, 1.0, float(factor)),
                                               supersample=1, seed=2), src)
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        which = "--weights" if Path(weights).is_dir() else "--model"  # a folder or a name
        cmd = [sys.executable, "-m", "volsr", "infer", str(src), "-o", str(dst), which,
               weights, "--isotropic", "--device", "cpu", "--quiet"]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, env=env)
        secs = time.perf_counter() - t0
        out = volsr.load_volume(dst)
    return {"command": " ".join(["volsr", *cmd[3:]]), "input": "x".join(map(str, shape)),
            "output": "x".join(map(str, out.spatial_shape)), "seconds": secs,
            "threads": threads}
