"""Small commands: ``volsr models``, ``volsr info``, ``volsr phantom``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from volsr.cli import app
from volsr.cli._common import Overwrite, Quiet, Verbose, fail, handle_errors, setup_logging


@app.command()
@handle_errors
def models(
    pattern: Annotated[str, typer.Argument(help="fnmatch pattern, e.g. '*_3d'.")] = "*",
    tag: Annotated[Optional[str], typer.Option(help="Only models with this tag (2d, 3d, pre, "
                                               "post, interpolation, ...).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List registered models with their dims and upsampling kind, then the bundled trained
    models (usable as --model NAME; 'default' marks the default)."""
    from volsr.models import list_models, model_entry

    rows = []
    for name in list_models(pattern, tag=tag):
        info = model_entry(name).info
        rows.append({"name": name, "dims": info["dims"], "upsampling": info["upsampling"],
                     "family": info["family"], "paper": info["paper"]})
    rows += bundled_rows(pattern, tag)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    typer.echo(f"{'name':<22} {'dims':>4}  {'upsampling':<14} {'family':<14} paper")
    for r in rows:
        typer.echo(f"{r['name']:<22} {r['dims']:>4}D  {r['upsampling']:<14} {r['family']:<14} "
                   f"{r['paper']}")


def bundled_rows(pattern: str = "*", tag: str | None = None) -> list[dict]:
    """Rows for the trained models shipped in ``volsr/weights`` (tag ``bundled``)."""
    import fnmatch

    from volsr.weights import bundled_models, default_model_name

    if tag not in (None, "bundled", "trained"):
        return []
    default = default_model_name()
    rows = []
    for name, folder in bundled_models().items():
        if not fnmatch.fnmatch(name, pattern):
            continue
        try:
            meta = json.loads((folder / "model.json").read_text(encoding="utf-8"))
            net = meta["model"]["name"]
            dims = int(meta["model"].get("kwargs", {}).get("spatial_dims", 3))
            up = str(meta.get("upsampling", "?"))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        rows.append({"name": name, "dims": dims, "upsampling": up, "family": "bundled",
                     "paper": f"trained {net} weights in {folder.name}/"
                              + (" (the default model)" if name == default else ""),
                     "bundled": True, "default": name == default, "weights": str(folder)})
    return rows


@app.command()
@handle_errors
def info(
    path: Annotated[Path, typer.Argument(help="Volume file or DICOM folder.")],
    volume: Annotated[Optional[int], typer.Option("--volume", help="Volume index in 4D.")] = None,
    series_uid: Annotated[Optional[str], typer.Option(help="DICOM series to read.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Print a volume's grid: shape, spacing, orientation, affine, header codes.

    Files volsr would refuse (4D without --volume, NaN voxels, complex voxels) are
    described too, with the problem on a 'problems:' line (and as the error, exit 1).
    """
    setup_logging()
    import numpy as np

    from volsr.io.describe import describe_file

    rec = describe_file(path, volume_index=volume, series_uid=series_uid)
    if as_json:
        typer.echo(json.dumps(rec, indent=2))
    else:
        for k, val in rec.items():
            if k == "affine":
                typer.echo("affine:")
                for row in np.asarray(val):
                    typer.echo("  " + " ".join(f"{x:10.4f}" for x in row))
            elif k != "problems" or val:
                typer.echo(f"{k}: {'; '.join(val) if k == 'problems' else val}")
    if rec["problems"]:
        raise fail(f"{path}: {'; '.join(rec['problems'])}", 1)


@app.command()
@handle_errors
def phantom(
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the phantom.")],
    kind: Annotated[str, typer.Option(help="head (T1-like MR) or body (CT in HU).")] = "head",
    shape: Annotated[tuple[int, int, int], typer.Option(help="Voxels per axis.")] = (128, 144, 128),
    spacing: Annotated[tuple[float, float, float], typer.Option(help="Voxel size in mm.")]
    = (1.25, 1.25, 1.25),
    noise: Annotated[float, typer.Option(help="Gaussian noise sd (fraction of WM, or HU).")] = 0.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Write a synthetic anatomical phantom (ground truth for trying volsr without data)."""
    setup_logging(quiet, verbose)
    from volsr.errors import ConfigError
    from volsr.io import save_volume
    from volsr.phantom import phantom_volume

    if kind not in ("head", "body"):
        raise ConfigError(f"--kind must be head or body, got {kind!r}")
    vol = phantom_volume(shape, spacing, kind=kind, noise=noise, seed=seed)  # type: ignore[arg-type]
    save_volume(vol, output, overwrite=overwrite)
    if not quiet:
        typer.echo(f"volsr: wrote {output} ({vol.describe()})", err=True)
