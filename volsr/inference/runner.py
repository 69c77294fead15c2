"""File and folder inference: the batch runner behind ``volsr infer``.

:func:`run_inference` receives a ready :class:`~volsr.inference.protocol.VolumePredictor`
(built once by :func:`volsr.predictors.load_predictor`; the runner never builds one),
pairs inputs with outputs (:func:`~volsr.inference.files.plan_cases`), optionally takes
one part of a folder for an array job (:func:`~volsr.inference.files.shard`), and runs
each case (:func:`~volsr.inference.case.run_case`: claim the output, read, super-resolve,
publish the image and its JSON sidecar from :mod:`volsr.inference.records` as one unit).

2D images (``.png``, ``.tif``/``.tiff``, single-frame ``.dcm``) are read with
:func:`volsr.io.image2d.load_image2d`, super-resolved by a 2D network (or an
interpolation baseline) with :func:`volsr.inference.slicewise.predict_image2d` and
written as PNG/TIFF keeping their bit depth; the factor is ``--scale S`` (both axes; or
``S_rows S_cols 1``), by default the network's own.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

from volsr.errors import ConfigError, NothingToSuperResolve, OutputError, VolsrError
from volsr.geometry import Grid
from volsr.inference.case import run_case
from volsr.inference.files import plan_cases, resolve_sharding, same_file, shard
from volsr.inference.protocol import VolumePredictor
from volsr.inference.records import CaseResult, InferSettings, write_report
from volsr.io import check_dtype_name, load_volume
from volsr.io.image2d import is_image2d_path

__all__ = ["CaseResult", "InferSettings", "plan_cases", "resolve_sharding", "run_inference",
           "shard", "write_report"]

log = logging.getLogger(__name__)


def run_inference(
    input_path: str | Path,
    output_path: str | Path,
    settings: InferSettings,
    predictor: VolumePredictor,
    *,
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
    """Super-resolve a file or a folder of files with ``predictor``.

    Args:
        settings: what decides each output (grid option, dtype, ...), with the model
            name and weights resolved (:func:`volsr.predictors.resolve_settings`); when
            its ``weights`` is unset, those of ``predictor.record()`` are filled in.
        predictor: the predictor to run (built once by the caller).
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
    if not is_image2d_path(inp):
        check_dtype_name(settings.dtype)  # hardening #17: complex64 etc. refused up front
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
        if same_file(src, dst):
            raise OutputError("output path is the input file; choose another name or --suffix",
                              path=dst)
    reference = None
    if settings.reference:
        ref = load_volume(settings.reference)
        reference = Grid(ref.spatial_shape, ref.affine)
    info = predictor.record()
    if info.get("weights") and settings.weights is None:
        settings = replace(settings, weights=info["weights"],
                           weights_sha256=info["weights_sha256"])
    results: list[CaseResult] = []
    bar = tqdm(pairs, desc="volsr infer", unit="scan", disable=progress is False or (
        None if progress is None else False), leave=False)
    try:
        for src, dst in bar:
            t0 = time.perf_counter()
            try:
                res = run_case(src, dst, settings, predictor, reference, overwrite=overwrite,
                               skip_existing=skip_existing, max_memory=max_memory)
            except NothingToSuperResolve as exc:
                if not inp.is_dir():
                    raise
                log.warning("%s: skipped: %s", src, exc)
                res = CaseResult(str(src), str(dst), "skipped", str(exc),
                                 round(time.perf_counter() - t0, 3))
                results.append(res)
                continue
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
