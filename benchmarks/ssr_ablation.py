"""Self-SR ablation: SSR alone vs SAA+SSR (textbook pairing or cascade), and what SAA does.

One simulated case (default: t1_brain_niivue_otsu, x4 Gaussian thick slices along z) is
super-resolved by volsr ssr with the given settings and scored against the original in
the automatic foreground mask, next to cubic B-spline. With SAA, the SAA network alone is
also applied and scored against the truth blurred by the slice profile at full sampling
(what SAA is trained to produce), next to B-spline against the same target: the gap says
how much aliasing SAA removed. Prints one JSON line.

Modes: ``ssr`` (SSR alone), ``plain`` (SAA + SSR, SSR trained on profile-blurred
inputs), ``cascade`` (SAA + SSR, SSR trained on SAA's output; volsr's default).

Usage:
    python benchmarks/ssr_ablation.py cascade --threads 1 \
        --set steps=900 saa_share=0.3333 features=24 num_blocks=6 patch_size=40 lr=1e-3
"""

from __future__ import annotations

import argparse
import json
import time

from _common import SHARED_DATA
from ssr import _simulate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=("ssr", "plain", "cascade"))
    ap.add_argument("--volume", default="t1_brain_niivue_otsu")
    ap.add_argument("--factor", type=float, default=4.0)
    ap.add_argument("--profile", default="gaussian")
    ap.add_argument("--budget", default="fast")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="self_super_resolve settings (values parsed as JSON when they can be)")
    ap.add_argument("--cap", action="store_true",
                    help="keep the budget's training time cap (default: no cap)")
    args = ap.parse_args()

    import torch

    from volsr.inference import super_resolve
    from volsr.metrics import evaluate
    from volsr.ssr import self_super_resolve
    from volsr.ssr.model import SSRModel
    from volsr.ssr.pairs import blur_along

    torch.set_num_threads(args.threads)
    settings = {}
    for item in args.set:
        key, _, value = item.partition("=")
        try:
            settings[key] = json.loads(value)
        except ValueError:
            settings[key] = value
    if not args.cap:
        settings.setdefault("max_seconds", 1e12)
    truth, lr, thickness = _simulate(str(SHARED_DATA / f"{args.volume}.nii.gz"), 2,
                                     args.factor, args.profile, 0.0)
    bspline = super_resolve(lr, "bspline", reference=truth.grid)
    out = {"mode": args.mode, "settings": settings,
           "bspline_psnr": evaluate(truth, bspline, mask="auto").psnr}
    t0 = time.perf_counter()
    res = self_super_resolve(lr, budget=args.budget, saa=args.mode != "ssr",
                             cascade=args.mode == "cascade", profile=args.profile,
                             slice_thickness=thickness, reference=truth.grid, progress=False,
                             **settings)
    out["seconds"] = time.perf_counter() - t0
    ev = evaluate(truth, res.volume, mask="auto")
    out.update(psnr=ev.psnr, ssim=ev.ssim)
    out["steps"] = {k: v["steps"] for k, v in res.report["training"].items()}
    out["final_loss"] = {k: v["final_loss"] for k, v in res.report["training"].items()}
    m = res.model
    if m.saa is not None:
        axis = m.acquisition.axis
        blurred = truth.with_data(blur_along(truth.data[0], axis, profile=m.profile,
                                             pixel_mm=float(truth.spacing[axis]))[None])
        saa_only = SSRModel(acquisition=m.acquisition, profile=m.profile, ssr=m.saa,
                            normalization=m.normalization, fusion=m.fusion, fba_p=m.fba_p,
                            orientations=m.orientations).run(lr, reference=truth.grid)
        out["saa_vs_blurred_psnr"] = evaluate(blurred, saa_only, mask="auto").psnr
        out["bspline_vs_blurred_psnr"] = evaluate(blurred, bspline, mask="auto").psnr
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
