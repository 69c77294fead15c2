"""Decisions about output files that already exist, and output names that collide.

* :func:`existing_output_action`: with ``--skip-existing``, skip only a complete output
  (size and sha256 as recorded in its volsr sidecar) made with the same settings and
  input; redo a volsr output made otherwise; refuse a file volsr did not write.
* :func:`check_collisions`: two inputs mapped to one output name (``a.nii`` and
  ``a.nii.gz`` both give ``a<suffix>.nii.gz``) are refused before anything runs.
* :func:`drop_own_outputs`: files that are volsr outputs are not inputs of a folder run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from volsr.errors import ConfigError, OutputError
from volsr.io.claim import matches_digest
from volsr.io.sidecar import is_sidecar_name, is_volsr_output, read_own_sidecar

log = logging.getLogger(__name__)

WRITE, REDO, SKIP = "write", "redo", "skip"


def existing_output_action(dest: Path, *, overwrite: bool, skip_existing: bool,
                           same_run: Callable[[dict[str, Any]], bool]) -> str:
    """What to do with ``dest``: ``"write"`` (absent), ``"redo"`` (replace it) or ``"skip"``.

    Args:
        same_run: ``same_run(sidecar_record)`` is True when the record's model, settings
            and input are those of this run.

    Raises:
        OutputError: ``dest`` exists and may not be replaced (no ``--overwrite``; or
            ``--skip-existing`` but volsr did not write it).
    """
    if dest.is_dir():
        raise OutputError("is a folder; give a file name", path=dest)
    if not dest.exists():
        return WRITE
    if overwrite:
        return REDO
    if not skip_existing:
        raise OutputError("already exists (use --overwrite or --skip-existing)", path=dest)
    rec, legacy = read_own_sidecar(dest)
    if rec is None:
        raise OutputError("exists but has no volsr sidecar, so volsr did not write it; "
                          "use --overwrite to replace it", path=dest)
    if legacy:
        log.info("%s: made by an older volsr (no digest to check); redoing it", dest)
        return REDO
    if not same_run(rec):
        log.info("%s: made with other settings or another input; redoing it", dest)
        return REDO
    if not matches_digest(dest, rec):
        log.warning("%s: incomplete or changed since volsr wrote it (size/sha256 differ "
                    "from its sidecar); redoing it", dest)
        return REDO
    return SKIP


def check_collisions(pairs: list[tuple[Path, Path]]) -> None:
    """Refuse a plan in which two inputs would write the same output (also when names
    differ only in case, which is one file on macOS/Windows file systems).

    Raises:
        ConfigError: naming the first colliding inputs and their output.
    """
    seen: dict[str, Path] = {}
    for src, dst in pairs:
        key = str(dst).casefold()
        if key in seen:
            raise ConfigError(f"{seen[key].name} and {src.name} would both be written to "
                              f"{dst}; rename one of them or move it to another folder")
        seen[key] = src


def drop_planned_outputs(pairs: list[tuple[Path, Path]]) -> list[tuple[Path, Path]]:
    """``pairs`` without inputs that are the output of another pair: in an in-place run
    (``-o`` the input folder, ``--suffix _sr``) ``a_sr.nii.gz`` is where ``a.nii.gz``'s
    result goes, so it is never also read as an input of the same run."""
    outs = {str(dst).casefold() for _, dst in pairs}
    keep = []
    for src, dst in pairs:
        if str(src).casefold() in outs:
            log.info("%s: the output name of another input; not taken as an input", src)
            continue
        keep.append((src, dst))
    return keep


def drop_own_outputs(inputs: list[Path]) -> list[Path]:
    """``inputs`` without volsr's own outputs and sidecars (an in-place ``--suffix`` run
    must not take what it wrote last time as new work)."""
    keep = []
    for p in inputs:
        if is_sidecar_name(p) or is_volsr_output(p):
            log.info("%s: a volsr output; not taken as an input", p)
            continue
        keep.append(p)
    return keep
