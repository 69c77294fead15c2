"""Read experiment configs: YAML files with ``defaults`` inheritance plus CLI overrides.

A config file is a YAML mapping. It may start with ``defaults: [base.yaml, ...]``: those
files (paths relative to the file that names them) are loaded recursively and
deep-merged in order, then the file itself is merged on top. Merging rules:

* mappings merge key by key; lists and scalars are replaced wholesale;
* a component spec (``train.optimizer``, ``data.normalization``, ...) whose ``name``
  changes replaces the inherited spec instead of merging its options into it;
* when ``model.name`` changes, the inherited ``model.args`` are dropped.

Command-line overrides are ``dotted.key=value`` strings applied after merging; the value
is parsed as YAML (``train.optimizer.lr=3e-4``, ``data.patch_size=[32,32,32]``,
``train.scheduler=null``, ``train.loss.0.weight=0.5``) and replaces what is at that key.
Keys must exist in the schema, except inside free-form mappings (``model.args``, spec
options), where new keys may be created.

YAML is read with a safe loader that also reads ``1e-4`` as a float (PyYAML alone reads
it as a string), keeps dates as strings and rejects duplicate keys. Configs are data:
nothing is evaluated, imported or interpolated.

Example:
    >>> cfg = load_config("configs/dcsrn.yaml", ["train.steps=1000"])  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Union

import yaml

from volsr.config.experiment import ExperimentConfig
from volsr.config.typed import Section, SpecBase, child_type, to_plain
from volsr.errors import ConfigError, OutputError

log = logging.getLogger(__name__)

__all__ = ["apply_overrides", "config_from_dict", "config_to_dict", "dump_config",
           "load_config", "load_raw", "parse_yaml"]

_FLOAT_TAG = "tag:yaml.org,2002:float"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
# Exponent floats without a dot (1e-4, 2E+3), which YAML 1.1 resolvers leave as strings.
_EXP_FLOAT = re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")


def _patched_resolvers(base: dict[str, list[Any]]) -> dict[str, list[Any]]:
    out = {k: [(tag, rx) for tag, rx in v if tag != _TIMESTAMP_TAG] for k, v in base.items()}
    for ch in "-+0123456789":
        out.setdefault(ch, []).append((_FLOAT_TAG, _EXP_FLOAT))
    return out


class _Loader(yaml.SafeLoader):
    """SafeLoader + ``1e-4`` floats, dates kept as strings, duplicate keys rejected."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = (key_node.tag, key_node.value)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"found duplicate key {key_node.value!r}", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _Dumper(yaml.SafeDumper):
    """SafeDumper whose resolvers match :class:`_Loader` (so ``"1e-4"`` strings get quoted)."""


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    """Short lists of scalars on one line (``scale: [1.0, 1.0, 4.0]``), others as blocks."""
    flow = all(not isinstance(v, (list, dict)) for v in data) and len(data) <= 8
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)
_Loader.yaml_implicit_resolvers = _patched_resolvers(yaml.SafeLoader.yaml_implicit_resolvers)
_Dumper.yaml_implicit_resolvers = _patched_resolvers(yaml.SafeDumper.yaml_implicit_resolvers)


def parse_yaml(text: str, source: str | Path | None = None) -> Any:
    """Parse YAML text with the config loader; errors name ``source`` and line/column."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        detail = f"{context}: {problem}" if context else problem
        raise ConfigError(f"invalid YAML{where}: {detail}", path=source) from None


def _read_mapping(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ConfigError("config file not found", path=path)
    if not path.is_file():
        raise ConfigError("config path is not a file", path=path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file ({exc})", path=path) from None
    data = parse_yaml(text, path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping of keys at the top level, got a "
                          f"{type(data).__name__}", path=path)
    return data


def _bare(tp: Any) -> Any:
    """``X`` for ``X | None``; other types unchanged."""
    if typing.get_origin(tp) in (Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        return options[0] if len(options) == 1 else tp
    return tp


def _renamed(base: Mapping[str, Any], over: Mapping[str, Any]) -> bool:
    return "name" in over and "name" in base and over["name"] != base["name"]


def _merge(base: Any, over: Any, tp: Any) -> Any:
    """Deep-merge ``over`` onto ``base`` (schema type ``tp``, or None where unknown)."""
    if not (isinstance(base, dict) and isinstance(over, dict)):
        return copy.deepcopy(over)
    tp = _bare(tp)
    if isinstance(tp, type) and issubclass(tp, SpecBase) and _renamed(base, over):
        return copy.deepcopy(over)
    bound: set[str] = set()
    if isinstance(tp, type) and issubclass(tp, Section) and _renamed(base, over):
        bound = {f.name for f in dataclasses.fields(tp) if f.metadata.get("name_bound")}
    out = {k: v for k, v in base.items() if k not in bound}
    for key, value in over.items():
        try:
            sub = child_type(tp, key, "") if tp is not None else None
        except ConfigError:
            sub = None  # unknown keys are reported by the schema after merging
        out[key] = _merge(out[key], value, sub) if key in out else copy.deepcopy(value)
    return out


def _load_tree(path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    path = path.expanduser().resolve()
    if path in chain:
        cycle = " -> ".join(str(p) for p in (*chain[chain.index(path):], path))
        raise ConfigError(f"'defaults' form a cycle: {cycle}", path=chain[-1])
    raw = _read_mapping(path)
    defaults = raw.pop("defaults", [])
    if isinstance(defaults, str):
        defaults = [defaults]
    if not isinstance(defaults, list) or not all(isinstance(d, str) for d in defaults):
        raise ConfigError(f"'defaults' must be a list of file paths, got {defaults!r}",
                          path=path)
    merged: dict[str, Any] = {}
    for entry in defaults:
        parent = _load_tree(path.parent / Path(entry).expanduser(), (*chain, path))
        merged = _merge(merged, parent, ExperimentConfig)
    return _merge(merged, raw, ExperimentConfig)


def load_raw(path: str | Path) -> dict[str, Any]:
    """The plain mapping of ``path`` with all ``defaults`` merged in (not yet validated).

    Raises:
        ConfigError: missing/unreadable file, invalid YAML (with line and column), a
            top level that is not a mapping, a bad ``defaults`` entry or a cycle.
    """
    return _load_tree(Path(path), ())


def _split_override(item: str) -> tuple[list[str], Any]:
    example = "e.g. 'train.optimizer.lr=3e-4' or 'data.patch_size=[32,32,32]'"
    if not isinstance(item, str) or "=" not in item:
        raise ConfigError(f"override {item!r} is not of the form key.path=value ({example})")
    key, _, text = item.partition("=")
    parts = key.strip().split(".")
    if not key.strip() or any(not p.strip() for p in parts):
        raise ConfigError(f"override {item!r} has an empty key ({example})")
    try:
        value = parse_yaml(text) if text.strip() else None
    except ConfigError as exc:
        raise ConfigError(f"override {item!r}: value is {exc}") from None
    return [p.strip() for p in parts], value


def _default_plain(section: Any, key: str) -> Any:
    """Plain form of the schema default of ``section.key`` if it is a spec, else None.

    Lets ``train.optimizer.lr=3e-4`` tune the default optimizer when no file sets one.
    """
    section = _bare(section)
    if not (isinstance(section, type) and issubclass(section, Section)):
        return None
    for f in dataclasses.fields(section):
        if f.name == key and f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
            return to_plain(value) if isinstance(value, (SpecBase, Section)) else None
    return None


def apply_overrides(raw: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return a copy of ``raw`` with ``key.path=value`` overrides applied in order.

    Args:
        raw: A plain config mapping (e.g. from :func:`load_raw`); not modified.
        overrides: Strings such as ``"train.optimizer.lr=3e-4"``. The value is YAML;
            an empty value means null. Numeric path parts index lists
            (``train.loss.0.weight=0.5``). Missing sections on the way are created;
            a missing spec with a schema default (``train.optimizer``) starts from it.

    Raises:
        ConfigError: no ``=``, an empty key, an unknown key (with a did-you-mean hint),
            a path through a single value or a list index out of range.
    """
    if isinstance(overrides, str):
        overrides = [overrides]
    out: dict[str, Any] = copy.deepcopy(dict(raw))
    for item in overrides:
        parts, value = _split_override(item)
        node: Any = out
        tp: Any = ExperimentConfig
        path = ""
        try:
            for i, part in enumerate(parts):
                parent_tp, tp = tp, child_type(tp, part, path)
                path = f"{path}.{part}" if path else part
                if isinstance(node, list):
                    index = int(part)
                    if index >= len(node):
                        raise ConfigError(f"{path}: index out of range (the list has "
                                          f"{len(node)} entries)")
                    key: Any = index
                else:
                    key = part
                if i == len(parts) - 1:
                    node[key] = copy.deepcopy(value)
                    break
                nxt = node[key] if isinstance(node, list) else node.get(key)
                if nxt is None and isinstance(node, dict) and key not in node:
                    nxt = _default_plain(parent_tp, key)
                    if nxt is not None:
                        node[key] = nxt
                if nxt is None:
                    if typing.get_origin(_bare(tp)) in (tuple, list):
                        raise ConfigError(f"{path!r} has no entries to index; set the whole "
                                          f"list instead, e.g. '{path}=[...]'")
                    nxt = node[key] = {}
                elif not isinstance(nxt, (dict, list)):
                    raise ConfigError(f"{path!r} is {nxt!r}, not a section; cannot set "
                                      f"{'.'.join(parts)!r}")
                node = nxt
        except ConfigError as exc:
            raise ConfigError(f"{exc} (in override {item!r})") from None
        log.debug("config override %s", item)
    return out


def config_from_dict(data: Mapping[str, Any]) -> ExperimentConfig:
    """Validate a plain mapping into an :class:`ExperimentConfig` (strict; see schema)."""
    return ExperimentConfig.from_dict(data)


def config_to_dict(cfg: Section) -> dict[str, Any]:
    """Plain YAML/JSON-serialisable dict (tuples -> lists, specs -> flat mappings).

    ``config_from_dict(config_to_dict(cfg)) == cfg`` for every valid config.
    """
    return to_plain(cfg)


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Load ``path`` (with its ``defaults``), apply ``overrides`` and validate.

    Relative paths inside the config (``data.manifest``, ``output_dir``) are kept as
    written and are relative to the current working directory; the config file's folder
    is recorded in ``cfg.config_dir``.

    Raises:
        ConfigError: for any problem, naming the file and the dotted key.
    """
    path = Path(path)
    raw = apply_overrides(load_raw(path), overrides)
    try:
        cfg = config_from_dict(raw)
    except ConfigError as exc:
        raise ConfigError(str(exc), path=path) from None
    return dataclasses.replace(cfg, config_dir=str(path.expanduser().resolve().parent))


def dump_config(cfg: ExperimentConfig, path: str | Path) -> None:
    """Write ``cfg`` as YAML (keys in schema order) that :func:`load_config` reads back equal.

    Creates missing parent folders.

    Raises:
        OutputError: if the file cannot be written.
    """
    path = Path(path)
    text = yaml.dump(config_to_dict(cfg), Dumper=_Dumper, sort_keys=False,
                     default_flow_style=False, allow_unicode=True)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.part")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise OutputError(f"cannot write config ({exc.strerror or exc})", path=path) from None
