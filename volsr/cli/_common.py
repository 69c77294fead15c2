"""Shared CLI plumbing: one-line errors, logging set-up, common options."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from volsr.errors import VolsrError

F = TypeVar("F", bound=Callable[..., Any])

Quiet = Annotated[bool, typer.Option("-q", "--quiet", help="Only print errors.")]
Verbose = Annotated[bool, typer.Option("-v", "--verbose", help="Print progress details.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs.")]

_state = {"debug": False}


def setup_logging(quiet: bool = False, verbose: bool = False) -> None:
    """Send volsr's log records to stderr as ``volsr: level: message`` lines."""
    level = logging.ERROR if quiet else logging.DEBUG if _state["debug"] else (
        logging.INFO if verbose else logging.WARNING)
    logger = logging.getLogger("volsr")
    for h in list(logger.handlers):
        if getattr(h, "_volsr_cli", False):
            logger.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("volsr: %(levelname)s: %(message)s"))
    handler._volsr_cli = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    # nibabel prints header repairs itself; volsr reports what matters in its own words
    logging.getLogger("nibabel.global").setLevel(logging.CRITICAL)
    route_warnings()


def route_warnings() -> None:
    """Show Python warnings (numpy's RuntimeWarning on odd data, library deprecations) as
    one ``volsr: WARNING:`` line each, not the multi-line source-quoting default."""
    import warnings

    def _show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001, ANN202
        text = " ".join(str(message).split())
        logging.getLogger("volsr").warning("%s: %s", category.__name__, text)

    warnings.showwarning = _show


class Terminated(BaseException):
    """Raised in the main thread when the process receives SIGTERM (e.g. from a scheduler)."""


def install_signal_handlers() -> None:
    """Turn SIGTERM into :class:`Terminated` so that it unwinds like Ctrl-C: temporary files
    are removed and the command exits with one message (status 143)."""
    import signal

    def _raise(signum: int, frame: object) -> None:
        raise Terminated()

    try:
        signal.signal(signal.SIGTERM, _raise)
    except (ValueError, OSError):  # not the main thread, or no signals here
        pass


def restore_default_signals() -> None:
    """SIGTERM back to its default action (used once the command has finished)."""
    import signal

    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    except (ValueError, OSError):
        pass


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one error line and return the Exit to raise."""
    typer.echo(f"volsr: error: {message}", err=True)
    return typer.Exit(code)


def _name_the_input(exc: VolsrError, kwargs: dict[str, Any]) -> None:
    """A data problem found deep in a computation ("cannot normalise a constant volume")
    names no file; give it the command's input file when there is exactly one."""
    from pathlib import Path

    from volsr.errors import InputError

    if exc.path is not None or not isinstance(exc, InputError):
        return
    inp = kwargs.get("input", kwargs.get("path"))
    if isinstance(inp, (str, Path)) and not Path(inp).is_dir():
        exc.path = str(inp)


SIGPIPE_EXIT = 141  # 128 + SIGPIPE, what shell tools report for a closed pipe


def quiet_broken_pipe() -> int:
    """Point stdout at /dev/null (so the interpreter's final flush stays quiet) and return
    the exit status for a closed pipe."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    return SIGPIPE_EXIT


def _signal_in_chain(exc: BaseException) -> BaseException | None:
    """A KeyboardInterrupt or :class:`Terminated` that ``exc`` wraps, if any.

    Python wraps an exception raised while a class body is set up (e.g. Ctrl-C during a
    lazy import) in ``RuntimeError: Error calling __set_name__ ...``: that is still the
    user's Ctrl-C (exit 130), not an internal error.
    """
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, (KeyboardInterrupt, Terminated)):
            return cur
        cur = cur.__cause__ or cur.__context__
    return None


def _stopped(stop: BaseException) -> typer.Exit:
    """The one line and exit code of Ctrl-C (130) or SIGTERM (143)."""
    if isinstance(stop, KeyboardInterrupt):
        return fail("interrupted; no partial output was left behind", 130)
    return fail("terminated (SIGTERM); no partial output was left behind; rerun with "
                "--skip-existing to finish", 143)


def handle_errors(func: F) -> F:
    """Turn exceptions into one clear stderr line and a non-zero exit (no traceback).

    User errors (:class:`VolsrError`) exit with their code (1, or 2 for bad options);
    Ctrl-C exits 130; anything else is reported as an internal error (exit 3) and shows
    its traceback only with ``volsr --debug``.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except BrokenPipeError:  # e.g. 'volsr info X | head': the reader has gone
            raise typer.Exit(quiet_broken_pipe()) from None
        except VolsrError as exc:
            _name_the_input(exc, kwargs)
            raise fail(str(exc), exc.exit_code) from None
        except (KeyboardInterrupt, Terminated) as exc:
            raise _stopped(exc) from None
        except MemoryError:
            raise fail("out of memory; try a coarser output grid (--scale, --target-spacing) or, "
                       "for networks, a smaller --patch or --max-memory", 1) from None
        except Exception as exc:  # noqa: BLE001 - last line of defence for the CLI
            stop = _signal_in_chain(exc)
            if stop is not None:
                raise _stopped(stop) from None
            if _state["debug"]:
                raise
            first = (str(exc).strip().splitlines() or [""])[0]
            raise fail(f"internal error: {type(exc).__name__}: {first} "
                       "(rerun with 'volsr --debug ...' for the traceback)", 3) from None

    return wrapper  # type: ignore[return-value]
