"""Which files ``volsr infer`` reads and writes: input/output pairs and array-job parts."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from volsr.errors import ConfigError, InputError, OutputError
from volsr.io import VOLUME_SUFFIXES_ALL, volume_suffix
from volsr.io.image2d import IMAGE2D_WRITE_SUFFIXES, image2d_suffix, is_image2d_path
from volsr.io.outputs import check_collisions, drop_own_outputs, drop_planned_outputs

__all__ = ["plan_cases", "resolve_sharding", "same_file", "shard"]

log = logging.getLogger(__name__)


def plan_cases(input_path: Path, output_path: Path, *, suffix: str = "") -> list[tuple[Path, Path]]:
    """Pair inputs with outputs: file -> file, DICOM folder -> file, folder -> folder.

    In a folder, volumes give ``<stem><suffix>.nii.gz`` and 2D images (PNG/TIFF)
    ``<stem><suffix>`` with their own extension. A 2D image must be written as a 2D
    image (``.png``, ``.tif``, ``.tiff``). A folder's volsr outputs and sidecars are not
    inputs, nor is an input that is another input's output (in-place ``--suffix`` runs);
    two inputs with one output name are refused (ConfigError).
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


def same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return b.exists() and a.samefile(b)
    except OSError:
        return False


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


