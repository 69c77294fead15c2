"""Folders with broken scans, run reports, and a real SIGTERM in the middle of a batch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import nibabel as nib
import numpy as np
from typer.testing import CliRunner

from volsr.cli import app

runner = CliRunner()


def _folder(tmp_path, phantom_path, n_good=3):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(n_good):
        (src / f"good{i}.nii.gz").write_bytes(phantom_path.read_bytes())
    (src / "bad_text.nii.gz").write_text("not an image")
    data = np.ones((8, 8, 6), np.float32)
    data[1, 1, 1] = np.nan
    nib.save(nib.Nifti1Image(data, np.eye(4)), src / "bad_nan.nii.gz")
    return src


def test_stop_at_first_failure_by_default_with_report(tmp_path, phantom_path):
    src = _folder(tmp_path, phantom_path)
    rep = tmp_path / "report.json"
    r = runner.invoke(app, ["infer", str(src), "-o", str(tmp_path / "out"), "--model", "linear",
                            "--report", str(rep)], catch_exceptions=False)
    assert r.exit_code == 1
    cases = json.loads(rep.read_text(encoding="utf-8"))["cases"]
    statuses = [c["status"] for c in cases]
    # sorted order: bad_nan first -> the run stops there, the rest is "not run"
    assert statuses[0] == "failed" and set(statuses[1:]) == {"not run"}
    assert "NaN" in cases[0]["error"]


def test_keep_going_processes_the_rest_and_exits_non_zero(tmp_path, phantom_path):
    src = _folder(tmp_path, phantom_path)
    rep = tmp_path / "report.json"
    out = tmp_path / "out"
    r = runner.invoke(app, ["infer", str(src), "-o", str(out), "--model", "linear",
                            "--keep-going", "--report", str(rep)], catch_exceptions=False)
    assert r.exit_code == 1 and "2 of 5 scans failed" in r.stderr
    counts = json.loads(rep.read_text(encoding="utf-8"))["counts"]
    assert counts == {"failed": 2, "written": 3}
    assert sorted(p.name for p in out.glob("*.nii.gz")) == [f"good{i}.nii.gz" for i in range(3)]


def _twelve_scans(tmp_path):
    """A folder of 12 phantom scans and the ``volsr infer`` command (x2 x2 x8, Lanczos)
    that writes them to ``tmp_path/out`` in about a second each."""
    from volsr.io import save_volume
    from volsr.phantom import phantom_volume

    src = tmp_path / "in"
    src.mkdir()
    vol = phantom_volume((96, 96, 24), (2.0, 2.0, 8.0), supersample=1)
    for i in range(12):
        save_volume(vol, src / f"case{i:02d}.nii.gz")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "volsr", "infer", str(src), "-o", str(out), "--model",
           "lanczos", "--scale", "2", "2", "8"]
    return out, cmd


def test_sigterm_mid_batch_leaves_no_partial_file_and_rerun_completes(tmp_path):
    out, cmd = _twelve_scans(tmp_path)
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    while time.time() < deadline and not (out.exists() and list(out.glob("*.json"))):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert len([ln for ln in err.splitlines() if ln.startswith("volsr: error:")]) == 1
    assert "SIGTERM" in err
    assert not [p for p in out.iterdir() if ".part" in p.name]  # no temporary left
    for p in out.glob("*.nii.gz"):
        assert nib.load(p).shape == (192, 192, 192)  # every output present is complete
    done_before = len(list(out.glob("*.nii.gz")))
    assert done_before < 12
    r = subprocess.run(cmd + ["--skip-existing"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert len(list(out.glob("*.nii.gz"))) == 12


def test_sigkill_mid_batch_loses_nothing_and_rerun_cleans_up(tmp_path):
    """A real SIGKILL: no handler runs. Every output present is complete, the rerun
    with --skip-existing finishes the rest and removes the killed writer's temporary."""
    out, cmd = _twelve_scans(tmp_path)
    proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    # kill while a temporary is being written, after at least one case is done
    outputs = lambda: [p for p in out.glob("*.nii.gz") if not p.name.startswith(".")]  # noqa: E731
    # (a sidecar is published just before its image, so wait for an image itself)
    while time.time() < deadline and not (
            out.exists() and outputs() and list(out.glob(".*.part*"))) and proc.poll() is None:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    for p in outputs():
        assert nib.load(p).shape == (192, 192, 192)  # complete, or not there at all
    done_before = len(outputs())
    assert 1 <= done_before < 12
    r = subprocess.run(cmd + ["--skip-existing"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert len(outputs()) == 12
    assert not list(out.glob(".*"))  # no temporary or claim of the killed run is left
    for p in outputs():
        assert nib.load(p).shape == (192, 192, 192)


def test_stale_temporary_of_a_live_writer_is_kept(tmp_path):
    from volsr.io._atomic import _owner, remove_stale_temporaries

    dest = tmp_path / "o.nii.gz"
    host = _owner().rsplit("-", 1)[0]
    live = tmp_path / f".o.nii.gz.{host}-{os.getpid()}.abc.part.nii.gz"
    dead_pid = 2**22 + 12345  # above the default pid_max: no such process
    dead = tmp_path / f".o.nii.gz.{host}-{dead_pid}.abc.part.nii.gz"
    other = tmp_path / f".o.nii.gz.otherhost-{dead_pid}.abc.part.nii.gz"
    for p in (live, dead, other):
        p.write_bytes(b"x")
    assert remove_stale_temporaries(dest) == [dead]
    assert live.exists() and other.exists() and not dead.exists()
