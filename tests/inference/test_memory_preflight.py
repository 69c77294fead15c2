"""Interpolation is preflighted like networks, and available memory follows the
process's own cgroup (issue 17 item 8)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from volsr.cli import app
from volsr.errors import ResourceError
from volsr.inference.preflight import check_interpolation_memory, interpolation_bytes
from volsr.sysmem import available_memory, cgroup_room, own_cgroup_dirs


def test_absurd_interpolation_grid_is_refused_before_allocating(tmp_path, phantom_path):
    r = CliRunner().invoke(app, ["infer", str(phantom_path), "-o", str(tmp_path / "o.nii.gz"),
                                 "-m", "bspline", "--scale", "400", "400", "400"],
                           catch_exceptions=False)
    assert r.exit_code == 1
    err = [ln for ln in r.stderr.splitlines() if ln.startswith("volsr: error:")]
    assert len(err) == 1 and "19200x20800x16000" in err[0] and "coarser grid" in err[0]
    assert "--patch" not in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["phantom.nii.gz"]


def test_preflight_counts_output_and_input():
    need = interpolation_bytes((10, 10, 10), (20, 20, 40))
    assert need >= 20 * 20 * 40 * 4 + 10 * 10 * 10 * 4
    assert interpolation_bytes((10, 10, 10), (20, 20, 40), global_kind=True) > need
    assert check_interpolation_memory((10, 10, 10), (20, 20, 40), available=10 * need) == need
    with pytest.raises(ResourceError, match="20x20x40"):
        check_interpolation_memory((10, 10, 10), (20, 20, 40), available=need)


def _write(folder, files):
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)


def test_cgroup_v1_limit_of_the_process_own_group(tmp_path):
    root = tmp_path / "cg"
    unlimited = str((1 << 63) - 4096)
    _write(root / "memory", {"memory.limit_in_bytes": unlimited, "memory.usage_in_bytes": "5"})
    _write(root / "memory" / "slurm" / "job_7", {"memory.limit_in_bytes": str(4 << 30),
                                                 "memory.usage_in_bytes": str(1 << 30)})
    _write(root / "memory" / "slurm" / "job_7" / "step_0", {
        "memory.limit_in_bytes": unlimited, "memory.usage_in_bytes": str(1 << 30)})
    proc = tmp_path / "cgroup"
    proc.write_text("4:memory:/slurm/job_7/step_0\n2:cpu:/\n")
    assert cgroup_room(proc, root) == 3 << 30  # the job's limit, seen from its step
    dirs = [d for d, _ in own_cgroup_dirs(proc, root)]
    assert dirs[0] == root / "memory" / "slurm" / "job_7" / "step_0" and dirs[-1] == root / "memory"


def test_cgroup_v2_nested_limit_and_no_limit(tmp_path):
    root = tmp_path / "cg"
    _write(root, {"cgroup.controllers": "memory", "memory.max": "max",
                  "memory.current": "0"})
    _write(root / "outer", {"memory.max": str(8 << 30), "memory.current": str(2 << 30)})
    _write(root / "outer" / "inner", {"memory.max": str(2 << 30),
                                      "memory.current": str(1 << 30)})
    proc = tmp_path / "cgroup"
    proc.write_text("0::/outer/inner\n")
    assert cgroup_room(proc, root) == 1 << 30
    proc.write_text("0::/\n")
    assert cgroup_room(proc, root) is None


def test_available_memory_is_positive_here():
    assert available_memory() > 0
