"""A small name -> factory table with metadata, used for models, degradations and losses.

Lookups are case-insensitive and unknown names fail with a "did you mean" hint.
Registration is explicit (a decorator in the module that defines the component);
nothing is discovered by scanning files.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from volsr.errors import ConfigError

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered component: its factory plus descriptive metadata."""

    name: str
    factory: Callable[..., T]
    tags: frozenset[str] = frozenset()
    info: dict[str, Any] = field(default_factory=dict)


class Registry(Generic[T]):
    """Name -> factory table for one kind of component (models, degradations, ...).

    Example:
        >>> reg: Registry[int] = Registry("number")
        >>> @reg.register("one", tags={"small"})
        ... def one() -> int:
        ...     return 1
        >>> reg.build("ONE")
        1
        >>> reg.names(tag="small")
        ['one']
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(
        self, name: str | None = None, *, tags: Iterable[str] = (), **info: Any
    ) -> Callable[[F], F]:
        """Decorator registering ``factory`` under ``name`` (default: its ``__name__``)."""

        def decorator(factory: F) -> F:
            key = (name or factory.__name__).lower()
            if key in self._entries:
                raise ValueError(f"{self.kind} {key!r} is already registered")
            self._entries[key] = Entry(key, factory, frozenset(tags), dict(info))
            return factory

        return decorator

    def entry(self, name: str) -> Entry[T]:
        """The entry for ``name``; raises :class:`ConfigError` with suggestions if unknown."""
        key = name.lower()
        if key not in self._entries:
            close = difflib.get_close_matches(key, list(self._entries), n=3, cutoff=0.5)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise ConfigError(
                f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(sorted(self._entries))}"
            )
        return self._entries[key]

    def get(self, name: str) -> Callable[..., T]:
        return self.entry(name).factory

    def build(self, name: str, /, **kwargs: Any) -> T:
        return self.get(name)(**kwargs)

    def names(self, pattern: str = "*", *, tag: str | None = None) -> list[str]:
        """Sorted names matching an fnmatch ``pattern`` and, optionally, carrying ``tag``."""
        return sorted(
            k
            for k, e in self._entries.items()
            if fnmatch.fnmatch(k, pattern.lower()) and (tag is None or tag in e.tags)
        )

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self._entries[k] for k in sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)
