"""``volsr benchmark``: every method on every case of a manifest, one protocol, one report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from volsr.cli import app
from volsr.cli._common import Quiet, Verbose, handle_errors, setup_logging


@app.command()
@handle_errors
def benchmark(
    manifest: Annotated[Optional[Path], typer.Option(
        "--manifest", "-m", help="Manifest JSON (MONAI datalist) of the cases.")] = None,
    methods: Annotated[str, typer.Option(
        help="Comma-separated: interpolation names (bspline, linear, lanczos, ...), "
        "'default' (bundled model), 'ssr' / 'ssr-nosaa' (self-SR trained on each input), "
        "run or weights folders; LABEL=SPEC names one.")] = "bspline",
    protocol: Annotated[str, typer.Option(
        help="thick2/4/6 (Gaussian profile), thick2/4/6-rect, thick4-noise, kspace4, "
        "iso-gauss4, paired; 'list' describes them.")] = "thick4",
    out: Annotated[Optional[Path], typer.Option(
        "--out", "-o", help="Report folder (default: benchmark_<protocol>).")] = None,
    split: Annotated[str, typer.Option(help="training, validation, test or all.")] = "test",
    cases: Annotated[Optional[str], typer.Option(
        help="Only these case ids (comma-separated).")] = None,
    seed: Annotated[int, typer.Option(help="Protocol noise seed and self-SR seed.")] = 0,
    max_size: Annotated[Optional[int], typer.Option(
        "--max-size", help="Centre-crop each truth to at most N voxels per axis (faster; "
        "world positions kept).", min=2)] = None,
    mask: Annotated[str, typer.Option(
        help="auto (foreground of the truth) or none (every voxel).")] = "auto",
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    ssr_budget: Annotated[str, typer.Option(
        "--ssr-budget", help="Self-SR budget: fast, default or thorough.")] = "fast",
    ssr_steps: Annotated[Optional[int], typer.Option(
        "--ssr-steps", help="Self-SR training steps of the SSR network (overrides the budget).",
        min=1)] = None,
    ssr_time_limit: Annotated[Optional[float], typer.Option(
        "--ssr-time-limit", help="Self-SR training seconds per scan.")] = None,
    threads: Annotated[Optional[int], typer.Option(
        help="torch CPU threads for self-SR training.", min=1)] = None,
    figures: Annotated[bool, typer.Option(
        "--figures/--no-figures", help="Comparison figure per case (needs matplotlib).")]
    = True,
    save_outputs: Annotated[bool, typer.Option(
        "--save-outputs", help="Also write every output volume under OUT/outputs/.")] = False,
    fail_fast: Annotated[bool, typer.Option(
        "--fail-fast", help="Stop at the first failing method (default: record it and go "
        "on).")] = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Benchmark methods under a named degradation protocol; writes report.md, report.html
    (figures embedded), results.csv, results.json and figures/ into --out.

    Every method is asked for an output on the truth's grid and scored there in world
    coordinates inside the truth's foreground mask (PSNR, SSIM, NRMSE, HFEN), with its
    wall-clock seconds and peak memory.
    """
    setup_logging(quiet, verbose)
    from volsr.benchmark import PROTOCOLS, run_benchmark
    from volsr.benchmark.report import fmt
    from volsr.errors import ConfigError

    if protocol == "list":
        for p in PROTOCOLS.values():
            typer.echo(f"{p.name:<14} {p.description}")
        return
    if manifest is None:
        raise ConfigError("--manifest is required (or --protocol list)")
    folder = out if out is not None else Path(f"benchmark_{protocol}")
    res = run_benchmark(
        manifest, methods, protocol=protocol, out_dir=folder, split=split,
        cases=[c.strip() for c in cases.split(",") if c.strip()] if cases else None,
        seed=seed, max_size=max_size, mask=mask, device=device, ssr_budget=ssr_budget,
        ssr_steps=ssr_steps, ssr_time_limit=ssr_time_limit, threads=threads,
        figures=figures, save_outputs=save_outputs, keep_going=not fail_fast)
    if not quiet:
        keys = ("psnr", "ssim", "nrmse", "hfen", "seconds", "peak_mb")
        typer.echo(f"{'method':<20} {'n':>2}  " + "  ".join(f"{k:>17}" for k in keys))
        for r in res.summary:
            cells = [f"{fmt(k, r[f'{k}_mean'])} ± {fmt(k, r[f'{k}_sd'])}" for k in keys]
            typer.echo(f"{r['method']:<20} {r['n']:>2}  " + "  ".join(f"{c:>17}" for c in cells))
        typer.echo(f"volsr: report in {folder / 'report.html'} (also report.md, results.csv, "
                   "results.json)", err=True)
    failed = [r for r in res.rows if r["status"] != "ok"]
    if failed:
        raise typer.Exit(1)
