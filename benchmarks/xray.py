"""The x4 radiograph recipe on grey natural images: bicubic vs L1 vs L1 + perceptual vs GAN.

Issue 18, items 3 and 4. Radiographs cannot be shipped, so the recipes of configs/xray are
trained on the grey (Y, BT.601) versions of T91 (../shared/data/natural; 86 images
training, 5 validation) and scored on Set5 and Set14 (held out) by the published protocol
(:mod:`volsr.metrics.natural`: modcrop, MATLAB bicubic LR, Y, border of 4 pixels).

Runs (``volsr train``, CPU-sized overrides of the recipes, all with seed 0, so the first two
see the same batches):

1. ``L1``: configs/xray/srresnet_x4_l1.yaml for ``--steps`` steps (6 blocks, 32 features,
   64x64 HR patches, batch 8, lr 3e-4).
2. ``L1+P``: the same with ``train.loss = L1 + 1.0 x perceptual`` without a VGG file, i.e.
   volsr's built-in gradient-pyramid features: the measurement behind the built-in choice.
3. ``L1 cont.``: the control of run 4: run 1 continued with L1 only for ``--gan-steps``
   steps at the GAN phase's lr 1e-4 (warm start, same seed).
4. ``GAN``: configs/xray/srgan_x4.yaml warm-started from run 1 (``train.init_from``),
   ``--gan-steps`` adversarial steps (SRGAN discriminator at 32 features).

Each model super-resolves the protocol's LR Y image through the volsr predictor
(:func:`volsr.super_resolve`); reported: PSNR / SSIM (protocol), HFEN (LoG sigma 1.5,
Ravishankar & Bresler 2011; lower is closer) and the gradient-magnitude ratio
``mean |grad SR| / mean |grad HR|`` (1 = as sharp as HR; bicubic is well below 1), both
on the same border-cropped Y images. A figure (bicubic / L1 / L1+P / GAN / HR crops) is
written to ``--figure``.

Usage (one thread; about 21 min of one core with the defaults):

    OMP_NUM_THREADS=1 python benchmarks/xray.py [--steps 800] [--gan-steps 300]
        [--work /tmp/xray18] [--skip-train] [--figure docs/figures/xray_x4_natural.png]  (not committed: derived from Set14)
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _common import REPO, SHARED_DATA, table

from volsr.metrics.core import hfen
from volsr.metrics.natural import image_y, iter_image_set, lr_hr_y, quantize, score_y, shave

log = logging.getLogger("xray")
NATURAL = SHARED_DATA / "natural"
SCALE = 4
CPU = ["model.args.num_blocks=6", "model.args.features=32", "data.patch_size=[64,64]",
       "data.batch_size=8", "train.val_every=0", "train.log_every=100"]
METHODS = ("bicubic", "L1", "L1+P", "L1 cont.", "GAN")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=800, help="L1 and L1+P steps")
    p.add_argument("--gan-steps", type=int, default=300, help="adversarial steps")
    p.add_argument("--work", type=Path, default=Path("/tmp/xray18"),
                   help="grey T91 PNGs, manifest and runs go here")
    p.add_argument("--skip-train", action="store_true", help="score existing runs")
    p.add_argument("--train-only", nargs="+", choices=METHODS[1:], metavar="RUN",
                   help="train only these runs (then score all)")
    p.add_argument("--figure", type=Path,
                   default=REPO / "docs" / "figures" / "xray_x4_natural.png")
    p.add_argument("--crop-image", default="Set14/zebra", help="SET/NAME of the figure")
    p.add_argument("--crop", type=int, nargs=3, default=(150, 220, 96),
                   metavar=("ROW", "COL", "SIDE"), help="HR crop of the figure")
    return p.parse_args()


def grey_t91(work: Path) -> Path:
    """T91 as 8-bit Y PNGs (protocol Y, rounded) and a manifest; returns the manifest."""
    from PIL import Image

    folder = work / "t91y"
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for name, img in iter_image_set(NATURAL / "T91"):
        out = folder / f"{name}.png"
        if not out.exists():
            Image.fromarray(quantize(image_y(img)).astype(np.uint8)).save(out)
        names.append(out.name)
    val = names[::18][:5]
    man = work / "t91y.json"
    man.write_text(json.dumps({"training": [str(folder / n) for n in names if n not in val],
                               "validation": [str(folder / n) for n in val]}, indent=1),
                   encoding="utf-8")
    return man


def runs(work: Path) -> dict[str, Path]:
    base = work / "runs"
    return {"L1": base / "xray_srresnet_x4_l1", "L1+P": base / "xray_srresnet_x4_l1_perc",
            "L1 cont.": base / "xray_srresnet_x4_l1_cont", "GAN": base / "xray_srgan_x4"}


def train_all(args: argparse.Namespace, man: Path) -> None:
    """The three ``volsr train`` runs (commands logged, times printed)."""
    out = args.work / "runs"
    common = ["--overwrite", "--device", "cpu", f"data.manifest={man}", f"output_dir={out}",
              *CPU]
    l1 = ["configs/xray/srresnet_x4_l1.yaml", *common, f"train.steps={args.steps}",
          "train.optimizer.lr=3.0e-4", "train.checkpoint_every=500"]
    cmds = {
        "L1": l1,
        "L1+P": [*l1, "name=xray_srresnet_x4_l1_perc",
                 "train.loss=[{name: l1}, {name: perceptual, weight: 1.0, criterion: l1}]"],
        "L1 cont.": ["configs/xray/srresnet_x4_l1.yaml", *common, "name=xray_srresnet_x4_l1_cont",
                     f"train.steps={args.gan_steps}", "train.optimizer.lr=1.0e-4",
                     f"train.init_from={runs(args.work)['L1']}", "train.checkpoint_every=200"],
        "GAN": ["configs/xray/srgan_x4.yaml", *common, f"train.steps={args.gan_steps}",
                f"train.init_from={runs(args.work)['L1']}", "train.checkpoint_every=200",
                "adversarial.discriminator={name: srgan, features: 32}"],
    }
    for label, cmd in cmds.items():
        if args.train_only and label not in args.train_only:
            continue
        full = [sys.executable, "-m", "volsr", "train", *cmd]
        log.info("%s: %s", label, " ".join(full))
        t0 = time.perf_counter()
        subprocess.run(full, cwd=REPO, check=True)
        print(f"{label}: trained in {time.perf_counter() - t0:.0f} s")


def grad_ratio(hr: np.ndarray, sr: np.ndarray) -> float:
    """``mean |grad sr| / mean |grad hr|`` (central differences)."""
    def mag(a: np.ndarray) -> float:
        gy, gx = np.gradient(a.astype(np.float64))
        return float(np.mean(np.hypot(gx, gy)))
    return mag(sr) / mag(hr)


def upscale(lr_y: np.ndarray, run: Path) -> np.ndarray:
    """Super-resolve an LR Y image ``(H, W)`` [0, 255] with a run -> ``(4H, 4W)``."""
    from volsr import super_resolve

    out = super_resolve(lr_y[:, :, None].astype(np.float32), "srresnet_2d", weights=run,
                        spacing=1.0, scale=(SCALE, SCALE, 1), device="cpu")
    return np.asarray(out.data)[0, :, :, 0]


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    args = parse_args()
    if not NATURAL.is_dir():
        print(f"skipped: {NATURAL} not found")
        return
    man = grey_t91(args.work)
    if not args.skip_train:
        train_all(args, man)
    models = runs(args.work)
    rows, crops = [], {}
    for set_name in ("Set5", "Set14"):
        for name, img in iter_image_set(NATURAL / set_name):
            hr, lr, bic = lr_hr_y(img, SCALE)
            outs = {"bicubic": bic, **{m: upscale(lr, run) for m, run in models.items()}}
            for method, sr in outs.items():
                p, s = score_y(hr, sr, SCALE)
                q, h = shave(quantize(sr), SCALE), shave(hr, SCALE)
                rows.append({"set": set_name, "image": name, "method": method, "PSNR": p,
                             "SSIM": s, "HFEN": hfen(h, q), "grad ratio": grad_ratio(h, q)})
            if f"{set_name}/{name}" == args.crop_image:
                r, c, n = args.crop
                crops = {k: quantize(v)[r:r + n, c:c + n] for k, v in outs.items()
                         if k != "L1 cont."}
                crops["HR"] = hr[r:r + n, c:c + n]
    cols = ["PSNR", "SSIM", "HFEN", "grad ratio"]
    means = [{"set": s, "method": m, **{k: float(np.mean([r[k] for r in rows
                                                           if r["set"] == s and r["method"] == m]))
                                        for k in cols}}
             for s in ("Set5", "Set14") for m in METHODS]
    print(table(rows, ["set", "image", "method", *cols]))
    print(table(means, ["set", "method", *cols]))
    if crops:
        figure(crops, args)


def figure(crops: dict[str, np.ndarray], args: argparse.Namespace) -> None:
    """Side-by-side crops, nearest-neighbour display, grey 0..255."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = {"bicubic": "bicubic", "L1": "L1 (SRResNet)", "L1+P": "L1 + built-in perc.",
              "GAN": "GAN (SRGAN)", "HR": "HR"}
    fig, axes = plt.subplots(1, len(crops), figsize=(2.2 * len(crops), 2.5))
    for ax, (k, im) in zip(axes, crops.items()):
        ax.imshow(im, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(labels[k], fontsize=8)
        ax.axis("off")
    fig.suptitle(f"x4, {args.crop_image} (grey, held out); CPU budget: L1 {args.steps} "
                 f"steps, GAN +{args.gan_steps}", fontsize=8)
    fig.tight_layout()
    args.figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.figure, dpi=100)
    print(f"figure: {args.figure} ({args.figure.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
