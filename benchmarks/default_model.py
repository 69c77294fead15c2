"""The bundled default model vs cubic B-spline on the held-out validation volumes.

For each validation volume of data_manifests/shared_data.json (t1_brain_niivue_otsu,
ct_abdomen_slab_totalsegmentator; never seen in training), simulate thick slices along z
at x2, x4 and x6 (Gaussian slice profile, FWHM = slice spacing, no gap), super-resolve
back onto the original grid (--reference) with B-spline and with the model, and score
with volsr.metrics.evaluate (automatic foreground mask, data range = truth max - min),
exactly what `volsr eval TRUTH SR --mask auto` prints.

Usage: python benchmarks/default_model.py [--weights default|DIR] [--factors 2 4 6]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from _common import REPO, SHARED_DATA, table

from volsr.data import load_manifest
from volsr.degrade import ThickSlice
from volsr.inference import Predictor, super_resolve
from volsr.io import load_volume
from volsr.metrics import evaluate, foreground_mask


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--weights", default="default")
    ap.add_argument("--factors", type=float, nargs="+", default=[2.0, 4.0, 6.0])
    ap.add_argument("--profile", default="gaussian")
    ap.add_argument("--split", default="validation")
    ap.add_argument("--json", default=None, help="also write the rows here")
    args = ap.parse_args()
    if not SHARED_DATA.is_dir():
        print(f"skipped: {SHARED_DATA} not found")
        return
    man = load_manifest(REPO / "data_manifests" / "shared_data.json")
    pred = Predictor.from_pretrained(args.weights, device="cpu")
    rows = []
    for case in man.cases(args.split):
        truth = load_volume(case.hr)
        mask = foreground_mask(truth.data[0])
        for f in args.factors:
            lr = ThickSlice(axis=2, factor=f, profile=args.profile)(truth)
            for name, run in (("bspline", lambda v: super_resolve(v, "bspline",
                                                                  reference=truth.grid)),
                              ("volsr default", lambda v: pred.run(v, reference=truth.grid))):
                t0 = time.perf_counter()
                sr = run(lr)
                secs = time.perf_counter() - t0
                res = evaluate(truth, sr, mask=mask)
                rows.append({"volume": case.id, "factor": f"x{f:g}", "method": name,
                             "PSNR": res.psnr, "SSIM": res.ssim, "HFEN": res.hfen,
                             "seconds": secs})
                print(f"{case.id:36s} x{f:g} {name:14s} PSNR {res.psnr:6.2f} SSIM "
                      f"{res.ssim:.4f} HFEN {res.hfen:.4f} {secs:6.1f} s", flush=True)
    print()
    print(table(rows, ["volume", "factor", "method", "PSNR", "SSIM", "HFEN", "seconds"]))
    print()
    print("Gain of the model over B-spline (dB), mean over volumes:")
    for f in args.factors:
        key = f"x{f:g}"
        gains = [m["PSNR"] - b["PSNR"] for b in rows for m in rows
                 if b["factor"] == m["factor"] == key and b["volume"] == m["volume"]
                 and b["method"] == "bspline" and m["method"] == "volsr default"]
        print(f"  {key}: {np.mean(gains):+.2f} dB  (per volume: "
              f"{', '.join(f'{g:+.2f}' for g in gains)})")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
