"""File and folder inference with atomic outputs, sidecars and skip-existing.

:func:`run_inference` is the engine behind ``volsr infer``: the model (interpolation
baseline, bundled network or trained weights, see :func:`build_predictor`) is built
once, then each input is read, super-resolved and written (temporary file + rename),
with a JSON sidecar recording the model, weights sha256, settings, input sha256 and
timings. Folders can be split deterministically across array jobs
(:func:`resolve_sharding`, :func:`shard`).

2D images (``.png``, ``.tif``/``.tiff``, single-frame ``.dcm``) are read with
:func:`volsr.io.image2d.load_image2d`, super-resolved by a 2D network (or an
interpolation baseline) with :func:`volsr.inference.slicewise.predict_image2d` and
written as PNG/TIFF keeping their bit depth; the factor is ``--scale S`` (both axes; or
``S_rows S_cols 1``), by default the network's own.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from volsr.errors import ConfigError, InputError, OutputError, VolsrError
from volsr.geometry import Grid
from volsr.io import VOLUME_SUFFIXES_ALL, file_sha256, load_volume, volume_suffix
from volsr.io.image2d import IMAGE2D_WRITE_SUFFIXES, image2d_suffix, is_image2d_path
from volsr.io.claim import claim_output, write_with_sidecar  # hardening #17
from volsr.io.outputs import (  # hardening #17
    SKIP, WRITE, check_collisions, drop_own_outputs, drop_planned_outputs,
    existing_output_action,
)
from volsr.provenance import base_record, grid_record, read_sidecar, sidecar_path, write_sidecar

log = logging.getLogger(__name__)


@dataclass
class InferSettings:
    """Everything that decides an output besides the input file itself.

    ``model`` is an interpolation name, a bundled model name, or a network name to check
    against ``weights``; None means the bundled ``"default"`` model, else ``"bspline"``.
    :func:`build_predictor` fills in the resolved name, weights folder and sha256.
    ``options`` are network settings (patch_size, overlap, blend, sw_batch_size, tta,
    fusion). ``dtype`` None means float32 for volumes and the source's type (bit depth)
    for 2D images.
    """

    model: str | None = "bspline"
    weights: str | None = None
    weights_sha256: str | None = None
    scale: tuple[float, ...] | None = None
    target_spacing: tuple[float, ...] | None = None
    isotropic: bool = False
    reference: str | None = None
    dtype: str | None = None
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
    """Pair inputs with outputs: file -> file, DICOM folder -> file, folder -> folder.

    In a folder, volumes give ``<stem><suffix>.nii.gz`` and 2D images (PNG/TIFF)
    ``<stem><suffix>`` with their own extension. A 2D image must be written as a 2D
    image (``.png``, ``.tif``, ``.tiff``).
    """
    if not input_path.exists():
        raise InputError("no such file or folder", path=input_path)
    out_is_file = volume_suffix(output_path) != ""
    if input_path.is_dir() and not out_is_file:
        inputs = sorted(p for p in input_path.iterdir()
                        if p.is_file() and not p.name.startswith(".") and (
                            volume_suffix(p) in VOLUME_SUFFIXES_ALL
                            or image2d_suffix(p) in IMAGE2D_WRITE_SUFFIXES))
        inputs = drop_own_outputs(inputs)  # hardening #17: never take volsr outputs as inputs
        if not inputs:
            raise InputError("folder holds no volumes (.nii, .nii.gz, .nrrd, .mha, .mhd) nor 2D "
                             "images (.png, .tif); for a DICOM series give an output file name",
                             path=input_path)
        if output_path.exists() and not output_path.is_dir():
            raise OutputError("output must be a folder when the input is a folder",
                              path=output_path)
        pairs = []
        for p in inputs:
            ext = volume_suffix(p)
            out_ext = ".nii.gz" if ext in VOLUME_SUFFIXES_ALL else ext
            pairs.append((p, output_path / f"{p.name[: -len(ext)]}{suffix}{out_ext}"))
        pairs = drop_planned_outputs(pairs)  # hardening #17: in-place: outputs not inputs
        check_collisions(pairs)  # hardening #17: a.nii and a.nii.gz -> one output
        return pairs
    if not input_path.is_dir() and not out_is_file:
        raise OutputError("output file needs a volume extension (.nii.gz, .nii, .nrrd or .mha)"
                          + (" or, for a 2D image, .png or .tif" if is_image2d_path(input_path)
                             else ""), path=output_path)
    if not is_image2d_path(input_path) and image2d_suffix(output_path):
        raise OutputError(f"a volume is written as .nii.gz, .nii, .nrrd or .mha, not "
                          f"{image2d_suffix(output_path)!r}", path=output_path)
    if is_image2d_path(input_path) and image2d_suffix(output_path) not in IMAGE2D_WRITE_SUFFIXES:
        raise OutputError(f"unsupported file type {volume_suffix(output_path)!r} for the output "
                          f"of a 2D image ({input_path.name}); write .png, .tif or .tiff",
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


def resolve_sharding(num_parts: int | None = None,
                     part_id: int | None = None) -> tuple[int, int]:
    """``(num_parts, part_id)`` from the flags, else from a SLURM array job, else ``(1, 0)``.

    SLURM: ``SLURM_ARRAY_TASK_COUNT`` parts, part ``SLURM_ARRAY_TASK_ID`` minus
    ``SLURM_ARRAY_TASK_MIN`` (so ``--array=1-4`` works as well as ``--array=0-3``).
    """
    if num_parts is None and part_id is None:
        count, task = os.environ.get("SLURM_ARRAY_TASK_COUNT"), os.environ.get(
            "SLURM_ARRAY_TASK_ID")
        if count and task:
            try:
                num_parts = int(count)
                part_id = int(task) - int(os.environ.get("SLURM_ARRAY_TASK_MIN", "0") or 0)
            except ValueError:
                raise ConfigError(f"bad SLURM array variables: SLURM_ARRAY_TASK_COUNT={count!r}"
                                  f", SLURM_ARRAY_TASK_ID={task!r}") from None
            log.info("SLURM array job: part %d of %d", part_id, num_parts)
        else:
            return 1, 0
    elif num_parts is None or part_id is None:
        raise ConfigError("give both --num-parts and --part-id")
    if num_parts < 1 or not 0 <= part_id < num_parts:
        raise ConfigError(f"--part-id must be in [0, {num_parts - 1}] for --num-parts "
                          f"{num_parts}, got {part_id}")
    return num_parts, part_id


def shard(items: list[Any], num_parts: int, part_id: int) -> list[Any]:
    """Contiguous block ``part_id`` of ``num_parts`` (sizes differ by at most one).

    Example:
        >>> shard(list("abcde"), 2, 0), shard(list("abcde"), 2, 1)
        (['a', 'b'], ['c', 'd', 'e'])
    """
    n = len(items)
    return items[part_id * n // num_parts:(part_id + 1) * n // num_parts]


def build_predictor(settings: InferSettings, *, device: Any = "auto"
                    ) -> tuple[Callable[..., Any], InferSettings, dict[str, Any] | None]:
    """Build the model named by ``settings`` once.

    Returns:
        ``(predict, resolved_settings, info)``: ``predict(volume, **grid) -> Volume``,
        the settings with the resolved model name and weights path/sha256 filled in, and
        the predictor's record for sidecars (None for interpolation).

    Raises:
        ConfigError: unknown name, a network name without weights, a name that does not
            match the weights, or network options given to an interpolation baseline.
    """
    from dataclasses import replace

    from volsr.models import model_entry
    from volsr.weights import resolve_bundled

    name, opts = settings.model, dict(settings.options)
    source: str | None = settings.weights
    if (name or "").lower() == "ssr":
        return _ssr_predictor(settings, device, opts)
    if source is None:
        if name is None:
            default = resolve_bundled("default")
            if default is not None:
                log.info("no --model given: using the bundled default model (%s)", default.name)
                source = str(default)
            else:
                log.info("no --model given and no bundled default model: using B-spline "
                         "interpolation")
                name = "bspline"
        elif not _is_interpolation(name) and resolve_bundled(name) is not None:
            source = str(resolve_bundled(name))
        elif name == "default":
            raise ConfigError("no bundled default model is installed; give --weights PATH or "
                              "an interpolation model (e.g. --model bspline)")
    if source is None:
        entry = model_entry(name or "bspline")  # unknown names: ConfigError with suggestions
        if entry.info.get("upsampling") != "interpolation":
            raise ConfigError(f"model {name!r} is a network: give its trained weights with "
                              "--weights PATH (a weights folder or a training run folder)")
        if opts:
            raise ConfigError(f"{', '.join(sorted(opts))} only apply to networks; {name!r} is "
                              "an interpolation baseline")
        return _interpolation_predictor(entry.name), replace(settings, model=entry.name), None
    from volsr.inference.predictor import Predictor

    pred = Predictor.from_pretrained(source, device=device, **opts)
    if settings.weights is not None and name is not None and name != "default" and (
            name.lower() != pred.model_name.lower()):
        raise ConfigError(f"--model {name} does not match the weights, which are a "
                          f"{pred.model_name!r} network ({settings.weights})")
    info = pred.record()
    resolved = replace(settings, model=pred.model_name, weights=info["weights"],
                       weights_sha256=info["weights_sha256"])
    return pred, resolved, info


def _ssr_predictor(settings: InferSettings, device: Any, opts: dict[str, Any]
                   ) -> tuple[Callable[..., Any], InferSettings, dict[str, Any]]:
    """``--model ssr``: saved self-SR networks (``--weights``), or self-SR trained per scan."""
    from dataclasses import replace

    if settings.weights is not None:
        from volsr.ssr.infer_hook import ssr_predictor

        pred = ssr_predictor(settings.weights, device=device, **opts)
        info = pred.record()
        from volsr.io import file_sha256

        weights_sha = file_sha256(settings.weights)
        return pred, replace(settings, model="ssr", weights_sha256=weights_sha), info
    from volsr.ssr import self_super_resolve

    extra = {k: v for k, v in opts.items() if v is not None}
    bad = sorted(set(extra) - {"fusion"})
    if bad:
        raise ConfigError(f"{', '.join(bad)}: not used by --model ssr; use 'volsr ssr' for "
                          "the self-SR options")

    def predict(volume, **grid):  # noqa: ANN001, ANN202 - trains on each scan itself
        if grid.pop("isotropic", False):
            grid = {}
        return self_super_resolve(volume, device=device, progress=False, **grid, **extra).volume

    info = {"name": "ssr", "trained_per_scan": True, "budget": "default", **extra}
    return predict, replace(settings, model="ssr"), info


def _is_interpolation(name: str) -> bool:
    from volsr.models import list_models

    return name.lower() in list_models(tag="interpolation")


def _interpolation_predictor(name: str) -> Callable[..., Any]:
    from volsr.inference.api import super_resolve
    from volsr.models import create_model

    model = create_model(name)

    def predict(volume, **grid):  # noqa: ANN001, ANN202
        return super_resolve(volume, model, **grid)

    return predict


def run_inference(
    input_path: str | Path,
    output_path: str | Path,
    settings: InferSettings,
    *,
    predictor: Callable[..., Any] | None = None,
    device: Any = "auto",
    overwrite: bool = False,
    skip_existing: bool = False,
    suffix: str = "",
    keep_going: bool = False,
    progress: bool | None = None,
    num_parts: int = 1,
    part_id: int = 0,
    report: str | Path | None = None,
    max_memory: int | None = None,
) -> list[CaseResult]:
    """Super-resolve a file or a folder of files.

    Args:
        predictor: ``predictor(volume, **grid) -> Volume`` (e.g. a
            :class:`~volsr.inference.predictor.Predictor`); default: built once from
            ``settings`` by :func:`build_predictor`.
        device: compute device of a network built from ``settings``.
        overwrite / skip_existing: what to do with existing outputs (default: refuse).
        keep_going: continue after a failed case (default: stop at the first failure).
        progress: show a tqdm bar (None: only on a terminal).
        num_parts / part_id: in folder mode, process only contiguous block ``part_id``
            of the sorted inputs split into ``num_parts`` (see :func:`resolve_sharding`).
        max_memory: bytes of RAM a network run may use (default: what is available);
            beyond it the output buffer is memory-mapped in the output's folder.

    Returns:
        One :class:`CaseResult` per input. Raises the first error unless ``keep_going``.
    """
    from tqdm.auto import tqdm

    inp, out = Path(input_path), Path(output_path)
    from volsr.io import check_dtype_name  # hardening #17: complex64 etc. refused up front

    if not is_image2d_path(inp):
        check_dtype_name(settings.dtype)
    pairs = plan_cases(inp, out, suffix=suffix)
    if num_parts < 1 or not 0 <= part_id < num_parts:
        raise ConfigError(f"part_id must be in [0, {num_parts - 1}], got {part_id}")
    if inp.is_dir() and num_parts > 1:
        total = len(pairs)
        pairs = shard(pairs, num_parts, part_id)
        log.info("part %d of %d: %d of %d scans", part_id, num_parts, len(pairs), total)
    if inp.is_dir() and pairs and pairs[0][1].parent == out and not out.exists():
        if not out.parent.exists():
            raise OutputError("parent folder does not exist", path=out)
        out.mkdir(exist_ok=True)  # array jobs may race to create it
    for src, dst in pairs:
        if _same_file(src, dst):
            raise OutputError("output path is the input file; choose another name or --suffix",
                              path=dst)
    reference = None
    if settings.reference:
        ref = load_volume(settings.reference)
        reference = Grid(ref.spatial_shape, ref.affine)
    info: dict[str, Any] | None
    if predictor is None:
        predict, settings, info = build_predictor(settings, device=device)
    else:
        predict = predictor
        record = getattr(predictor, "record", None)
        info = record() if callable(record) else None
        if info and info.get("weights") and settings.weights is None:
            from dataclasses import replace

            settings = replace(settings, weights=info["weights"],
                               weights_sha256=info["weights_sha256"])
    if max_memory is not None:
        if not hasattr(predict, "max_memory"):
            log.info("--max-memory applies to networks; %s ignores it", settings.model)
        else:
            predict.max_memory = int(max_memory)  # type: ignore[attr-defined]
    results: list[CaseResult] = []
    bar = tqdm(pairs, desc="volsr infer", unit="scan", disable=progress is False or (
        None if progress is None else False), leave=False)
    try:
        for src, dst in bar:
            t0 = time.perf_counter()
            try:
                res = _one_case(src, dst, settings, predict, reference, info,
                                overwrite=overwrite, skip_existing=skip_existing)
            except VolsrError as exc:
                if exc.path is None:  # hardening #17: every case error names its file
                    exc.path = str(src)
                res = CaseResult(str(src), str(dst), "failed", str(exc),
                                 round(time.perf_counter() - t0, 3))
                results.append(res)
                if not keep_going:
                    raise
                log.error("%s", exc)
                continue
            res.seconds = round(time.perf_counter() - t0, 3)
            results.append(res)
    finally:
        if report is not None:
            write_report(report, pairs, results, settings)
    return results


def write_report(path: str | Path, pairs: list[tuple[Path, Path]], results: list[CaseResult],
                 settings: InferSettings) -> Path:
    """JSON run report: every planned case with its status (``written``, ``skipped``,
    ``failed`` with the error, or ``not run`` when the run stopped before it)."""
    done = {r.input: r for r in results}
    cases = [asdict(done[str(src)]) if str(src) in done else
             asdict(CaseResult(str(src), str(dst), "not run")) for src, dst in pairs]
    counts: dict[str, int] = {}
    for c in cases:
        counts[c["status"]] = counts.get(c["status"], 0) + 1
    record = base_record("infer-report")
    record.update({"settings": settings.record(), "counts": counts, "cases": cases})
    return write_sidecar(path, record)


def _one_case(src: Path, dst: Path, settings: InferSettings, predict: Callable[..., Any],
              reference: Grid | None, info: dict[str, Any] | None, *, overwrite: bool,
              skip_existing: bool) -> CaseResult:
    # hardening #17: claim the output, decide skip/redo/refuse inside the claim, and
    # publish image + sidecar as one unit (was: exists-check at start, then os.replace)
    with claim_output(dst):
        action = existing_output_action(
            dst, overwrite=overwrite, skip_existing=skip_existing,
            same_run=lambda rec: rec.get("settings") == settings.record() and rec.get(
                "input", {}).get("sha256") == file_sha256(src))
        if action == SKIP:
            log.info("%s: already done, skipped", dst)
            return CaseResult(str(src), str(dst), "skipped")
        replace = action != WRITE
        if is_image2d_path(src):
            return _one_image(src, dst, settings, predict, info, replace=replace)
        return _one_volume(src, dst, settings, predict, reference, info, replace=replace)


def _one_volume(src: Path, dst: Path, settings: InferSettings, predict: Callable[..., Any],
                reference: Grid | None, info: dict[str, Any] | None, *,
                replace: bool) -> CaseResult:
    from functools import partial

    from volsr.io import check_volume_output, write_volume_file  # hardening #17

    timings: dict[str, float] = {}
    t = time.perf_counter()
    vol = load_volume(src, volume_index=settings.volume_index, series_uid=settings.series_uid)
    sha = file_sha256(src)
    timings["read_s"] = time.perf_counter() - t
    t = time.perf_counter()
    grid_kw = _grid_kwargs(settings, reference)
    if hasattr(predict, "scratch_dir"):  # a disk buffer, if needed, goes beside the output
        predict.scratch_dir = dst.parent  # type: ignore[attr-defined]
    result = predict(vol, **grid_kw)
    timings["compute_s"] = time.perf_counter() - t
    mem = getattr(predict, "last_memory_plan", None)
    t = time.perf_counter()
    check_volume_output(result, dst)
    dtype = settings.dtype or "float32"
    out_grid, out_desc = grid_record(result.spatial_shape, result.affine), result.describe()
    record = _write_record(dst, settings, info, timings, vol.meta.warnings,
                           {"path": str(src), "sha256": sha,
                            **grid_record(vol.spatial_shape, vol.affine)},
                           {"path": str(dst), **out_grid}, memory=None if mem is None else {
                               "mode": mem.mode, "estimated_peak_bytes": mem.ram_bytes,
                               "available_bytes": mem.available_bytes}, write=False)
    write_with_sidecar(dst, partial(write_volume_file, result, dtype=dtype), record,
                       replace=replace)
    timings["write_s"] = time.perf_counter() - t  # (after the sidecar: not recorded in it)
    del result
    log.info("%s -> %s (%s)", src, dst, out_desc)
    return CaseResult(str(src), str(dst), "written")


def _one_image(src: Path, dst: Path, settings: InferSettings, predict: Callable[..., Any],
               info: dict[str, Any] | None, *, replace: bool = False) -> CaseResult:
    """One 2D image: read, super-resolve, write with its bit depth, sidecar."""
    from volsr.inference.slicewise import image_factor, predict_image2d
    from volsr.io.image2d import load_image2d, save_image2d

    timings: dict[str, float] = {}
    t = time.perf_counter()
    img = load_image2d(src)
    sha = file_sha256(src)
    timings["read_s"] = time.perf_counter() - t
    t = time.perf_counter()
    scale = image_factor(img, scale=settings.scale, target_spacing=settings.target_spacing,
                         isotropic=settings.isotropic, reference=settings.reference)
    out = predict_image2d(predict, img, scale=scale)
    timings["compute_s"] = time.perf_counter() - t
    t = time.perf_counter()
    factor = [round(float(v), 6) for v in img.spacing / out.spacing]
    note = (f"super-resolved by volsr with {settings.model} (x{factor[0]:g} rows, "
            f"x{factor[1]:g} columns)")
    save_image2d(out, dst, dtype=settings.dtype or "input", overwrite=replace, note=note)
    timings["write_s"] = time.perf_counter() - t
    _write_record(dst, settings, info, timings, list(img.warnings),
                  {"path": str(src), "sha256": sha, **img.record()},
                  {"path": str(dst), "scale": factor, **out.record()})
    log.info("%s -> %s (%s)", src, dst, out.describe())
    return CaseResult(str(src), str(dst), "written")


def _write_record(dst: Path, settings: InferSettings, info: dict[str, Any] | None,
                  timings: dict[str, float], warnings: list[str], inp: dict[str, Any],
                  out: dict[str, Any], memory: dict[str, Any] | None = None,
                  write: bool = True) -> dict[str, Any]:
    """The provenance sidecar of one output (volumes and 2D images alike); written unless
    ``write`` is False (hardening #17: then the caller publishes it with the output)."""
    record = base_record("infer")
    record.update({
        "model": settings.model,
        "weights": None if settings.weights is None else {
            "path": settings.weights, "sha256": settings.weights_sha256},
        "predictor": info,
        "settings": settings.record(),
        "input": inp,
        "output": out,
        "warnings": warnings,
        "timings": {k: round(v, 4) for k, v in timings.items()},
    })
    if memory is not None:
        record["memory"] = memory
    if write:
        from volsr.io.claim import file_digest  # hardening #17: digest for --skip-existing

        record["output"] = {**record["output"], **file_digest(dst)}
        write_sidecar(sidecar_path(dst), record)
    return record


def _grid_kwargs(settings: InferSettings, reference: Grid | None) -> dict[str, Any]:
    if reference is not None:
        return {"reference": reference}
    if settings.scale is not None:
        return {"scale": settings.scale}
    if settings.target_spacing is not None:
        return {"target_spacing": settings.target_spacing}
    return {"isotropic": True}
