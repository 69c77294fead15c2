"""Package a trained thick-slice weights folder as a bundled model of volsr.

Copies ``model.safetensors`` and rewrites ``model.json`` with the bundled model's
``trained_range`` and its training stages (read from a JSON list, one object per stage:
command, steps, seconds, hardware, data), so ``volsr infer --model NAME`` runs it and
the factor range is checked. The model card (``MODEL_CARD.md``) is written by hand.

Usage:
    python tools/package_bundled.py WEIGHTS_DIR NAME --stages stages.json \\
        [--factor 1.5 8.0] [--manifest data_manifests/shared_data_v2.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", help="weights folder (model.json + model.safetensors)")
    ap.add_argument("name", help="bundled name, e.g. thickslice_v2")
    ap.add_argument("--stages", required=True, help="JSON file: list of training stages")
    ap.add_argument("--factor", type=float, nargs=2, default=[1.5, 8.0])
    ap.add_argument("--manifest", default="data_manifests/shared_data_v2.json")
    args = ap.parse_args()
    src = Path(args.weights)
    dst = REPO / "volsr" / "weights" / args.name
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src / "model.safetensors", dst / "model.safetensors")
    meta = json.loads((src / "model.json").read_text(encoding="utf-8"))
    meta["trained_range"] = {"kind": "through_plane", "factor": list(args.factor)}
    meta["training"] = {"manifest": args.manifest,
                        "stages": json.loads(Path(args.stages).read_text(encoding="utf-8"))}
    (dst / "model.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {dst}")


if __name__ == "__main__":
    main()
