"""Named training recipes: the YAML configs that ship with volsr (``volsr train dcsrn_3d``).

The recipes are the repository's top-level ``configs/`` folder. The wheel carries a copy
as ``volsr/_recipes/`` (hatch ``force-include`` in ``pyproject.toml``), so a pip-installed
volsr finds them without the repository; a source checkout or editable install reads
``configs/`` beside the package. :func:`recipes_dir` says which folder is used.

A recipe's name is its path in that folder without ``.yaml`` (``dcsrn_3d``,
``zoo/edsr_2d``); a name without a folder also finds a recipe in a sub-folder when only
one has that file name (``edsr_2d``). Files that only hold shared defaults (``base.yaml``
and names starting with ``_``) are not recipes. The description of a recipe is the first
sentence of its leading comment.

Example:
    >>> recipe_path("dcsrn_3d").name
    'dcsrn_3d.yaml'
    >>> recipe_path("edsr_2d").relative_to(recipes_dir()).as_posix()
    'zoo/edsr_2d.yaml'
    >>> "tiny_test" in {r.name for r in list_recipes()}
    True
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

from volsr.errors import ConfigError

__all__ = ["Recipe", "list_recipes", "recipe_path", "recipes_dir", "resolve_config_path"]

_PACKAGED = Path(__file__).resolve().parents[1] / "_recipes"
_CHECKOUT = Path(__file__).resolve().parents[2] / "configs"
_SUFFIXES = (".yaml", ".yml")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])|:\s+#|\s+volsr train ")


@dataclass(frozen=True)
class Recipe:
    """A shipped training recipe.

    Attributes:
        name: what ``volsr train NAME`` takes (path under :func:`recipes_dir`, no suffix).
        path: the YAML file.
        description: first sentence of the file's leading comment, at most 90 characters
            ("" when it has none).
    """

    name: str
    path: Path
    description: str


def recipes_dir() -> Path:
    """The folder of the shipped recipes: the wheel's ``volsr/_recipes`` or ``configs/``.

    Raises:
        ConfigError: neither exists (a broken install).
    """
    for folder in (_PACKAGED, _CHECKOUT):
        if folder.is_dir():
            return folder
    raise ConfigError(f"no training recipes found (looked in {_PACKAGED} and {_CHECKOUT}); "
                      "reinstall volsr or give the path of a config file")


def _description(path: Path, limit: int = 90) -> str:
    """First sentence of the file's leading comment, cut at a word to ``limit`` chars."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return ""
    words: list[str] = []
    for line in lines:
        text = line.strip()
        if not text.startswith("#") or (words and not text.lstrip("#").strip()):
            break
        words.extend(text.lstrip("#").split())
    sentence = _SENTENCE_END.split(" ".join(words), maxsplit=1)[0].rstrip(":")
    if len(sentence) <= limit:
        return sentence
    return sentence[:limit - 3].rsplit(" ", 1)[0].rstrip(",;:") + "..."


def list_recipes() -> list[Recipe]:
    """Every shipped recipe, sorted: top-level ones first, then by folder and name."""
    root = recipes_dir()
    found = []
    for path in root.rglob("*"):
        if path.suffix not in _SUFFIXES or not path.is_file():
            continue
        if path.stem == "base" or path.name.startswith("_"):
            continue
        name = path.relative_to(root).with_suffix("").as_posix()
        found.append(Recipe(name, path, _description(path)))
    return sorted(found, key=lambda r: (r.name.count("/"), r.name))


def recipe_path(name: str) -> Path:
    """The YAML file of recipe ``name`` (``dcsrn_3d``, ``zoo/edsr_2d`` or ``edsr_2d``).

    Raises:
        ConfigError: no such recipe (with a "did you mean" hint and ``volsr train --list``),
            or a bare name that several sub-folders hold.
    """
    recipes = list_recipes()
    wanted = name.strip().removesuffix(".yaml").removesuffix(".yml")
    exact = [r for r in recipes if r.name == wanted]
    if exact:
        return exact[0].path
    by_stem = [r for r in recipes if r.name.rsplit("/", 1)[-1] == wanted]
    if len(by_stem) == 1:
        return by_stem[0].path
    if by_stem:
        raise ConfigError(f"recipe name {name!r} is ambiguous: "
                          f"{', '.join(r.name for r in by_stem)}")
    names = [r.name for r in recipes]
    stems = {r.name.rsplit("/", 1)[-1]: r.name for r in recipes}
    close = difflib.get_close_matches(wanted, names, n=1, cutoff=0.6) or [
        stems[s] for s in difflib.get_close_matches(wanted, list(stems), n=1, cutoff=0.6)]
    hint = f" — did you mean {close[0]!r}?" if close else ""
    raise ConfigError(f"no config file or recipe named {name!r}{hint} "
                      "('volsr train --list' shows the recipes)")


def resolve_config_path(spec: str | Path) -> Path:
    """A ``volsr train`` argument as a config file: an existing file, else a recipe name.

    Anything that ends in ``.yaml``/``.yml`` or names a folder is taken as a path (a
    missing one is reported by :func:`volsr.config.load_config` as today).
    """
    path = Path(spec).expanduser()
    if path.exists() or path.suffix in _SUFFIXES:
        return path
    return recipe_path(str(spec))
