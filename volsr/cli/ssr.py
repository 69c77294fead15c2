"""``volsr ssr``: self-super-resolution of a thick-slice scan from the scan itself."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from volsr.cli import app
from volsr.cli._common import Overwrite, Quiet, Verbose, handle_errors, setup_logging


def _check_output(output: Path, overwrite: bool) -> None:
    """Refuse a bad output path before minutes of training, not after."""
    from volsr.errors import OutputError
    from volsr.io import check_writable_dir, volume_suffix

    if volume_suffix(output) not in (".nii.gz", ".nii", ".nrrd", ".mha"):
        raise OutputError("output file needs a volume extension (.nii.gz, .nii, .nrrd or .mha)",
                          path=output)
    if output.exists() and not overwrite:
        raise OutputError("already exists (use --overwrite to replace it)", path=output)
    check_writable_dir(output.parent if str(output.parent) else Path("."))


@app.command()
@handle_errors
def ssr(
    input: Annotated[Path, typer.Argument(help="Thick-slice scan (.nii.gz, .nii, .nrrd, .mha, "
                                          ".mhd or a DICOM series folder).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output volume file.")],
    budget: Annotated[str, typer.Option(
        help="fast (minutes on a CPU), default, or thorough (GPU advised).")] = "default",
    steps: Annotated[Optional[int], typer.Option(
        help="Training steps of the SSR network; SAA trains a budget-set share of them "
        "(fast 1/3, default 1/2, thorough 1). Overrides the budget.", min=1)] = None,
    time_limit: Annotated[Optional[float], typer.Option(
        "--time-limit", help="Seconds for all training (split between the networks in "
        "proportion to their steps).")] = None,
    slice_thickness: Annotated[Optional[float], typer.Option(
        "--slice-thickness", help="Slice thickness in mm (default: the slice spacing).")]
    = None,
    slice_gap: Annotated[Optional[float], typer.Option(
        "--slice-gap", help="Gap between slices in mm (negative: overlapping slices); "
        "thickness = spacing - gap.")] = None,
    profile: Annotated[str, typer.Option(
        help="Slice profile: auto (estimated from the scan; a low-confidence estimate "
        "falls back to gaussian), gaussian (FWHM = thickness), rect, or custom.")] = "auto",
    profile_file: Annotated[Optional[Path], typer.Option(
        "--profile-file", help="Custom slice profile: one value per line (implies --profile "
        "custom).")] = None,
    profile_step: Annotated[Optional[float], typer.Option(
        "--profile-step", help="Spacing of the --profile-file samples in mm.")] = None,
    saa: Annotated[bool, typer.Option(
        "--saa/--no-saa", help="Train and apply the anti-aliasing network before SSR.")]
    = True,
    fusion: Annotated[Optional[str], typer.Option(
        help="Combine orientations: fba (Fourier burst accumulation) or average.")] = None,
    tta: Annotated[bool, typer.Option(
        "--tta", help="Also run each slice stack flipped (4 orientations; slower).")] = False,
    random_angles: Annotated[int, typer.Option(
        "--random-angles", help="Extra random in-plane rotations of the training slices "
        "(besides 0/90 degrees and flips).", min=0)] = 0,
    model: Annotated[Optional[str], typer.Option(
        "-m", "--model", help="Registry name of the two 2D networks (default "
        "edsr_baseline_2d).")] = None,
    scale: Annotated[Optional[tuple[float, float, float]], typer.Option(
        help="Output factor per voxel axis (default: slice axis at the in-plane spacing).")]
    = None,
    target_spacing: Annotated[Optional[tuple[float, float, float]], typer.Option(
        "--target-spacing", help="Output voxel size in mm per voxel axis.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    precision: Annotated[Optional[str], typer.Option(
        help="Training arithmetic: auto (bfloat16 autocast where the device computes it "
        "natively, the default), fp32 or bf16. Weights stay float32.")] = None,
    threads: Annotated[Optional[int], typer.Option(
        help="CPU threads for torch (default: torch's choice; on a busy shared machine 1 "
        "can be much faster).", min=1)] = None,
    seed: Annotated[int, typer.Option(help="Seed of initialisation and sampling.")] = 0,
    save_weights: Annotated[Optional[Path], typer.Option(
        "--save-weights", help="Save both networks + ssr.json here, to reapply them with "
        "'volsr infer OTHER -o OUT --model ssr --weights DIR'.")] = None,
    dtype: Annotated[str, typer.Option(help="float32, or 'input' to round, clip and cast back "
                                       "to the input's stored type.")] = "float32",
    volume: Annotated[Optional[int], typer.Option("--volume", help="Volume index in a 4D file.")]
    = None,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Super-resolve the slice direction of a thick-slice scan without external training
    data (SMORE-style: anti-aliasing + super-resolution networks trained on the scan's own
    in-plane slices, applied through-plane, fused by Fourier burst accumulation).

    Writes the output (float32 NIfTI by default, on the volsr grid convention) and a JSON
    sidecar with the estimated slice axis, factor, profile, settings, seeds and timings.
    """
    setup_logging(quiet, verbose)
    from volsr.errors import ConfigError
    from volsr.io import file_sha256, load_volume, save_volume
    from volsr.predictors import load_predictor
    from volsr.provenance import base_record, grid_record, sidecar_path, write_sidecar
    from volsr.ssr import read_profile_file
    from volsr.ssr.infer_hook import PerScanSSR

    if scale is not None and target_spacing is not None:
        raise ConfigError("give only one of --scale and --target-spacing")
    if profile_file is not None:
        if profile not in ("auto", "gaussian", "custom"):
            raise ConfigError(f"--profile-file needs --profile custom, got --profile {profile}")
        profile = "custom"
    _check_output(output, overwrite)
    vol = load_volume(input, volume_index=volume)
    kernel = read_profile_file(profile_file) if profile_file is not None else None
    predictor = load_predictor(
        "ssr", device=device, budget=budget, slice_thickness=slice_thickness,
        slice_gap=slice_gap, profile=profile, profile_kernel=kernel, profile_step=profile_step,
        saa=saa, steps=steps, time_limit=time_limit, fusion=fusion,
        orientations=4 if tta else None, model=model, seed=seed, save_weights=save_weights,
        random_angles=random_angles, threads=threads, precision=precision,
        progress=sys.stderr.isatty())
    assert isinstance(predictor, PerScanSSR)  # 'ssr' without weights: trained on this scan
    predictor.run(vol, scale=scale, target_spacing=target_spacing)
    result = predictor.last_result
    save_volume(result.volume, output, dtype=dtype, overwrite=overwrite)
    record = base_record("ssr")
    record.update(result.report)
    record["input"] = {"path": str(input), "sha256": file_sha256(input),
                       **grid_record(vol.spatial_shape, vol.affine)}
    record["output"] = {"path": str(output),
                        **grid_record(result.volume.spatial_shape, result.volume.affine)}
    record["warnings"] = list(vol.meta.warnings) + list(result.report.get("warnings", []))
    write_sidecar(sidecar_path(output), record)
    if not quiet:
        acq = result.report["acquisition"]
        t = result.report["timings"]
        typer.echo(f"volsr: wrote {output} ({result.volume.describe()}); slice axis "
                   f"{acq['axis']}, factor {acq['factor']:.3g}, {t['total_s']:.0f} s; "
                   f"report in {sidecar_path(output).name}", err=True)
