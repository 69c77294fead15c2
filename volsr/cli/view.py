"""``volsr view``: the benchmark's comparison figure for any volumes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from volsr.cli import app
from volsr.cli._common import Quiet, Verbose, handle_errors, setup_logging


def coarsest_axis(volumes: list) -> int:  # noqa: ANN001 - list of Volume
    """Voxel axis of the first volume along which some volume has its coarsest voxels
    (world length of one voxel step of that volume along this axis); ties: axis 2."""
    import numpy as np

    ref = volumes[0]
    best = np.array(ref.spacing, dtype=np.float64)
    for v in volumes[1:]:
        m = np.linalg.inv(v.affine) @ ref.affine  # ref voxel step -> v voxel steps
        steps = np.linalg.norm(m[:3, :3], axis=0)  # v voxels per ref voxel, per ref axis
        best = np.maximum(best, np.asarray(ref.spacing) / np.maximum(steps, 1e-12))
    cand = np.flatnonzero(np.isclose(best, best.max(), rtol=1e-3))
    return 2 if 2 in cand else int(cand[-1])


@app.command()
@handle_errors
def view(
    volume: Annotated[Path, typer.Argument(help="Volume to show; its grid is the reference.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="PNG to write.")],
    vs: Annotated[Optional[list[Path]], typer.Option(
        "--vs", help="Another volume to compare (repeatable); resampled onto the first "
        "one's grid in world coordinates.")] = None,
    label: Annotated[Optional[list[str]], typer.Option(
        "--label", help="Row labels, one per volume in order (default: file names).")] = None,
    errors: Annotated[bool, typer.Option(
        "--errors/--no-errors", help="|x - first| maps (when there is more than one "
        "volume).")] = True,
    axis: Annotated[Optional[int], typer.Option(
        help="Voxel axis (of the first volume) of the line profile and zoom; default: the "
        "coarsest one.")] = None,
    point: Annotated[Optional[tuple[int, int, int]], typer.Option(
        help="Voxel index the slices go through (default: the strongest edge).")] = None,
    order: Annotated[int, typer.Option(
        help="Spline order for resampling onto the first grid (0: nearest).", min=0, max=5)]
    = 0,
    title: Annotated[Optional[str], typer.Option(help="Figure title.")] = None,
    window: Annotated[str, typer.Option(
        help="Intensity window: shared (the first volume's, for SR comparisons) or each "
        "(per volume, for different contrasts).")] = "shared",
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Orthogonal slices, a zoomed crop, |difference| maps and a line profile across an
    edge, for one or more volumes (on any grids), in one PNG."""
    setup_logging(quiet, verbose)
    from volsr.benchmark.figures import comparison_figure, require_matplotlib
    from volsr.errors import ConfigError, OutputError
    from volsr.io import load_volume, volume_suffix

    require_matplotlib()
    if output.suffix.lower() != ".png":
        raise OutputError("the figure is written as PNG; give -o NAME.png", path=output)
    paths = [volume, *(vs or [])]
    if label and len(label) != len(paths):
        raise ConfigError(f"--label given {len(label)} time(s) for {len(paths)} volume(s)")
    names = list(label) if label else [p.name[: -len(volume_suffix(p))] if volume_suffix(p)
                                       else p.name for p in paths]
    vols = [load_volume(p) for p in paths]
    ax = coarsest_axis(vols) if axis is None else axis
    comparison_figure(list(zip(names, vols)), output, truth=errors and len(vols) > 1, axis=ax,
                      point=point, order=order, title=title, window=window)
    if not quiet:
        typer.echo(f"volsr: wrote {output}", err=True)
