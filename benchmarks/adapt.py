"""Per-scan adaptation vs the non-adapted model vs B-spline (issue 16, section 3).

Volumes: the validation split of data_manifests/shared_data.json (t1_brain_niivue_otsu,
ct_abdomen_slab_totalsegmentator; never trained on) plus the shared isotropic scans not
used in training (``--extra``, default t1_brain_niivue_chris). Each is degraded to thick
slices along z (``--factor``, default 4; rect and Gaussian profiles, width = the slice
spacing), the profile is NOT given to the program (``--profile auto``), and the scan is
super-resolved back onto the original grid (``reference=``) by cubic B-spline, by the
model as it is, and by the model adapted to the scan (what ``volsr infer --adapt`` runs).
Scores: volsr.metrics.evaluate inside the truth's automatic foreground mask, as
benchmarks/default_model.py. Prints one row per case and the targets' summary.

Usage: python benchmarks/adapt.py [--model NAME | --weights DIR] [--max-size 128] [--true-profile]
       [--adapt-seconds S] [--threads 1] [--set lr=1e-4 l2sp=1e-3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from _common import SHARED_DATA, table, validation_and_extra

from volsr.adapt import adapting_predictor
from volsr.benchmark.runner import crop_center
from volsr.degrade import ThickSlice
from volsr.io import load_volume
from volsr.metrics import evaluate, foreground_mask
from volsr.predictors import load_predictor, super_resolve


def _value(text: str) -> object:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model name (default: volsr infer's)")
    ap.add_argument("--weights", default=None, help="weights folder")
    ap.add_argument("--factor", type=float, default=4.0)
    ap.add_argument("--profiles", nargs="+", default=["rect", "gaussian"])
    ap.add_argument("--extra", nargs="*", default=["t1_brain_niivue_chris"],
                    help="isotropic shared scans not used in training")
    ap.add_argument("--only", nargs="*", default=None, help="run only these volume ids")
    ap.add_argument("--adapt-seconds", type=float, default=None)
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="further adaptation settings (lr, l2sp, batch_size, ...)")
    ap.add_argument("--true-profile", action="store_true",
                    help="give adaptation the true profile (the ceiling of profile estimation)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads")
    ap.add_argument("--max-size", type=int, default=None, help="centre crop (voxels/axis)")
    ap.add_argument("--json", default=None, help="also write the rows here")
    args = ap.parse_args()
    if not SHARED_DATA.is_dir():
        print(f"skipped: {SHARED_DATA} not found")
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    extra = {k: _value(v) for k, v in (s.split("=", 1) for s in args.set)}
    base = load_predictor(args.model, args.weights, device="cpu")
    adapters = {p: adapting_predictor(base, seconds=args.adapt_seconds,
                                      profile=p if args.true_profile else "auto", **extra)
                for p in args.profiles}
    rows = []
    t_all = time.perf_counter()
    for vid, path in validation_and_extra(args.extra):
        if args.only and vid not in args.only:
            continue
        truth = crop_center(load_volume(path), args.max_size)
        mask = foreground_mask(truth.data[0])
        for profile in args.profiles:
            lr = ThickSlice(axis=2, factor=args.factor, profile=profile)(truth)
            adapt = adapters[profile]
            row: dict = {"volume": vid, "shape": "x".join(map(str, lr.spatial_shape)),
                         "profile": profile}
            for key, run in (("bspline", lambda v, g: super_resolve(v, "bspline", reference=g)),
                             ("model", lambda v, g: base.run(v, reference=g)),
                             ("adapt", lambda v, g, a=adapt: a.run(v, reference=g))):
                t0 = time.perf_counter()
                sr = run(lr, truth.grid)
                row[f"{key} s"] = time.perf_counter() - t0
                res = evaluate(truth, sr, mask=mask)
                row[f"{key} PSNR"], row[f"{key} SSIM"] = res.psnr, res.ssim
            rec = adapt.last_adaptation or {}
            est = (rec.get("profile") or {}).get("estimate") or {}
            used = (rec.get("profile") or {}).get("used") or {}
            row.update({
                "adapt - model dB": row["adapt PSNR"] - row["model PSNR"],
                "adapt - bspline dB": row["adapt PSNR"] - row["bspline PSNR"],
                "model - bspline dB": row["model PSNR"] - row["bspline PSNR"],
                "adapted": rec.get("adapted"), "steps": rec.get("steps"),
                "heldout before": rec.get("heldout_l1_before"),
                "heldout after": rec.get("heldout_l1_after"),
                "profile used": f"{used.get('kind')} {used.get('thickness_mm', 0):.2f}",
                "estimate conf": (est.get("estimate") or {}).get("confidence"),
            })
            rows.append(row)
            print(f"{vid} {profile}: B-spline {row['bspline PSNR']:.2f}, model "
                  f"{row['model PSNR']:.2f}, adapt {row['adapt PSNR']:.2f} dB "
                  f"({row['adapt - model dB']:+.2f} vs model), {row['adapt s']:.0f} s, "
                  f"adapted={row['adapted']}, steps={row['steps']}", flush=True)
    total = time.perf_counter() - t_all
    print(f"\n{args.model or args.weights or 'volsr infer default'}, x{args.factor:g}, "
          f"{torch.get_num_threads()} thread(s), crop {args.max_size or 'none'}, adaptation "
          f"{next(iter(adapters.values())).settings.to_dict()}, {total:.0f} s in all\n")
    print(table(rows, ["volume", "shape", "profile", "bspline PSNR", "model PSNR", "adapt PSNR",
                       "model - bspline dB", "adapt - model dB", "adapt - bspline dB",
                       "bspline SSIM", "model SSIM", "adapt SSIM", "adapted", "steps",
                       "heldout before", "heldout after", "profile used", "estimate conf",
                       "model s", "adapt s"]))
    if rows:
        d = np.array([r["adapt - model dB"] for r in rows])
        b = np.array([r["adapt - bspline dB"] for r in rows])
        print(f"\nadapt - model: mean {d.mean():+.3f} dB (target >= +0.4), worst "
              f"{d.min():+.3f} dB (target >= -0.05); adapt - B-spline: mean {b.mean():+.3f} dB "
              f"(target >= +2.0); adapt seconds: max "
              f"{max(r['adapt s'] for r in rows):.0f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"rows": rows, "seconds": total}, fh, indent=1, default=str)


if __name__ == "__main__":
    main()
