"""The model table, generated from the registry (so it cannot drift from it).

:func:`model_table` renders every registered model (or the networks only) as a
Markdown or reStructuredText table of name, dims, upsampling kind, family and
reference. Two committed copies are generated from it and checked by the tests:
the docstring of :mod:`volsr.models.networks` and ``docs/models.md``. After adding a
model, rewrite both with::

    python -m volsr.models.catalog

Example:
    >>> print(model_table("rst", pattern="srcnn_*"))
    ==================  ====  ==========  ======
    name                dims  upsampling  family
    ==================  ====  ==========  ======
    ``srcnn_2d``        2     pre         srcnn
    ``srcnn_3d``        3     pre         srcnn
    ``srcnn_rrelu_3d``  3     pre         srcnn
    ==================  ====  ==========  ======
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Literal

from volsr.models import list_models, model_entry

TableFormat = Literal["markdown", "rst"]

#: Lines that enclose a generated table in a committed file.
BEGIN = "begin generated model table"
END = "end generated model table"


def _rows(pattern: str, networks_only: bool) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for name in list_models(pattern):
        info = model_entry(name).info
        if networks_only and info["upsampling"] == "interpolation":
            continue
        rows.append((name, *(str(info[k]) for k in ("dims", "upsampling", "family", "paper"))))
    return rows


def model_table(fmt: TableFormat = "markdown", *, pattern: str = "*",
                networks_only: bool = False) -> str:
    """The registered models as a table, sorted by name.

    Args:
        fmt: ``"markdown"`` (with a reference column) or ``"rst"`` (a simple table of
            name, dims, upsampling and family, narrow enough for a docstring).
        pattern: fnmatch pattern of the names to list.
        networks_only: Leave out the interpolation baselines.

    Returns:
        The table, lines joined by ``"\\n"``, without a trailing newline.
    """
    rows = _rows(pattern, networks_only)
    if fmt == "markdown":
        lines = ["| name | dims | upsampling | family | reference |", "|---|---|---|---|---|"]
        lines += [f"| `{n}` | {d} | {u} | {f} | {p} |" for n, d, u, f, p in rows]
        return "\n".join(lines)
    if fmt != "rst":
        raise ValueError(f"fmt must be 'markdown' or 'rst', got {fmt!r}")
    cells = [("name", "dims", "upsampling", "family")] + [
        (f"``{n}``", d, u, f) for n, d, u, f, _ in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(4)]
    rule = "  ".join("=" * w for w in widths)

    def line(r: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()

    return "\n".join([rule, line(cells[0]), rule, *map(line, cells[1:]), rule])


def replace_block(text: str, table: str, *, comment: tuple[str, str]) -> str:
    """``text`` with the lines between the BEGIN and END markers replaced by ``table``.

    ``comment`` wraps the marker words, e.g. ``("<!-- ", " -->")`` in Markdown or
    ``(".. ", "")`` in reStructuredText.
    """
    start, stop = (f"{comment[0]}{BEGIN}{comment[1]}", f"{comment[0]}{END}{comment[1]}")
    pattern = re.compile(re.escape(start) + r"\n.*?\n" + re.escape(stop), re.S)
    if not pattern.search(text):
        raise ValueError(f"no {start!r} ... {stop!r} block found")
    return pattern.sub(lambda _: f"{start}\n\n{table}\n\n{stop}", text, count=1)


def targets(root: Path) -> list[tuple[Path, str, tuple[str, str]]]:
    """The committed tables under the repository ``root``: (file, table, markers)."""
    return [
        (root / "volsr" / "models" / "networks" / "__init__.py",
         model_table("rst", networks_only=True), (".. ", "")),
        (root / "docs" / "models.md", model_table("markdown"), ("<!-- ", " -->")),
    ]


def main(argv: list[str] | None = None) -> int:
    """Rewrite the committed tables of the repository that holds this package."""
    root = Path(__file__).resolve().parents[2]
    for path, table, comment in targets(root):
        old = path.read_text(encoding="utf-8")
        new = replace_block(old, table, comment=comment)
        if new != old:
            path.write_text(new, encoding="utf-8")
            sys.stderr.write(f"updated {path}\n")
    return 0


__all__ = ["BEGIN", "END", "main", "model_table", "replace_block", "targets"]

if __name__ == "__main__":
    raise SystemExit(main())
