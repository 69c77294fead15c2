"""Adaptation steps per second: float32 vs bfloat16 autocast (channels-last) training.

Runs the fine-tune of ``volsr infer --adapt`` (:func:`volsr.adapt.adapt_to_scan`) on a
synthetic head phantom (256 x 256 x 40, 1 x 1 x 4 mm, made on the fly) for a fixed
number of steps, alternating the two precisions ``--repeats`` times in one process so the
ratio is measured under the same load, and prints the seconds per step and the ratio.
Both runs start from the same weights and draw the same patches; the held-out L1 after
training is printed too (the two should agree closely).

Usage: python benchmarks/adapt_speed.py [--model NAME | --weights DIR] [--steps 200]
       [--repeats 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics

import torch
from _common import table

from volsr.adapt.predictor import check_adaptable
from volsr.adapt.scan import AdaptSettings, adapt_to_scan
from volsr.degrade import ThickSlice
from volsr.phantom import phantom_volume
from volsr.predictors import load_predictor


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model name (default: volsr infer's)")
    ap.add_argument("--weights", default=None, help="weights folder")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    pred = check_adaptable(load_predictor(args.model, args.weights, device="cpu"))
    hr = phantom_volume((256, 256, 160), (1.0, 1.0, 1.0), seed=3)
    scan = ThickSlice(axis=2, factor=4, profile="rect")(hr)
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    held: dict[str, float] = {}
    for _ in range(args.repeats):
        for precision in ("fp32", "bf16"):
            s = AdaptSettings(seconds=1e9, steps=args.steps, profile="rect",
                              precision=precision)
            rec = adapt_to_scan(scan, pred.model, pred.normalization, s).record
            times[precision].append(rec["seconds"] / rec["steps"])
            held[precision] = rec["heldout_l1_after"]
    rows = [{"precision": p, "ms/step (median)": 1e3 * statistics.median(t),
             "steps/s": 1.0 / statistics.median(t), "held-out L1 after": held[p]}
            for p, t in times.items()]
    print(f"{args.model or args.weights or 'volsr infer default'}: {args.steps} adaptation "
          f"steps x {args.repeats}, {torch.get_num_threads()} thread(s), 256x256x40 phantom")
    print(table(rows, ["precision", "ms/step (median)", "steps/s", "held-out L1 after"]))
    ratio = statistics.median(times["fp32"]) / statistics.median(times["bf16"])
    print(f"\nbf16 / fp32 steps per second: {ratio:.2f}x")


if __name__ == "__main__":
    main()
