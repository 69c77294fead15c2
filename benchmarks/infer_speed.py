"""Inference speed of the 3D networks: seconds, voxels/s and GFLOP/s against the dense-conv peak.

Runs the real inference path of "pre" networks (input already on the output grid):
:func:`volsr.inference.sliding.sliding_window_predict`, the function
:meth:`volsr.Predictor.run` calls, with the Predictor's defaults (patch 64^3, overlap 0.25,
gaussian blending, halo "auto" = receptive radius capped at 16, autocast on CUDA). Random
weights: speed does not depend on them.

FLOPs are counted analytically from the convolutions: 2 * prod(kernel) * C_in/groups * C_out
per output voxel of every conv, summed (biases, activations, normalisation, concatenation
and the window stitching are not counted; the count is checked against
``torch.utils.flop_counter`` on a small input). All convs are stride 1 and size-preserving,
so a window of V input voxels costs V * (FLOPs per voxel):

* achieved GFLOP/s = FLOPs actually executed (every window with its halo and overlap,
  counted by a forward hook) / seconds;
* useful GFLOP/s = FLOPs per voxel * output voxels / seconds (what one pass would need);
* "% peak" = achieved / GFLOP/s of a large dense Conv3d (64 -> 64 channels, 3^3) timed
  in the same run (input grown until a call takes > 1 s; re-timed just before and after
  each model and averaged, since the machine may be shared);
* sliding/one-pass = time with the default patch / time of one whole-volume pass
  (patch_size=None) on the same volume (at most --one-pass-size per side).

Time budget: per model, the largest volume side (--size, then 224, 192, ... down to 80)
that fits with 3 or 2 repeats is chosen, 1 repeat only when none does, where the time is
estimated from the warm-up window's speed and must fit an equal share of the remaining
--budget seconds; the choice is printed. --budget 0 keeps --size and --repeats as given.

Thick-slice (2D) models instead, with ``--thickslice NAME|DIR``: the model on a thick-slice
phantom x4 to isotropic in fp32 NCHW (the old path), fp32 channels-last and bf16
channels-last against a 2D conv peak (3x3, the model's width, batch 16, 128 x 128) timed in
the same run, then ``volsr infer`` end to end (I/O included) on 256 x 256 x 40; see
``benchmarks/_speed2d.py``.

Usage: python benchmarks/infer_speed.py [--size 256] [--device cpu [cuda]] [--budget 540]
       python benchmarks/infer_speed.py --thickslice thickslice_v1 [--ts-shape 256 256 40]
           [--e2e-shape 256 256 40] [--threads 2]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

import torch
from _common import table

from volsr.inference.settings import WindowSettings
from volsr.inference.sliding import auto_halo, sliding_window_predict
from volsr.models import create_model

MODELS = ["srcnn_3d", "srcnn_rrelu_3d", "dcsrn_3d", "mdcsrn_3d"]
SIDES = (256, 224, 192, 160, 128, 112, 96, 80)


def conv_flops_per_voxel(model: torch.nn.Module) -> int:
    """2 * multiply-adds of all convolutions per output voxel (stride-1, 'same' convs)."""
    total = 0
    for m in model.modules():
        if isinstance(m, torch.nn.modules.conv._ConvNd):
            if any(s != 1 for s in m.stride):
                raise ValueError(f"{m} has a stride; the per-voxel count assumes stride 1")
            total += 2 * math.prod(m.kernel_size) * (m.in_channels // m.groups) * m.out_channels
    return total


def check_flop_count(model: torch.nn.Module, per_voxel: int) -> float:
    """Ratio of torch's FlopCounterMode count to the analytic count on a 12^3 input."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(1, 1, 12, 12, 12, device=next(model.parameters()).device)
    with FlopCounterMode(display=False) as fc, torch.inference_mode():
        model(x)
    return fc.get_total_flops() / (per_voxel * 12**3)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device, repeats: int) -> list[float]:
    """Wall seconds of ``repeats`` calls of ``fn`` (time.perf_counter, synchronised)."""
    out = []
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        out.append(time.perf_counter() - t0)
    return out


class PeakConv:
    """Dense Conv3d 64->64, 3^3 on 1x64xN^3; N grown until one call takes > ``min_seconds``."""

    def __init__(self, device: torch.device, amp: bool, min_seconds: float = 1.0) -> None:
        self.device = device
        self.conv = torch.nn.Conv3d(64, 64, 3, padding=1).to(device).eval()
        self.amp = amp and device.type == "cuda"
        n = 32
        while True:
            self.x = torch.randn(1, 64, n, n, n, device=device)
            self.measure(1)  # warm-up for this shape
            secs = statistics.median(self._times(3))
            if secs > min_seconds or n >= 512:
                break
            n = int(math.ceil(n * max(1.15, min(2.0, (1.2 * min_seconds / secs) ** (1 / 3)))))
        self.n, self.secs = n, secs
        self.gflops = self.flops / secs / 1e9

    @property
    def flops(self) -> int:
        return 2 * 27 * 64 * 64 * self.x.shape[2] ** 3

    def _times(self, repeats: int) -> list[float]:
        ctx = torch.autocast("cuda", dtype=torch.float16, enabled=self.amp)
        with torch.inference_mode(), ctx:
            return timed(lambda: self.conv(self.x), self.device, repeats)

    def measure(self, repeats: int = 1) -> float:
        """GFLOP/s now (the machine may be shared: re-measured next to each model)."""
        return self.flops / statistics.median(self._times(repeats)) / 1e9

    def describe(self) -> str:
        return f"Conv3d 64->64 k3 on 1x64x{self.n}^3: {self.secs:.3f} s/call"


def window_plan(n: int, roi: int, halo: int, overlap: float) -> tuple[int, int, int]:
    """(windows, context side, executed voxels) of MONAI's scan of an n^3 volume."""
    if roi >= n:
        return 1, n, n**3
    step = max(1, int(roi * (1 - overlap)))
    per_axis = math.ceil((n - roi) / step) + 1
    ctx = min(n, roi + 2 * halo)
    return per_axis**3, ctx, (per_axis * ctx) ** 3


class VoxelCounter:
    """Counts the voxels that go through the model's forward (batch included)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.voxels = 0
        self.calls = 0
        self._h = model.register_forward_pre_hook(self._hook)

    def _hook(self, _mod: torch.nn.Module, args: tuple) -> None:
        x = args[0]
        self.voxels += x.shape[0] * math.prod(x.shape[2:])
        self.calls += 1

    def remove(self) -> None:
        self._h.remove()


def choose(n_max: int, repeats: int, budget: float, rate: float, roi: int, halo: int,
           overlap: float, one_max: int) -> tuple[int, int, float]:
    """Largest side (then most repeats) whose estimated time fits ``budget`` seconds."""

    def cost(n: int, r: int) -> float:
        m = min(n, one_max)
        t = window_plan(n, roi, halo, overlap)[2] / rate + m**3 / rate
        if m != n:
            t += window_plan(m, roi, halo, overlap)[2] / rate
        return r * t

    sides = [n_max] + [s for s in SIDES if s < n_max and s > roi]
    if budget <= 0:
        return n_max, repeats, cost(n_max, repeats)
    for reps in ([r for r in (3, 2) if r <= repeats] or [repeats], [1]):
        for n in sides:
            for r in reps:
                if cost(n, r) <= budget:
                    return n, r, cost(n, r)
    return sides[-1], 1, cost(sides[-1], 1)


def bench_model(name: str, device: torch.device, args: argparse.Namespace, budget: float,
                peak_conv: PeakConv) -> dict:
    peak = peak_conv.measure(1)
    torch.manual_seed(0)
    model = create_model(name).eval().to(device)
    per_voxel = conv_flops_per_voxel(model)
    flop_check = check_flop_count(model, per_voxel)
    halo = auto_halo(model)[0]
    roi = args.patch
    amp = not args.no_amp
    ctx_full = roi + 2 * halo
    # warm-up: one window of the shape the timed runs use (also gives the speed estimate)
    w = torch.rand(1, 1, ctx_full, ctx_full, ctx_full, device=device)
    fwd_ctx = torch.autocast("cuda", dtype=torch.float16, enabled=amp and device.type == "cuda")
    with torch.inference_mode(), fwd_ctx:
        model(w)
        rate = w.numel() / min(timed(lambda: model(w), device, 1 if device.type == "cpu" else 3))
    del w
    n, reps, est = choose(args.size, args.repeats, budget, rate, roi, halo, args.overlap,
                          args.one_pass_size)
    m = min(n, args.one_pass_size)
    print(f"## {name}: {per_voxel / 1e3:.1f} kFLOP/voxel (flop_counter/analytic = "
          f"{flop_check:.4f}), dense-conv peak now {peak:.1f} GFLOP/s, halo {halo}, "
          f"warm-up window {ctx_full}^3 at "
          f"{rate / 1e6:.3f} Mvox/s -> volume {n}^3 x {reps} repeat(s), one pass on {m}^3, "
          f"estimated {est:.0f} s (budget {budget:.0f} s)", flush=True)
    if n != args.size:
        w_req, c_req, e_req = window_plan(args.size, roi, halo, args.overlap)
        print(f"   (at the requested {args.size}^3: {w_req} windows of {c_req}^3, "
              f"exec/useful {e_req / args.size**3:.2f})")

    def run(patch: int | None, x: torch.Tensor) -> Callable[[], object]:
        window = WindowSettings(patch_size=None if patch is None else (patch,) * 3,
                                overlap=args.overlap, blend="gaussian", sw_batch_size=1,
                                halo="auto", amp=amp)
        return lambda: sliding_window_predict(model, x, window)

    gen = torch.Generator().manual_seed(1)
    x = torch.rand(1, 1, n, n, n, generator=gen)
    counter = VoxelCounter(model)
    times = timed(run(roi, x), device, reps)
    counter.remove()
    executed = counter.voxels / reps
    windows = counter.calls // reps
    secs = statistics.median(times)
    print(f"   sliding {n}^3: {windows} windows, {executed / n**3:.2f}x voxels executed, "
          f"times {[round(t, 2) for t in times]} s", flush=True)
    if m == n:
        xs, slide_m = x, secs
    else:
        xs = x[:, :, :m, :m, :m].contiguous()
        slide_m = statistics.median(timed(run(roi, xs), device, reps))
        print(f"   sliding {m}^3 (for the ratio): {slide_m:.2f} s", flush=True)
    one_times = timed(run(None, xs), device, reps)
    one = statistics.median(one_times)
    print(f"   one pass {m}^3: times {[round(t, 2) for t in one_times]} s", flush=True)
    achieved = per_voxel * executed / secs / 1e9
    peak = (peak + peak_conv.measure(1)) / 2  # before and after this model
    return {
        "device": device.type, "model": name, "kFLOP/vox": per_voxel / 1e3,
        "volume": f"{n}^3", "repeats": reps, "windows": windows, "halo": halo,
        "exec/useful": executed / n**3, "seconds": secs, "Mvox/s": n**3 / secs / 1e6,
        "achieved GFLOP/s": achieved, "useful GFLOP/s": per_voxel * n**3 / secs / 1e9,
        "peak GFLOP/s": peak, "% peak": 100.0 * achieved / peak, "one-pass vol": f"{m}^3",
        "one-pass s": one, "one-pass GFLOP/s": per_voxel * m**3 / one / 1e9,
        "sliding/one-pass": slide_m / one,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=256, help="volume side (voxels), default 256")
    ap.add_argument("--device", nargs="+", default=["cpu"],
                    help="cpu, cuda, cuda:N or auto (cpu, plus cuda when available)")
    ap.add_argument("--models", nargs="+", default=MODELS)
    ap.add_argument("--patch", type=int, default=64, help="window side (Predictor default 64)")
    ap.add_argument("--overlap", type=float, default=0.25)
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats (median); max 3 "
                    "under a budget")
    ap.add_argument("--one-pass-size", type=int, default=128,
                    help="largest side for the whole-volume pass of the overhead ratio")
    ap.add_argument("--budget", type=float, default=540.0,
                    help="seconds for the whole run (sizes shrink to fit); 0: no limit")
    ap.add_argument("--no-amp", action="store_true", help="no float16 autocast on CUDA")
    ap.add_argument("--thickslice", default=None, metavar="NAME|DIR",
                    help="benchmark this thick-slice 2D model instead of the 3D networks")
    ap.add_argument("--ts-shape", type=int, nargs=3, default=[256, 256, 40],
                    help="thick-slice input of the three arithmetics (x4 along z)")
    ap.add_argument("--e2e-shape", type=int, nargs=3, default=[256, 256, 40],
                    help="thick-slice input of the end-to-end 'volsr infer' run")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.thickslice:
        thickslice_main(args)
        return
    devices: list[str] = []
    for d in args.device:
        if d == "auto":
            devices += ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        elif d.startswith("cuda") and not torch.cuda.is_available():
            print(f"# {d}: CUDA not available, skipped")
        else:
            devices.append(d)
    start = time.perf_counter()
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} CPU threads "
          f"(torch default), patch {args.patch}^3, overlap {args.overlap}, gaussian blend, "
          f"halo auto, requested volume {args.size}^3, budget {args.budget:.0f} s", flush=True)
    rows, peaks = [], []
    jobs = len(devices) * len(args.models)
    for d in devices:
        device = torch.device(d)
        pc = PeakConv(device, amp=not args.no_amp)
        precision = "float16 autocast" if device.type == "cuda" and not args.no_amp else "float32"
        print(f"# {device}: dense-conv peak {pc.gflops:.1f} GFLOP/s ({pc.describe()}, "
              f"{precision})", flush=True)
        peaks.append({"device": str(device), "peak GFLOP/s": pc.gflops,
                      "measured on": pc.describe(), "precision": precision})
        for name in args.models:
            left = args.budget - (time.perf_counter() - start)
            share = max(1.0, left / jobs) if args.budget > 0 else 0.0
            rows.append(bench_model(name, device, args, share, pc))
            jobs -= 1
    print(f"\n# total {time.perf_counter() - start:.0f} s\n")
    print(table(peaks, ["device", "peak GFLOP/s", "measured on", "precision"]))
    print()
    print(table(rows, ["device", "model", "kFLOP/vox", "volume", "repeats", "windows", "halo",
                       "exec/useful", "seconds", "Mvox/s", "achieved GFLOP/s",
                       "useful GFLOP/s", "peak GFLOP/s", "% peak", "one-pass vol", "one-pass s",
                       "one-pass GFLOP/s", "sliding/one-pass"]))


def thickslice_main(args: argparse.Namespace) -> None:
    """The thick-slice report (``--thickslice``)."""
    import os

    from _speed2d import bench_thickslice

    load = os.getloadavg()
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs", flush=True)
    t0 = time.perf_counter()
    res = bench_thickslice(args.thickslice, tuple(args.ts_shape), 4, tuple(args.e2e_shape),
                           torch.get_num_threads())
    print(f"\n# {args.thickslice}: width {res['width']}, {res['kflop_per_pixel']:.1f} kFLOP "
          "per plane pixel, 2 plane families per output voxel")
    print(table([{"conv 3x3 peak": k, "GFLOP/s": v} for k, v in res["peaks"].items()],
                ["conv 3x3 peak", "GFLOP/s"]))
    print()
    print(table(res["rows"], ["arithmetic", "volume", "output", "seconds", "Mvox/s",
                              "achieved GFLOP/s", "peak GFLOP/s", "% peak", "compute dtype"]))
    base = res["rows"][0]["seconds"]
    print("\nspeed-up over fp32 NCHW: " + ", ".join(
        f"{r['arithmetic']} {base / r['seconds']:.2f}x" for r in res["rows"]))
    e = res["e2e"]
    print(f"\nend to end: {e['command']} ({e['input']} -> {e['output']}, {e['threads']} "
          f"threads): {e['seconds']:.1f} s")
    load = os.getloadavg()
    print(f"# total {time.perf_counter() - t0:.0f} s; load average after {load[0]:.2f}")


if __name__ == "__main__":
    main()
