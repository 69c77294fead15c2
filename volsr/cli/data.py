"""``volsr data check`` and ``volsr data import``: dataset manifests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from volsr.cli import app
from volsr.cli._common import Overwrite, Quiet, Verbose, fail, handle_errors, setup_logging

data_app = typer.Typer(no_args_is_help=True, help="Dataset manifests (MONAI-datalist JSON).")
app.add_typer(data_app, name="data")


@data_app.command("check")
@handle_errors
def check(
    manifest: Annotated[Path, typer.Argument(help="Manifest JSON.")],
    no_hashes: Annotated[bool, typer.Option("--no-hashes", help="Skip sha256 checks.")] = False,
    strict_paths: Annotated[bool, typer.Option(
        "--strict-paths", help="Refuse paths that escape the manifest's folder.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Verify files exist and load, sha256 hashes match, and paired LR/HR share a field of
    view."""
    setup_logging(quiet, verbose)
    from volsr.data import check_manifest

    report = check_manifest(manifest, hashes=not no_hashes, strict_paths=strict_paths)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    elif not quiet:
        typer.echo(report.summary())
    if not report.ok:
        raise fail(f"{manifest}: manifest check failed ({report.counts()})")


@data_app.command("import")
@handle_errors
def import_(
    folder: Annotated[Path, typer.Argument(help="Folder of volumes or 2D images.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Manifest JSON to write.")],
    source: Annotated[str, typer.Option("--from", help="Layout: folder, nnunet or bids.")]
    = "folder",
    pattern: Annotated[Optional[str], typer.Option(
        help="Glob for files (folder layout). Default: *.nii*, or the 2D images (.png, .tif, "
        ".tiff, .dcm) of a folder without NIfTI.")] = None,
    fractions: Annotated[tuple[float, float, float], typer.Option(
        help="Training/validation/test fractions.")] = (0.8, 0.1, 0.1),
    seed: Annotated[int, typer.Option(help="Split seed.")] = 0,
    modality: Annotated[Optional[str], typer.Option(help="MR, CT, ...")] = None,
    hashes: Annotated[bool, typer.Option("--hashes/--no-hashes", help="Record sha256.")] = True,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Write a manifest for a folder of volumes or 2D images (seeded split, paths relative
    to it)."""
    setup_logging(quiet, verbose)
    from volsr.data import manifest_from_folder, write_manifest
    from volsr.errors import ConfigError

    if source == "nnunet":
        sub = folder / "imagesTr"
        folder, pattern = (sub, "*_0000.nii.gz") if sub.is_dir() else (folder, pattern)
    elif source == "bids":
        pattern = "sub-*/**/anat/*.nii*"
    elif source != "folder":
        raise ConfigError(f"--from must be folder, nnunet or bids; got {source!r}")
    man = manifest_from_folder(folder, pattern=pattern, fractions=fractions, seed=seed,
                               modality=modality, hashes=hashes)
    write_manifest(output, man, overwrite=overwrite)
    if not quiet:
        n = sum(len(man.cases(s)) for s in ("training", "validation", "test"))
        typer.echo(f"volsr: wrote {output} ({n} cases)", err=True)
