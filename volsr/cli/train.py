"""``volsr train``: train a network from a YAML experiment config or a shipped recipe."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from volsr.cli import app
from volsr.cli._common import Overwrite, Quiet, Verbose, handle_errors, setup_logging


@app.command()
@handle_errors
def train(
    config: Annotated[Optional[str], typer.Argument(
        help="Experiment config (YAML file, e.g. configs/dcsrn_3d.yaml) or the name of a "
        "recipe shipped with volsr (e.g. dcsrn_3d; see --list).", show_default=False)] = None,
    overrides: Annotated[Optional[list[str]], typer.Argument(
        help="Config overrides as dotted key=value, e.g. train.steps=1000 "
        "train.optimizer.lr=3e-4 data.patch_size=[32,32,32].", show_default=False)] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue the run in the run folder from checkpoint_latest.pt "
        "(starts afresh if there is none).")] = False,
    overwrite: Overwrite = False,
    output_dir: Annotated[Optional[Path], typer.Option(
        "--output-dir", help="Folder for run folders (default: output_dir of the config); "
        "the run goes to OUTPUT_DIR/<name>/.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    max_steps: Annotated[Optional[int], typer.Option(
        "--max-steps", help="Stop after this global step (the schedule still follows "
        "train.steps; resume later with --resume).", min=1)] = None,
    list_recipes: Annotated[bool, typer.Option(
        "--list", help="List the shipped recipes (name and description) and exit.")] = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Train a super-resolution network; writes the run folder (config.yaml, train.log,
    metrics.jsonl, tensorboard/, checkpoint_latest.pt, checkpoint_best.pt, model/).

    data.manifest is read relative to the working directory, else relative to the
    config file's folder or one of its parents (a shipped recipe usually needs
    data.manifest=...). Multi-GPU / multi-process: launch with
    'torchrun --nproc_per_node N -m volsr train CONFIG ...'.
    """
    setup_logging(quiet, verbose=not quiet)
    import os

    from volsr.config import load_config
    from volsr.config.recipes import list_recipes as shipped, resolve_config_path
    from volsr.errors import ConfigError

    if list_recipes:
        recipes = shipped()
        width = max(len(r.name) for r in recipes)
        for r in recipes:
            typer.echo(f"{r.name:<{width}}  {r.description}".rstrip())
        return
    if config is None:
        raise ConfigError("give a config file or a recipe name ('volsr train --list' shows "
                          "the recipes)")
    from volsr.engine import train as run_training

    cfg = load_config(resolve_config_path(config), list(overrides or []))
    rank = int(os.environ.get("RANK", "0") or 0)
    if rank != 0 and not verbose:
        setup_logging(quiet=True)  # one voice: rank 0 reports progress
    result = run_training(cfg, output_dir=output_dir, resume=resume, overwrite=overwrite,
                          device=device, max_steps=max_steps)
    if not quiet and rank == 0:
        best = (f", best validation PSNR {result.best_psnr:.3f} dB at step {result.best_step}"
                if result.best_psnr is not None else "")
        typer.echo(f"volsr: trained {cfg.model.name} to step {result.step}{best}; run folder "
                   f"{result.run_dir}", err=True)
