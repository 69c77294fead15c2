"""volsr view: the comparison figure for volumes on any grids."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from volsr.cli import app
from volsr.phantom import phantom_volume

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from volsr.io import save_volume

    d = tmp_path_factory.mktemp("view")
    hr = phantom_volume((30, 32, 30), (5.0, 5.0, 5.0))
    # the same object seen by a coarser, thick-slice grid (other shape and affine)
    lr = phantom_volume((30, 32, 10), (5.0, 5.0, 15.0))
    save_volume(hr, d / "hr.nii.gz")
    save_volume(lr, d / "lr.nii.gz")
    return d


def test_view_writes_png_for_volumes_on_different_grids(files):
    out = files / "fig.png"
    r = runner.invoke(app, ["view", str(files / "hr.nii.gz"), "--vs", str(files / "lr.nii.gz"),
                            "-o", str(out), "--label", "truth", "--label", "thick",
                            "--window", "each"],
                      catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000


def test_view_single_volume_and_bad_options(files):
    out = files / "one.png"
    r = runner.invoke(app, ["view", str(files / "lr.nii.gz"), "-o", str(out)])
    assert r.exit_code == 0 and out.is_file()
    r = runner.invoke(app, ["view", str(files / "hr.nii.gz"), "-o", str(files / "x.jpg")])
    assert r.exit_code == 1 and "PNG" in r.output
    r = runner.invoke(app, ["view", str(files / "hr.nii.gz"), "--vs", str(files / "lr.nii.gz"),
                            "-o", str(out), "--label", "a"])
    assert r.exit_code == 2 and "--label" in r.output


def test_on_grid_resamples_in_world_coordinates():
    from volsr.benchmark.figures import find_edge, on_grid
    from volsr.cli.view import coarsest_axis

    hr = phantom_volume((20, 20, 24), (4.0, 4.0, 4.0))
    lr = phantom_volume((20, 20, 8), (4.0, 4.0, 12.0))
    arr = on_grid(lr, hr)
    assert arr.shape == hr.spatial_shape
    # nearest neighbour: HR slices 0-2 all show LR slice 0 (same world slab)
    assert np.array_equal(arr[..., 0], lr.data[0, ..., 0])
    assert np.array_equal(arr[..., 2], lr.data[0, ..., 0])
    assert np.array_equal(arr[..., 3], lr.data[0, ..., 1])
    assert coarsest_axis([hr, lr]) == 2
    assert coarsest_axis([lr.with_data(lr.data.transpose(0, 3, 2, 1),
                                       lr.affine[:, [2, 1, 0, 3]])]) == 0
    i, j, k = find_edge(hr.data[0], 2)
    assert 5 <= k < 18



def test_view_without_matplotlib_says_how_to_get_it(files, tmp_path):
    """An install without matplotlib (blocked in a real subprocess): one line, no advice
    to pass an option that view does not have."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['matplotlib'] = None; from volsr.cli import main; "
            "sys.argv = ['volsr', 'view', sys.argv[1], '-o', sys.argv[2]]; main()")
    p = subprocess.run([sys.executable, "-c", code, str(files / "hr.nii.gz"),
                        str(tmp_path / "v.png")], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert p.stderr.splitlines() == [p.stderr.strip()] and "pip install matplotlib" in p.stderr
    assert "--no-figures" not in p.stderr and not (tmp_path / "v.png").exists()


def test_matplotlib_is_a_core_dependency():
    import tomllib
    from pathlib import Path

    meta = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text("utf-8"))
    assert any(d.startswith("matplotlib") for d in meta["project"]["dependencies"])
