"""Cost of one training step of each 2D zoo network at its paper size on this machine.

Builds every ``configs/zoo/*.yaml`` network as configured and times one Adam step
(forward, backward, update) on a small batch after one warm-up step; prints the seconds
and the extrapolation to the zoo benchmark's default batch (16) and step count (2000).
It tells whether ``benchmarks/zoo.py`` at a real budget fits a CPU session.

Input sizes are those of ``benchmarks/zoo.py`` (x2, 48 x 48 HR patches): 48 x 48 for "pre"
networks, 24 x 24 for the others.

Usage:
    python benchmarks/zoo_step_cost.py [--batch 2] [--threads 1] [--networks edsr_2d ...]
"""

from __future__ import annotations

import argparse
import time

from _common import REPO, table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--networks", nargs="+", default=None)
    args = ap.parse_args()

    import torch

    from volsr.config import load_config
    from volsr.models import create_model

    torch.set_num_threads(args.threads)
    rows = []
    for path in sorted((REPO / "configs" / "zoo").glob("*.yaml")):
        if args.networks and path.stem not in args.networks:
            continue
        cfg = load_config(path, [])
        net = create_model(cfg.model.name, **dict(cfg.model.args))
        side = 48 if net.upsampling == "pre" else 24
        x = torch.rand(args.batch, net.in_channels, side, side)
        opt = torch.optim.Adam(net.parameters())

        def step() -> float:
            t0 = time.perf_counter()
            out = net(x)
            out = out[-1] if isinstance(out, (list, tuple)) else out
            opt.zero_grad()
            out.float().mean().backward()
            opt.step()
            return time.perf_counter() - t0

        step()
        sec = step()
        per16 = sec * 16 / args.batch
        rows.append({"network": path.stem,
                     "params_M": sum(p.numel() for p in net.parameters()) / 1e6,
                     "input": f"{side}x{side}", f"s/step (batch {args.batch})": sec,
                     "s/step (batch 16)": per16, "hours for 2000 steps": per16 * 2000 / 3600})
        print(f"{path.stem}: {sec:.2f} s", flush=True)
    print()
    print(table(rows, list(rows[0])))


if __name__ == "__main__":
    main()
