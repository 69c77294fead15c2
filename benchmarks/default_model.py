"""A learned model vs cubic B-spline on the held-out validation volumes (issue 15, section 5).

For each validation volume of data_manifests/shared_data.json (t1_brain_niivue_otsu,
ct_abdomen_slab_totalsegmentator; never seen in training), each slice profile (rect and
Gaussian, FWHM = slice spacing, no gap) and each factor (2, 4, 6), simulate thick slices
along z, super-resolve back onto the original grid (``reference=``) with B-spline and with
the model, and score both with volsr.metrics.evaluate inside the truth's automatic
foreground mask (data range = truth max - min): exactly what `volsr eval TRUTH SR --mask
auto` prints. Prints one markdown row per case (B-spline and model PSNR / SSIM / HFEN, the
gains, seconds) and the mean gain per factor.

Usage: python benchmarks/default_model.py [--model NAME | --weights DIR] [--factors 2 4 6]
       [--profiles rect gaussian] [--threads 1] [--max-size N] [--json FILE]

``--model``: anything ``volsr infer --model`` takes (a bundled name such as
``thickslice_v1``, ``default``); without ``--model``/``--weights``: what ``volsr infer``
runs with no ``--model``. ``--max-size N``: centre-crop each volume to at most N voxels
per axis first (faster; the figures are then of the crop).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from _common import SHARED_DATA, manifest_cases, table

from volsr.benchmark.runner import crop_center
from volsr.degrade import ThickSlice
from volsr.io import load_volume
from volsr.metrics import evaluate, foreground_mask
from volsr.predictors import load_predictor, super_resolve


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model name (default: volsr infer's)")
    ap.add_argument("--weights", default=None, help="weights folder or training run folder")
    ap.add_argument("--factors", type=float, nargs="+", default=[2.0, 4.0, 6.0])
    ap.add_argument("--profiles", nargs="+", default=["rect", "gaussian"])
    ap.add_argument("--split", default="validation")
    ap.add_argument("--threads", type=int, default=None, help="torch threads")
    ap.add_argument("--max-size", type=int, default=None, help="centre crop (voxels/axis)")
    ap.add_argument("--precision", default=None, help="auto (default), fp32 or bf16")
    ap.add_argument("--json", default=None, help="also write the rows here")
    args = ap.parse_args()
    if not SHARED_DATA.is_dir():
        print(f"skipped: {SHARED_DATA} not found")
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    pred = load_predictor(args.model, args.weights, device="cpu", precision=args.precision)
    label = args.model or args.weights or "volsr infer default"
    t_all = time.perf_counter()
    rows = []
    for case in manifest_cases(args.split):
        truth = crop_center(load_volume(case.hr), args.max_size)
        mask = foreground_mask(truth.data[0])
        for profile in args.profiles:
            for f in args.factors:
                lr = ThickSlice(axis=2, factor=f, profile=profile)(truth)
                row = {"volume": case.id, "shape": "x".join(map(str, truth.spatial_shape)),
                       "profile": profile, "factor": f"x{f:g}"}
                for key, run in (("bspline", lambda v, g: super_resolve(
                                     v, "bspline", reference=g)),
                                 ("model", lambda v, g: pred.run(v, reference=g))):
                    t0 = time.perf_counter()
                    sr = run(lr, truth.grid)
                    row[f"{key} s"] = time.perf_counter() - t0
                    res = evaluate(truth, sr, mask=mask)
                    row[f"{key} PSNR"], row[f"{key} SSIM"] = res.psnr, res.ssim
                    row[f"{key} HFEN"] = res.hfen
                row["gain dB"] = row["model PSNR"] - row["bspline PSNR"]
                row["dSSIM"] = row["model SSIM"] - row["bspline SSIM"]
                row["dHFEN"] = row["model HFEN"] - row["bspline HFEN"]
                rows.append(row)
                print(f"{case.id} {profile} x{f:g}: B-spline {row['bspline PSNR']:.2f} dB, "
                      f"model {row['model PSNR']:.2f} dB ({row['gain dB']:+.2f}), "
                      f"{row['model s']:.1f} s", flush=True)
    total = time.perf_counter() - t_all
    print(f"\n{label} ({pred.model_name}), {torch.get_num_threads()} thread(s), "
          f"crop {args.max_size or 'none'}, {total:.0f} s in all\n")
    print(table(rows, ["volume", "shape", "profile", "factor", "bspline PSNR", "model PSNR",
                       "gain dB", "bspline SSIM", "model SSIM", "dSSIM", "bspline HFEN",
                       "model HFEN", "dHFEN", "bspline s", "model s"]))
    print("\nMean over volumes and profiles:\n")
    means = []
    for f in args.factors:
        sel = [r for r in rows if r["factor"] == f"x{f:g}"]
        means.append({"factor": f"x{f:g}", "cases": len(sel),
                      "mean gain dB": float(np.mean([r["gain dB"] for r in sel])),
                      "min gain dB": float(np.min([r["gain dB"] for r in sel])),
                      "mean dSSIM": float(np.mean([r["dSSIM"] for r in sel])),
                      "min dSSIM": float(np.min([r["dSSIM"] for r in sel])),
                      "mean dHFEN": float(np.mean([r["dHFEN"] for r in sel]))})
    print(table(means, ["factor", "cases", "mean gain dB", "min gain dB", "mean dSSIM",
                        "min dSSIM", "mean dHFEN"]))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"rows": rows, "means": means, "seconds": total}, fh, indent=1)


if __name__ == "__main__":
    main()
