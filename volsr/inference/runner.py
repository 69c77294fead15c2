"""File and folder inference with atomic outputs, sidecars and skip-existing.

:func:`run_inference` is the engine behind ``volsr infer``: the model is built once,
then each input is read, super-resolved and written (temporary file + rename), with a
JSON sidecar recording the model, settings, input sha256 and timings.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from volsr.errors import InputError, OutputError, VolsrError
from volsr.geometry import Grid
from volsr.io import VOLUME_SUFFIXES_ALL, file_sha256, load_volume, save_volume, volume_suffix
from volsr.provenance import base_record, grid_record, read_sidecar, sidecar_path, write_sidecar

log = logging.getLogger(__name__)


@dataclass
class InferSettings:
    """Everything that decides an output besides the input file itself."""

    model: str = "bspline"
    scale: tuple[float, ...] | None = None
    target_spacing: tuple[float, ...] | None = None
    isotropic: bool = False
    reference: str | None = None
    dtype: str = "float32"
    volume_index: int | None = None
    series_uid: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


@dataclass
class CaseResult:
    """Outcome of one input: ``written``, ``skipped`` or ``failed`` (with the error)."""

    input: str
    output: str
    status: str
    error: str | None = None
    seconds: float = 0.0


def plan_cases(input_path: Path, output_path: Path, *, suffix: str = "") -> list[tuple[Path, Path]]:
    """Pair inputs with outputs: file -> file, DICOM folder -> file, folder -> folder."""
    if not input_path.exists():
        raise InputError("no such file or folder", path=input_path)
    out_is_file = volume_suffix(output_path) != ""
    if input_path.is_dir() and not out_is_file:
        inputs = sorted(p for p in input_path.iterdir()
                        if p.is_file() and volume_suffix(p) in VOLUME_SUFFIXES_ALL
                        and not p.name.startswith("."))
        if not inputs:
            raise InputError("folder holds no volumes (.nii, .nii.gz, .nrrd, .mha, .mhd); for a "
                             "DICOM series give an output file name", path=input_path)
        if output_path.exists() and not output_path.is_dir():
            raise OutputError("output must be a folder when the input is a folder",
                              path=output_path)
        pairs = []
        for p in inputs:
            stem = p.name[: -len(volume_suffix(p))]
            pairs.append((p, output_path / f"{stem}{suffix}.nii.gz"))
        return pairs
    if not input_path.is_dir() and not out_is_file:
        raise OutputError("output file needs a volume extension (.nii.gz, .nii, .nrrd or .mha)",
                          path=output_path)
    return [(input_path, output_path)]


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return b.exists() and a.samefile(b)
    except OSError:
        return False


def is_complete(output: Path, settings: InferSettings, input_sha: str) -> bool:
    """An existing output counts as done only if its sidecar matches model, settings, input."""
    if not output.exists():
        return False
    rec = read_sidecar(sidecar_path(output))
    if not rec:
        return False
    return rec.get("settings") == settings.record() and rec.get("input", {}).get(
        "sha256") == input_sha


def run_inference(
    input_path: str | Path,
    output_path: str | Path,
    settings: InferSettings,
    *,
    predictor: Callable[..., Any] | None = None,
    overwrite: bool = False,
    skip_existing: bool = False,
    suffix: str = "",
    keep_going: bool = False,
    progress: bool | None = None,
) -> list[CaseResult]:
    """Super-resolve a file or a folder of files.

    Args:
        predictor: ``predictor(volume, **grid) -> Volume``; default: the model named in
            ``settings`` through :func:`volsr.inference.super_resolve`, built once.
        overwrite / skip_existing: what to do with existing outputs (default: refuse).
        keep_going: continue after a failed case (default: stop at the first failure).
        progress: show a tqdm bar (None: only on a terminal).

    Returns:
        One :class:`CaseResult` per input. Raises the first error unless ``keep_going``.
    """
    from tqdm.auto import tqdm

    inp, out = Path(input_path), Path(output_path)
    pairs = plan_cases(inp, out, suffix=suffix)
    if inp.is_dir() and len(pairs) >= 1 and pairs[0][1].parent == out and not out.exists():
        if not out.parent.exists():
            raise OutputError("parent folder does not exist", path=out)
        out.mkdir()
    for src, dst in pairs:
        if _same_file(src, dst):
            raise OutputError("output path is the input file; choose another name or --suffix",
                              path=dst)
    reference = None
    if settings.reference:
        ref = load_volume(settings.reference)
        reference = Grid(ref.spatial_shape, ref.affine)
    predict = predictor or _default_predictor(settings)
    results: list[CaseResult] = []
    bar = tqdm(pairs, desc="volsr infer", unit="scan", disable=progress is False or (
        None if progress is None else False), leave=False)
    for src, dst in bar:
        t0 = time.perf_counter()
        try:
            res = _one_case(src, dst, settings, predict, reference, overwrite=overwrite,
                            skip_existing=skip_existing)
        except VolsrError as exc:
            res = CaseResult(str(src), str(dst), "failed", str(exc))
            if not keep_going:
                raise
            log.error("%s", exc)
        res.seconds = round(time.perf_counter() - t0, 3)
        results.append(res)
    return results


def _default_predictor(settings: InferSettings) -> Callable[..., Any]:
    from volsr.inference.api import super_resolve
    from volsr.models import create_model

    model = create_model(settings.model)

    def predict(volume, **grid):  # noqa: ANN001, ANN202
        return super_resolve(volume, model, **grid, **settings.options)

    return predict


def _one_case(src: Path, dst: Path, settings: InferSettings, predict: Callable[..., Any],
              reference: Grid | None, *, overwrite: bool, skip_existing: bool) -> CaseResult:
    if dst.exists() and not overwrite:
        if skip_existing:
            sha = file_sha256(src)
            if is_complete(dst, settings, sha):
                log.info("%s: already done, skipped", dst)
                return CaseResult(str(src), str(dst), "skipped")
            log.info("%s: exists but its sidecar does not match; redoing it", dst)
        else:
            raise OutputError("already exists (use --overwrite or --skip-existing)", path=dst)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    vol = load_volume(src, volume_index=settings.volume_index, series_uid=settings.series_uid)
    sha = file_sha256(src)
    timings["read_s"] = time.perf_counter() - t
    t = time.perf_counter()
    grid_kw = _grid_kwargs(settings, reference)
    result = predict(vol, **grid_kw)
    timings["compute_s"] = time.perf_counter() - t
    t = time.perf_counter()
    save_volume(result, dst, dtype=settings.dtype, overwrite=True)
    timings["write_s"] = time.perf_counter() - t
    record = base_record("infer")
    record.update({
        "model": settings.model,
        "settings": settings.record(),
        "input": {"path": str(src), "sha256": sha, **grid_record(vol.spatial_shape, vol.affine)},
        "output": {"path": str(dst), **grid_record(result.spatial_shape, result.affine)},
        "warnings": vol.meta.warnings,
        "timings": {k: round(v, 4) for k, v in timings.items()},
    })
    write_sidecar(sidecar_path(dst), record)
    log.info("%s -> %s (%s)", src, dst, result.describe())
    return CaseResult(str(src), str(dst), "written")


def _grid_kwargs(settings: InferSettings, reference: Grid | None) -> dict[str, Any]:
    if reference is not None:
        return {"reference": reference}
    if settings.scale is not None:
        return {"scale": settings.scale}
    if settings.target_spacing is not None:
        return {"target_spacing": settings.target_spacing}
    return {"isotropic": True}
