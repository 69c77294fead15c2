"""The typed-config engine: frozen dataclass sections with strict ``from_dict``.

Every section is a frozen dataclass deriving from :class:`Section`.
``Section.from_dict(mapping, path="")`` rejects unknown keys (with a "did you mean" hint
naming the full dotted path), checks types, coerces where it is unambiguous (int ->
float, numeric strings such as ``"1e-4"`` -> float/int, lists -> tuples) and validates
``Literal`` choices and value ranges. Every problem raises
:class:`volsr.errors.ConfigError` naming the dotted path and the bad value. Constructing
a section directly in Python runs the same coercion and checks.

Components chosen from a registry (optimizer, scheduler, normalization, degradations,
losses) are :class:`Spec` values; in YAML they are flat mappings such as
``{name: adam, lr: 1.0e-4}`` (or just the name: ``adam``).

Free-form mappings (``model.args``, spec options) hold plain data only: strings, numbers,
booleans, null, lists and string-keyed mappings; tuples become lists there.

The sections themselves live in one module per group: :mod:`volsr.config.model`,
:mod:`~volsr.config.data`, :mod:`~volsr.config.train`, :mod:`~volsr.config.infer`,
:mod:`~volsr.config.experiment` and :mod:`~volsr.config.ssr`.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar, Union

from volsr.config.values import (
    FieldError,
    join_path,
    plain,
    scalar,
    show,
    type_error,
    unknown_key_error,
    where,
)
from volsr.errors import ConfigError

__all__ = ["Section", "Spec", "SpecBase", "WeightedSpec", "child_type", "convert",
           "public_fields", "to_plain"]

S = TypeVar("S", bound="Section")


def convert(tp: Any, value: Any, path: str) -> Any:
    """Check and coerce ``value`` to the type hint ``tp``; ``path`` names it in errors."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return plain(value, path)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) != 1:
            raise TypeError(f"unsupported union in config schema: {tp}")
        return convert(options[0], value, path)
    if origin is Literal:
        for choice in args:
            if type(value) is type(choice) and value == choice:
                return choice
        close = [c for c in args if isinstance(c, str) and isinstance(value, str)
                 and c.lower() == value.lower()]
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"{where(path)}: expected one of "
                          f"{', '.join(repr(c) for c in args)}, got {show(value)}{hint}")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise type_error(path, "a list", value)
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise type_error(path, f"a list of {len(args)} entries", value)
            items = [convert(a, v, join_path(path, i))
                     for i, (a, v) in enumerate(zip(args, value))]
        else:
            items = [convert(args[0], v, join_path(path, i)) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise type_error(path, "a mapping", value)
        return plain(value, path)
    if tp in (bool, int, float, str):
        return scalar(tp, value, path)
    if isinstance(tp, type) and issubclass(tp, (Section, SpecBase)):
        return tp.from_dict(value, path)
    raise TypeError(f"unsupported type in config schema: {tp!r}")


def to_plain(obj: Any) -> Any:
    """Config object -> plain YAML/JSON data (tuples -> lists, specs -> flat mappings)."""
    if isinstance(obj, (SpecBase, Section)):
        return obj.to_dict()
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, Mapping):
        return {k: to_plain(v) for k, v in obj.items()}
    return obj


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def public_fields(cls: type) -> list[dataclasses.Field[Any]]:
    """The fields a config file may set (excludes internal bookkeeping fields)."""
    return [f for f in dataclasses.fields(cls) if f.init and not f.metadata.get("internal")]


def child_type(tp: Any, key: str, path: str) -> Any:
    """Type hint of ``key`` inside a value of type ``tp`` (used to check override paths).

    Raises:
        ConfigError: if ``tp`` has no such key (with a did-you-mean hint), or is a scalar.
    """
    if typing.get_origin(tp) in (Union, types.UnionType):
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    origin = typing.get_origin(tp)
    if tp is Any or origin in (dict, Mapping):
        return Any
    if origin in (tuple, list):
        if not key.isdigit():
            raise ConfigError(f"{where(path)} is a list; use a numeric index, e.g. "
                              f"{join_path(path, '0')!r}, not {key!r}")
        args = typing.get_args(tp)
        return args[0] if args[-1] is Ellipsis or origin is list else args[int(key)]
    if isinstance(tp, type) and issubclass(tp, SpecBase):
        return _hints(tp).get(key, Any) if key in tp.reserved else Any
    if isinstance(tp, type) and issubclass(tp, Section):
        names = [f.name for f in public_fields(tp)]
        if key not in names:
            raise unknown_key_error(key, path, names)
        return _hints(tp)[key]
    raise ConfigError(f"{where(path)!r} holds a single value, not a section; "
                      f"cannot set {join_path(path, key)!r}")


# --------------------------------------------------------------------------- component specs


class SpecBase:
    """Shared behaviour of :class:`Spec` and :class:`WeightedSpec` (flat-mapping form)."""

    name: str
    kwargs: Mapping[str, Any]
    reserved: ClassVar[tuple[str, ...]] = ("name",)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise FieldError("name", f"expected a non-empty component name, got "
                                     f"{show(self.name)}")
        if not isinstance(self.kwargs, Mapping):
            raise FieldError("kwargs", f"expected a mapping, got {show(self.kwargs)}")
        for key in self.kwargs:
            if key in self.reserved:
                raise FieldError(str(key), f"{key!r} is reserved in a component spec")
        object.__setattr__(self, "kwargs", plain(self.kwargs, "kwargs"))
        hints = _hints(type(self))
        for key in self.reserved[1:]:
            object.__setattr__(self, key, convert(hints[key], getattr(self, key), key))
        self._check()

    def _check(self) -> None:
        """Checks of the reserved fields; raise :class:`FieldError`."""

    @classmethod
    def from_dict(cls, value: Any, path: str = "") -> Any:
        """Build from a flat mapping ``{name: ..., **kwargs}`` or a bare name string."""
        if isinstance(value, cls):
            return value
        if isinstance(value, SpecBase):  # e.g. a Spec where a WeightedSpec is expected
            value = value.to_dict()
        if isinstance(value, str):
            value = {"name": value}
        if not isinstance(value, Mapping):
            raise type_error(path, "a component spec such as {name: ..., option: value}",
                              value)
        if "name" not in value:
            raise ConfigError(f"{where(path)}: component spec needs a 'name' key, got "
                              f"{show(dict(value))}")
        hints = _hints(cls)
        reserved = {k: convert(hints[k], value[k], join_path(path, k))
                    for k in cls.reserved if k in value}
        kwargs = plain({k: v for k, v in value.items() if k not in cls.reserved}, path)
        try:
            return cls(kwargs=kwargs, **reserved)
        except FieldError as exc:
            raise ConfigError(f"{join_path(path, exc.field)}: {exc.message}") from None

    def to_dict(self) -> dict[str, Any]:
        """The flat mapping form: ``{"name": ..., <reserved keys>..., **kwargs}``."""
        out = {k: getattr(self, k) for k in self.reserved}
        out.update(plain(self.kwargs, ""))
        return out


@dataclass(frozen=True)
class Spec(SpecBase):
    """A registry component and its options, e.g. an optimizer or a degradation.

    YAML form: a flat mapping ``{name: adam, lr: 1.0e-4, betas: [0.9, 0.99]}`` or just
    ``adam``. The engine builds it as ``REGISTRY.build(spec.name, **spec.kwargs)``.

    Attributes:
        name: Registry key of the component (registries look it up case-insensitively).
        kwargs: Keyword arguments for the component's factory: plain data, read-only by
            convention; tuples are stored as lists. May not contain ``name``.
    """

    name: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WeightedSpec(SpecBase):
    """A loss term: a component spec plus its weight in the summed loss.

    YAML form: ``{name: l1, weight: 0.5, **kwargs}``; ``weight`` defaults to 1.0.

    Attributes:
        name: Loss registry key.
        weight: Non-negative multiplier of this term in the total loss.
        kwargs: Options for the loss (may not contain ``name`` or ``weight``).
    """

    name: str
    weight: float = 1.0
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    reserved: ClassVar[tuple[str, ...]] = ("name", "weight")

    def _check(self) -> None:
        if self.weight < 0:
            raise FieldError("weight", f"must be >= 0, got {self.weight}")


# --------------------------------------------------------------------------- sections


class Section:
    """Base of the config sections: strict ``from_dict``, coercion and checks."""

    def __post_init__(self) -> None:
        hints = _hints(type(self))
        for f in public_fields(type(self)):
            object.__setattr__(self, f.name, convert(hints[f.name], getattr(self, f.name),
                                                     f.name))
        self._check()

    def _check(self) -> None:
        """Range/consistency checks; raise :class:`FieldError` naming the field."""

    @classmethod
    def from_dict(cls: type[S], mapping: Any, path: str = "") -> S:
        """Build the section from a mapping, strictly; ``path`` prefixes error messages."""
        if isinstance(mapping, cls):
            return mapping
        if not isinstance(mapping, Mapping):
            raise type_error(path, f"a mapping (the {path or 'config'} section)", mapping)
        fields = public_fields(cls)
        names = [f.name for f in fields]
        for key in mapping:
            if not isinstance(key, str):
                raise ConfigError(f"{where(path)}: keys must be strings, got {show(key)}")
            if key not in names:
                raise unknown_key_error(key, path, names)
        kwargs: dict[str, Any] = {}
        for f in fields:
            if f.name in mapping:
                kwargs[f.name] = convert(_hints(cls)[f.name], mapping[f.name],
                                         join_path(path, f.name))
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"missing required key {join_path(path, f.name)!r}")
        try:
            return cls(**kwargs)
        except FieldError as exc:
            raise ConfigError(f"{join_path(path, exc.field)}: {exc.message}") from None

    def to_dict(self) -> dict[str, Any]:
        """Plain, YAML/JSON-serialisable dict of the public fields in declaration order."""
        return {f.name: to_plain(getattr(self, f.name)) for f in public_fields(type(self))}

