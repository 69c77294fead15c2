"""Slice-profile estimation (``volsr ssr --profile auto``) on simulated thick slices of real scans.

Every isotropic volume in ../shared/data (largest spacing at most 1.05x the smallest)
is degraded with volsr.degrade.ThickSlice along --axis: factor x2/x4/x6, rect or
Gaussian profile, width 0.8/1.0/1.2x the slice spacing (0.8: a gap of 0.2 spacings;
1.2: overlapping slices). volsr.ssr.profile_estimate.estimate_profile then sees only
the thick-slice scan. Printed per case: the true and estimated family and width (as a
multiple of the slice spacing), the relative error of the width and of the profile's
standard deviation (what a rect and a Gaussian of similar pass-band blur share), and
the two confidences; then a summary, overall and for the estimates the pipeline would
use (confidence >= --min-confidence), and the standard-deviation error of the profile a
run would use (the estimate, or below the threshold the old default, Gaussian with
FWHM = the slice spacing) for a few thresholds.

Usage:
    python benchmarks/profile_estimate.py [--data DIR] [--volumes t1_brain_niivue_otsu] \
        [--factors 4]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _common import shared_volumes, table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--volumes", nargs="+", default=None,
                    help="name substrings of isotropic volumes in ../shared/data (default all)")
    ap.add_argument("--factors", type=float, nargs="+", default=[2.0, 4.0, 6.0])
    ap.add_argument("--profiles", nargs="+", default=["rect", "gaussian"])
    ap.add_argument("--widths", type=float, nargs="+", default=[0.8, 1.0, 1.2],
                    help="slice thickness as a multiple of the slice spacing")
    ap.add_argument("--axis", type=int, default=2)
    ap.add_argument("--data", type=Path, default=None,
                    help="folder of the scans (default ../shared/data next to the repository)")
    ap.add_argument("--min-confidence", type=float, default=None,
                    help="default: the SSR config's profile_min_confidence")
    args = ap.parse_args()

    from volsr.config.ssr import SSRConfig
    from volsr.degrade import ThickSlice
    from volsr.io import load_volume
    from volsr.ssr import analyze_header
    from volsr.ssr.profile_estimate import estimate_profile, profile_std

    min_conf = (SSRConfig().profile_min_confidence if args.min_confidence is None
                else args.min_confidence)
    rows = []
    paths = sorted(args.data.glob("*.nii.gz")) if args.data else shared_volumes()
    for path in paths:
        name = path.name.replace(".nii.gz", "")
        if args.volumes and not any(v in name for v in args.volumes):
            continue
        truth = load_volume(path)
        sp = truth.spacing
        if sp.max() > 1.05 * sp.min():
            continue
        for f in args.factors:
            for prof in args.profiles:
                for w in args.widths:
                    lr = ThickSlice(axis=args.axis, factor=f, profile=prof,
                                    thickness=f * w)(truth)
                    acq = analyze_header(lr)
                    t0 = time.perf_counter()
                    est = estimate_profile(lr.data[0], acq)
                    secs = time.perf_counter() - t0
                    true_mm = f * w * float(sp[args.axis])
                    row = {"volume": name, "factor": f"x{f:g}", "true": f"{prof} {w:.2f}",
                           "estimate": f"{est.family} {est.thickness / acq.slice_spacing:.3f}",
                           "family_ok": est.family == prof,
                           "width_err": est.thickness / true_mm - 1.0,
                           "std_err": est.std / profile_std(prof, true_mm) - 1.0,
                           "gap_true_mm": acq.slice_spacing - true_mm, "gap_est_mm": est.gap,
                           "default_std_err": profile_std("gaussian", acq.slice_spacing)
                           / profile_std(prof, true_mm) - 1.0,
                           "confidence": est.confidence,
                           "family_conf": est.family_confidence, "seconds": secs}
                    rows.append(row)
                    print(f"{name} x{f:g} {prof:8s} {w:.2f} -> {est.family:8s} "
                          f"{est.thickness / acq.slice_spacing:.3f}  width {row['width_err']:+.3f}"
                          f" std {row['std_err']:+.3f}  conf {est.confidence:.3f} family "
                          f"{est.family_confidence:.3f}  {secs:.1f} s", flush=True)
    if not rows:
        return
    print()
    print(table(rows, ["volume", "factor", "true", "estimate", "width_err", "std_err",
                       "gap_true_mm", "gap_est_mm", "confidence", "family_conf", "seconds"]))
    print()
    summary = []
    for label, sel in (("all", rows),
                       (f"confidence >= {min_conf:g}", [r for r in rows
                                                       if r["confidence"] >= min_conf])):
        for prof in args.profiles:
            sub = [r for r in sel if r["true"].startswith(prof)]
            if not sub:
                continue
            we = np.abs([r["width_err"] for r in sub])
            se = np.abs([r["std_err"] for r in sub])
            summary.append({"cases": label, "true family": prof, "n": len(sub),
                            "family right": f"{sum(r['family_ok'] for r in sub)}/{len(sub)}",
                            "width within 15%": f"{int(np.sum(we <= 0.15))}/{len(sub)}",
                            "std within 15%": f"{int(np.sum(se <= 0.15))}/{len(sub)}",
                            "median width err": float(np.median(we)),
                            "median std err": float(np.median(se))})
    print(table(summary, ["cases", "true family", "n", "family right", "width within 15%",
                          "std within 15%", "median width err", "median std err"]))
    print()
    policy = []
    for thr in sorted({0.0, 0.02, 0.05, min_conf, 0.2, 0.3}):
        for prof in args.profiles:
            sub = [r for r in rows if r["true"].startswith(prof)]
            used = [abs(r["std_err"] if r["confidence"] >= thr else r["default_std_err"])
                    for r in sub]
            policy.append({"min_confidence": thr, "true family": prof,
                           "estimate used": sum(r["confidence"] >= thr for r in sub),
                           "median |std err| used": float(np.median(used)),
                           "mean |std err| used": float(np.mean(used)),
                           "mean |std err| old default": float(np.mean(
                               [abs(r["default_std_err"]) for r in sub]))})
    print(table(policy, ["min_confidence", "true family", "estimate used",
                         "median |std err| used", "mean |std err| used",
                         "mean |std err| old default"]))
    print(f"\nmean estimate time {np.mean([r['seconds'] for r in rows]):.2f} s; "
          f"{sum(r['confidence'] < min_conf for r in rows)}/{len(rows)} below "
          f"{min_conf:g} (the Gaussian default would be used)")


if __name__ == "__main__":
    main()
