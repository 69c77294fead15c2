"""How much bfloat16 autocast moves a 2D model's output: PSNR of bf16 and fp32 vs the truth.

For each held-out validation volume of data_manifests/shared_data.json (a T1 MR and a CT),
simulate thick slices along z (default x4, rect profile), super-resolve back onto the
original grid with the model twice, ``precision="fp32"`` and ``precision="bf16"``
(WindowSettings, the only difference), and score both inside the automatic foreground
mask (volsr.metrics.evaluate). ``auto`` may choose bf16 for a model on a CPU only when
|PSNR(bf16) - PSNR(fp32)| < 0.02 dB on every volume. Also prints the seconds of each
run and the largest absolute difference of the two outputs (input units).

Usage: python benchmarks/precision.py [--weights thickslice_v1] [--factor 4]
       [--profile rect] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _common import SHARED_DATA, manifest_cases, table

from volsr.degrade import ThickSlice
from volsr.inference import Predictor
from volsr.io import load_volume
from volsr.metrics import evaluate, foreground_mask

LIMIT_DB = 0.02


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default="thickslice_v1")
    ap.add_argument("--factor", type=float, default=4.0)
    ap.add_argument("--profile", default="rect")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--split", default="validation")
    args = ap.parse_args()
    if not SHARED_DATA.is_dir():
        print(f"skipped: {SHARED_DATA} not found")
        return
    torch.set_num_threads(args.threads)
    preds = {p: Predictor.from_pretrained(args.weights, device="cpu", precision=p)
             for p in ("fp32", "bf16")}
    rows = []
    for case in manifest_cases(args.split):
        truth = load_volume(case.hr)
        mask = foreground_mask(truth.data[0])
        lr = ThickSlice(axis=2, factor=args.factor, profile=args.profile)(truth)
        out, row = {}, {"volume": case.id, "shape": "x".join(map(str, truth.spatial_shape))}
        for p, pred in preds.items():
            t0 = time.perf_counter()
            out[p] = pred.run(lr, reference=truth.grid)
            row[f"s {p}"] = time.perf_counter() - t0
            row[f"PSNR {p}"] = evaluate(truth, out[p], mask=mask, metrics=("psnr",)).psnr
            print(f"{case.id} {p}: {row[f'PSNR {p}']:.4f} dB, {row[f's {p}']:.1f} s",
                  flush=True)
        row["dPSNR"] = row["PSNR bf16"] - row["PSNR fp32"]
        row["max |diff|"] = float(np.abs(out["bf16"].data - out["fp32"].data).max())
        row["same grid"] = bool(np.array_equal(out["bf16"].affine, out["fp32"].affine)
                                and out["bf16"].spatial_shape == out["fp32"].spatial_shape)
        rows.append(row)
    print()
    print(f"{args.weights}, x{args.factor:g} {args.profile} along z, {args.threads} thread(s)")
    print(table(rows, ["volume", "shape", "PSNR fp32", "PSNR bf16", "dPSNR", "max |diff|",
                       "s fp32", "s bf16", "same grid"]))
    ok = all(abs(r["dPSNR"]) < LIMIT_DB for r in rows)
    print(f"\n|dPSNR| < {LIMIT_DB} dB on every volume: {ok}")


if __name__ == "__main__":
    main()
