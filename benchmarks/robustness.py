"""Header fuzzing: random legal and illegal NIfTI headers through ``volsr infer``.

Every case must end in exactly one of two ways:

* ``correct``: exit 0 and an output whose geometry follows the volsr convention
  (shape ``round(n * s)`` per axis, affine = input affine @ convention matrix, sform and
  qform codes set, float32, finite voxels);
* ``clean error``: non-zero exit, exactly one ``volsr: error:`` line naming the input,
  no traceback, and nothing (no output, no temporary file) left in the output folder.

The input file must be byte-identical afterwards in both cases. Anything else is
``other`` and is printed with the header fields that reproduce it.

The generator (:func:`build_case`) takes a ``pick(name, options)`` callable, so the same
code serves hypothesis (``tests/io/test_fuzz_headers.py``) and this script (a seeded RNG).

Usage::

    python benchmarks/robustness.py --cases 2000 [--seed 0]
"""

from __future__ import annotations

import argparse
import gzip
import io
import logging
import math
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

Pick = Callable[[str, Sequence[Any]], Any]

SCALE = (1.0, 1.0, 2.0)
RGB = np.dtype([("R", "u1"), ("G", "u1"), ("B", "u1")])
DTYPES = ("int8", "uint8", "int16", "uint16", "int32", "float32", "float64", "rgb")
SHAPES = (
    (8, 9, 6), (7, 6, 5), (12, 10, 4), (8, 9, 6), (7, 6, 5), (12, 10, 4),  # ordinary
    (1, 9, 6), (8, 1, 6), (8, 9, 1),  # a 1-voxel axis
    (8, 9),  # 2D
    (8, 9, 6, 1), (8, 9, 6, 3),  # 4D, one or several volumes
    (8, 9, 6, 1, 1), (8, 9, 6, 1, 2),  # 5D
)
SPACINGS = ((1.0, 1.0, 3.0), (0.9, 1.1, 2.5), (2.0, 2.0, 2.0), (0.5, 0.5, 5.0))
AFFINES = ("diag", "diag", "flipped", "oblique", "oblique", "sheared", "singular")
PIXDIM_BAD = (None,) * 8 + (0.0, -1.5, float("nan"), 1e30)
SLOPES = (None,) * 6 + (1.0, 0.0, float("nan"), float("inf"), -2.0, 0.5)
INTERS = (0.0, 0.0, 0.0, 10.0, float("nan"))
TRUNCATE = (None,) * 9 + ("dim", "large", "huge", "bytes")
QFAC = (None,) * 10 + (0.0, -1.0, 2.0, float("nan"))
DIM0 = (None,) * 12 + (0, 2, 6, 8)
VOX_OFFSET = (None,) * 12 + (0.0, 100.0, 1e9, float("nan"))


def build_case(pick: Pick, *, shapes: Sequence[tuple[int, ...]] = SHAPES,
               spacings: Sequence[tuple[float, ...]] = SPACINGS) -> dict[str, Any]:
    """One random header description (plain data: printable, reproducible)."""
    return {
        "shape": tuple(pick("shape", shapes)),
        "dtype": pick("dtype", DTYPES),
        "spacing": tuple(pick("spacing", spacings)),
        "affine": pick("affine", AFFINES),
        "sform_code": pick("sform_code", (0, 1, 2, 4)),
        "qform_code": pick("qform_code", (0, 1, 2)),
        "qform_disagrees": pick("qform_disagrees", (False, False, True)),
        "pixdim_axis": pick("pixdim_axis", (1, 2, 3)),
        "pixdim_value": pick("pixdim_value", PIXDIM_BAD),
        "scl_slope": pick("scl_slope", SLOPES),
        "scl_inter": pick("scl_inter", INTERS),
        "truncate": pick("truncate", TRUNCATE),
        "qfac": pick("qfac", QFAC),
        "dim0": pick("dim0", DIM0),
        "vox_offset": pick("vox_offset", VOX_OFFSET),
        "gz": pick("gz", (True, False)),
        "seed": pick("seed", (0, 1, 2)),
    }


def random_case(rng: np.random.Generator, **kw: Any) -> dict[str, Any]:
    """:func:`build_case` driven by a numpy RNG."""
    return build_case(lambda _name, opts: opts[int(rng.integers(len(opts)))], **kw)


def case_affine(case: dict[str, Any]) -> np.ndarray:
    """The voxel-to-world matrix the case's sform/qform are built from."""
    sp = np.asarray(case["spacing"], dtype=np.float64)
    a = np.eye(4)
    kind = case["affine"]
    if kind == "diag":
        a[:3, :3] = np.diag(sp)
    elif kind == "flipped":
        a[:3, :3] = np.diag(sp * [-1.0, 1.0, -1.0])
    elif kind == "oblique":
        c, s = math.cos(0.3), math.sin(0.3)
        a[:3, :3] = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ np.diag(sp)
    elif kind == "sheared":
        a[:3, :3] = np.diag(sp)
        a[0, 2] = 0.4 * sp[2]
    elif kind == "singular":
        a[:3, :3] = np.diag(sp)
        a[:3, 2] = a[:3, 0]
    a[:3, 3] = [-20.0, 12.5, 7.0]
    return a


def case_data(case: dict[str, Any]) -> np.ndarray:
    rng = np.random.default_rng(case["seed"])
    shape = case["shape"]
    if case["dtype"] == "rgb":
        arr = np.zeros(shape, RGB)
        for ch in "RGB":
            arr[ch] = rng.integers(0, 256, size=shape)
        return arr
    dt = np.dtype(case["dtype"])
    if dt.kind == "f":
        return rng.normal(100.0, 20.0, size=shape).astype(dt)
    info = np.iinfo(dt)
    return rng.integers(max(info.min, -1000), min(info.max, 1000) + 1, size=shape).astype(dt)


def write_case(case: dict[str, Any], folder: Path) -> Path:
    """Write the case's NIfTI file, then patch the raw header (nibabel would repair it)."""
    import nibabel as nib

    path = folder / ("case.nii.gz" if case["gz"] else "case.nii")
    aff = case_affine(case)
    img = nib.Nifti1Image(case_data(case), None)
    img.set_sform(aff, code=case["sform_code"])
    q = aff.copy()
    if case["qform_disagrees"]:
        q[:3, 3] += [5.0, -3.0, 2.0]
    img.set_qform(q, code=case["qform_code"])
    nib.save(img, str(path))

    opener = gzip.open if case["gz"] else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    hdr = nib.Nifti1Header.from_fileobj(io.BytesIO(raw), check=False)
    body = raw[len(hdr.binaryblock):]
    if case["pixdim_value"] is not None:
        hdr["pixdim"][case["pixdim_axis"]] = case["pixdim_value"]
    if case["qfac"] is not None:
        hdr["pixdim"][0] = case["qfac"]
    if case["vox_offset"] is not None:
        hdr["vox_offset"] = case["vox_offset"]
    if case["dim0"] is not None:
        hdr["dim"][0] = case["dim0"]
    if case["scl_slope"] is not None:
        hdr["scl_slope"] = case["scl_slope"]
        hdr["scl_inter"] = case["scl_inter"]
    trunc = case["truncate"]
    if trunc == "dim":  # declares 4x more slices than stored
        hdr["dim"][3] = hdr["dim"][3] * 4
    elif trunc == "large":  # declares 2^30 voxels (gigabytes) in a file of kilobytes
        hdr["dim"][1:4] = 1024
    elif trunc == "huge":  # declares ~10^13 voxels
        hdr["dim"][1:4] = 30000
    elif trunc == "bytes":  # data cut in half
        body = body[: len(body) // 2]
    with opener(path, "wb") as fh:
        fh.write(hdr.binaryblock + body)
    return path


def expected_ssr_scale(in_affine: np.ndarray) -> tuple[float, float, float]:
    """``volsr ssr``'s default factor: the coarsest voxel axis at the in-plane spacing."""
    from volsr.geometry import spacing_from_affine

    sp = spacing_from_affine(in_affine)
    axis = int(np.argmax(sp))
    s = [1.0, 1.0, 1.0]
    s[axis] = float(sp[axis] / np.mean(np.delete(sp, axis)))
    return tuple(s)  # type: ignore[return-value]


def check_outcome(result: Any, inp: Path, out: Path, before: bytes,
                  scale: Sequence[float] | Callable[[np.ndarray], Sequence[float]]
                  ) -> tuple[str, str]:
    """Classify a CliRunner result: ``("correct"|"error"|"other", reason)``."""
    import nibabel as nib

    from volsr.geometry.grid import output_size, scale_affine
    from volsr.io import load_volume

    if inp.read_bytes() != before:
        return "other", "input file changed"
    stderr = result.stderr
    if "Traceback" in result.output or "Traceback" in stderr:
        return "other", "traceback printed"
    leftovers = sorted(p.name for p in out.parent.iterdir())
    if result.exit_code == 0:
        if not out.is_file():
            return "other", f"exit 0 but no output; folder holds {leftovers}"
        if any(".part" in n for n in leftovers):
            return "other", f"temporary file left: {leftovers}"
        logging.disable(logging.WARNING)  # its warnings were already checked by the CLI run
        try:
            src = load_volume(inp)  # a success means volsr could read it
        finally:
            logging.disable(logging.NOTSET)
        s = scale(src.affine) if callable(scale) else scale
        img = nib.load(str(out))
        shape = tuple(output_size(n, f) for n, f in zip(src.spatial_shape, s))
        if img.shape != shape:
            return "other", f"output shape {img.shape} != {shape}"
        want = scale_affine(src.affine, s)
        if not np.allclose(img.affine, want, rtol=1e-5, atol=1e-5):
            return "other", f"output affine {img.affine.tolist()} != {want.tolist()}"
        h = img.header
        codes = int(h["sform_code"]), int(h["qform_code"])
        unknown = not src.meta.sform_code and not src.meta.qform_code  # pixdim-only input
        if (codes not in ((0, 0), (2, 2))) if unknown else min(codes) <= 0:
            return "other", f"codes sform={codes[0]} qform={codes[1]}"
        if h.get_data_dtype() != np.float32:
            return "other", f"output dtype {h.get_data_dtype()}"
        if not np.all(np.isfinite(np.asanyarray(img.dataobj))):
            return "other", "output holds NaN/inf"
        return "correct", ""
    if result.exit_code not in (1, 2):
        return "other", f"exit {result.exit_code}: {stderr.strip()[-300:]}"
    lines = [ln for ln in stderr.splitlines() if ln.startswith("volsr: error:")]
    if len(lines) != 1:
        return "other", f"{len(lines)} error lines: {stderr.strip()[-300:]}"
    if inp.name not in lines[0]:
        return "other", f"error does not name the input: {lines[0]}"
    if leftovers:
        return "other", f"failure left files: {leftovers}"
    return "error", lines[0]


def infer_args(inp: Path, out: Path) -> list[str]:
    return ["infer", str(inp), "-o", str(out), "--model", "linear", "--scale",
            *(str(s) for s in SCALE)]


def ssr_args(inp: Path, out: Path) -> list[str]:
    return ["ssr", str(inp), "-o", str(out), "--steps", "1", "--budget", "fast",
            "--threads", "1", "--device", "cpu"]


def run_case(case: dict[str, Any], root: Path, *, command: str = "infer") -> tuple[str, str]:
    """Write ``case`` under ``root``, run the CLI in-process, classify the outcome."""
    from typer.testing import CliRunner

    from volsr.cli import app

    src_dir, out_dir = root / "in", root / "out"
    src_dir.mkdir(parents=True)
    out_dir.mkdir()
    inp = write_case(case, src_dir)
    before = inp.read_bytes()
    out = out_dir / "sr.nii.gz"
    args = infer_args(inp, out) if command == "infer" else ssr_args(inp, out)
    try:
        result = CliRunner().invoke(app, args, catch_exceptions=False)
    except BaseException as exc:  # noqa: BLE001 - an escaping exception is an "other" outcome
        if isinstance(exc, KeyboardInterrupt):
            raise
        return "other", f"exception escaped the CLI: {type(exc).__name__}: {exc}"
    finally:
        reset_logging()
    scale = SCALE if command == "infer" else expected_ssr_scale
    return check_outcome(result, inp, out, before, scale)


def reset_logging() -> None:
    """Drop the stderr handler the CLI installed (it points at CliRunner's closed stream)."""
    logger = logging.getLogger("volsr")
    for h in list(logger.handlers):
        logger.removeHandler(h)


def _error_kind(line: str) -> str:
    """The error line without the file name and numbers (to group similar errors)."""
    import re

    text = line.split("case.nii", 1)[-1].lstrip(".gz").lstrip(": ")
    text = re.sub(r" \(.*|;.*", "", text)
    return re.sub(r"[-+]?\d[\d.e+-]*", "N", text).strip()[:90]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    import nibabel  # noqa: F401 - installs its handler, replaced below

    nib_log = logging.getLogger("nibabel.global")  # nibabel prints header repairs itself
    nib_log.handlers[:] = [logging.NullHandler()]
    nib_log.propagate = False
    counts: Counter[str] = Counter()
    others: list[tuple[dict[str, Any], str]] = []
    errors: Counter[str] = Counter()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="volsr-fuzz-") as tmp:
        for i in range(args.cases):
            case = random_case(rng)
            kind, why = run_case(case, Path(tmp) / f"c{i}")
            counts[kind] += 1
            if kind == "other":
                others.append((case, why))
            elif kind == "error":
                errors[_error_kind(why)] += 1
    secs = time.perf_counter() - t0
    print(f"cases tried: {args.cases} (seed {args.seed}, {secs:.1f} s)")
    print(f"correct output: {counts['correct']}")
    print(f"clean error:    {counts['error']}")
    print(f"other:          {counts['other']}")
    for text, n in errors.most_common():
        print(f"    {n:5d} x {text}")
    for case, why in others:
        print(f"  OTHER {why}\n    reproduce: {case}")
    return 1 if others else 0


if __name__ == "__main__":
    raise SystemExit(main())
