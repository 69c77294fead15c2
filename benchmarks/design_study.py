"""Design study for the next default thick-slice model (issue 15, section 2).

Trains one design for a fixed wall-clock budget on thick-slice pairs of 2D planes and
exports it as a weights folder that ``benchmarks/default_model.py --weights DIR`` and
``benchmarks/infer_speed.py --thickslice DIR`` score. All designs see the same pair
generator (same seed, same draws), so the comparison is about the architecture:

* ``refine``: today's design (thickslice_v1): ``edsr_baseline_2d`` (residual) refining
  the cubic B-spline interpolation of the plane onto the HR grid;
* ``lraxis``: ``lraxis_2d``: features on the LR grid, one-axis sub-pixel tail, B-spline
  skip (volsr.models.networks.lraxis).

Pairs (one factor and profile per batch, so a batch shares one grid): a training case of
``--manifest`` (default data_manifests/shared_data_v2.json), a plane containing two of its
``hr_axes`` (isotropic volumes: all three orientations; anisotropic ones: in-plane), one
of the two as the thick axis; the plane is normalised like inference (percentile 0.5 /
99.5 of the volume), contrast-augmented (gamma, inversion inside the foreground, smooth
multiplicative bias field), degraded along the thick axis with
:class:`volsr.degrade.ThickSlice` (factor U(f0, f1), rect or Gaussian, thickness
0.8-1.2 x the spacing, so gaps and overlaps), Gaussian noise added, and an LR crop with
3 LR pixels of context each side paired with the 64 x 64 HR patch it covers; the
``refine`` input is the B-spline of the whole degraded plane, cropped (what inference
computes), the ``lraxis`` input the LR crop and the exact grid of the patch.

Known defect (found in session 5, kept so the recorded design study and the first two
training stages of thickslice_v2 stay reproducible): ``make_batch`` gives the whole batch
the grid offset of its *last* pair, so for non-integer factors the other pairs' targets
sit up to ~0.8 HR rows off (integer factors are exact). Train with ``volsr train
configs/pretrained/thickslice_v2.yaml`` instead: its any-factor pairs share one exact grid
per batch by construction (volsr/data/grid_pairs.py, tested).

Usage (one run at a time, the CPU is shared):
    nice -n 19 python benchmarks/design_study.py --design lraxis --features 32 \\
        --minutes 8 --threads 1 --out /tmp/ds/lraxis32
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from _common import REPO, SHARED_DATA

from volsr.data import load_manifest
from volsr.data.normalize import fit_normalization
from volsr.degrade import ThickSlice
from volsr.io import load_volume
from volsr.models import create_model
from volsr.models.networks.lraxis import bspline_operator

NORM = {"name": "percentile", "lower": 0.5, "upper": 99.5}
PATCH = 64
CONTEXT = 3


def load_cases(manifest: Path) -> list[dict]:
    """Training volumes, normalised, with their high-resolution axes."""
    out = []
    for case in load_manifest(manifest).cases("training"):
        path = Path(case.hr)
        if not path.exists():
            path = SHARED_DATA / path.name
        vol = load_volume(path)
        data = vol.data[0].astype(np.float32)
        norm = fit_normalization(data, NORM)
        data = np.ascontiguousarray((data - np.float32(norm.offset)) / np.float32(norm.scale))
        axes = [int(a) for a in case.extra.get("hr_axes", [0, 1, 2])]
        out.append({"id": case.id, "data": data, "axes": axes})
    return out


def _plane(rng: np.random.Generator, case: dict) -> np.ndarray:
    """A random plane (rows along the thick axis) with some foreground in it."""
    d, axes = case["data"], case["axes"]
    a, b = rng.choice(axes, size=2, replace=False)
    k = 3 - int(a) - int(b)
    for _ in range(10):
        i = int(rng.integers(d.shape[k] // 8, d.shape[k] - d.shape[k] // 8))
        index: list[object] = [slice(None)] * 3
        index[k] = i
        plane = d[tuple(index)]
        plane = plane if int(a) < int(b) else plane.T  # rows: a, columns: b
        if (plane > 0.1).mean() > 0.15:
            break
    return np.ascontiguousarray(plane)


def _augment(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """Gamma, inversion inside the foreground, smooth bias field (normalised units)."""
    fg = x > 0.05
    if rng.random() < 0.5:
        g = math.exp(rng.uniform(-0.3, 0.3))
        x = np.where(x > 0, np.abs(x) ** g, x).astype(np.float32)
    if rng.random() < 0.2:
        x = np.where(fg, np.clip(1.0 - x, 0.0, None), x).astype(np.float32)
    if rng.random() < 0.5:
        r = np.linspace(-1, 1, x.shape[0])[:, None]
        c = np.linspace(-1, 1, x.shape[1])[None, :]
        co = rng.uniform(-0.3, 0.3, size=5)
        x = (x * np.exp(co[0] * r + co[1] * c + co[2] * r * c + co[3] * r**2
                        + co[4] * c**2)).astype(np.float32)
    return x


def make_batch(rng: np.random.Generator, cases: list[dict], batch: int,
               factors: tuple[float, float], augment: bool = True) -> dict:
    """One batch of pairs sharing a factor and profile (see the module docstring)."""
    s = float(rng.uniform(*factors))
    profile = str(rng.choice(["rect", "gaussian"]))
    n_lr = math.ceil(PATCH / s) + 2 * CONTEXT
    lr, pre, hr = [], [], []
    grid = None
    while len(hr) < batch:
        case = cases[int(rng.integers(len(cases)))]
        x = _plane(rng, case)
        x = _augment(rng, x) if augment else x
        if x.shape[1] < PATCH:
            continue
        ts = ThickSlice(axis=0, factor=s, profile=profile,
                        thickness=s * float(rng.uniform(0.8, 1.2)))
        low = np.asarray(ts.matrix(x.shape[0]) @ x, dtype=np.float32)
        low += np.float32(rng.uniform(0.0, 0.02)) * rng.standard_normal(low.shape, np.float32)
        if low.shape[0] < n_lr:
            continue
        j0 = int(rng.integers(0, low.shape[0] - n_lr + 1))
        o0 = math.ceil((j0 + CONTEXT + 0.5) * s - 0.5)  # first HR row inside context
        if o0 + PATCH > x.shape[0]:
            continue
        c0 = int(rng.integers(0, x.shape[1] - PATCH + 1))
        off = (o0 + 0.5) / s - 0.5
        grid = (1.0 / s, off - j0, PATCH)
        full = bspline_operator(low.shape[0], 1.0 / s, off, PATCH)  # whole plane's B-spline
        lr.append(low[j0:j0 + n_lr, c0:c0 + PATCH])
        pre.append((full @ low[:, c0:c0 + PATCH]).astype(np.float32))
        hr.append(x[o0:o0 + PATCH, c0:c0 + PATCH])
    t = lambda v: torch.from_numpy(np.stack(v)[:, None])
    return {"lr": t(lr), "pre": t(pre), "hr": t(hr), "grid": grid, "factor": s}


def build(design: str, features: int, blocks: int) -> tuple[str, torch.nn.Module]:
    if design == "refine":
        return "edsr_baseline_2d", create_model(
            "edsr_baseline_2d", scale=[1.0, 1.0], num_blocks=blocks, features=features,
            res_scale=1.0, residual=True)
    return "lraxis_2d", create_model("lraxis_2d", scale=[4.0, 1.0], num_blocks=blocks,
                                     features=features)


def save(net: torch.nn.Module, args: argparse.Namespace, blocks: int, name: str, step: int,
         seconds: float, data_s: float, losses: list[float], out: str) -> None:
    """Write the weights folder (with design_study.json) and print its summary."""
    from volsr.checkpoint import save_weights

    was_training = net.training
    net.eval()
    scale = [1.0, 1.0, 1.0] if args.design == "refine" else [1.0, 1.0, 4.0]
    info = {"design": args.design, "features": args.features, "blocks": blocks,
            "steps": step, "seconds": round(seconds, 1), "data_seconds": round(data_s, 1),
            "threads": args.threads, "batch": args.batch, "factors": args.factors,
            "bf16": args.bf16, "augment": not args.no_augment, "init": args.init,
            "cosine": args.cosine, "lr": args.lr, "seed": args.seed,
            "final_loss_50": float(np.mean(losses[-50:])),
            "params": sum(p.numel() for p in net.parameters())}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    save_weights(net, out, model_name=name, normalization=NORM, scale=scale,
                 inference={"patch_size": [256, 256, 256], "overlap": 0.0},
                 training={"design_study": info})
    (Path(out) / "design_study.json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info), flush=True)
    net.train(was_training)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--design", choices=["refine", "lraxis"], required=True)
    ap.add_argument("--features", type=int, default=32)
    ap.add_argument("--blocks", type=int, default=None,
                    help="residual blocks (default: refine 8 as thickslice_v1, lraxis 6)")
    ap.add_argument("--minutes", type=float, default=8.0, help="training wall-clock budget")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--factors", type=float, nargs=2, default=[1.5, 8.0])
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--no-augment", action="store_true", help="no contrast augmentation")
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast for training")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--manifest", default=str(REPO / "data_manifests" / "shared_data_v2.json"))
    ap.add_argument("--init", default=None,
                    help="warm start: weights folder of the same design (fresh optimiser)")
    ap.add_argument("--cosine", action="store_true",
                    help="cosine learning-rate decay to 2%% over --minutes (after warm-up)")
    ap.add_argument("--snapshot-minutes", type=float, default=None,
                    help="also save the weights every so many minutes (OUT/snapshots/)")
    ap.add_argument("--out", required=True, help="weights folder to write")
    args = ap.parse_args()
    if not SHARED_DATA.is_dir():
        print(f"skipped: {SHARED_DATA} not found")
        return
    from volsr.checkpoint import save_weights

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    blocks = args.blocks or (8 if args.design == "refine" else 6)
    name, net = build(args.design, args.features, blocks)
    if args.init:
        from volsr.checkpoint import load_weights

        net.load_state_dict(load_weights(args.init)[0].state_dict())
    cases = load_cases(Path(args.manifest))
    rng = np.random.default_rng(args.seed)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    budget = args.minutes * 60.0
    net.train()
    t0, step, losses, data_s = time.perf_counter(), 0, [], 0.0
    t_snap = t0
    while time.perf_counter() - t0 < budget:
        td = time.perf_counter()
        b = make_batch(rng, cases, args.batch, tuple(args.factors), not args.no_augment)
        data_s += time.perf_counter() - td
        warm = min(1.0, (step + 1) / 100)
        if args.cosine:
            frac = min(1.0, (time.perf_counter() - t0) / budget)
            warm *= 0.02 + 0.98 * 0.5 * (1.0 + math.cos(math.pi * frac))
        for g in opt.param_groups:
            g["lr"] = args.lr * warm
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            if args.design == "refine":
                y = net(b["pre"])
            else:
                y = net(b["lr"], grid=(b["grid"], (1.0, 0.0, PATCH)))
        loss = torch.nn.functional.l1_loss(y.float(), b["hr"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        step += 1
        if args.snapshot_minutes and time.perf_counter() - t_snap > args.snapshot_minutes * 60:
            t_snap = time.perf_counter()
            save(net, args, blocks, name, step, t_snap - t0, data_s, losses,
                 str(Path(args.out) / "snapshots" / f"step{step:06d}"))
        if step % 50 == 0:
            print(f"step {step} loss(last 50) {np.mean(losses[-50:]):.5f} "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
    save(net, args, blocks, name, step, time.perf_counter() - t0, data_s, losses, args.out)


if __name__ == "__main__":
    main()
