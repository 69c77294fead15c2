"""``volsr infer``: super-resolve a file or a folder."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperCommand

from volsr.cli import app
from volsr.cli._common import Overwrite, Quiet, Verbose, fail, handle_errors, setup_logging

DEFAULT_MODEL = "bspline"  # used when neither --model, --weights nor a bundled default exist


def adapt_options(input: Path, n_cases: int, seconds: float | None, steps: int | None,
                  profile: str | None, save_weights: Path | None) -> dict[str, object]:
    """Check the ``--adapt`` flags against the input (``n_cases`` scans); what the
    sidecar's settings record."""
    from volsr.io.image2d import is_image2d_path

    if save_weights is not None and n_cases > 1:
        raise fail("--save-weights takes one input scan (each scan of a folder is adapted "
                   "on its own)", 2)
    if is_image2d_path(input):
        raise fail("--adapt needs a thick-slice volume, not a 2D image", 2)
    if steps is not None and steps < 1:
        raise fail(f"--adapt-steps must be >= 1, got {steps}", 2)
    return {"adapt": True, "adapt_seconds": seconds, "adapt_steps": steps,
            "adapt_profile": profile or "auto"}


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def expand_scale(args: list[str]) -> list[str]:
    """Let ``--scale S`` stand for ``--scale S S S`` (one factor for every axis).

    ``--scale`` takes three numbers; a single number (followed by a non-number or
    nothing) is repeated. For 2D images ``S S S`` means ``S`` on both axes.

    Example:
        >>> expand_scale(["x.png", "--scale", "2", "-o", "y.png"])
        ['x.png', '--scale', '2', '2', '2', '-o', 'y.png']
    """
    toks: list[str] = []
    for k, a in enumerate(args):
        if a == "--":
            toks.extend(args[k:])
            break
        toks.extend(["--scale", a.split("=", 1)[1]] if a.startswith("--scale=") else [a])
    out: list[str] = []
    i = 0
    while i < len(toks):
        a = toks[i]
        if a == "--":
            out.extend(toks[i:])
            break
        if (a == "--scale" and i + 1 < len(toks) and _is_number(toks[i + 1])
                and (i + 2 >= len(toks) or not _is_number(toks[i + 2]))):
            out += [a, toks[i + 1], toks[i + 1], toks[i + 1]]
            i += 2
            continue
        out.append(a)
        i += 1
    return out


class _InferCommand(TyperCommand):
    """``volsr infer``: ``--scale`` accepts one number as well as three."""

    def parse_args(self, ctx, args):  # noqa: ANN001, ANN201 - click's signature
        return super().parse_args(ctx, expand_scale(list(args)))


@app.command(cls=_InferCommand)
@handle_errors
def infer(
    input: Annotated[Path, typer.Argument(help="Volume file (.nii.gz, .nii, .nrrd, .mha, .mhd), "
                                          "DICOM series folder, folder of volumes, or a 2D image "
                                          "(.png, .tif, .tiff, single-frame .dcm).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output file, or folder when "
                                         "the input is a folder.")],
    model: Annotated[Optional[str], typer.Option(
        "-m", "--model", help="Interpolation baseline (see 'volsr models'), bundled model name "
        "('default'), or the network name of --weights. Default: the bundled default model if "
        "installed, else bspline.")] = None,
    weights: Annotated[Optional[Path], typer.Option(
        "--weights", help="Trained weights: a folder with model.json + model.safetensors, or a "
        "training run folder.")] = None,
    scale: Annotated[Optional[tuple[float, float, float]], typer.Option(
        metavar="S [S S]",
        help="Factor per voxel axis, e.g. 1 1 4, or one factor for every axis (--scale 2). "
        "2D images: --scale S (both axes; default: the network's factor).")] = None,
    target_spacing: Annotated[Optional[tuple[float, float, float]], typer.Option(
        metavar="MM MM MM", help="Output voxel size in mm per voxel axis.")] = None,
    isotropic: Annotated[bool, typer.Option(
        "--isotropic",
        help="Finest input spacing on every axis (the default when no grid option is given).")]
    = False,
    reference: Annotated[Optional[Path], typer.Option(
        help="Put the output on this volume's grid (axis-aligned with the input).")] = None,
    dtype: Annotated[Optional[str], typer.Option(
        help="float32, or 'input' to round, clip and cast back to the input's stored type. "
        "Default: float32 for volumes, the input's bit depth for 2D images.")] = None,
    volume: Annotated[Optional[int], typer.Option("--volume", help="Volume index in a 4D file.")]
    = None,
    series_uid: Annotated[Optional[str], typer.Option(help="DICOM SeriesInstanceUID to read "
                                                      "when a folder holds several.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    patch: Annotated[Optional[tuple[int, int, int]], typer.Option(
        "--patch", metavar="X Y Z",
        help="Sliding-window size in output voxels (networks; default: the "
        "model's).")] = None,
    overlap: Annotated[Optional[float], typer.Option(
        help="Overlap of neighbouring windows, in [0, 1) (networks).")] = None,
    sw_batch_size: Annotated[Optional[int], typer.Option(
        "--sw-batch-size", help="Windows per forward pass (networks).")] = None,
    tta: Annotated[Optional[bool], typer.Option(
        "--tta/--no-tta", help="Average over flips (networks; slower). 2D networks: the 8 "
        "flips/transposes of the plane (self-ensemble, the '+' of EDSR+).")] = None,
    fusion: Annotated[Optional[str], typer.Option(
        help="2D networks on volumes, through-plane factors: combine the two slice "
        "orientations by 'average' (default) or 'fba' (Fourier burst accumulation).")] = None,
    precision: Annotated[Optional[str], typer.Option(
        help="Network arithmetic: auto (default: bfloat16 for 2D networks on CPUs with native "
        "bf16, float16 on CUDA), fp32 or bf16. Recorded in the sidecar.")] = None,
    max_memory: Annotated[Optional[float], typer.Option(
        "--max-memory", help="GiB of RAM a network run may use (default: what is free). "
        "Beyond it the output is built in a memory-mapped file beside the output, slab by "
        "slab; a run that cannot fit even so is refused.")] = None,
    num_parts: Annotated[Optional[int], typer.Option(
        "--num-parts", help="Split a folder into this many parts (default: "
        "SLURM_ARRAY_TASK_COUNT when set).")] = None,
    part_id: Annotated[Optional[int], typer.Option(
        "--part-id", help="Which part to process, 0-based (default: SLURM_ARRAY_TASK_ID - "
        "SLURM_ARRAY_TASK_MIN).")] = None,
    suffix: Annotated[str, typer.Option(help="Appended to output names in folder mode.")] = "",
    overwrite: Overwrite = False,
    skip_existing: Annotated[bool, typer.Option(
        "--skip-existing", help="Skip outputs whose sidecar matches this model, settings and "
        "input.")] = False,
    keep_going: Annotated[bool, typer.Option(
        "--keep-going", help="In folder mode, continue after a failed scan.")] = False,
    report: Annotated[Optional[Path], typer.Option(
        help="Write a JSON report of every case (written / skipped / failed / not run).")]
    = None,
    adapt: Annotated[bool, typer.Option(
        "--adapt", help="Fine-tune the model on each scan's own in-plane slices first "
        "(thick-slice scans; a 2D model that takes an output grid, e.g. lraxis_2d). The "
        "pretrained model is kept when the held-out loss does not improve.")] = False,
    adapt_seconds: Annotated[Optional[float], typer.Option(
        "--adapt-seconds", help="Fine-tune time limit per scan in seconds (default 120).")
    ] = None,
    adapt_steps: Annotated[Optional[int], typer.Option(
        "--adapt-steps", help="Fine-tune steps per scan (default 600; whichever of steps "
        "and seconds ends first).")] = None,
    profile: Annotated[Optional[str], typer.Option(
        help="With --adapt: the slice profile of the training pairs: auto (estimated from "
        "the scan, the default), rect or gaussian (FWHM = slice spacing).")] = None,
    save_weights: Annotated[Optional[Path], typer.Option(
        "--save-weights", help="With --adapt (one input file): save the adapted network "
        "here, for 'volsr infer OTHER --weights DIR'.")] = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Super-resolve a scan (file -> file) or every scan in a folder (folder -> folder).

    Writes float32 NIfTI with sform and qform set, the output grid following the volsr
    convention (field of view kept), and a JSON sidecar per output. 2D networks run slice
    by slice on volumes. 2D images (PNG, TIFF, single-frame DICOM) are written as PNG or
    TIFF with their bit depth kept and the DPI scaled.
    """
    setup_logging(quiet, verbose)
    from volsr.devices import resolve_device
    from volsr.inference.runner import InferSettings, plan_cases, resolve_sharding, run_inference
    from volsr.predictors import load_predictor, resolve_settings

    resolve_device(device)  # an explicit device that is not there is an error, always
    options = {k: v for k, v in (("patch_size", list(patch) if patch else None),
                                 ("overlap", overlap), ("sw_batch_size", sw_batch_size),
                                 ("tta", tta), ("fusion", fusion),
                                 ("precision", precision)) if v is not None}
    settings = InferSettings(
        model=model, weights=str(weights) if weights else None, scale=scale,
        target_spacing=target_spacing, isotropic=isotropic,
        reference=str(reference) if reference else None, dtype=dtype, volume_index=volume,
        series_uid=series_uid, options=options,
    )
    if sum([scale is not None, target_spacing is not None, isotropic, reference is not None]) > 1:
        raise fail("give only one of --scale, --target-spacing, --isotropic, --reference", 2)
    if overwrite and skip_existing:
        raise fail("--overwrite and --skip-existing contradict each other", 2)
    parts, part = resolve_sharding(num_parts, part_id)
    if max_memory is not None and not max_memory > 0:
        raise fail(f"--max-memory must be a positive number of GiB, got {max_memory}", 2)
    cases = plan_cases(input, output, suffix=suffix)  # bad paths fail before a model loads
    if adapt:
        settings.options = {**options, **adapt_options(input, len(cases), adapt_seconds,
                                                        adapt_steps, profile, save_weights)}
    elif any(v is not None for v in (adapt_seconds, adapt_steps, profile, save_weights)):
        raise fail("--adapt-seconds, --adapt-steps, --profile and --save-weights go with "
                   "--adapt", 2)
    predictor = load_predictor(model, weights, device=device, **options)
    if adapt:
        from volsr.adapt import adapting_predictor

        predictor = adapting_predictor(predictor, seconds=adapt_seconds, steps=adapt_steps,
                                       profile=profile, save_weights=save_weights)
    settings = resolve_settings(settings, predictor)
    results = run_inference(input, output, settings, predictor, overwrite=overwrite,
                            skip_existing=skip_existing, suffix=suffix, keep_going=keep_going,
                            progress=None if sys.stderr.isatty() else False,
                            num_parts=parts, part_id=part, report=report,
                            max_memory=None if max_memory is None else int(max_memory * 2**30))
    failed = [r for r in results if r.status == "failed"]
    if not quiet:
        done = sum(r.status == "written" for r in results)
        skipped = sum(r.status == "skipped" for r in results)
        typer.echo(f"volsr: {done} written, {skipped} skipped, {len(failed)} failed", err=True)
    if failed:
        raise fail(f"{len(failed)} of {len(results)} scans failed: " + json.dumps(
            [r.input for r in failed]))
