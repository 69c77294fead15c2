"""``volsr ssr`` with the slice profile estimated (``auto``) vs given (issue 16, section 3).

Target: ``volsr ssr --budget fast`` with ``--profile auto`` within 0.15 dB of the same run
given the true profile, on every case. Volumes: the validation split of
data_manifests/shared_data.json (never trained on) plus ``--extra`` shared isotropic scans
(as benchmarks/adapt.py), centre-cropped to ``--max-size``, degraded with
volsr.degrade.ThickSlice along z (``--factor``, rect and Gaussian ``--profiles``,
thickness = factor x (1 - gap) voxels). Each case is super-resolved back onto the original
grid (``reference=``) by cubic B-spline and by two ``self_super_resolve`` runs with the same
seed and budget:

* ``auto``: nothing given (the program estimates the family and the thickness, and falls
  back to a Gaussian of FWHM = slice spacing when the estimate is not confident);
* ``true``: the simulated family and thickness given (what benchmarks/ssr.py runs).

Scores: volsr.metrics.evaluate(truth, sr, mask="auto") as benchmarks/ssr.py. Prints one
row per case (PSNRs, auto - true dB, the estimate and whether it was used, steps,
seconds) and the summary: worst and mean auto - true, and how many cases are within
``--tol`` dB. A run that ``self_super_resolve`` refuses (e.g. too few slices) is reported
with its error, not counted.

Usage: python benchmarks/ssr_profile.py [--extra t1_brain_niivue_chris ...] [--only ID ...]
       [--max-size 128] [--budget fast] [--threads 1] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
from _common import SHARED_DATA, table, validation_and_extra


def _ssr(lr: Any, truth: Any, args: argparse.Namespace, **given: Any) -> dict[str, Any]:
    """One self_super_resolve run scored against ``truth``; ``error`` when refused."""
    from volsr.errors import VolsrError
    from volsr.metrics import evaluate
    from volsr.ssr import self_super_resolve

    cap = {} if args.max_seconds is None else {"max_seconds": args.max_seconds or 1e12}
    if args.steps is not None:
        cap["steps"] = args.steps
    t0 = time.perf_counter()
    try:
        res = self_super_resolve(lr, budget=args.budget, reference=truth.grid, device="cpu",
                                 seed=args.seed, threads=args.threads, progress=False,
                                 **cap, **given)
    except (VolsrError, ValueError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}", "seconds": time.perf_counter() - t0}
    secs = time.perf_counter() - t0
    ev = evaluate(truth, res.volume, mask="auto")
    rep = res.report
    return {"PSNR": ev.psnr, "SSIM": ev.ssim, "seconds": secs,
            "steps": "/".join(str(v["steps"]) for v in rep["training"].values()),
            "profile": rep["profile"], "profile_estimate": rep.get("profile_estimate"),
            "warnings": rep.get("warnings", [])}


def _estimate_text(rec: dict[str, Any] | None, used: dict[str, Any]) -> str:
    """``rect 3.41 mm c=0.12 fc=0.30 used`` / ``... fallback`` / ``failed``."""
    if not rec:
        return "-"
    est = rec.get("estimate")
    tail = "used" if rec.get("used") else (
        f"fallback {used.get('kind')} {used.get('thickness_mm', 0):.2f} mm")
    if est is None:
        return f"failed, {tail}"
    return (f"{est['family']} {est['thickness_mm']:.2f} mm c={est['confidence']:.3f} "
            f"fc={est.get('family_confidence', float('nan')):.2f} {tail}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--factor", type=float, default=4.0)
    ap.add_argument("--profiles", nargs="+", default=["rect", "gaussian"])
    ap.add_argument("--gap", type=float, default=0.0, help="gap as a fraction of the spacing")
    ap.add_argument("--extra", nargs="*", default=["t1_brain_niivue_chris"],
                    help="further isotropic shared scans")
    ap.add_argument("--only", nargs="*", default=None, help="run only these volume ids")
    ap.add_argument("--budget", default="fast")
    ap.add_argument("--max-seconds", type=float, default=None,
                    help="replace the budget's training time cap (0: none), so that both "
                         "runs train the same steps on a loaded machine")
    ap.add_argument("--steps", type=int, default=None, help="override the budget's steps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch threads")
    ap.add_argument("--max-size", type=int, default=None, help="centre crop (voxels/axis)")
    ap.add_argument("--tol", type=float, default=0.15, help="target |auto - true| in dB")
    ap.add_argument("--json", default=None, help="also write the rows here")
    args = ap.parse_args()
    if not SHARED_DATA.is_dir():
        print(f"skipped: {SHARED_DATA} not found")
        return

    import torch

    from volsr.benchmark.runner import crop_center
    from volsr.degrade import ThickSlice
    from volsr.io import load_volume
    from volsr.metrics import evaluate
    from volsr.predictors import super_resolve

    if args.threads:
        torch.set_num_threads(args.threads)  # B-spline too
    rows: list[dict[str, Any]] = []
    t_all = time.perf_counter()
    for vid, path in validation_and_extra(args.extra):
        if args.only and vid not in args.only:
            continue
        truth = crop_center(load_volume(path), args.max_size)
        for prof in args.profiles:
            t_case = time.perf_counter()
            thick_vox = args.factor * (1.0 - args.gap)
            lr = ThickSlice(axis=2, factor=args.factor, profile=prof, thickness=thick_vox)(truth)
            thick_mm = thick_vox * float(truth.spacing[2])
            row: dict[str, Any] = {"volume": vid,
                                   "shape": "x".join(map(str, lr.spatial_shape)),
                                   "profile": prof, "true mm": thick_mm}
            bsp = super_resolve(lr, "bspline", reference=truth.grid)
            row["bspline PSNR"] = evaluate(truth, bsp, mask="auto").psnr
            runs = {"auto": _ssr(lr, truth, args, profile="auto"),
                    "true": _ssr(lr, truth, args, profile=prof, slice_thickness=thick_mm)}
            for key, r in runs.items():
                row[f"{key} PSNR"] = r.get("PSNR", float("nan"))
                row[f"{key} s"] = r["seconds"]
                row[f"{key} steps"] = r.get("steps", "-")
                row[f"{key} error"] = r.get("error")
            a = runs["auto"]
            row["auto - true dB"] = row["auto PSNR"] - row["true PSNR"]
            row["true - bspline dB"] = row["true PSNR"] - row["bspline PSNR"]
            row["estimate"] = (_estimate_text(a.get("profile_estimate"), a.get("profile") or {})
                               if "error" not in a else "refused")
            row["auto used"] = a.get("profile")
            row["profile_estimate"] = a.get("profile_estimate")
            row["auto warnings"] = a.get("warnings")
            row["case s"] = time.perf_counter() - t_case
            rows.append(row)
            _write(args.json, args, rows, time.perf_counter() - t_all)
            errs = "; ".join(f"{k} refused: {r['error']}" for k, r in runs.items()
                             if r.get("error"))
            print(f"{vid} {prof} {row['shape']}: B-spline {row['bspline PSNR']:.2f}, auto "
                  f"{row['auto PSNR']:.2f}, true {row['true PSNR']:.2f} dB "
                  f"(auto - true {row['auto - true dB']:+.3f}); estimate {row['estimate']}; "
                  f"steps {row['auto steps']} / {row['true steps']}; "
                  f"{row['auto s']:.0f} + {row['true s']:.0f} s" + (f"; {errs}" if errs else ""),
                  flush=True)
    total = time.perf_counter() - t_all
    print(f"\nvolsr ssr --budget {args.budget}, x{args.factor:g} along z, gap {args.gap:g}, "
          f"seed {args.seed}, {torch.get_num_threads()} thread(s), crop "
          f"{args.max_size or 'none'}, max_seconds {args.max_seconds}, steps {args.steps or 'budget'}, "
          f"{total:.0f} s in all\n")
    print(table(rows, ["volume", "shape", "profile", "true mm", "bspline PSNR", "auto PSNR",
                       "true PSNR", "auto - true dB", "true - bspline dB", "estimate",
                       "auto steps", "true steps", "auto s", "true s"]))
    d = np.array([r["auto - true dB"] for r in rows if np.isfinite(r["auto - true dB"])])
    refused = len(rows) - d.size
    if d.size:
        print(f"\nauto - true: worst {d.min():+.3f} dB, mean {d.mean():+.3f} dB; "
              f"{int((d >= -args.tol).sum())}/{d.size} cases within {args.tol:g} dB "
              f"(auto not worse by more), |auto - true| <= {args.tol:g} in "
              f"{int((np.abs(d) <= args.tol).sum())}/{d.size}; {refused} case(s) refused")
    _write(args.json, args, rows, total)


def _write(path: str | None, args: argparse.Namespace, rows: list[dict[str, Any]],
           seconds: float) -> None:
    """The rows so far as JSON (rewritten after every case, so a cut-short run keeps them)."""
    if path:
        with open(path, "w") as fh:
            json.dump({"args": vars(args), "rows": rows, "seconds": seconds}, fh, indent=1,
                      default=str)


if __name__ == "__main__":
    main()
