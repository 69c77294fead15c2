"""mDCSRN trained with L1 only vs with the GAN (mDCSRN-GAN), x4 thick slices, real scans.

Training: the *training* volumes of data_manifests/shared_data.json (../shared/data; the
test split, which holds the CC BY-NC files, is never used), x4 thick slices along z
(rect or Gaussian profile, no gap, mild noise), a reduced mDCSRN generator (default growth 8,
2 blocks x 3 units), --patch^3 patches, batch --batch.

1. L1: --steps steps of L1 training.
2. GAN: the L1 run's checkpoint at step --pretrain is the pre-training phase; from there
   --steps - --pretrain adversarial steps (WGAN-GP, mdcsrn_critic, --n-critic critic
   updates per generator step, L1 + --adv-weight x adversarial loss). Both runs see the
   same batches (same seed), so they differ only by the adversarial term after --pretrain.

Evaluation: each *validation* volume, cropped to at most --crop voxels per axis around its
centre, is degraded by a deterministic x4 thick-slice (Gaussian profile) along z, then
B-spline interpolation, the L1 model and the GAN model super-resolve it onto the HR grid
(Predictor, sliding window); PSNR / SSIM / HFEN with volsr.metrics.evaluate in world
coordinates (foreground mask "auto", data range = HR max - min). A PNG with matching
coronal slices (truth, B-spline, L1, GAN) is saved (--figure).

Usage:
    python benchmarks/gan.py [--steps 400] [--pretrain 200] [--patch 32] [--batch 2]
        [--growth 8] [--blocks 2] [--units 3] [--critic-features 8] [--n-critic 2]
        [--adv-weight 1e-3] [--crop 96] [--threads 1] [--out DIR] [--figure PATH]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import REPO, shared_volumes, table

from volsr.config import load_config
from volsr.data.manifest import load_manifest
from volsr.degrade import degrade_volume
from volsr.engine import train
from volsr.inference import super_resolve
from volsr.io import Volume, load_volume
from volsr.metrics import evaluate

MANIFEST = REPO / "data_manifests" / "shared_data.json"
CONFIG = REPO / "configs" / "mdcsrn_gan.yaml"


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=400, help="total steps of each run")
    ap.add_argument("--pretrain", type=int, default=200,
                    help="L1 steps before the adversarial phase of the GAN run")
    ap.add_argument("--patch", type=int, default=32)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--growth", type=int, default=8)
    ap.add_argument("--blocks", type=int, default=2)
    ap.add_argument("--units", type=int, default=3)
    ap.add_argument("--critic-features", type=int, default=8)
    ap.add_argument("--n-critic", type=int, default=2)
    ap.add_argument("--adv-weight", type=float, default=1e-3)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--crop", type=int, default=96)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=None, help="run folders (default: a temp dir)")
    ap.add_argument("--figure", type=Path, default=REPO / "benchmarks" / "gan_slices.png")
    return ap.parse_args()


def overrides(args: argparse.Namespace, out: Path) -> list[str]:
    return [
        f"data.manifest={MANIFEST}", f"output_dir={out}",
        f"model.args={{growth_rate: {args.growth}, num_blocks: {args.blocks}, "
        f"num_units: {args.units}, kernel_size: 3, norm: none, activation: elu}}",
        f"data.patch_size=[{args.patch},{args.patch},{args.patch}]",
        f"data.batch_size={args.batch}", "data.patches_per_volume=16",
        "data.degradation=[{name: random_thick_slice, axes: [2], factor: [4.0, 4.0], "
        "profile: [rect, gaussian], gap: [0.0, 0.0]}, {name: random_noise, "
        "kind: [rician, gaussian], sigma: [0.0, 0.01], relative_to: p99}]",
        f"train.steps={args.steps}", f"train.optimizer={{name: adam, lr: {args.lr}}}",
        "train.val_every=0", f"train.checkpoint_every={args.pretrain}", "train.ema=null",
        f"train.log_every={max(1, args.steps // 10)}",
        f"infer.patch_size=[{2 * args.patch},{2 * args.patch},{2 * args.patch}]",
    ]


def crop_center(vol: Volume, size: int) -> Volume:
    shape = vol.data.shape[1:]
    lo = [max(0, (n - size) // 2) for n in shape]
    hi = [min(n, a + size) for n, a in zip(shape, lo)]
    data = vol.data[:, lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    affine = vol.affine.copy()
    affine[:3, 3] = vol.affine[:3, :3] @ np.asarray(lo, float) + vol.affine[:3, 3]
    return vol.with_data(np.ascontiguousarray(data), affine)


def main() -> None:
    args = parse_args()
    shared_volumes()
    import torch

    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    if not 0 < args.pretrain < args.steps:
        raise SystemExit("--pretrain must be in (0, --steps)")
    out = args.out or Path(tempfile.mkdtemp(prefix="volsr_gan_bench_"))
    base = overrides(args, out)
    gan_extra = [
        f"adversarial.discriminator={{name: mdcsrn_critic, features: {args.critic_features},"
        f" max_features: {8 * args.critic_features}, hidden: {16 * args.critic_features}}}",
        "adversarial.loss=wgan_gp", f"adversarial.weight={args.adv_weight}",
        f"adversarial.n_critic={args.n_critic}", f"adversarial.pretrain_steps={args.pretrain}",
        f"adversarial.optimizer={{name: adam, lr: {args.lr / 5}, betas: [0.5, 0.9]}}",
    ]

    # L1 run up to the pre-training step, fork its run folder for the GAN, finish it
    t0 = time.perf_counter()
    l1_cfg = load_config(CONFIG, [*base, "name=l1", "adversarial="])
    train(l1_cfg, device=args.device, max_steps=args.pretrain, overwrite=True)
    t_pre = time.perf_counter() - t0
    gan_dir = out / "gan"
    if gan_dir.exists():
        shutil.rmtree(gan_dir)
    shutil.copytree(out / "l1", gan_dir)
    for stale in ("model", "metrics.jsonl", "tensorboard"):
        p = gan_dir / stale
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    t1 = time.perf_counter()
    l1 = train(l1_cfg, device=args.device, resume=True)
    t_l1 = t_pre + time.perf_counter() - t1
    t2 = time.perf_counter()
    gan_cfg = load_config(CONFIG, [*base, "name=gan", *gan_extra])
    gan = train(gan_cfg, device=args.device, resume=True)
    t_gan = t_pre + time.perf_counter() - t2
    print(f"training: L1 {args.steps} steps {t_l1:.0f} s; GAN {args.pretrain} L1 + "
          f"{args.steps - args.pretrain} adversarial steps {t_gan:.0f} s "
          f"(shared pre-training {t_pre:.0f} s; {args.threads} thread(s), {args.device})")

    rows, panels = [], []
    for case in load_manifest(MANIFEST).cases("validation"):
        hr = crop_center(load_volume(case.hr), args.crop)
        lr = degrade_volume(hr, {"name": "thick_slice", "axis": 2, "factor": 4.0,
                                 "profile": "gaussian"})
        outs = {"B-spline": super_resolve(lr, "bspline", reference=hr.grid)}
        for label, run in (("L1", l1), ("GAN", gan)):
            outs[label] = super_resolve(lr, "mdcsrn_3d", weights=run.run_dir,
                                        reference=hr.grid, device=args.device)
        for label, vol in outs.items():
            res = evaluate(hr, vol, mask="auto", metrics=("psnr", "ssim", "hfen"))
            rows.append({"case": case.id, "method": label, "PSNR": float(res.psnr),
                         "SSIM": float(res.ssim), "HFEN": float(res.hfen)})
        y = hr.data.shape[2] // 2
        panels.append((case.id, [hr.data[0, :, y, :]] +
                       [np.asarray(v.data[0, :, y, :]) for v in outs.values()]))
    print(table(rows, ["case", "method", "PSNR", "SSIM", "HFEN"]))
    means = {}
    for m in ("B-spline", "L1", "GAN"):
        sel = [r for r in rows if r["method"] == m]
        means[m] = {k: float(np.mean([r[k] for r in sel])) for k in ("PSNR", "SSIM", "HFEN")}
    print(table([{"method": m, **v} for m, v in means.items()],
                ["method", "PSNR", "SSIM", "HFEN"]))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    titles = ["truth", "B-spline", "L1", "GAN"]
    fig, axes = plt.subplots(len(panels), 4, figsize=(12, 3.2 * len(panels)), squeeze=False)
    for r, (cid, imgs) in enumerate(panels):
        lo, hi = np.percentile(imgs[0], [0.5, 99.5])
        for c, img in enumerate(imgs):
            ax = axes[r][c]
            ax.imshow(np.asarray(img).T, cmap="gray", vmin=lo, vmax=hi, origin="lower",
                      aspect="equal", interpolation="nearest")
            ax.set_title(f"{titles[c]}" + (f"  ({cid})" if c == 0 else ""), fontsize=8)
            ax.axis("off")
    fig.suptitle(f"x4 thick slices (z), coronal slices; L1 {args.steps} steps vs GAN "
                 f"({args.pretrain} L1 + {args.steps - args.pretrain} adversarial)", fontsize=9)
    fig.tight_layout()
    args.figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.figure, dpi=110)
    print(f"figure: {args.figure}")


if __name__ == "__main__":
    main()
