"""The ``volsr`` command: one entry point with subcommands.

Heavy libraries (torch, monai, SimpleITK) are imported inside the commands that need
them, so ``volsr --help`` stays fast.
"""

from __future__ import annotations

from typing import Annotated

import typer

from volsr._version import __version__
from volsr.cli import _common

app = typer.Typer(
    name="volsr",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Volumetric MRI/CT super-resolution with correct geometry.",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"volsr {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of internal errors.")]
    = False,
) -> None:
    _common._state["debug"] = debug


from volsr.cli import (  # noqa: E402
    benchmark, data, demo, degrade, evaluate, infer, misc, ssr, train, view,
)

__all__ = ["app", "main"]
_ = (benchmark, data, demo, degrade, evaluate, infer, misc, ssr, train, view)


def main() -> None:
    """Console-script entry point."""
    _common.install_signal_handlers()
    app()
