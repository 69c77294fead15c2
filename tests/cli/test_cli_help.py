"""``--help`` is readable at 80 columns, and usage mistakes are one line (issue 17 items
10 and 13)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from volsr.cli import app

COMMANDS = ["infer", "degrade", "eval", "models", "info", "phantom", "ssr", "train", "view",
            "benchmark", "demo", "data"]


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)])
def test_help_fits_80_columns_with_whole_option_names(command):
    r = CliRunner().invoke(app, [*command, "--help"], terminal_width=80, env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert max(len(ln) for ln in lines) <= 80, max(lines, key=len)
    assert "…" not in r.output and "╭" not in r.output


def test_infer_help_names_every_option_and_no_fake_defaults():
    r = CliRunner().invoke(app, ["infer", "--help"], terminal_width=80, env={"COLUMNS": "80"})
    for opt in ("--target-spacing", "--skip-existing", "--sw-batch-size", "--max-memory",
                "--isotropic", "--series-uid"):
        assert opt in r.output
    assert "no-isotropic" not in r.output
    # the docstring's paragraphs are rewrapped, not cut at their source line breaks
    assert "following the\n  volsr convention" in r.output or "volsr convention" in " ".join(
        r.output.split())
    assert not any(ln.strip() in ("volsr", "run slice", "PNG or") for ln in r.output.splitlines())


@pytest.mark.parametrize("args, text", [
    (["infer", "--bogus"], "No such option: --bogus"),
    (["infer"], "Missing argument"),
    (["nosuch"], "No such command"),
    (["infer", "x.nii", "-o", "y.nii", "--volume", "1.5"], "--volume"),
])
def test_usage_mistakes_are_one_line_with_exit_2(args, text):
    env = {**os.environ, "COLUMNS": "80"}
    p = subprocess.run([sys.executable, "-m", "volsr", *args], capture_output=True, text=True,
                       env=env, timeout=120, check=False)
    assert p.returncode == 2
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("volsr: error:") and text in lines[0], p.stderr
