"""Outputs never clobber what the user owns: sidecar names, exclusive claims,
--skip-existing that skips only complete volsr outputs, colliding names, permissions,
and one clear line for impossible output names and types (issue 17, items 1-3, 5, 6)."""

from __future__ import annotations

import json
import os
import stat

import nibabel as nib
import numpy as np
import pytest
from typer.testing import CliRunner

from volsr.cli import app
from volsr.errors import ConfigError, OutputError
from volsr.io.claim import claim_output, write_with_sidecar
from volsr.io.sidecar import sidecar_path

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def one_error_line(r) -> str:
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("volsr: error:")]
    assert len(lines) == 1 and "Traceback" not in r.output, r.stderr
    return lines[0]


def test_bids_sidecar_of_the_input_is_never_replaced(tmp_path, phantom_path):
    b = tmp_path / "b"
    b.mkdir()
    (b / "sub-01_T1w.nii.gz").write_bytes(phantom_path.read_bytes())
    bids = b / "sub-01_T1w.json"
    bids.write_text('{"RepetitionTime": 2.3}')
    r = run("infer", b / "sub-01_T1w.nii.gz", "-o", b / "sub-01_T1w.nii", "--model", "bspline")
    assert r.exit_code == 0, r.stderr
    assert bids.read_text() == '{"RepetitionTime": 2.3}'
    side = json.loads((b / "sub-01_T1w.nii.volsr.json").read_text(encoding="utf-8"))
    assert side["generated_by"]["name"] == "volsr"


def test_nrrd_and_mha_outputs_get_their_own_sidecars(tmp_path, phantom_path):
    for ext in (".nrrd", ".mha"):
        assert run("infer", phantom_path, "-o", tmp_path / f"x{ext}", "-m", "linear").exit_code == 0
    a = json.loads(sidecar_path(tmp_path / "x.nrrd").read_text(encoding="utf-8"))
    b = json.loads(sidecar_path(tmp_path / "x.mha").read_text(encoding="utf-8"))
    assert a["output"]["path"].endswith("x.nrrd") and b["output"]["path"].endswith("x.mha")
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_outputs_follow_the_umask(tmp_path, phantom_path, mask):
    old = os.umask(mask)
    try:
        r = run("infer", phantom_path, "-o", tmp_path / "o.nii.gz", "-m", "nearest")
    finally:
        os.umask(old)
    assert r.exit_code == 0, r.stderr
    for p in (tmp_path / "o.nii.gz", sidecar_path(tmp_path / "o.nii.gz")):
        assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask


def test_a_claimed_output_is_refused_and_left_alone(tmp_path, phantom_path):
    out = tmp_path / "o.nii.gz"
    with claim_output(out):  # another run holds it
        r = run("infer", phantom_path, "-o", out, "-m", "nearest")
        assert r.exit_code == 1 and "another volsr run" in one_error_line(r)
        assert not out.exists() and not sidecar_path(out).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["phantom.nii.gz"]
    with claim_output(out), pytest.raises(OutputError, match="another volsr run"), \
            claim_output(out):
        pass


def test_a_claim_of_a_dead_process_is_taken_over(tmp_path, phantom_path):
    import socket

    from volsr.io.claim import claim_path

    out = tmp_path / "o.nii.gz"
    host = "".join(c for c in socket.gethostname() if c.isalnum() or c in "-_") or "host"
    claim_path(out).write_text(f"{host} 999999999\n")  # no such pid
    assert run("infer", phantom_path, "-o", out, "-m", "nearest").exit_code == 0
    assert not claim_path(out).exists()


def test_an_output_created_during_the_write_is_not_replaced(tmp_path):
    dest = tmp_path / "o.txt"

    def write(tmp):
        tmp.write_text("mine")
        dest.write_text("theirs")  # another writer got there first

    with pytest.raises(OutputError, match="already exists"):
        write_with_sidecar(dest, write, {"generated_by": {"name": "volsr"}, "output": {}})
    assert dest.read_text() == "theirs" and not sidecar_path(dest).exists()
    assert [p.name for p in tmp_path.iterdir()] == ["o.txt"]


def test_sidecar_records_the_digest_of_its_image(tmp_path, phantom_path):
    import hashlib

    out = tmp_path / "o.nii.gz"
    assert run("infer", phantom_path, "-o", out, "-m", "nearest").exit_code == 0
    rec = json.loads(sidecar_path(out).read_text(encoding="utf-8"))["output"]
    assert rec["size"] == out.stat().st_size
    assert rec["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()


def test_skip_existing_refuses_a_file_volsr_did_not_write(tmp_path, phantom_path):
    out = tmp_path / "o.nii.gz"
    out.write_bytes(phantom_path.read_bytes())  # the user's own file
    r = run("infer", phantom_path, "-o", out, "-m", "nearest", "--skip-existing")
    assert r.exit_code == 1 and "volsr did not write it" in one_error_line(r)
    assert out.read_bytes() == phantom_path.read_bytes()
    # a foreign JSON beside it is not a volsr sidecar either
    sidecar_path(out).write_text('{"RepetitionTime": 2}')
    r = run("infer", phantom_path, "-o", out, "-m", "nearest", "--skip-existing")
    assert r.exit_code == 1 and out.read_bytes() == phantom_path.read_bytes()


def test_skip_existing_redoes_a_truncated_output(tmp_path, phantom_path):
    out = tmp_path / "o.nii.gz"
    assert run("infer", phantom_path, "-o", out, "-m", "nearest").exit_code == 0
    full = out.read_bytes()
    out.write_bytes(full[: len(full) // 2])
    r = run("infer", phantom_path, "-o", out, "-m", "nearest", "--skip-existing")
    assert r.exit_code == 0 and "1 written" in r.stderr
    assert nib.load(out).get_fdata().shape == nib.load(phantom_path).shape
    r = run("infer", phantom_path, "-o", out, "-m", "nearest", "--skip-existing")
    assert r.exit_code == 0 and "1 skipped" in r.stderr


def test_skip_existing_redoes_outputs_of_an_older_volsr(tmp_path, phantom_path):
    out = tmp_path / "o.nii.gz"
    assert run("infer", phantom_path, "-o", out, "-m", "nearest").exit_code == 0
    sidecar_path(out).rename(tmp_path / "o.json")  # the name volsr used before
    r = run("infer", phantom_path, "-o", out, "-m", "nearest", "--skip-existing")
    assert r.exit_code == 0 and "1 written" in r.stderr


def test_colliding_output_names_are_refused_before_anything_runs(tmp_path, phantom_path):
    src = tmp_path / "in"
    src.mkdir()
    img = nib.load(phantom_path)
    nib.save(img, src / "good.nii")
    nib.save(img, src / "good.nii.gz")
    r = run("infer", src, "-o", tmp_path / "out", "-m", "nearest", "--keep-going")
    assert r.exit_code == 2
    assert "good.nii and good.nii.gz would both be written" in one_error_line(r)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_in_place_suffix_rerun_does_not_take_its_outputs_as_inputs(tmp_path, phantom_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.nii.gz").write_bytes(phantom_path.read_bytes())
    args = ("infer", src, "-o", src, "-m", "nearest", "--suffix", "_sr")
    assert run(*args).exit_code == 0
    r = run(*args, "--skip-existing")
    assert r.exit_code == 0 and "0 written, 1 skipped" in r.stderr
    assert sorted(p.name for p in src.iterdir()) == [
        "a.nii.gz", "a_sr.nii.gz", "a_sr.nii.gz.volsr.json"]


def test_long_output_names(tmp_path, phantom_path):
    ok = tmp_path / ("x" * 240 + ".nii")  # the temporary name would pass 255 bytes
    r = run("infer", phantom_path, "-o", ok, "-m", "nearest")
    assert r.exit_code == 0, r.stderr
    assert ok.is_file() and sidecar_path(ok).is_file()
    bad = tmp_path / ("y" * 260 + ".nii")
    r = run("infer", phantom_path, "-o", bad, "-m", "nearest")
    assert r.exit_code == 1 and "file name is too long" in one_error_line(r)
    assert not any(p.name.startswith(("y", ".y")) for p in tmp_path.iterdir())


def test_output_that_is_a_folder_with_overwrite(tmp_path, phantom_path):
    (tmp_path / "d.nii").mkdir()
    r = run("infer", phantom_path, "-o", tmp_path / "d.nii", "--overwrite", "-m", "nearest")
    assert r.exit_code == 1 and "is a folder" in one_error_line(r)
    assert (tmp_path / "d.nii").is_dir()


@pytest.mark.parametrize("dtype", ["complex64", "bool", "float16", "nonsense"])
def test_unsupported_output_dtype(tmp_path, phantom_path, dtype):
    r = run("infer", phantom_path, "-o", tmp_path / "o.nii", "--dtype", dtype, "-m", "nearest")
    assert r.exit_code == 2 and "unsupported output dtype" in one_error_line(r)
    assert not (tmp_path / "o.nii").exists()


def test_closed_pipe_exits_quietly(tmp_path, phantom_path):
    import subprocess
    import sys

    # the reader is gone before volsr writes: any write to the pipe fails (EPIPE)
    proc = subprocess.Popen([sys.executable, "-m", "volsr", "info", str(phantom_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert "Traceback" not in err and "internal error" not in err and "Broken" not in err


def test_check_collisions_is_case_insensitive(tmp_path):
    from volsr.io.outputs import check_collisions

    with pytest.raises(ConfigError, match="A.nii and a.nii"):
        check_collisions([(tmp_path / "A.nii", tmp_path / "o" / "A.nii.gz"),
                          (tmp_path / "a.nii", tmp_path / "o" / "a.nii.gz")])
    check_collisions([(tmp_path / "a.nii", tmp_path / "o" / "a.nii.gz")])


def test_nonfinite_output_is_refused(tmp_path):
    from volsr.io import Volume, save_volume

    data = np.ones((1, 4, 4, 4), np.float32)
    data[0, 1, 2, 3] = np.inf
    with pytest.raises(OutputError, match="1 NaN or infinite"):
        save_volume(Volume(data, np.eye(4)), tmp_path / "o.nii.gz")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_broken_weights_give_no_output(tmp_path, phantom_path, bad):
    """Weights holding NaN/Inf make a non-finite result: refused, nothing written (was a
    100 % NaN output with exit 0)."""
    import torch

    from volsr.checkpoint import save_weights
    from volsr.models import create_model

    torch.manual_seed(0)
    net = create_model("srcnn_2d", features=(4, 4), kernel_sizes=(3, 1, 3)).eval()
    with torch.no_grad():
        next(net.parameters()).fill_(bad)
    w = save_weights(net, tmp_path / "w", model_name="srcnn_2d",
                     normalization={"name": "percentile", "lower": 0, "upper": 100},
                     inference={"patch_size": [16, 16, 16], "overlap": 0.25})
    out = tmp_path / "o.nii.gz"
    r = run("infer", phantom_path, "-o", out, "--weights", w, "--scale", 1, 1, 2,
            "--device", "cpu")
    assert r.exit_code == 1 and "NaN or infinite" in one_error_line(r), r.stderr
    assert not out.exists() and not sidecar_path(out).exists()


def test_in_place_overwrite_does_not_read_what_it_just_wrote(tmp_path, phantom_path):
    """A user file at an output name in the input folder is that output's slot, not an
    input: --overwrite replaces it once, and no a_sr_sr appears."""
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.nii.gz").write_bytes(phantom_path.read_bytes())
    (src / "a_sr.nii.gz").write_bytes(phantom_path.read_bytes())  # the user's own file
    r = run("infer", src, "-o", src, "-m", "nearest", "--suffix", "_sr", "--overwrite")
    assert r.exit_code == 0 and "1 written" in r.stderr
    assert sorted(p.name for p in src.iterdir()) == [
        "a.nii.gz", "a_sr.nii.gz", "a_sr.nii.gz.volsr.json"]


def test_a_skipped_output_still_loses_the_temporary_of_a_killed_run(tmp_path, phantom_path):
    from volsr.io._atomic import _owner, _tmp_base

    out = tmp_path / "o.nii.gz"
    assert run("infer", phantom_path, "-o", out, "-m", "nearest").exit_code == 0
    host = _owner().rsplit("-", 1)[0]
    tmp = tmp_path / f".{_tmp_base(out)}.{host}-999999999.x.part.nii.gz"
    tmp.write_bytes(b"half")
    r = run("infer", phantom_path, "-o", out, "-m", "nearest", "--skip-existing")
    assert r.exit_code == 0 and "1 skipped" in r.stderr and not tmp.exists()


def test_two_processes_writing_one_output(tmp_path, phantom_path):
    """Two real volsr processes started together on one output: one writes it, the other
    stops with one line; image and sidecar come from the same run."""
    import hashlib
    import subprocess
    import sys

    out = tmp_path / "o.nii.gz"
    cmd = [sys.executable, "-m", "volsr", "infer", str(phantom_path), "-o", str(out), "-m",
           "lanczos", "--scale", "2", "2", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(cmd + ["--dtype", dt], stderr=subprocess.PIPE, text=True, env=env)
             for dt in ("float32", "float64")]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    assert sorted(rc for rc, _ in results) == [0, 1], results
    loser = next(err for rc, err in results if rc == 1)
    assert len(loser.strip().splitlines()) == 1 and (
        "another volsr run" in loser or "already exists" in loser), loser
    side = json.loads(sidecar_path(out).read_text(encoding="utf-8"))
    assert side["output"]["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    winner_dtype = "float32" if results[0][0] == 0 else "float64"
    assert side["settings"]["dtype"] == winner_dtype
    assert nib.load(out).get_data_dtype() == np.dtype(winner_dtype)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "o.nii.gz", "o.nii.gz.volsr.json", "phantom.nii.gz"]
