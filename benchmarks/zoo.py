"""The 2D zoo on real scans: every 2D network with the same small training budget.

1. **2D, x2 in-plane.** Each network of configs/zoo/ is trained (volsr.engine.train) on
   2D slices of the *training* volumes of data_manifests/shared_data.json (../shared/data)
   with the x2 bicubic in-plane degradation of its recipe, for --steps steps. By default
   every network gets the same uniform recipe (L1, Adam --lr, cosine decay with 5 %
   warm-up), since the papers' optimisers (e.g. SGD at 1e-5 for LapSRN) do not move in a
   short budget; --recipe paper keeps each config's own loss and optimiser.
   Evaluation: --slices axial slices per *validation* volume (evenly spread over the
   foreground), downsampled x2 in-plane the same way, super-resolved back and scored
   slice by slice (PSNR / SSIM inside the foreground mask, data range = HR volume max -
   min), against bicubic upsampling (Keys cubic on the volsr grid, i.e. MATLAB imresize)
   and B-spline interpolation. Also: parameters, and milliseconds per 256 x 256 output
   slice (Predictor.run, median of 3 after a warm-up, normalisation and the "pre"
   interpolation included).
2. **3D vs 2D slice-wise, x2 isotropic** (unless --skip-3d): srcnn_3d trained on x2
   isotropic bicubic downsampling, and srcnn_2d (x2 in-plane, from step 1) applied
   slice-wise in all three orientations (fused by average or FBA), on a --crop^3 crop of
   each validation volume, against bicubic and B-spline.

Usage:
    python benchmarks/zoo.py [--networks srcnn_2d espcn_2d ...] [--steps 2000]
        [--batch-size 16] [--patch 48] [--lr 5e-4] [--recipe uniform|paper]
        [--slices 8] [--crop 64] [--device auto] [--threads N] [--out DIR] [--skip-3d]
        [--set key=value ...]
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import REPO, shared_volumes, table

from volsr.config import load_config
from volsr.data.manifest import load_manifest
from volsr.degrade import Resize
from volsr.engine import train
from volsr.inference import super_resolve
from volsr.inference.predictor import Predictor
from volsr.io import Volume, load_volume
from volsr.metrics import foreground_mask
from volsr.metrics.core import psnr, ssim
from volsr.models import list_models

MANIFEST = REPO / "data_manifests" / "shared_data.json"
ZOO = REPO / "configs" / "zoo"


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--networks", nargs="+", default=["all"],
                    help="2D networks to train (registry names), or 'all'")
    ap.add_argument("--steps", type=int, default=2000, help="training steps per network")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--patch", type=int, default=48, help="HR training patch side (even)")
    ap.add_argument("--lr", type=float, default=5e-4, help="learning rate (uniform recipe)")
    ap.add_argument("--recipe", choices=("uniform", "paper"), default="uniform")
    ap.add_argument("--slices", type=int, default=8, help="held-out slices per volume")
    ap.add_argument("--crop", type=int, default=64, help="3D comparison crop side")
    ap.add_argument("--patch3d", type=int, default=24, help="srcnn_3d training patch side")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--out", type=Path, default=None, help="run folders (default: temp)")
    ap.add_argument("--skip-3d", action="store_true", help="skip the 3D vs 2D comparison")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="extra config overrides for every training run")
    return ap.parse_args()


# --------------------------------------------------------------------------- training


def overrides(args: argparse.Namespace, work: Path, patch: list[int]) -> list[str]:
    o = [f"data.manifest={MANIFEST}", f"output_dir={work}", f"train.steps={args.steps}",
         "train.val_every=0", f"train.checkpoint_every={args.steps}",
         f"train.log_every={max(1, args.steps // 5)}", f"data.patch_size={patch}",
         f"data.batch_size={args.batch_size}", "data.num_workers=0"]
    if args.recipe == "uniform":
        o += ["train.loss=[{name: l1}]", f"train.optimizer={{name: adam, lr: {args.lr}}}",
              f"train.scheduler={{name: cosine, warmup_steps: {max(1, args.steps // 20)}}}",
              "train.grad_clip=1.0"]
    return o + list(args.set)


def train_run(config: Path, extra: list[str], device: str) -> tuple[Path, float]:
    cfg = load_config(config, extra)
    t0 = time.perf_counter()
    result = train(cfg, overwrite=True, device=device)
    return Path(result.model_dir), time.perf_counter() - t0


# --------------------------------------------------------------------------- data


def held_out_slices(n_slices: int) -> list[dict]:
    """Axial slices of each validation volume: HR stack, its x2 in-plane LR, mask, range."""
    out = []
    for case in load_manifest(MANIFEST).cases("validation"):
        hr = load_volume(case.hr)
        x, y = (n // 2 * 2 for n in hr.spatial_shape[:2])
        fg = foreground_mask(hr.data[0])
        area = fg.sum(axis=(0, 1))
        zs = np.flatnonzero(area >= 0.2 * area.max())
        idx = np.unique(np.linspace(zs.min(), zs.max(), n_slices).round().astype(int))
        sub = Volume(np.ascontiguousarray(hr.data[:, :x, :y, idx]), hr.affine, hr.meta)
        lr = Resize(factor=[2.0, 2.0, 1.0], kernel="cubic").apply_volume(sub)
        out.append({"id": case.id, "hr": sub, "lr": lr, "mask": fg[:x, :y, idx],
                    "range": float(hr.data.max() - hr.data.min())})
    return out


def score_slices(cases: list[dict], predict) -> tuple[float, float]:  # noqa: ANN001
    """Mean PSNR and SSIM over every held-out slice (2D metrics inside the mask)."""
    ps, ss = [], []
    for c in cases:
        sr = predict(c["lr"])
        if sr.spatial_shape != c["hr"].spatial_shape:
            raise RuntimeError(f"{c['id']}: output {sr.spatial_shape} vs {c['hr'].spatial_shape}")
        for k in range(sr.spatial_shape[2]):
            t, s, m = c["hr"].data[0, :, :, k], sr.data[0, :, :, k], c["mask"][:, :, k]
            ps.append(psnr(t, s, data_range=c["range"], mask=m))
            ss.append(ssim(t, s, data_range=c["range"], mask=m))
    return float(np.mean(ps)), float(np.mean(ss))


def bicubic(vol: Volume, factor: list[float]) -> Volume:
    """Keys cubic upsampling on the volsr grid (MATLAB imresize, no antialiasing needed)."""
    return Resize(factor=[1.0 / f for f in factor], kernel="cubic").apply_volume(vol)


def ms_per_slice(pred: Predictor) -> float:
    """Median milliseconds for one 256 x 256 output slice (x2 in-plane)."""
    vol = Volume(np.random.default_rng(0).random((1, 128, 128, 1)).astype(np.float32),
                 np.eye(4))
    pred.run(vol, scale=(2, 2, 1))
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        pred.run(vol, scale=(2, 2, 1))
        times.append(time.perf_counter() - t0)
    return 1000.0 * float(np.median(times))


# --------------------------------------------------------------------------- 3D vs 2D


def crops_3d(side: int) -> list[dict]:
    """A centred foreground crop (even sides) of each validation volume and its x2 LR."""
    out = []
    for case in load_manifest(MANIFEST).cases("validation"):
        hr = load_volume(case.hr)
        fg = foreground_mask(hr.data[0])
        centre = [int(np.mean(np.flatnonzero(fg.any(axis=tuple(j for j in range(3) if j != i)))))
                  for i in range(3)]
        sl, lo = [], []
        for c, n in zip(centre, hr.spatial_shape):
            w = min(side, n) // 2 * 2
            a = int(np.clip(c - w // 2, 0, n - w))
            sl.append(slice(a, a + w))
            lo.append(a)
        affine = hr.affine.copy()
        affine[:3, 3] = hr.affine[:3, :3] @ np.asarray(lo, float) + hr.affine[:3, 3]
        sub = Volume(np.ascontiguousarray(hr.data[(slice(None), *sl)]), affine, hr.meta)
        lr = Resize(factor=[2.0, 2.0, 2.0], kernel="cubic").apply_volume(sub)
        out.append({"id": case.id, "hr": sub, "lr": lr, "mask": fg[tuple(sl)],
                    "range": float(hr.data.max() - hr.data.min())})
    return out


def score_3d(cases: list[dict], predict) -> tuple[float, float, float]:  # noqa: ANN001
    ps, ss, secs = [], [], 0.0
    for c in cases:
        t0 = time.perf_counter()
        sr = predict(c["lr"])
        secs += time.perf_counter() - t0
        t, s = c["hr"].data[0], sr.data[0]
        ps.append(psnr(t, s, data_range=c["range"], mask=c["mask"]))
        ss.append(ssim(t, s, data_range=c["range"], mask=c["mask"]))
    return float(np.mean(ps)), float(np.mean(ss)), secs


def compare_3d(args: argparse.Namespace, work: Path, srcnn_2d: Path | None) -> None:
    extra = overrides(args, work, [args.patch3d] * 3) + [
        "model.scale=[2.0, 2.0, 2.0]",
        "data.degradation=[{name: resize, factor: [2.0, 2.0, 2.0], kernel: cubic}]"]
    model3d, secs3d = train_run(REPO / "configs" / "srcnn_3d.yaml", extra, args.device)
    if srcnn_2d is None:
        srcnn_2d, _ = train_run(ZOO / "srcnn_2d.yaml", overrides(args, work, [args.patch] * 2),
                                args.device)
    cases = crops_3d(args.crop)
    p3 = Predictor.from_pretrained(model3d, device=args.device)
    rows = []
    methods = [
        ("bicubic", lambda v: bicubic(v, [2.0, 2.0, 2.0])),
        ("bspline", lambda v: super_resolve(v, "bspline", scale=(2, 2, 2))),
        (f"srcnn_3d ({secs3d:.0f} s training)", lambda v: p3.run(v, scale=(2, 2, 2))),
    ]
    for fusion in ("average", "fba"):
        p2 = Predictor.from_pretrained(srcnn_2d, device=args.device, fusion=fusion)
        methods.append((f"srcnn_2d slice-wise x3 orientations, {fusion}",
                        lambda v, p=p2: p.run(v, scale=(2, 2, 2))))
    for name, fn in methods:
        p, s, secs = score_3d(cases, fn)
        rows.append({"method": name, "PSNR": p, "SSIM": s, "seconds": f"{secs:.2f}"})
        print(f"3D x2 {name:45s} PSNR {p:6.2f}  SSIM {s:.4f}  {secs:6.2f} s", flush=True)
    print()
    print(f"3D vs 2D slice-wise, x2 isotropic bicubic downsampling, {args.crop}^3 crops of "
          f"{', '.join(c['id'] for c in cases)} (same budget: {args.steps} steps):")
    print(table(rows, ["method", "PSNR", "SSIM", "seconds"]))


# --------------------------------------------------------------------------- main


def main() -> None:
    args = parse_args()
    print("command: python " + " ".join(shlex.quote(a) for a in sys.argv), flush=True)
    shared_volumes()  # exits 0 with a note when ../shared/data is absent
    if args.patch % 2:
        sys.exit("--patch must be even (post-upsampling networks take whole LR patches)")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    names = (list_models("*_2d", tag="2d") if args.networks == ["all"] else args.networks)
    missing = [n for n in names if not (ZOO / f"{n}.yaml").is_file()]
    if missing:
        sys.exit(f"no recipe in configs/zoo for {missing}")
    work = args.out or Path(tempfile.mkdtemp(prefix="volsr-zoo-"))
    work.mkdir(parents=True, exist_ok=True)
    cases = held_out_slices(args.slices)
    n_slices = sum(c["hr"].spatial_shape[2] for c in cases)
    rows = []
    for name, fn in (("bicubic", lambda v: bicubic(v, [2.0, 2.0, 1.0])),
                     ("bspline", lambda v: super_resolve(v, "bspline", scale=(2, 2, 1)))):
        p, s = score_slices(cases, fn)
        rows.append({"network": name, "kind": "interpolation", "params": 0, "PSNR": p,
                     "SSIM": s})
        print(f"{name:18s} PSNR {p:6.2f}  SSIM {s:.4f}", flush=True)
    base = rows[0]["PSNR"]
    runs: dict[str, Path] = {}
    for name in names:
        model_dir, secs = train_run(ZOO / f"{name}.yaml",
                                    overrides(args, work, [args.patch] * 2), args.device)
        runs[name] = model_dir
        pred = Predictor.from_pretrained(model_dir, device=args.device)
        p, s = score_slices(cases, lambda v, pr=pred: pr.run(v, scale=(2, 2, 1)))
        row = {"network": name, "kind": pred.upsampling,
               "params": f"{sum(t.numel() for t in pred.model.parameters()):,}",
               "train_s": f"{secs:.1f}", "PSNR": p, "SSIM": s, "dPSNR": f"{p - base:+.2f}",
               "ms/256^2": f"{ms_per_slice(pred):.1f}"}
        rows.append(row)
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v)
                          for k, v in row.items()}), flush=True)
    print()
    print(f"2D zoo, x2 in-plane bicubic downsampling; {args.steps} steps x batch "
          f"{args.batch_size} x {args.patch}^2 patches ({args.recipe} recipe) on the training "
          f"volumes; {n_slices} held-out slices of {', '.join(c['id'] for c in cases)}; "
          f"dPSNR = PSNR - bicubic:")
    print(table(rows, ["network", "kind", "params", "train_s", "PSNR", "SSIM", "dPSNR",
                       "ms/256^2"]))
    print()
    if not args.skip_3d:
        compare_3d(args, work, runs.get("srcnn_2d"))
    print(f"run folders: {work}")


if __name__ == "__main__":
    main()
