"""Training-data speed: samples/s of the old numpy pipeline and the MONAI one, 2D and 3D.

Both pipelines draw pairs for the same recipe from the same phantom volumes, in one
process (``num_workers: 0``) with one thread:

* ``old``: the numpy sampling volsr used before the MONAI data layer (kept below, and
  only here, as the reference: load + normalise + foreground once per volume, then per
  item a numpy Generator seeded ``[seed, epoch, index]`` drawing degradation, patch and
  flips/rot90).
* ``new``: :func:`volsr.data.build_training_dataset` (CacheDataset of prepared volumes,
  MONAI map transforms per item; the B-spline evaluation matrices that bring a "pre"
  input back onto the HR patch are cached instead of rebuilt per pair).

Recipes: ``3d`` = ``configs/base.yaml`` (32^3 patches, random thick slices + noise),
``2d`` = ``configs/claims/srcnn2d_l1.yaml`` (48 x 48 slices across x, thick-slice x4).
Reported: the seconds to prepare (load/normalise/cache) the volumes and the items/s of
``--items`` draws after ``--warmup`` draws, best of ``--repeats``.

Usage:
    python benchmarks/data_speed.py [--items 200] [--repeats 3] [--shape 96 96 80]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import REPO, table

RECIPES = {"3d": REPO / "configs" / "base.yaml",
           "2d": REPO / "configs" / "claims" / "srcnn2d_l1.yaml"}


# ----------------------------------------------------------------- old reference pipeline


class OldPairs:
    """The pre-MONAI sampling (synthetic pairs only), as the speed reference."""

    def __init__(self, cases: list[Any], cfg: Any, upsampling: str, model_scale: Any,
                 seed: int) -> None:
        from volsr.data.patches import noise_kinds
        from volsr.data.slices import in_plane_axes, patch_shape_3d, scale_3d
        from volsr.data.volumes import build_compose, degradation_specs

        self.cases, self.cfg, self.seed, self.epoch = cases, cfg, seed, 0
        self.upsampling = upsampling
        self.patch = np.asarray(patch_shape_3d(cfg.patch_size, cfg.mode, cfg.slice_axis))
        self.axes = in_plane_axes(cfg.mode, cfg.slice_axis)
        scale = scale_3d(model_scale, cfg.mode, cfg.slice_axis)
        self.compose = build_compose(degradation_specs(cfg.degradation, scale))
        self.kinds = sorted(noise_kinds(self.compose))
        self.vols = [self._load(c) for c in cases]

    def _load(self, case: Any) -> dict[str, Any]:
        from volsr.data.normalize import fit_normalization
        from volsr.data.patches import foreground_coords, noise_reference
        from volsr.data.volumes import _spec_dict, case_seed
        from volsr.io import load_volume

        hr = load_volume(case.hr)
        norm = fit_normalization(hr.data, _spec_dict(self.cfg.normalization))
        data = np.asarray(norm.forward(hr.data), dtype=np.float32)
        fg = foreground_coords(data, max_points=100_000, seed=case_seed(case.id)[1])
        refs = {k: noise_reference(data, k) for k in self.kinds}
        return {"hr": data, "spacing": hr.spacing, "fg": fg, "refs": refs}

    def __getitem__(self, index: int) -> dict[str, Any]:
        import torch

        from volsr.data.patches import (
            crop,
            pair_margin,
            patch_start,
            resolve_noise,
            rot_planes,
        )

        vol = self.vols[(index // self.cfg.patches_per_volume) % len(self.vols)]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        det = resolve_noise(self.compose.sample(rng), lambda k: vol["refs"][k])
        margin = pair_margin(det, self.patch)
        start = patch_start(rng, vol["hr"].shape[1:], self.patch, margin, vol["fg"],
                            self.cfg.foreground_sampling)
        region = crop(vol["hr"], start - margin, self.patch + 2 * margin)
        lr, scale = old_synthesize_lr(region, det, margin, self.patch, self.upsampling)
        inner = tuple(slice(int(m), int(m + p)) for m, p in zip(margin, self.patch))
        hr = np.ascontiguousarray(region[(slice(None), *inner)])
        planes = rot_planes(self.axes, self.patch, scale, vol["spacing"])
        coins = rng.random(len(self.axes))
        pick, k = rng.random(), int(rng.integers(4))
        flips = tuple(1 + a for a, c in zip(self.axes, coins) if c < 0.5)
        out = []
        for arr in (hr, lr):
            arr = np.flip(arr, axis=flips) if flips else arr
            if planes and k:
                a, b = planes[int(pick * len(planes))]
                arr = np.rot90(arr, k=k, axes=(1 + a, 1 + b))
            if self.cfg.mode == "2d":
                arr = np.take(arr, 0, axis=1 + self.cfg.slice_axis)
            out.append(torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)))
        meta = {"case": self.cases[(index // self.cfg.patches_per_volume) % len(self.vols)].id,
                "index": index, "epoch": self.epoch, "start": [int(v) for v in start],
                "flip": [f - 1 for f in flips],
                "rot90": [*planes[int(pick * len(planes))], k] if planes and k else None}
        return {"hr": out[0], "lr": out[1], "params": json.dumps(det.params),
                "meta": json.dumps(meta)}


def old_synthesize_lr(region: np.ndarray, det: Any, margin: np.ndarray, patch: np.ndarray,
                      upsampling: str) -> tuple[np.ndarray, np.ndarray]:
    """The old ``synthesize_lr`` (B-spline matrices rebuilt for every pair)."""
    from volsr.models.interpolation import Interpolator

    scale = np.asarray(det.output_scale(tuple(int(v) for v in region.shape[1:])))
    lr_region = det.apply_array(region)
    if upsampling == "post":
        f = np.rint(1.0 / scale).astype(np.int64)
        sl = tuple(slice(int(a), int(a + b)) for a, b in zip(margin // f, patch // f))
        return np.array(lr_region[(slice(None), *sl)]), scale
    offset = (margin + 0.5) * scale - 0.5
    interp = Interpolator("bspline")
    lr = np.stack([interp.resample_linear(c, scale, offset, tuple(int(v) for v in patch))
                   for c in lr_region])
    return lr, scale


# ----------------------------------------------------------------- measurement


def _rates(pipes: list[Any], items: int, warmup: int, repeats: int) -> list[float]:
    """Items/s of each pipeline: best of ``repeats`` rounds, the pipelines interleaved
    within a round (so that load from other processes hits both alike)."""
    for ds in pipes:
        for i in range(warmup):
            ds[i]
    best = [float("inf")] * len(pipes)
    for r in range(repeats):
        for j, ds in enumerate(pipes):
            t0 = time.perf_counter()
            for i in range(items):
                ds[warmup + r * items + i]
            best[j] = min(best[j], time.perf_counter() - t0)
    return [items / b for b in best]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--shape", type=int, nargs=3, default=(96, 96, 80))
    ap.add_argument("--volumes", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import torch

    from volsr.config import load_config
    from volsr.data import build_training_dataset, load_manifest
    from volsr.io import save_volume
    from volsr.phantom import phantom_volume

    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="volsr_data_speed_"))
    cases = []
    for k in range(args.volumes):
        save_volume(phantom_volume(args.shape, (1.0, 1.0, 1.0), supersample=1, seed=k),
                    tmp / f"p{k}.nii.gz")
        cases.append({"id": f"p{k}", "hr": f"p{k}.nii.gz"})
    man = tmp / "manifest.json"
    man.write_text(json.dumps({"volsr_manifest": 1, "name": "speed", "training": cases}))
    rows = []
    for recipe, path in RECIPES.items():
        cfg = load_config(path, [f"data.manifest={man}"])
        from volsr.engine.build import build_network

        up = build_network(cfg).upsampling
        n = args.warmup + args.items * args.repeats
        t0 = time.perf_counter()
        old = OldPairs(load_manifest(man).cases("training"), cfg.data, up, cfg.model.scale,
                       cfg.seed)
        t_old = time.perf_counter() - t0
        t0 = time.perf_counter()
        new = build_training_dataset(cfg.data, man, upsampling=up, model_scale=cfg.model.scale,
                                     seed=cfg.seed, length=n)
        t_new = time.perf_counter() - t0
        r_old, r_new = _rates([old, new], args.items, args.warmup, args.repeats)
        patch = "x".join(str(v) for v in cfg.data.patch_size)
        rows += [{"recipe": f"{recipe} ({path.name}, {patch})", "pipeline": "old numpy",
                  "prepare_s": t_old, "items_per_s": r_old, "new/old": 1.0},
                 {"recipe": f"{recipe} ({path.name}, {patch})", "pipeline": "MONAI",
                  "prepare_s": t_new, "items_per_s": r_new, "new/old": r_new / r_old}]
    print(f"{args.volumes} phantom volume(s) {'x'.join(map(str, args.shape))}, "
          f"{args.items} items x best of {args.repeats}, {args.threads} thread(s)")
    print(table(rows, ["recipe", "pipeline", "prepare_s", "items_per_s", "new/old"]))


if __name__ == "__main__":
    main()
