"""Dataset manifests: which volumes to train, validate and test on (MONAI-datalist JSON).

A manifest is a JSON file readable by MONAI's ``load_decathlon_datalist``. Its files are
volumes or 2D images (PNG, TIFF, single-frame DICOM; see :mod:`volsr.data.loading`)::

    {"volsr_manifest": 1, "name": "brains", "modality": "MR", "licence": "CC BY 4.0",
     "training":   [{"id": "sub-01", "hr": "data/sub-01_T1w.nii.gz",
                     "sha256": {"hr": "65cf..."}}],
     "validation": [{"id": "sub-02", "hr": "data/sub-02_T1w.nii.gz",
                     "lr": "data/sub-02_T1w_thick.nii.gz"}],
     "test":       ["data/sub-03_T1w.nii.gz"]}

* A case is ``{"id", "hr", "lr"?, "sha256"?, "modality"?, "licence"?}``; MONAI's
  ``image`` key is accepted for ``hr``, and a bare path string is a case whose id is the
  file name without its volume suffix. Other keys (e.g. ``label``) are kept in
  :attr:`Case.extra`; a key that looks like a misspelt known key is an error.
* ``lr`` (optional) is a real low-resolution acquisition of the same field of view;
  without it the training pipeline synthesises LR from ``hr``.
* Paths are relative to the manifest's folder (absolute paths are allowed). ``..`` is
  allowed, since data often sits beside the repository; ``strict_paths=True`` refuses
  any path that leaves the manifest's folder (for self-contained archives).
* Case ids are unique across all splits, and one file may not appear in two splits
  (that would leak validation/test data into training).

:func:`write_manifest` and :func:`manifest_from_folder` (in
:mod:`volsr.data.manifest_build`) and :func:`check_manifest` (in :mod:`volsr.data.check`)
are importable from here too.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from volsr.errors import ConfigError, InputError

__all__ = [
    "MANIFEST_VERSION",
    "SPLITS",
    "Case",
    "Manifest",
    "load_manifest",
    "parse_manifest",
    "volume_stem",
]

log = logging.getLogger(__name__)

MANIFEST_VERSION = 1
SPLITS = ("training", "validation", "test")
CASE_KEYS = ("id", "hr", "lr", "sha256", "modality", "licence")
_ALIASES = {"image": "hr", "license": "licence"}
# MONAI / Medical Segmentation Decathlon metadata keys that may sit at the top level.
_META_KEYS = ("volsr_manifest", "name", "modality", "licence", "license", "description",
              "reference", "release", "tensorImageSize", "labels", "numTraining", "numTest",
              "numValidation", "citation")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_VOLUME_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd",
                    ".png", ".tiff", ".tif", ".dcm")  # the last four: 2D images


@dataclass(frozen=True)
class Case:
    """One volume (or real LR/HR pair) of a manifest.

    Attributes:
        id: Unique case name.
        hr: High-resolution (target) volume, an absolute path.
        lr: Real low-resolution acquisition of the same field of view, or None (LR is
            then synthesised from ``hr``).
        sha256: Expected sha256 hex digests, keys ``"hr"`` and/or ``"lr"``.
        modality: Case modality (its own or the manifest's), e.g. ``"MR"``, ``"CT"``.
        licence: Licence of the case's data (its own or the manifest's), or None.
        extra: Any other keys of the case entry (e.g. MONAI's ``label``), unchanged.
    """

    id: str
    hr: Path
    lr: Path | None = None
    sha256: Mapping[str, str] = field(default_factory=dict)
    modality: str | None = None
    licence: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self, relative_to: Path | None = None) -> dict[str, Any]:
        """JSON form; paths relative to ``relative_to`` (POSIX separators) when given."""
        out: dict[str, Any] = {"id": self.id, "hr": _relpath(self.hr, relative_to)}
        if self.lr is not None:
            out["lr"] = _relpath(self.lr, relative_to)
        if self.sha256:
            out["sha256"] = dict(self.sha256)
        if self.modality is not None:
            out["modality"] = self.modality
        if self.licence is not None:
            out["licence"] = self.licence
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class Manifest:
    """A loaded manifest (see the module docstring for the file format).

    Attributes:
        path: The manifest file (None for one built in memory).
        name: Dataset name.
        modality: Default modality of the cases, or None.
        licence: Default licence of the cases, or None.
        splits: Cases per split name (``training``, ``validation``, ``test``).
        meta: Other top-level keys (description, reference, ...), unchanged.
    """

    path: Path | None
    name: str
    modality: str | None = None
    licence: str | None = None
    splits: Mapping[str, tuple[Case, ...]] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)

    def cases(self, split: str) -> list[Case]:
        """The cases of ``split`` (empty when the manifest has none).

        Raises:
            ConfigError: ``split`` is not one of ``training``, ``validation``, ``test``.
        """
        if split not in SPLITS:
            raise ConfigError(f"unknown split {split!r}{_hint(split, SPLITS)}; splits are "
                              f"{', '.join(SPLITS)}", path=self.path)
        return list(self.splits.get(split, ()))

    def all_cases(self) -> list[tuple[str, Case]]:
        """``(split, case)`` for every case, in split order."""
        return [(s, c) for s in SPLITS for c in self.splits.get(s, ())]

    def to_dict(self, relative_to: Path | None = None) -> dict[str, Any]:
        """JSON form (paths relative to ``relative_to`` when given)."""
        out: dict[str, Any] = {"volsr_manifest": MANIFEST_VERSION, "name": self.name}
        if self.modality is not None:
            out["modality"] = self.modality
        if self.licence is not None:
            out["licence"] = self.licence
        out.update({k: v for k, v in self.meta.items() if k not in out})
        for split in SPLITS:
            cases = self.splits.get(split, ())
            out[split] = [_case_dict(c, self, relative_to) for c in cases]
        return out


def _case_dict(case: Case, manifest: Manifest, relative_to: Path | None) -> dict[str, Any]:
    d = case.to_dict(relative_to)
    if d.get("modality") == manifest.modality:
        d.pop("modality", None)  # inherited: keep the file short
    if d.get("licence") == manifest.licence:
        d.pop("licence", None)
    return d


# --------------------------------------------------------------------------- loading


def load_manifest(path: str | Path, *, strict_paths: bool = False) -> Manifest:
    """Read and validate a manifest file.

    Args:
        path: The ``.json`` manifest.
        strict_paths: Refuse paths that leave the manifest's folder (``..`` or absolute
            paths elsewhere), for manifests shipped inside an archive.

    Returns:
        The :class:`Manifest`, with absolute case paths.

    Raises:
        InputError: The file is missing or unreadable.
        ConfigError: Invalid JSON (with line and column), a case without ``hr``,
            duplicate case ids or files, unknown split names, bad ``sha256`` values or
            (with ``strict_paths``) a path escaping the folder. Messages name the file.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError("no such manifest file" if not p.exists() else
                         "manifest is not a file", path=p)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read manifest ({exc})", path=p) from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
                          path=p) from None
    return parse_manifest(raw, p.parent, path=p, strict_paths=strict_paths)


def parse_manifest(raw: Any, folder: Path, *, path: Path | None = None,
                   strict_paths: bool = False) -> Manifest:
    """Validate manifest data ``raw`` whose relative paths are relative to ``folder``."""
    where = path if path is not None else folder

    def fail(msg: str) -> ConfigError:
        return ConfigError(msg, path=where)

    if not isinstance(raw, Mapping):
        raise fail(f"a manifest is a JSON object, got {type(raw).__name__}")
    version = raw.get("volsr_manifest", MANIFEST_VERSION)
    if version != MANIFEST_VERSION:
        raise fail(f"unsupported volsr_manifest version {version!r} (this volsr reads "
                   f"{MANIFEST_VERSION})")
    for key, value in raw.items():
        if key in SPLITS or key in _META_KEYS:
            continue
        if isinstance(value, list):
            raise fail(f"unknown split {key!r}{_hint(key, SPLITS)}; splits are "
                       f"{', '.join(SPLITS)}")
        log.debug("%s: keeping unknown top-level key %r", where, key)
    modality = _modality(raw.get("modality"), "modality", fail)
    licence = _opt_str(raw.get("licence", raw.get("license")), "licence", fail)
    name = raw.get("name")
    if name is None:
        name = path.stem if path is not None else folder.name
    if not isinstance(name, str):
        raise fail(f"name must be a string, got {name!r}")
    base = Path(os.path.abspath(folder))
    splits: dict[str, tuple[Case, ...]] = {}
    seen_ids: dict[str, str] = {}
    seen_files: dict[Path, str] = {}
    for split in SPLITS:
        entries = raw.get(split, [])
        if not isinstance(entries, list):
            raise fail(f"{split!r} must be a list of cases, got {type(entries).__name__}")
        cases = []
        for i, entry in enumerate(entries):
            loc = f"{split}[{i}]"
            case = _parse_case(entry, loc, base, modality, licence, strict_paths, fail)
            if case.id in seen_ids:
                raise fail(f"{loc}: duplicate case id {case.id!r} (also in "
                           f"{seen_ids[case.id]})")
            seen_ids[case.id] = loc
            for f in (case.hr, case.lr):
                if f is None:
                    continue
                if f in seen_files:
                    raise fail(f"{loc}: file {str(f)!r} is already used by "
                               f"{seen_files[f]} (a file may appear only once, so splits "
                               "do not leak into each other)")
                seen_files[f] = loc
            cases.append(case)
        splits[split] = tuple(cases)
    meta = {k: v for k, v in raw.items()
            if k not in SPLITS and k not in ("volsr_manifest", "name", "modality", "licence",
                                             "license")}
    return Manifest(path=None if path is None else Path(os.path.abspath(path)), name=name,
                    modality=modality, licence=licence, splits=splits, meta=meta)


def _parse_case(entry: Any, loc: str, base: Path, modality: str | None, licence: str | None,
                strict: bool, fail: Any) -> Case:
    if isinstance(entry, str):
        entry = {"hr": entry}
    if not isinstance(entry, Mapping):
        raise fail(f"{loc}: a case is an object or a path string, got {type(entry).__name__}")
    d: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in entry.items():
        canon = _ALIASES.get(key, key)
        if canon in CASE_KEYS:
            if canon in d:
                raise fail(f"{loc}: both {canon!r} and its alias {key!r} are given")
            d[canon] = value
            continue
        close = difflib.get_close_matches(str(key), [*CASE_KEYS, *_ALIASES], n=1, cutoff=0.75)
        if close:
            raise fail(f"{loc}: unknown key {key!r} — did you mean {close[0]!r}?")
        extra[str(key)] = value
    if "hr" not in d:
        raise fail(f"{loc}: case needs 'hr' (or MONAI's 'image'): the high-resolution volume")
    hr = _case_path(d["hr"], f"{loc}.hr", base, strict, fail)
    lr = None if d.get("lr") is None else _case_path(d["lr"], f"{loc}.lr", base, strict, fail)
    cid = d.get("id")
    if cid is None:
        cid = volume_stem(hr)
    if not isinstance(cid, str) or not cid.strip():
        raise fail(f"{loc}: id must be a non-empty string, got {cid!r}")
    sha = _sha256(d.get("sha256"), loc, lr is not None, fail)
    return Case(id=cid, hr=hr, lr=lr, sha256=sha,
                modality=_modality(d.get("modality"), f"{loc}.modality", fail) or modality,
                licence=_opt_str(d.get("licence"), f"{loc}.licence", fail) or licence,
                extra=extra)


def _case_path(value: Any, loc: str, base: Path, strict: bool, fail: Any) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise fail(f"{loc}: expected a path string, got {value!r}")
    p = Path(os.path.normpath(base / Path(value).expanduser()))
    if strict and not _inside(p, base):
        raise fail(f"{loc}: path {value!r} leaves the manifest's folder (strict_paths)")
    return p


def _inside(p: Path, base: Path) -> bool:
    try:
        p.relative_to(base)
    except ValueError:
        return False
    return True


def _sha256(value: Any, loc: str, has_lr: bool, fail: Any) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, str):
        value = {"hr": value}
    if not isinstance(value, Mapping):
        raise fail(f"{loc}.sha256: expected {{'hr': hex, 'lr': hex}}, got {value!r}")
    out = {}
    for key, digest in value.items():
        if key not in ("hr", "lr"):
            raise fail(f"{loc}.sha256: keys are 'hr' and 'lr', got {key!r}")
        if key == "lr" and not has_lr:
            raise fail(f"{loc}.sha256: has an 'lr' digest but the case has no 'lr' file")
        if not isinstance(digest, str) or not _HEX64.match(digest.lower()):
            raise fail(f"{loc}.sha256.{key}: expected 64 hex digits, got {digest!r}")
        out[key] = digest.lower()
    return out


def _modality(value: Any, loc: str, fail: Any) -> str | None:
    if isinstance(value, Mapping) and all(isinstance(v, str) for v in value.values()):
        value = "+".join(value.values()) or None  # MSD style {"0": "T1", "1": "T2"}
    text = _opt_str(value, loc, fail)
    return None if text is None else text.strip()


def _opt_str(value: Any, loc: str, fail: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise fail(f"{loc}: expected a string, got {value!r}")


def _hint(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _relpath(p: Path, relative_to: Path | None) -> str:
    if relative_to is None:
        return Path(p).as_posix()
    return Path(os.path.relpath(os.path.abspath(p), os.path.abspath(relative_to))).as_posix()


def volume_stem(path: Path) -> str:
    """File name without its volume or 2D image suffix (``a/b.nii.gz``, ``a/b.png`` -> ``b``)."""
    name = Path(path).name
    for s in _VOLUME_SUFFIXES:
        if name.lower().endswith(s):
            return name[: -len(s)]
    return name


_ELSEWHERE = {"check_manifest": "check", "CheckReport": "check", "CaseCheck": "check",
              "write_manifest": "manifest_build", "manifest_from_folder": "manifest_build"}


def __getattr__(name: str) -> Any:
    # These live in modules that import this one; re-exported here lazily.
    if name in _ELSEWHERE:
        import importlib

        return getattr(importlib.import_module(f"volsr.data.{_ELSEWHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
