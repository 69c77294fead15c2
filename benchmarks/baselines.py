"""Interpolation baselines on real scans: simulate x2 and x4 thick slices, upsample back.

For each volume in ../shared/data whose slices are at most 1.05x the in-plane spacing
(so it can serve as ground truth), simulate a thick-slice acquisition along the
through-plane voxel axis (Gaussian slice profile, FWHM = slice spacing), run every
interpolation baseline back onto the original grid (--reference), and score PSNR/SSIM
inside the automatic foreground mask (data range = truth max - min).

Usage: python benchmarks/baselines.py [--factors 2 4] [--profile gaussian]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import shared_volumes, table

from volsr.degrade import ThickSlice
from volsr.inference import super_resolve
from volsr.io import load_volume
from volsr.metrics import evaluate, foreground_mask

BASELINES = ["nearest", "linear", "bspline", "lanczos", "fourier"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--factors", type=float, nargs="+", default=[2.0, 4.0])
    ap.add_argument("--profile", default="gaussian")
    ap.add_argument("--axis", type=int, default=2)
    args = ap.parse_args()
    rows = []
    for path in shared_volumes():
        truth = load_volume(path)
        sp = truth.spacing
        if sp.max() > 1.05 * sp.min():
            print(f"# {path.name}: anisotropic ({np.round(sp, 3).tolist()} mm), not a ground "
                  "truth; skipped")
            continue
        mask = foreground_mask(truth.data[0])
        for f in args.factors:
            lr = ThickSlice(axis=args.axis, factor=f, profile=args.profile)(truth)
            for name in BASELINES:
                t0 = time.perf_counter()
                sr = super_resolve(lr, name, reference=truth.grid)
                secs = time.perf_counter() - t0
                res = evaluate(truth, sr, mask=mask)
                rows.append({"volume": path.name.replace(".nii.gz", ""), "factor": f"x{f:g}",
                             "method": name, "PSNR": res.psnr, "SSIM": res.ssim,
                             "seconds": secs})
                print(f"{path.name:48s} x{f:g} {name:8s} PSNR {res.psnr:6.2f}  "
                      f"SSIM {res.ssim:.4f}  {secs:6.2f} s", flush=True)
    print()
    print(table(rows, ["volume", "factor", "method", "PSNR", "SSIM", "seconds"]))
    print()
    print("Mean over volumes:")
    summary = []
    for f in sorted({r["factor"] for r in rows}):
        for name in BASELINES:
            sel = [r for r in rows if r["factor"] == f and r["method"] == name]
            if sel:
                summary.append({"factor": f, "method": name,
                                "PSNR": float(np.mean([r["PSNR"] for r in sel])),
                                "SSIM": float(np.mean([r["SSIM"] for r in sel])),
                                "seconds": float(np.mean([r["seconds"] for r in sel])),
                                "n": len(sel)})
    print(table(summary, ["factor", "method", "PSNR", "SSIM", "seconds", "n"]))


if __name__ == "__main__":
    main()
