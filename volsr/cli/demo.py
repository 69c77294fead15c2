"""``volsr demo``: the whole job on a synthetic phantom, with no data needed.

phantom (ground truth) -> simulated thick-slice scan -> super-resolution with every
baseline and the default model -> scores in world coordinates, printed as a table.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from volsr.cli import app
from volsr.cli._common import Quiet, Verbose, handle_errors, setup_logging


def _default_models() -> str:
    """The interpolation baselines and every bundled model (the default alias first)."""
    from volsr.weights import bundled_models, default_model_name

    default = default_model_name()
    extra = (["default"] if default else []) + [n for n in bundled_models() if n != default]
    return ",".join(["nearest", "linear", "bspline", "lanczos", "fourier", *extra])


@app.command()
@handle_errors
def demo(
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="Keep the phantom, the low-res scan and every output here.")] = None,
    factor: Annotated[float, typer.Option(help="Through-plane (z) factor of the simulated "
                                          "thick-slice scan.")] = 4.0,
    profile: Annotated[str, typer.Option(help="Slice profile: gaussian or rect.")] = "gaussian",
    models: Annotated[Optional[str], typer.Option(
        help="Comma-separated models to compare (default: the baselines and every bundled "
        "model).")] = None,
    shape: Annotated[tuple[int, int, int], typer.Option(help="Phantom size in voxels.")]
    = (128, 144, 128),
    spacing: Annotated[float, typer.Option(help="Phantom (truth) voxel size in mm.")] = 1.25,
    seed: Annotated[int, typer.Option(help="Phantom seed.")] = 0,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Simulate a thick-slice scan of a phantom, super-resolve it and print the scores."""
    setup_logging(quiet, verbose)
    from volsr.degrade import ThickSlice
    from volsr.io import save_volume
    from volsr.metrics import evaluate
    from volsr.phantom import phantom_volume
    from volsr.predictors import load_predictor

    names = list(dict.fromkeys(m.strip() for m in (models or _default_models()).split(",")
                               if m.strip()))
    built = {n: load_predictor(n) for n in names}  # fail on a bad name before any work
    with tempfile.TemporaryDirectory(prefix="volsr-demo-") as tmp:
        folder = out or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        truth = phantom_volume(shape, (spacing,) * 3, seed=seed)
        lr = ThickSlice(axis=2, factor=factor, profile=profile)(truth)
        save_volume(truth, folder / "truth.nii.gz", overwrite=True)
        save_volume(lr, folder / "lowres.nii.gz", overwrite=True)
        typer.echo(f"truth    {truth.describe()}")
        typer.echo(f"low-res  {lr.describe()}  ({profile} slice profile, x{factor:g} in z)")
        typer.echo("")
        w = max(12, *(len(n) for n in built))
        typer.echo(f"{'model':<{w}} {'PSNR dB':>8} {'SSIM':>7} {'HFEN':>7} {'seconds':>8}")
        for name, predictor in built.items():
            t0 = time.perf_counter()
            sr = predictor.run(lr, isotropic=True)
            secs = time.perf_counter() - t0
            if not sr.grid.same_as(truth.grid):
                raise RuntimeError(f"{name}: output grid does not match the truth grid")
            res = evaluate(truth, sr, mask="auto", data_range=1.0)
            if out is not None:
                save_volume(sr, folder / f"sr_{name}.nii.gz", overwrite=True)
            typer.echo(f"{name:<{w}} {res.psnr:8.2f} {res.ssim:7.4f} {res.hfen:7.4f} {secs:8.2f}")
        typer.echo("")
        typer.echo("Scores inside the automatic head mask, data range 1.0, on the truth grid.")
        if "default" in built:
            from volsr.weights import default_model_name

            typer.echo(f"default: the bundled {default_model_name()}, what `volsr infer` runs "
                       "with no --model.")
        if out is not None:
            typer.echo(f"Files written to {folder}")
