"""A 512 x 512 x 300 CT to 0.5 mm isotropic: peak memory of `volsr infer`, in RAM and streamed.

The input is a synthetic body CT (volsr.phantom, HU) of 512 x 512 x 300 voxels at
0.78 x 0.78 x 1.5 mm (a typical abdominal CT); ``--target-spacing 0.5`` asks for
800 x 800 x 900 voxels (2.1 GiB of float32). Each case is a fresh ``volsr infer``
subprocess; its peak RSS comes from ``RUSAGE_CHILDREN`` (the kernel's high-water mark),
so nothing in volsr is instrumented.

Cases:

* ``bspline``: cubic B-spline interpolation;
* ``network``: a "pre" 3D network (srcnn_3d with few features and random weights: the
  memory path is the one of any "pre" network; its working set is a few windows) with
  the memory the machine has free;
* ``network --max-memory G``: the same with a RAM budget below the in-RAM estimate, so
  that the preflight builds the output in a memory-mapped buffer beside the output, slab
  by slab (the outputs of the two network cases are compared voxel by voxel).

``--max-memory`` counts the run's data on top of what the process already holds (the
imported libraries, about 0.4 GiB), as ``volsr infer --max-memory`` does.

Usage: python benchmarks/large_volume.py [--shape 512 512 300] [--spacing 0.78 0.78 1.5]
       [--target 0.5] [--max-memory 1.5] [--features 4] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import table


_WRAP = """
import resource, subprocess, sys, time
p = subprocess.Popen(sys.argv[1:])
anon = 0
while p.poll() is None:
    try:
        with open(f"/proc/{p.pid}/status") as f:
            for ln in f:
                if ln.startswith("RssAnon:"):
                    anon = max(anon, int(ln.split()[1]))
    except OSError:
        pass
    time.sleep(0.1)
print("PEAK_KIB", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, anon, file=sys.stderr)
sys.exit(p.returncode)
"""


def run_case(cmd: list[str]) -> tuple[float, float, float]:
    """Run ``cmd`` under a fresh wrapper process; return (seconds, peak RSS, peak anonymous
    RSS), both in MiB.

    The wrapper has exactly one child, so its ``RUSAGE_CHILDREN`` high-water mark is that
    child's peak RSS (the parent's would be the maximum over all cases run so far). RSS
    also counts the pages of a memory-mapped output buffer that sit in the page cache;
    those are file-backed and the kernel writes them back and reclaims them under
    pressure, so the anonymous part (``RssAnon``, sampled every 0.1 s) is what must fit.
    """
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", _WRAP, *cmd], capture_output=True, text=True)
    secs = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-2000:]}")
    line = next(ln for ln in r.stderr.splitlines() if ln.startswith("PEAK_KIB"))
    _, rss, anon = line.split()
    return secs, int(rss) / 1024.0, int(anon) / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--shape", type=int, nargs=3, default=[512, 512, 300])
    ap.add_argument("--spacing", type=float, nargs=3, default=[0.78, 0.78, 1.5])
    ap.add_argument("--target", type=float, default=0.5)
    ap.add_argument("--max-memory", type=float, default=1.5,
                    help="GiB for the streamed case (below the in-RAM estimate)")
    ap.add_argument("--features", type=int, default=4)
    ap.add_argument("--keep", type=Path, default=None, help="work folder (default: temporary)")
    ap.add_argument("--cases", nargs="+", default=None,
                    choices=["bspline", "network", "network-streamed"],
                    help="run only these cases (default: all)")
    args = ap.parse_args()

    import torch

    from volsr.checkpoint import save_weights
    from volsr.io import save_volume
    from volsr.models import create_model
    from volsr.phantom import phantom_volume

    work = args.keep or Path(tempfile.mkdtemp(prefix="volsr-large-"))
    work.mkdir(parents=True, exist_ok=True)
    src = work / "ct.nii.gz"
    t0 = time.perf_counter()
    if not src.exists():
        save_volume(phantom_volume(tuple(args.shape), tuple(args.spacing), kind="body",
                                   supersample=1, noise=10.0), src)
    print(f"# input {args.shape} at {args.spacing} mm written in "
          f"{time.perf_counter() - t0:.0f} s", flush=True)
    torch.manual_seed(0)
    net = create_model("srcnn_3d", features=(args.features, args.features),
                       kernel_sizes=(9, 1, 5))
    weights = save_weights(net, work / "weights", model_name="srcnn_3d",
                           normalization={"name": "ct_window", "min": -1000, "max": 1000},
                           inference={"patch_size": [96, 96, 96], "overlap": 0.0})
    out_shape = [round(n * s / args.target) for n, s in zip(args.shape, args.spacing)]
    out_mib = 4 * float(np.prod(out_shape)) / 2**20
    base = [sys.executable, "-m", "volsr", "infer", str(src), "--target-spacing",
            str(args.target), str(args.target), str(args.target), "--device", "cpu",
            "--overwrite"]
    cases = [("bspline", ["--model", "bspline"]),
             ("network", ["--weights", str(weights)]),
             (f"network --max-memory {args.max_memory:g}",
              ["--weights", str(weights), "--max-memory", str(args.max_memory)])]
    rows = []
    outputs = {}
    for label, extra in cases:
        dst = work / f"out_{label.split()[0]}{'_streamed' if 'max-memory' in label else ''}.nii.gz"
        if args.cases and label.split()[0] + ("-streamed" if "max-memory" in label else "") \
                not in args.cases:
            continue
        secs, peak, anon = run_case([*base, "-o", str(dst), *extra])
        side = json.loads(next(work.glob(f"{dst.name.split('.')[0]}*.json")).read_text())
        mode = side.get("memory", {}).get("mode", "-")
        rows.append({"case": label, "memory mode": mode, "seconds": round(secs, 1),
                     "peak RSS MiB": round(peak), "peak anon RSS MiB": round(anon),
                     "output MiB": round(out_mib), "peak / output": round(peak / out_mib, 2),
                     "anon / output": round(anon / out_mib, 2)})
        outputs[label] = dst
        print(f"{label}: {secs:.0f} s, peak RSS {peak:.0f} MiB, anonymous {anon:.0f} MiB "
              f"({mode})", flush=True)
    import nibabel as nib

    print()
    print(table(rows, ["case", "memory mode", "seconds", "peak RSS MiB", "peak anon RSS MiB",
                       "output MiB", "peak / output", "anon / output"]))
    if len(outputs) < 3:
        return
    a = np.asarray(nib.load(outputs["network"]).dataobj, dtype=np.float32)
    b = np.asarray(nib.load(outputs[cases[2][0]]).dataobj, dtype=np.float32)
    diff = float(np.abs(a - b).max())
    print(f"\n# output grid {out_shape} ({out_mib:.0f} MiB float32); RAM vs streamed network "
          f"outputs: max |difference| {diff:.3g} HU (slabs of other thickness; float rounding)")


if __name__ == "__main__":
    main()
