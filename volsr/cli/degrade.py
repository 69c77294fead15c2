"""``volsr degrade``: simulate a low-resolution acquisition of a volume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from volsr.cli import app
from volsr.cli._common import Overwrite, Quiet, Verbose, handle_errors, setup_logging

KINDS = ("thick-slice", "kspace", "blur", "bicubic", "lanczos")


def build_spec(kind: str, *, factor: float, axis: Optional[int], profile: str,
               profile_file: Optional[Path], profile_step: float, thickness: Optional[float],
               gap: Optional[float], window: str, grid: str, hr_spacing: Any) -> dict[str, Any]:
    """Turn CLI options into a degradation spec (thickness/gap in mm -> HR voxels)."""
    from volsr.errors import ConfigError

    if kind not in KINDS:
        raise ConfigError(f"--kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "thick-slice":
        ax = 2 if axis is None else axis
        if ax not in (0, 1, 2):
            raise ConfigError(f"--axis must be 0, 1 or 2, got {ax}")
        sp = float(hr_spacing[ax])
        if thickness is not None and gap is not None:
            raise ConfigError("give --thickness or --gap, not both (thickness + gap = slice "
                              "spacing = factor x voxel size)")
        spec: dict[str, Any] = {"name": "thick_slice", "axis": ax, "factor": factor,
                                "profile": profile}
        if thickness is not None:
            spec["thickness"] = thickness / sp
        if gap is not None:
            spec["gap"] = gap / sp
        if profile == "custom":
            if profile_file is None:
                raise ConfigError("--profile custom needs --profile-file (one value per line)")
            import numpy as np

            try:
                spec["kernel"] = np.loadtxt(profile_file, ndmin=1).tolist()
            except (OSError, ValueError) as exc:
                raise ConfigError(f"cannot read --profile-file {profile_file}: {exc}") from None
            spec["kernel_step"] = profile_step
        return spec
    factors = [factor] * 3 if axis is None else [factor if i == axis else 1.0 for i in range(3)]
    if kind == "kspace":
        return {"name": "kspace_truncation", "factor": factors,
                "window": None if window == "none" else window, "output_grid": grid}
    if kind == "blur":
        return {"name": "gaussian_blur_downsample", "factor": factors}
    return {"name": "resize", "factor": factors,
            "kernel": "cubic" if kind == "bicubic" else "lanczos"}


@app.command()
@handle_errors
def degrade(
    input: Annotated[Path, typer.Argument(help="High-resolution volume.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the LR volume.")],
    kind: Annotated[str, typer.Option(help="thick-slice, kspace, blur (Gaussian + downsample), "
                                      "bicubic or lanczos.")] = "thick-slice",
    factor: Annotated[float, typer.Option(help="Resolution loss (slice spacing / voxel size "
                                          "for thick slices); non-integer allowed.")] = 4.0,
    axis: Annotated[Optional[int], typer.Option(
        help="Voxel axis to degrade (thick-slice: default 2; others: all axes unless given).")]
    = None,
    profile: Annotated[str, typer.Option(help="Slice profile: gaussian (FWHM = thickness), "
                                         "rect or custom.")] = "gaussian",
    profile_file: Annotated[Optional[Path], typer.Option(
        help="Custom 1D slice profile, one value per line.")] = None,
    profile_step: Annotated[float, typer.Option(
        help="Spacing of the custom profile samples, in HR voxels.")] = 1.0,
    thickness: Annotated[Optional[float], typer.Option(
        help="Slice thickness in mm (default: slice spacing - gap).")] = None,
    gap: Annotated[Optional[float], typer.Option(
        help="Gap between slices in mm (negative: overlapping slices).")] = None,
    window: Annotated[str, typer.Option(help="k-space window: none, hamming or tukey.")] = "none",
    grid: Annotated[str, typer.Option(help="k-space output grid: lr or hr.")] = "lr",
    noise: Annotated[float, typer.Option(help="Noise sigma, as a fraction of the 99th "
                                         "percentile intensity (0: none).")] = 0.0,
    noise_kind: Annotated[str, typer.Option(help="rician (MR magnitude) or gaussian.")]
    = "rician",
    seed: Annotated[int, typer.Option(help="Noise seed.")] = 0,
    volume: Annotated[Optional[int], typer.Option("--volume", help="Volume index in 4D.")] = None,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Degrade a volume as a low-resolution scanner would, on the volsr grid convention.

    The LR grid keeps the field of view, so 'volsr infer LR --reference HR' (or
    --scale with the same factor) lands exactly back on the HR grid. A JSON sidecar
    records the parameters and the HR grid.
    """
    setup_logging(quiet, verbose)
    from volsr.degrade import degrade_volume
    from volsr.io import load_volume, save_volume
    from volsr.provenance import base_record, grid_record, sidecar_path, write_sidecar

    hr = load_volume(input, volume_index=volume)
    specs: list[dict[str, Any]] = [build_spec(
        kind, factor=factor, axis=axis, profile=profile, profile_file=profile_file,
        profile_step=profile_step, thickness=thickness, gap=gap, window=window, grid=grid,
        hr_spacing=hr.spacing)]
    if noise > 0:
        specs.append({"name": f"{noise_kind}_noise", "sigma": noise, "relative_to": "p99",
                      "seed": seed})
    lr, params = degrade_volume(hr, specs, seed=seed, return_params=True)
    save_volume(lr, output, overwrite=overwrite)
    record = base_record("degrade")
    record.update({"degradation": params, "input": {"path": str(input),
                                                    **grid_record(hr.spatial_shape, hr.affine)},
                   "output": {"path": str(output), **grid_record(lr.spatial_shape, lr.affine)}})
    write_sidecar(sidecar_path(output), record)
    if not quiet:
        typer.echo(f"volsr: wrote {output} ({lr.describe()}); parameters in "
                   f"{sidecar_path(output).name}", err=True)
        if verbose:
            typer.echo(json.dumps(params, indent=2, default=str), err=True)
