"""Writing manifests, and building one from a folder of volumes (``volsr data import``)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from volsr.data.manifest import SPLITS, Case, Manifest, parse_manifest, volume_stem
from volsr.errors import ConfigError, InputError, OutputError

__all__ = ["manifest_from_folder", "write_manifest"]


def write_manifest(path: str | Path, manifest: Manifest | Mapping[str, Any], *,
                   overwrite: bool = False) -> Path:
    """Write ``manifest`` as JSON at ``path`` (atomically), paths relative to its folder.

    Args:
        path: Output ``.json`` file.
        manifest: A :class:`Manifest` (its absolute paths are made relative to the new
            file's folder) or manifest data (a mapping in the file format, whose relative
            paths are taken as relative to the new file's folder). It is validated first.
        overwrite: Replace an existing file.

    Returns:
        The path written.

    Raises:
        OutputError: The file exists (without ``overwrite``) or cannot be written.
        ConfigError: The manifest data is invalid.
    """
    from volsr.io import atomic_write

    p = Path(path)
    if p.exists() and not overwrite:
        raise OutputError("already exists (use --overwrite to replace it)", path=p)
    folder = Path(os.path.abspath(p.parent))
    if not isinstance(manifest, Manifest):
        manifest = parse_manifest(dict(manifest), folder, path=p)
    data = manifest.to_dict(relative_to=folder)
    with atomic_write(p) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return p


def manifest_from_folder(folder: str | Path, *, pattern: str | None = "*.nii*",
                         fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0,
                         name: str | None = None, modality: str | None = None,
                         licence: str | None = None, hashes: bool = False) -> Manifest:
    """A manifest of the volumes in ``folder``, randomly split into training/validation/test.

    Args:
        folder: Folder to scan.
        pattern: Glob pattern relative to ``folder`` (``"**/*.nii.gz"`` recurses). None:
            ``*.nii*`` when that matches, else the 2D images of the folder (``.png``,
            ``.tif``, ``.tiff``, ``.dcm``; top level only).
        fractions: Fractions of cases for training, validation and test (sum 1). Counts
            are rounded; validation and test get theirs first, training the rest.
        seed: Seed of the shuffle (the split is reproducible).
        name: Dataset name (default: the folder's name).
        modality: Modality of all cases (e.g. ``"MR"``), or None.
        licence: Licence of all cases, or None.
        hashes: Record each file's sha256.

    Returns:
        An in-memory :class:`Manifest` (absolute paths); save it with
        :func:`write_manifest`.

    Raises:
        InputError: ``folder`` is missing or no file matches.
        ConfigError: Bad ``fractions``.
    """
    from volsr.io import file_sha256

    base = Path(os.path.abspath(folder))
    if not base.is_dir():
        raise InputError("no such folder", path=base)
    fr = np.asarray(list(fractions), dtype=np.float64)
    if fr.shape != (3,) or np.any(fr < 0) or abs(fr.sum() - 1.0) > 1e-6:
        raise ConfigError(f"fractions must be 3 non-negative numbers summing to 1 "
                          f"(training, validation, test), got {list(fractions)}")
    files = _matching(base, pattern or "*.nii*")
    if not files and pattern is None:
        from volsr.io.image2d import is_image2d_path

        files = [f for f in _matching(base, "*") if is_image2d_path(f)]
    if not files:
        what = (repr(pattern) if pattern is not None
                else "'*.nii*' nor a 2D image (.png, .tif, .tiff, .dcm)")
        raise InputError(f"no file matches {what}", path=base)
    order = np.random.default_rng(seed).permutation(len(files))
    n = len(files)
    n_val, n_test = int(np.rint(fr[1] * n)), int(np.rint(fr[2] * n))
    if fr[0] > 0 and n_val + n_test >= n:  # keep at least one training case
        n_test = max(0, n - 1 - n_val)
        n_val = min(n_val, n - 1 - n_test)
    groups = {"validation": order[:n_val], "test": order[n_val:n_val + n_test],
              "training": order[n_val + n_test:]}
    used: set[str] = set()
    splits: dict[str, tuple[Case, ...]] = {}
    for split in SPLITS:
        cases = []
        for k in sorted(int(i) for i in groups[split]):
            f = files[k]
            rel = f.relative_to(base)
            cid = "_".join([*rel.parent.parts, volume_stem(rel)])
            base_id, j = cid, 1
            while cid in used:
                j += 1
                cid = f"{base_id}_{j}"
            used.add(cid)
            sha = {"hr": file_sha256(f)} if hashes else {}
            cases.append(Case(id=cid, hr=f, sha256=sha, modality=modality, licence=licence))
        splits[split] = tuple(cases)
    return Manifest(path=None, name=name or base.name, modality=modality, licence=licence,
                    splits=splits)


def _matching(base: Path, pattern: str) -> list[Path]:
    """Sorted visible files under ``base`` matching ``pattern``."""
    return sorted(f for f in base.glob(pattern) if f.is_file() and not f.name.startswith("."))
