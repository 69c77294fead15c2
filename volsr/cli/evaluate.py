"""``volsr eval``: score a candidate against a truth volume in world coordinates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from volsr.cli import app
from volsr.cli._common import Quiet, Verbose, handle_errors, setup_logging


@app.command("eval")
@handle_errors
def eval_cmd(
    truth: Annotated[Path, typer.Argument(help="Reference (ground-truth) volume.")],
    candidate: Annotated[Path, typer.Argument(help="Volume to score.")],
    data_range: Annotated[Optional[float], typer.Option(
        help="Intensity range for PSNR/SSIM; default: truth max - min.")] = None,
    mask: Annotated[str, typer.Option(
        help="'auto' (head/body mask from the truth), 'none', or a mask file on the truth "
        "grid.")] = "none",
    output: Annotated[Optional[Path], typer.Option("-o", "--output",
                                                   help="Also write the JSON here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """PSNR, SSIM (3D), NRMSE and HFEN; the candidate is resampled onto the truth grid
    (through both affines) when the grids differ, and the output says so."""
    setup_logging(quiet, verbose)
    from volsr.io import load_volume
    from volsr.metrics import evaluate
    from volsr.provenance import base_record, write_sidecar

    t = load_volume(truth)
    c = load_volume(candidate)
    if mask == "none":
        m = None
    elif mask == "auto":
        m = "auto"
    else:
        m = load_volume(mask)
    res = evaluate(t, c, data_range=data_range, mask=m)
    rec = {"truth": str(truth), "candidate": str(candidate), "mask": mask, **res.to_dict()}
    if output is not None:
        full = base_record("eval")
        full.update(rec)
        write_sidecar(output, full)
    if as_json:
        typer.echo(json.dumps(rec, indent=2))
        return
    if res.resampled:
        typer.echo("note: candidate grid differs from the truth grid; it was resampled onto the "
                   "truth grid in world coordinates", err=True)
    for key in ("psnr", "ssim", "nrmse", "hfen"):
        val = rec.get(key)
        if val is not None:
            typer.echo(f"{key:>6}: {val:.4f}" if isinstance(val, float) else f"{key:>6}: {val}")
    typer.echo(f"{'range':>6}: {res.data_range:g}  (voxels scored: {res.mask_voxels})")
