"""Self-super-resolution (volsr ssr) against cubic B-spline on simulated and real thick slices.

Simulated: every isotropic volume in ../shared/data (slice spacing at most 1.05x the
in-plane spacing) is degraded with volsr.degrade.ThickSlice along --axis (factor x2/x4/x6,
rect or Gaussian profile, with or without a gap given as a fraction of the slice
spacing), then upsampled back onto the original grid (--reference) by

* ``bspline``: cubic B-spline interpolation;
* ``ssr``: volsr self-super-resolution, SSR network alone (``--no-saa``);
* ``saa+ssr``: SAA then SSR (the default pipeline);

at each --budgets entry, and scored with volsr.metrics.evaluate (automatic foreground
mask, data range = truth max - min). The slice thickness is given to volsr ssr as the
simulation used it (a header cannot say it). Every run happens in a fresh process, so
the reported peak RSS is that run's own.

Real: the clinical thick-slice scans (t1gd_brain_aniso_pyradiomics_brain1,
pd_brain_aniso_niivue_chris) are super-resolved to the in-plane spacing; PNGs of the
three orthogonal centre slices (input as acquired, i.e. nearest-neighbour on the output
grid; B-spline; volsr ssr) go to --out.

Usage:
    python benchmarks/ssr.py --volumes t1_brain_niivue_otsu --factors 4 \
        --profiles gaussian --gaps 0 --budgets fast --no-real
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import multiprocessing as mp
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import SHARED_DATA, peak_rss_mb, shared_volumes, table

REAL = ("t1gd_brain_aniso_pyradiomics_brain1", "pd_brain_aniso_niivue_chris")


def _simulate(path: str, axis: int, factor: float, profile: str, gap: float) -> tuple:
    from volsr.degrade import ThickSlice
    from volsr.io import load_volume

    truth = load_volume(path)
    thickness_vox = factor * (1.0 - gap)
    lr = ThickSlice(axis=axis, factor=factor, profile=profile, thickness=thickness_vox)(truth)
    return truth, lr, thickness_vox * float(truth.spacing[axis])


def _overrides(job: dict[str, Any]) -> dict[str, Any]:
    """Settings for self_super_resolve from the command line: ``max_seconds`` when
    --max-seconds was given (0: no cap), ``precision`` when --precision was."""
    out: dict[str, Any] = {}
    if job.get("max_seconds") is not None:
        out["max_seconds"] = job["max_seconds"] or 1e12
    if job.get("precision"):
        out["precision"] = job["precision"]
    return out


def _run_simulated(job: dict[str, Any]) -> dict[str, Any]:
    """One method on one simulated case, in its own process."""
    import torch

    from volsr.inference import super_resolve
    from volsr.metrics import evaluate
    from volsr.ssr import self_super_resolve

    if job.get("threads"):
        torch.set_num_threads(job["threads"])  # B-spline too
    truth, lr, thickness_mm = _simulate(job["path"], job["axis"], job["factor"],
                                        job["profile"], job["gap"])
    t0 = time.perf_counter()
    steps = {}
    if job["method"] == "bspline":
        sr = super_resolve(lr, "bspline", reference=truth.grid)
    else:
        res = self_super_resolve(lr, budget=job["budget"], saa=job["method"] == "saa+ssr",
                                 profile=job["profile"], slice_thickness=thickness_mm,
                                 reference=truth.grid, device=job["device"], seed=job["seed"],
                                 steps=job["steps"], progress=False,
                                 **_overrides(job))
        sr = res.volume
        steps = {k: v["steps"] for k, v in res.report["training"].items()}
    secs = time.perf_counter() - t0
    ev = evaluate(truth, sr, mask="auto")
    return {"PSNR": ev.psnr, "SSIM": ev.ssim, "seconds": secs, "peak_MiB": peak_rss_mb(),
            "steps": "/".join(str(v) for v in steps.values()) or "-"}


def _run_real(job: dict[str, Any]) -> dict[str, Any]:
    """B-spline and volsr ssr on a real thick-slice scan; saves a PNG; in its own process."""
    import torch

    from volsr.inference import super_resolve
    from volsr.io import load_volume
    from volsr.ssr import self_super_resolve

    if job.get("threads"):
        torch.set_num_threads(job["threads"])
    vol = load_volume(job["path"])
    t0 = time.perf_counter()
    res = self_super_resolve(vol, budget=job["budget"], device=job["device"], seed=job["seed"],
                             steps=job["steps"], progress=False, **_overrides(job))
    secs = time.perf_counter() - t0
    grid = res.volume.grid
    near = super_resolve(vol, "nearest", reference=grid)
    bsp = super_resolve(vol, "bspline", reference=grid)
    out = Path(job["out"]) / f"{Path(job['path']).name.replace('.nii.gz', '')}_{job['budget']}.png"
    _figure([near.data[0], bsp.data[0], res.volume.data[0]],
            ["input (as acquired)", "cubic B-spline", f"volsr ssr ({job['budget']})"],
            res.report["acquisition"]["axis"], out)
    acq = res.report["acquisition"]
    return {"factor": f"x{acq['factor']:.3g}", "seconds": secs, "peak_MiB": peak_rss_mb(),
            "figure": str(out)}


def _figure(vols: list[np.ndarray], titles: list[str], axis: int, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lo, hi = np.percentile(vols[1], [0.5, 99.5])
    fig, axes = plt.subplots(len(vols), 3, figsize=(10, 3.3 * len(vols)))
    for r, (v, title) in enumerate(zip(vols, titles)):
        c = [n // 2 for n in v.shape]
        views = [v[c[0]], v[:, c[1]], v[:, :, c[2]]]
        for k, img in enumerate(views):
            ax = axes[r, k]
            ax.imshow(np.rot90(img), cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
            ax.set_axis_off()
            if k == 0:
                ax.set_title(title, loc="left", fontsize=10)
    fig.suptitle(f"slice axis {axis}; columns: planes normal to voxel axes 0, 1, 2")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)


def _in_fresh_process(fn: Any, job: dict[str, Any]) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=1, mp_context=ctx) as ex:
        return ex.submit(fn, job).result()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--volumes", nargs="+", default=None,
                    help="name substrings of isotropic volumes in ../shared/data (default all)")
    ap.add_argument("--factors", type=float, nargs="+", default=[2.0, 4.0, 6.0])
    ap.add_argument("--profiles", nargs="+", default=["gaussian", "rect"])
    ap.add_argument("--gaps", type=float, nargs="+", default=[0.0, 0.25],
                    help="gap as a fraction of the slice spacing")
    ap.add_argument("--budgets", nargs="+", default=["fast", "default"])
    ap.add_argument("--methods", nargs="+", default=["bspline", "ssr", "saa+ssr"])
    ap.add_argument("--axis", type=int, default=2)
    ap.add_argument("--steps", type=int, default=None, help="override the budgets' steps")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch threads per run")
    ap.add_argument("--precision", default=None, choices=["auto", "bf16", "fp32"],
                    help="training arithmetic (default: the budget's, auto)")
    ap.add_argument("--max-seconds", type=float, default=None,
                    help="replace the budgets' training time cap (0: none), e.g. for quality "
                         "runs on a loaded machine")
    ap.add_argument("--real", action=argparse.BooleanOptionalAction, default=True,
                    help="also run the real thick-slice scans and save figures")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out/ssr"))
    args = ap.parse_args()

    from volsr.io import load_volume

    rows = []
    for path in shared_volumes():
        name = path.name.replace(".nii.gz", "")
        if args.volumes and not any(v in name for v in args.volumes):
            continue
        sp = load_volume(path).spacing
        if sp.max() > 1.05 * sp.min():
            continue
        for f in args.factors:
            for prof in args.profiles:
                for gap in args.gaps:
                    for method in args.methods:
                        for budget in (["-"] if method == "bspline" else args.budgets):
                            job = {"path": str(path), "axis": args.axis, "factor": f,
                                   "profile": prof, "gap": gap, "method": method,
                                   "budget": budget, "steps": args.steps,
                                   "device": args.device, "seed": args.seed,
                                   "threads": args.threads,
                                   "max_seconds": args.max_seconds,
                                   "precision": args.precision}
                            r = _in_fresh_process(_run_simulated, job)
                            row = {"volume": name, "factor": f"x{f:g}", "profile": prof,
                                   "gap": f"{gap:g}", "method": method, "budget": budget, **r}
                            rows.append(row)
                            print(f"{name} x{f:g} {prof} gap {gap:g} {method:8s} {budget:8s} "
                                  f"PSNR {r['PSNR']:6.2f} SSIM {r['SSIM']:.4f} "
                                  f"{r['seconds']:7.1f} s {r['peak_MiB']:7.0f} MiB "
                                  f"steps {r['steps']}", flush=True)
    if rows:
        print()
        print(table(rows, ["volume", "factor", "profile", "gap", "method", "budget", "PSNR",
                           "SSIM", "seconds", "peak_MiB", "steps"]))
    if args.real:
        real_rows = []
        for name in REAL:
            path = SHARED_DATA / f"{name}.nii.gz"
            if not path.is_file():
                continue
            for budget in args.budgets:
                job = {"path": str(path), "budget": budget, "steps": args.steps,
                       "device": args.device, "seed": args.seed, "threads": args.threads,
                       "max_seconds": args.max_seconds, "precision": args.precision,
                       "out": str(args.out)}
                r = _in_fresh_process(_run_real, job)
                real_rows.append({"volume": name, "budget": budget, **r})
                print(f"{name} {budget}: {r['seconds']:.1f} s, {r['peak_MiB']:.0f} MiB -> "
                      f"{r['figure']}", flush=True)
        print()
        print(table(real_rows, ["volume", "budget", "factor", "seconds", "peak_MiB", "figure"]))


if __name__ == "__main__":
    main()
