"""Benchmark reports: CSV, JSON, Markdown and a self-contained HTML page.

:func:`write_report` writes into the output folder:

* ``results.csv``: one row per (case, method) with every metric at full precision;
* ``results.json``: settings, protocol, methods (with weights sha256), per-case grids and
  degradation parameters, the rows and the per-method mean/sd;
* ``report.md``: the mean +/- sd table, the per-volume table and the figures
  (``figures/<case>.png``, linked);
* ``report.html``: the same, with the figures embedded as base64 PNG (one file to mail
  or attach).

Table precision: PSNR 2 decimals (dB), SSIM / NRMSE / HFEN 4, seconds 3 significant
digits, peak memory whole MiB.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import logging
from pathlib import Path
from typing import Any

from volsr.io._atomic import atomic_write

__all__ = ["FORMATS", "fmt", "markdown_report", "html_report", "write_report"]

log = logging.getLogger(__name__)

FORMATS = {"psnr": "{:.2f}", "ssim": "{:.4f}", "nrmse": "{:.4f}", "hfen": "{:.4f}",
           "seconds": "{:.3g}", "peak_mb": "{:.0f}"}
HEADERS = {"psnr": "PSNR (dB)", "ssim": "SSIM", "nrmse": "NRMSE", "hfen": "HFEN",
           "seconds": "seconds", "peak_mb": "peak MiB"}
CSV_COLUMNS = ("case", "method", "status", "psnr", "ssim", "nrmse", "hfen", "seconds",
               "peak_mb", "mask_voxels", "data_range", "error")


def fmt(key: str, value: Any) -> str:
    """A metric value as shown in the tables (``-`` when missing)."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return FORMATS.get(key, "{:.4g}").format(float(value))


def _mean_sd(rec: dict[str, Any], key: str) -> str:
    m, s = rec.get(f"{key}_mean"), rec.get(f"{key}_sd")
    if m is None:
        return "-"
    return f"{fmt(key, m)} ± {fmt(key, s)}"


def _tables(res: Any) -> tuple[list[str], list[list[str]], list[str], list[list[str]]]:
    keys = list(FORMATS)
    head1 = ["method", "n"] + [HEADERS[k] for k in keys]
    body1 = [[r["method"], str(r["n"])] + [_mean_sd(r, k) for k in keys] for r in res.summary]
    head2 = ["case", "method"] + [HEADERS[k] for k in keys]
    body2 = []
    for r in res.rows:
        if r["status"] != "ok":
            body2.append([r["case"], r["method"]] + [f"failed: {r['error']}"]
                         + [""] * (len(keys) - 1))
        else:
            body2.append([r["case"], r["method"]] + [fmt(k, r.get(k)) for k in keys])
    return head1, body1, head2, body2


def _md_table(head: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
    return "\n".join(lines)


def _intro(res: Any) -> list[str]:
    s, p = res.settings, res.protocol
    methods = ", ".join(f"`{m['label']}` ({m.get('name') or m['spec']})" for m in res.methods)
    lines = [f"- protocol: **{p['name']}**: {p['description']}",
             f"- manifest: `{s['manifest']}`, split `{s['split']}`, {len(res.cases)} case(s), "
             f"seed {s['seed']}" + (f", truths centre-cropped to at most {s['max_size']} voxels "
                                    "per axis" if s.get("max_size") else ""),
             f"- methods: {methods}",
             "- scoring: world coordinates on the truth grid, "
             + ("inside the truth's foreground mask (Otsu + morphology)" if s["mask"] == "auto"
                else "over the whole volume")
             + "; data range = truth max - min; mean ± sample sd over cases; seconds = wall "
               "clock of the method call; peak MiB = process resident memory during it"]
    return lines


def markdown_report(res: Any) -> str:
    """The report as Markdown (figures linked as ``figures/<case>.png``)."""
    h1, b1, h2, b2 = _tables(res)
    parts = [f"# {res.settings['title']}", "", *_intro(res), "", "## Mean ± sd per method", "",
             _md_table(h1, b1), "", "## Per volume", "", _md_table(h2, b2), ""]
    if res.figures:
        parts += ["## Figures", "",
                  "Rows: truth, input (nearest neighbour on the truth grid), each method. "
                  "Columns: three orthogonal slices through the strongest edge, a zoomed crop, "
                  "the absolute error; below, a line profile across the edge.", ""]
        for case, rel in res.figures.items():
            parts += [f"### {case}", "", f"![{case}]({rel})", ""]
    parts += ["Results at full precision: `results.csv`, `results.json`.", ""]
    return "\n".join(parts)


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f0f0f0}td:first-child,td:nth-child(2){text-align:left}
img{max-width:100%;border:1px solid #ddd}code{background:#f4f4f4;padding:0 3px}"""


def _html_table(head: list[str], body: list[list[str]]) -> str:
    rows = ["<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    rows += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
             for row in body]
    return "<table>\n" + "\n".join(rows) + "\n</table>"


def _md_inline(text: str) -> str:
    """Escape, then render `code` and **bold** of the intro lines."""
    import re

    t = html.escape(text)
    t = re.sub(r"`([^`]*)`", r"<code>\1</code>", t)
    return re.sub(r"\*\*([^*]*)\*\*", r"<b>\1</b>", t)


def html_report(res: Any, folder: Path) -> str:
    """The report as one HTML page; figures under ``folder`` are embedded (base64)."""
    h1, b1, h2, b2 = _tables(res)
    title = html.escape(res.settings["title"])
    parts = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'>", f"<title>{title}</title>",
             f"<style>{_CSS}</style></head><body>", f"<h1>{title}</h1>", "<ul>"]
    parts += [f"<li>{_md_inline(line[2:])}</li>" for line in _intro(res)]
    parts += ["</ul>", "<h2>Mean ± sd per method</h2>", _html_table(h1, b1),
              "<h2>Per volume</h2>", _html_table(h2, b2)]
    if res.figures:
        parts.append("<h2>Figures</h2><p>Rows: truth, input (nearest neighbour on the truth "
                     "grid), each method. Columns: three orthogonal slices through the "
                     "strongest edge, a zoomed crop, the absolute error; below, a line profile "
                     "across the edge.</p>")
        for case, rel in res.figures.items():
            data = base64.b64encode((folder / rel).read_bytes()).decode("ascii")
            parts += [f"<h3>{html.escape(case)}</h3>",
                      f"<img alt='{html.escape(case)}' src='data:image/png;base64,{data}'>"]
    parts += ["<p>Full precision: results.csv, results.json.</p>", "</body></html>", ""]
    return "\n".join(parts)


def _write_text(path: Path, text: str) -> None:
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_report(res: Any, out_dir: str | Path) -> dict[str, Path]:
    """Write results.csv, results.json, report.md and report.html into ``out_dir``.

    Returns:
        ``{"csv", "json", "md", "html"}`` -> path.
    """
    import io

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS), extrasaction="ignore",
                       lineterminator="\n")
    w.writeheader()
    for r in res.rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in CSV_COLUMNS})
    paths = {"csv": out / "results.csv", "json": out / "results.json",
             "md": out / "report.md", "html": out / "report.html"}
    _write_text(paths["csv"], buf.getvalue())
    _write_text(paths["json"], json.dumps(res.to_dict(), indent=2) + "\n")
    _write_text(paths["md"], markdown_report(res))
    _write_text(paths["html"], html_report(res, out))
    log.info("wrote %s", ", ".join(str(p) for p in paths.values()))
    return paths
