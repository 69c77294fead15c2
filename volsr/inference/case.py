"""One case of ``volsr infer``: claim the output, read an input, run a predictor, publish
the output and its sidecar as one unit (temporaries renamed into place)."""

from __future__ import annotations

import logging
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from volsr.geometry import Grid
from volsr.inference.protocol import VolumePredictor
from volsr.inference.records import CaseResult, InferSettings, write_case_record
from volsr.inference.trained_range import factor_warning, nothing_to_do
from volsr.io import check_volume_output, file_sha256, load_volume, write_volume_file
from volsr.io.claim import claim_output, write_with_sidecar
from volsr.io.image2d import is_image2d_path
from volsr.io.outputs import SKIP, WRITE, existing_output_action
from volsr.provenance import grid_record

__all__ = ["grid_kwargs", "run_case"]

log = logging.getLogger(__name__)


def run_case(src: Path, dst: Path, settings: InferSettings, predictor: VolumePredictor,
             reference: Grid | None, *, overwrite: bool = True, skip_existing: bool = False,
             max_memory: int | None = None) -> CaseResult:
    """Super-resolve ``src`` into ``dst`` with ``predictor`` and write its sidecar.

    ``dst`` is claimed exclusively for the whole case (a second writer stops with an
    OutputError), and the image and its ``OUT.volsr.json`` sidecar are published as one
    unit (volumes; a 2D image is published before its sidecar).

    Args:
        settings: what decides the output (grid option, dtype, volume index, ...); its
            ``record()`` goes into the sidecar.
        reference: the loaded grid of ``settings.reference``, if any.
        overwrite / skip_existing: what to do when ``dst`` exists (else OutputError);
            ``skip_existing`` skips only a complete output of the same settings and
            input, and refuses a file volsr did not write
            (:func:`volsr.io.outputs.existing_output_action`).
        max_memory: bytes of RAM the run may use; a memory-mapped buffer, if needed,
            goes into ``dst``'s folder.

    Returns:
        ``written`` or ``skipped``.
    """
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
        info = predictor.record() or None
        if is_image2d_path(src):
            return _one_image(src, dst, settings, predictor, info, max_memory, replace=replace)
        return _one_volume(src, dst, settings, predictor, reference, info, max_memory,
                           replace=replace)


def _one_volume(src: Path, dst: Path, settings: InferSettings, predictor: VolumePredictor,
                reference: Grid | None, info: dict[str, Any] | None, max_memory: int | None,
                *, replace: bool) -> CaseResult:
    """One volume: read, super-resolve, publish image + sidecar (with its digest) as one unit."""
    timings: dict[str, float] = {}
    t = time.perf_counter()
    vol = load_volume(src, volume_index=settings.volume_index, series_uid=settings.series_uid)
    sha = file_sha256(src)
    timings["read_s"] = time.perf_counter() - t
    t = time.perf_counter()
    grid = grid_kwargs(settings, reference)
    if not settings.isotropic and grid == {"isotropic": True}:  # no grid option given
        nothing_to_do(predictor, vol.spacing.tolist(), settings.model or "the model")
    result = predictor.run(vol, **grid, max_memory=max_memory,
                           scratch_dir=dst.parent)  # a disk buffer goes beside the output
    timings["compute_s"] = time.perf_counter() - t
    info = predictor.record() or None  # describes the run just made (e.g. --adapt's)
    warnings = list(vol.meta.warnings) + list((info or {}).pop("warnings", []))
    factor = np.asarray(vol.spacing, dtype=float) / np.asarray(result.spacing, dtype=float)
    note = factor_warning(info, factor.tolist(), _shown_name(settings))
    if note:
        log.warning("%s: %s", src, note)
        warnings.append(note)
    mem = predictor.last_memory_plan
    t = time.perf_counter()
    check_volume_output(result, dst)
    out_grid, out_desc = grid_record(result.spatial_shape, result.affine), result.describe()
    record = write_case_record(
        dst, settings, info, timings, warnings,
        {"path": str(src), "sha256": sha, **grid_record(vol.spatial_shape, vol.affine)},
        {"path": str(dst), **out_grid}, memory=None if mem is None else {
            "mode": mem.mode, "estimated_peak_bytes": mem.ram_bytes,
            "available_bytes": mem.available_bytes}, write=False)
    write_with_sidecar(dst, partial(write_volume_file, result, dtype=settings.dtype or "float32"),
                       record, replace=replace)
    timings["write_s"] = time.perf_counter() - t  # (after the sidecar: not recorded in it)
    del result
    log.info("%s -> %s (%s)", src, dst, out_desc)
    return CaseResult(str(src), str(dst), "written")


def _one_image(src: Path, dst: Path, settings: InferSettings, predictor: VolumePredictor,
               info: dict[str, Any] | None, max_memory: int | None, *,
               replace: bool = False) -> CaseResult:
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
    out = predict_image2d(predictor, img, scale=scale, max_memory=max_memory)
    timings["compute_s"] = time.perf_counter() - t
    t = time.perf_counter()
    factor = [round(float(v), 6) for v in img.spacing / out.spacing]
    note = (f"super-resolved by volsr with {settings.model} (x{factor[0]:g} rows, "
            f"x{factor[1]:g} columns)")
    save_image2d(out, dst, dtype=settings.dtype or "input", overwrite=replace, note=note)
    timings["write_s"] = time.perf_counter() - t
    write_case_record(dst, settings, info, timings, list(img.warnings),
                      {"path": str(src), "sha256": sha, **img.record()},
                      {"path": str(dst), "scale": factor, **out.record()})
    log.info("%s -> %s (%s)", src, dst, out.describe())
    return CaseResult(str(src), str(dst), "written")


def grid_kwargs(settings: InferSettings, reference: Grid | None) -> dict[str, Any]:
    """The grid option of ``settings`` as keyword arguments of ``predictor.run``."""
    if reference is not None:
        return {"reference": reference}
    if settings.scale is not None:
        return {"scale": settings.scale}
    if settings.target_spacing is not None:
        return {"target_spacing": settings.target_spacing}
    return {"isotropic": True}


def _shown_name(settings: InferSettings) -> str:
    """The bundled model's name (``thickslice_v2``) when its weights ran, else the network's."""
    from volsr.weights import WEIGHTS_ROOT

    if settings.weights:
        folder = Path(settings.weights)
        if folder.parent.resolve() == Path(WEIGHTS_ROOT).resolve():
            return folder.name
    return settings.model or "the model"
