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
    rich_markup_mode=None,  # plain click help: wraps to the terminal, no cut option names
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
    """Console-script entry point: usage mistakes (unknown option, missing argument) are
    one ``volsr: error:`` line with exit 2, like every other error."""
    import sys

    try:  # recent typer vendors click
        from typer._click import exceptions as click  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - typer on the click package
        import click  # type: ignore[no-redef]

    _common.install_signal_handlers()
    try:
        code = app(standalone_mode=False)
    except click.UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError" and exc.ctx is not None:
            typer.echo(exc.ctx.get_help())  # plain 'volsr': the help, as before
            sys.exit(exc.exit_code)
        where = exc.ctx.command_path if exc.ctx is not None else "volsr"
        msg = " ".join(exc.format_message().split())
        typer.echo(f"volsr: error: {msg} (see '{where} --help')", err=True)
        code = exc.exit_code
    except click.ClickException as exc:
        typer.echo(f"volsr: error: {' '.join(exc.format_message().split())}", err=True)
        code = exc.exit_code
    except click.Abort:
        typer.echo("volsr: error: interrupted", err=True)
        code = 130
    except BrokenPipeError:
        code = _common.quiet_broken_pipe()
    except _common.Terminated:  # SIGTERM outside a command's own handler (start, exit)
        typer.echo("volsr: error: terminated (SIGTERM)", err=True)
        code = 143
    except KeyboardInterrupt:
        typer.echo("volsr: error: interrupted", err=True)
        code = 130
    _common.restore_default_signals()  # a late SIGTERM now ends the process quietly
    sys.exit(code if isinstance(code, int) else 0)
