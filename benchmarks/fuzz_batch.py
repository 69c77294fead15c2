"""Folder-level fuzzing: random mixes of good, broken, colliding and user-owned files through
``volsr infer`` folder runs, reruns with ``--skip-existing`` / ``--overwrite``, leftovers of
killed runs, and (``--kills``) real SIGKILL/SIGTERM at random points.

After every step these must hold (each breach is counted and printed with its case):

* **lost**: after the final ``--skip-existing --keep-going`` run, every good input whose
  output slot is not held by a user file has its output; an output that was complete never
  vanishes;
* **mislabelled**: every output present holds exactly the super-resolution of the input it
  is named after (voxels compared with the in-process result), and its sidecar names that
  input's sha256;
* **foreign**: files volsr did not write (a user file at an output name, a BIDS ``.json``
  beside the input) are unchanged unless ``--overwrite`` was given;
* **input**: inputs are byte-identical; no output of a run is taken as an input
  (no ``_sr_sr`` names);
* **leftover**: after the final run, no temporary or claim file remains (those of a killed
  run stay until a later run reaches that output);
* **crash**: no traceback and no internal error (exit 3); colliding names exit 2 with
  nothing written.

The same code runs in the default test suite (``tests/inference/test_fuzz_batch.py``: a few seeded
cases, in-process) and here (more cases; ``--kills`` adds subprocess runs killed at random).

Usage::

    python benchmarks/fuzz_batch.py --cases 200 [--seed 0] [--kills]
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MODEL, SCALE = "linear", ("1", "1", "2")
BREACHES = ("lost", "mislabelled", "foreign", "input", "leftover", "crash")


@dataclass
class Case:
    """One folder scenario (paths are real files under ``root``)."""

    root: Path
    src: Path
    out: Path
    suffix: str
    good: list[Path] = field(default_factory=list)
    broken: list[Path] = field(default_factory=list)
    colliding: bool = False
    foreign: dict[Path, bytes] = field(default_factory=dict)  # user files: path -> bytes
    inputs: dict[Path, bytes] = field(default_factory=dict)  # every file of src at start
    complete: set[Path] = field(default_factory=set)  # outputs seen complete so far
    log: list[str] = field(default_factory=list)

    def output_of(self, p: Path) -> Path:
        name = p.name[: -len(".nii.gz")] if p.name.endswith(".nii.gz") else p.name[:-4]
        return self.out / f"{name}{self.suffix}.nii.gz"


def _volume(rng: np.random.Generator, shape=(10, 9, 5)):
    from volsr.io import Volume

    data = rng.normal(100, 20, size=(1, *shape)).astype(np.float32)
    aff = np.diag([1.0 + rng.random(), 1.0 + rng.random(), 3.0, 1.0])
    aff[:3, 3] = rng.normal(0, 10, 3)
    return Volume(data, aff)


def make_case(rng: np.random.Generator, root: Path) -> Case:
    """A random folder: 1-4 good scans, 0-2 broken, maybe a colliding pair, maybe user
    files at output names and BIDS sidecars; output beside the inputs (``--suffix``) or in
    another folder."""
    import nibabel as nib

    from volsr.io import save_volume

    src = root / "in"
    src.mkdir(parents=True)
    in_place = bool(rng.random() < 0.4)
    case = Case(root, src, src if in_place else root / "out",
                "_sr" if in_place or rng.random() < 0.5 else "")
    for i in range(int(rng.integers(1, 5))):
        p = src / f"sub-{i:02d}_T1w.nii.gz"
        save_volume(_volume(rng), p)
        case.good.append(p)
        if rng.random() < 0.3:  # BIDS metadata of the input
            (src / f"sub-{i:02d}_T1w.json").write_text('{"RepetitionTime": 2.3}')
    for j in range(int(rng.integers(0, 3))):
        kind = rng.choice(["text", "nan", "truncated"])
        p = src / f"bad-{j}.nii.gz"
        if kind == "text":
            p.write_text("not an image")
        elif kind == "nan":
            d = np.ones((6, 6, 4), np.float32)
            d[1, 2, 3] = np.nan
            nib.save(nib.Nifti1Image(d, np.eye(4)), p)
        else:
            save_volume(_volume(rng), p)
            p.write_bytes(p.read_bytes()[:120])
        case.broken.append(p)
    if rng.random() < 0.15:  # a.nii and a.nii.gz: one output name
        v = _volume(rng)
        save_volume(v, src / "twin.nii")
        save_volume(v, src / "twin.nii.gz")
        case.colliding = True
        case.good += [src / "twin.nii", src / "twin.nii.gz"]
    case.out.mkdir(exist_ok=True)
    for p in case.good:
        if rng.random() < 0.2 and not case.colliding:  # the user's own file at the output name
            o = case.output_of(p)
            o.write_bytes(b"user data " + p.name.encode())
            case.foreign[o] = o.read_bytes()
    for p in src.iterdir():
        if p not in case.foreign:
            case.inputs[p] = p.read_bytes()
    return case


def references(case: Case) -> dict[Path, np.ndarray]:
    """The expected voxels of each good input's output (in-process, same settings)."""
    import volsr
    from volsr.io import load_volume

    scale = tuple(float(s) for s in SCALE)
    return {p: volsr.super_resolve(load_volume(p), MODEL, scale=scale).data[0]
            for p in case.good if not case.colliding}


def cli_args(case: Case, *extra: str) -> list[str]:
    args = ["infer", str(case.src), "-o", str(case.out), "-m", MODEL, "--scale", *SCALE]
    return args + (["--suffix", case.suffix] if case.suffix else []) + list(extra)


def run_in_process(case: Case, *extra: str) -> tuple[int, str]:
    from typer.testing import CliRunner

    from volsr.cli import app

    try:
        r = CliRunner().invoke(app, cli_args(case, *extra), catch_exceptions=False)
    finally:
        logger = logging.getLogger("volsr")
        for h in list(logger.handlers):
            logger.removeHandler(h)
    return r.exit_code, r.stderr


def run_and_kill(case: Case, delay: float, sig: int, *extra: str) -> tuple[int, str]:
    """A real ``volsr`` process, killed with ``sig`` after ``delay`` seconds (if still running)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "volsr", *cli_args(case, *extra)],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=300)
    return proc.returncode, err


def check(case: Case, refs: dict[Path, np.ndarray], *, rc: int, err: str, killed: bool,
          overwrite: bool, final: bool) -> Counter[str]:
    """Count breaches of the invariants in the module docstring after one step."""
    import json

    import nibabel as nib

    from volsr.io.sidecar import sidecar_path

    bad: Counter[str] = Counter()

    def breach(kind: str, why: str) -> None:
        bad[kind] += 1
        case.log.append(f"{kind}: {why}")

    if "Traceback" in err or (rc == 3 and not killed):
        breach("crash", err.strip().splitlines()[-1] if err.strip() else f"exit {rc}")
    for p, data in case.inputs.items():
        if not p.exists() or p.read_bytes() != data:
            breach("input", f"{p.name} changed or vanished")
    if any("_sr_sr" in p.name for p in case.out.iterdir()):
        breach("input", "an output was taken as an input")
    if case.colliding:
        if not killed and rc != 2:
            breach("crash", f"colliding names gave exit {rc}")
        written = [p for p in case.out.glob("*.volsr.json")]
        if written:
            breach("mislabelled", f"colliding run wrote {[p.name for p in written]}")
    for o, data in list(case.foreign.items()):
        if o.exists() and o.read_bytes() == data:
            continue
        if not overwrite:
            breach("foreign", f"user file {o.name} changed without --overwrite")
        else:
            del case.foreign[o]  # replaced on request: from now on a volsr output
    for p, ref in refs.items():
        o = case.output_of(p)
        if o in case.foreign:
            continue
        if not o.exists():
            if o in case.complete:
                breach("lost", f"{o.name} was complete and vanished")
            elif final:
                breach("lost", f"{o.name} missing after the final run")
            continue
        try:
            got = np.asarray(nib.load(o).dataobj, dtype=np.float32)
        except Exception as exc:  # noqa: BLE001 - a partial file is a breach, not a crash
            breach("mislabelled", f"{o.name} unreadable ({type(exc).__name__})")
            continue
        if got.shape != ref.shape or not np.array_equal(got, ref):
            breach("mislabelled", f"{o.name} does not hold the result of {p.name}")
            continue
        side = sidecar_path(o)
        rec = json.loads(side.read_text(encoding="utf-8")) if side.exists() else {}
        if rec.get("input", {}).get("sha256") != hashlib.sha256(p.read_bytes()).hexdigest():
            breach("mislabelled", f"{side.name} does not name {p.name}")
            continue
        case.complete.add(o)
    if final and not case.colliding:  # the final run visits every output slot
        left = [p.name for p in case.out.iterdir() if ".part" in p.name or "volsr-claim" in p.name]
        if left:
            breach("leftover", f"{left}")
    return bad


def fuzz_case(rng: np.random.Generator, root: Path, *, kills: bool = False) -> Counter[str]:
    """Build one case and run 2-4 random steps plus the final convergence run."""
    case = make_case(rng, root)
    refs = references(case)
    total: Counter[str] = Counter()
    steps = list(rng.choice(["run", "skip", "overwrite", "crashed"] + (["kill"] * 2 if kills
                                                                       else []),
                            size=int(rng.integers(2, 5))))
    for step in steps + ["final"]:
        keep = ["--keep-going"] if step == "final" or rng.random() < 0.5 else []
        killed = overwrite = False
        if step == "crashed":
            leave_crash_artifacts(case, rng)
            continue
        if step == "kill":
            sig = int(rng.choice([signal.SIGKILL, signal.SIGTERM]))
            rc, err = run_and_kill(case, float(rng.uniform(2.0, 6.0)), sig, "--skip-existing",
                                   *keep)
            killed = rc in (-signal.SIGKILL, 143, -signal.SIGTERM)
        elif step == "overwrite":
            overwrite = True
            rc, err = run_in_process(case, "--overwrite", *keep)
        elif step == "run":
            rc, err = run_in_process(case, *keep)
        else:
            rc, err = run_in_process(case, "--skip-existing", *keep)
        case.log.append(f"step {step} {' '.join(keep)} -> exit {rc}")
        total += check(case, refs, rc=rc, err=err, killed=killed, overwrite=overwrite,
                       final=step == "final")
    total["steps"] = len(steps) + 1
    total["mix: in-place"] += case.out == case.src
    total["mix: broken inputs"] += len(case.broken)
    total["mix: colliding pairs"] += case.colliding
    total["mix: user files at output names"] += len(case.foreign) + sum(
        1 for p in case.inputs if p.suffix == ".json")
    total["mix: crash leftovers"] += steps.count("crashed")
    total["mix: killed runs"] += steps.count("kill")
    if any(total[k] for k in BREACHES):
        print(f"  case {root.name}: " + " | ".join(case.log), file=sys.stderr)
    return total


def leave_crash_artifacts(case: Case, rng: np.random.Generator) -> None:
    """What a SIGKILLed run leaves: a claim and a temporary of a dead process (this host),
    or a sidecar whose image never arrived."""
    from volsr.io._atomic import _owner, _tmp_base
    from volsr.io.claim import claim_path
    from volsr.io.sidecar import sidecar_path

    if not case.good or case.colliding:
        return
    o = case.output_of(case.good[int(rng.integers(len(case.good)))])
    if o in case.foreign:
        return
    host = _owner().rsplit("-", 1)[0]
    dead = 2**22 + int(rng.integers(1000))  # above the usual pid_max: not a live process
    if not o.exists():
        sidecar_path(o).write_text('{"generated_by": {"name": "volsr"}, "command": "infer"}')
    claim_path(o).write_text(f"{host} {dead}\n")
    (o.parent / f".{_tmp_base(o)}.{host}-{dead}.abc.part.nii.gz").write_bytes(b"half")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--kills", action="store_true", help="add subprocess runs killed at random")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    total: Counter[str] = Counter()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="volsr-fuzz-batch-") as tmp:
        for i in range(args.cases):
            total += fuzz_case(rng, Path(tmp) / f"c{i}", kills=args.kills)
    print(f"cases: {args.cases} (seed {args.seed}, kills {'on' if args.kills else 'off'}, "
          f"{total['steps']} runs, {time.perf_counter() - t0:.1f} s)")
    for k in sorted(k for k in total if k.startswith("mix:")):
        print(f"{k:36s} {total[k]}")
    for k in BREACHES:
        print(f"{k:12s} {total[k]}")
    return 1 if any(total[k] for k in BREACHES) else 0


if __name__ == "__main__":
    raise SystemExit(main())
