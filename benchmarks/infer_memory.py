"""Peak memory (RSS) of super-resolving a real CT to isotropic voxels.

Input: ../shared/data/ct_abdomen_pancreas_tcia_vtkdata.nii.gz (512 x 512 x 134,
1.074 x 1.074 x 3.0 mm); output --isotropic: 512 x 512 x 374 float32 (~374 MiB). Cases,
each in a fresh subprocess so that peaks do not mix:

* ``baseline``: imports (torch, monai, scipy, volsr) and loads the input, nothing else;
* ``bspline``: ``volsr.super_resolve(volume, "bspline", isotropic=True)``;
* ``srcnn_3d``: ``Predictor(srcnn_3d with random weights, patch 64^3).run(volume,
  isotropic=True)`` (every child imports the same libraries as the baseline).

Each child reports its own ``ru_maxrss`` (the kernel's peak RSS) and a timeline: the
library steps are wrapped (in the child only; no library file is changed) to log the RSS
when each step starts and ends, a thread samples the RSS every 10 ms to find the largest
value inside each step, and ``tracemalloc`` (which sees numpy buffers, not torch's) gives
each step's peak of numpy allocations. The table reports peak RSS raw and net of the
baseline child, the output size and peak/output (the issue's target: < 2x).

Usage: python benchmarks/infer_memory.py [--cases bspline srcnn_3d] [--overlap 0.25] [--quick]
       (--quick: a 4-channel srcnn_3d, for a fast check of the memory path only)
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from _common import SHARED_DATA, table

CT = "ct_abdomen_pancreas_tcia_vtkdata.nii.gz"
CASES = ("baseline", "bspline", "srcnn_3d")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mib() -> float:
    """Current resident set size in MiB (/proc/self/statm)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE / 2**20


def maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Tracer:
    """Timeline of labelled steps with the current, sampled-max and kernel-peak RSS."""

    def __init__(self) -> None:
        import tracemalloc

        self.tm = tracemalloc
        self.t0 = time.perf_counter()
        self.phase = "setup"
        self.phase_max: dict[str, float] = {}
        self.events: list[dict[str, Any]] = []
        self.frames: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        tracemalloc.start()
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            r = rss_mib()
            if r > self.phase_max.get(self.phase, 0.0):
                self.phase_max[self.phase] = r

    def event(self, what: str, tm_peak: float | None = None) -> None:
        e = {"t": round(time.perf_counter() - self.t0, 2), "event": what,
             "rss": round(rss_mib(), 1), "maxrss": round(maxrss_mib(), 1)}
        if tm_peak is not None:
            e["numpy_peak"] = round(tm_peak, 1)
        self.events.append(e)

    def _fold(self) -> None:
        peak = self.tm.get_traced_memory()[1]
        for f in self.frames:
            f["peak"] = max(f["peak"], peak)

    def wrap(self, owner: Any, attr: str, label: str) -> None:
        """Replace ``owner.attr`` by a version that logs the step (this process only)."""
        fn = getattr(owner, attr)

        @functools.wraps(fn)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            self._fold()
            self.tm.reset_peak()
            cur = self.tm.get_traced_memory()[0]
            frame = {"label": label, "base": cur, "peak": cur}
            self.frames.append(frame)
            self.phase = label
            self.event(f"start {label}")
            try:
                return fn(*args, **kwargs)
            finally:
                self._fold()
                self.frames.pop()
                self.event(f"end   {label}", tm_peak=(frame["peak"] - frame["base"]) / 2**20)
                outer = self.frames[-1]["label"] if self.frames else "run"
                self.phase = f"{outer} (after {label})"

        setattr(owner, attr, wrapped)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.tm.stop()


def child(case: str, path: Path, quick: bool, overlap: float) -> None:
    """Run one case in this (fresh) process and print a RESULT json line."""
    import monai.inferers  # noqa: F401  (imported by every case: same baseline)
    import numpy as np
    import scipy.ndimage  # noqa: F401
    import torch

    import volsr
    import volsr.data.normalize as normalize
    import volsr.inference.sliding as sliding
    from volsr.inference.predictor import Predictor
    from volsr.io import load_volume
    from volsr.models import create_model
    from volsr.models.interpolation import Interpolator

    after_import = rss_mib()
    tracer = Tracer() if case != "baseline" else None
    vol = load_volume(path)
    after_load = rss_mib()
    res: dict[str, Any] = {"case": case, "input_shape": list(vol.spatial_shape),
                           "input_mib": vol.data.nbytes / 2**20,
                           "rss_after_import": after_import, "rss_after_load": after_load}
    if tracer is not None:
        tracer.event("loaded input")
        tracer.wrap(Interpolator, "resample_linear", "bspline resample_linear")
        tracer.wrap(normalize, "fit_normalization", "fit_normalization")
        tracer.wrap(normalize.Normalization, "forward", "Normalization.forward")
        tracer.wrap(normalize.Normalization, "inverse", "Normalization.inverse")
        tracer.wrap(sliding, "sliding_window_predict", "sliding_window_predict")
        tracer.wrap(monai.inferers, "sliding_window_inference", "monai sliding_window_inference")
        tracer.wrap(np, "stack", "np.stack")
        tracer.phase = "run"
    t0 = time.perf_counter()
    out = None
    if case == "bspline":
        tracer.wrap(volsr, "super_resolve", "super_resolve")  # type: ignore[union-attr]
        out = volsr.super_resolve(vol, "bspline", isotropic=True)
    elif case != "baseline":
        torch.manual_seed(0)
        kwargs = {"features": (4, 4)} if quick else {}
        net = create_model(case, **kwargs)
        pred = Predictor(net, model_name=case, device="cpu", patch_size=(64, 64, 64),
                         overlap=overlap)
        tracer.wrap(pred, "run", "Predictor.run")  # type: ignore[union-attr]
        out = pred.run(vol, isotropic=True)
    res["seconds"] = time.perf_counter() - t0
    res["peak_rss"] = maxrss_mib()
    if out is not None:
        res["output_shape"] = list(out.spatial_shape)
        res["output_dtype"] = str(out.data.dtype)
        res["output_mib"] = out.data.nbytes / 2**20
    if tracer is not None:
        tracer.event("done")
        tracer.stop()
        res["events"] = tracer.events
        res["phase_max_rss"] = {k: round(v, 1) for k, v in tracer.phase_max.items()}
    print("RESULT " + json.dumps(res), flush=True)


def run_child(case: str, path: Path, quick: bool, overlap: float) -> dict[str, Any] | None:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--case", case, "--input", str(path),
           "--overlap", str(overlap)]
    if quick:
        cmd.append("--quick")
    print("$ " + " ".join(cmd[1:]), flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
        print(f"# case {case} failed (exit {proc.returncode})", flush=True)
        return None
    res = json.loads(lines[-1][len("RESULT "):])
    res["children_maxrss"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    return res


def print_timeline(res: dict[str, Any]) -> None:
    print(f"\n### {res['case']}: timeline (MiB; rss = now, maxrss = kernel peak so far, "
          "numpy_peak = tracemalloc peak of numpy allocations inside the step)")
    for e in res["events"]:
        extra = f"  numpy_peak {e['numpy_peak']:8.1f}" if "numpy_peak" in e else ""
        print(f"  {e['t']:7.2f} s  {e['event']:42s} rss {e['rss']:8.1f}  maxrss "
              f"{e['maxrss']:8.1f}{extra}")
    print("  sampled max RSS per step (every 10 ms):")
    for k, v in sorted(res["phase_max_rss"].items(), key=lambda kv: -kv[1]):
        print(f"    {v:8.1f}  {k}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", choices=CASES, help="(internal) run one case in this process")
    ap.add_argument("--cases", nargs="+", default=["bspline", "srcnn_3d"],
                    choices=CASES[1:])
    ap.add_argument("--input", type=Path, default=SHARED_DATA / CT)
    ap.add_argument("--overlap", type=float, default=0.25,
                    help="sliding-window overlap of the network case (Predictor default 0.25)")
    ap.add_argument("--quick", action="store_true",
                    help="srcnn_3d with 4+4 features (same memory path, much faster)")
    args = ap.parse_args()
    if args.case:
        child(args.case, args.input, args.quick, args.overlap)
        return
    if not args.input.is_file():
        print(f"skipped: {args.input} not found")
        return
    base = run_child("baseline", args.input, args.quick, args.overlap)
    if base is None:
        raise SystemExit("the baseline child failed")
    print(f"# baseline child: RSS after imports {base['rss_after_import']:.1f} MiB, after "
          f"loading {base['input_shape']} ({base['input_mib']:.1f} MiB float32) "
          f"{base['rss_after_load']:.1f} MiB, peak {base['peak_rss']:.1f} MiB", flush=True)
    rows = []
    for case in args.cases:
        res = run_child(case, args.input, args.quick, args.overlap)
        if res is None:
            rows.append({"case": case, "output": "failed"})
            continue
        print_timeline(res)
        out = res["output_mib"]
        net = res["peak_rss"] - base["peak_rss"]
        name = case + (" (quick: features 4,4)" if args.quick and case != "bspline" else "")
        rows.append({
            "case": name, "output": "x".join(map(str, res["output_shape"])),
            "output MiB": out, "peak RSS MiB": res["peak_rss"], "baseline MiB": base["peak_rss"],
            "net MiB": net, "peak/output": res["peak_rss"] / out, "net/output": net / out,
            "< 2x (net)": "yes" if net < 2 * out else "no", "seconds": res["seconds"],
        })
        print(f"# {case}: peak {res['peak_rss']:.1f} MiB (parent's RUSAGE_CHILDREN max so far "
              f"{res['children_maxrss']:.1f}), {res['seconds']:.1f} s", flush=True)
    print()
    print(table(rows, ["case", "output", "output MiB", "peak RSS MiB", "baseline MiB",
                       "net MiB", "peak/output", "net/output", "< 2x (net)", "seconds"]))


if __name__ == "__main__":
    main()
