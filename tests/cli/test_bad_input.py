"""Every bad input gets one clear error line naming the file, a non-zero exit, no partial
output and an untouched input."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import write_nifti
from volsr.cli import app

runner = CliRunner()


def infer(inp, out, *extra):
    return runner.invoke(app, ["infer", str(inp), "-o", str(out), *map(str, extra)],
                         catch_exceptions=False)


def assert_clean_failure(result, must_mention, folder: Path, before: dict[str, bytes]):
    assert result.exit_code != 0
    err_lines = [ln for ln in result.stderr.splitlines() if ln.startswith("volsr: error:")]
    assert len(err_lines) == 1, result.stderr
    for text in must_mention:
        assert text in err_lines[0], err_lines[0]
    assert "Traceback" not in result.output
    after = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    assert after == before, "a file appeared, vanished or changed"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def patch_header(path: Path, **fields) -> None:
    """Edit raw NIfTI header fields in place (nibabel's writer would repair them)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    hdr = nib.Nifti1Header.from_fileobj(__import__("io").BytesIO(raw), check=False)
    for key, value in fields.items():
        if key.startswith("pixdim"):
            hdr["pixdim"][int(key[-1])] = value
        else:
            hdr[key] = value
    with opener(path, "wb") as fh:
        fh.write(hdr.binaryblock + raw[len(hdr.binaryblock):])


@pytest.fixture
def good(tmp_path):
    data = np.random.default_rng(0).random((10, 12, 8)).astype(np.float32)
    return write_nifti(tmp_path / "good.nii.gz", data, np.diag([1.0, 1.0, 3.0, 1.0]))


def test_missing_file(tmp_path):
    before = snapshot(tmp_path)
    r = infer(tmp_path / "nope.nii.gz", tmp_path / "o.nii.gz")
    assert_clean_failure(r, ["nope.nii.gz", "no such file"], tmp_path, before)


@pytest.mark.parametrize("name", ["text.nii.gz", "text.nii", "text.nrrd"])
def test_not_an_image(tmp_path, name):
    (tmp_path / name).write_text("this is not an image\n" * 20)
    before = snapshot(tmp_path)
    r = infer(tmp_path / name, tmp_path / "o.nii.gz")
    assert_clean_failure(r, [name], tmp_path, before)


def test_unsupported_extension(tmp_path):
    (tmp_path / "scan.png").write_bytes(b"\x89PNG....")
    before = snapshot(tmp_path)
    r = infer(tmp_path / "scan.png", tmp_path / "o.nii.gz")
    assert_clean_failure(r, ["scan.png", "unsupported file type"], tmp_path, before)


def test_2d_image(tmp_path):
    write_nifti(tmp_path / "flat.nii.gz", np.ones((32, 32), np.float32), np.eye(4))
    before = snapshot(tmp_path)
    r = infer(tmp_path / "flat.nii.gz", tmp_path / "o.nii.gz")
    assert_clean_failure(r, ["flat.nii.gz", "2D image"], tmp_path, before)


def test_single_slice_volume(tmp_path):
    write_nifti(tmp_path / "one.nii.gz", np.ones((32, 32, 1), np.float32), np.eye(4))
    before = snapshot(tmp_path)
    r = infer(tmp_path / "one.nii.gz", tmp_path / "o.nii.gz")
    assert_clean_failure(r, ["one.nii.gz", "single voxel"], tmp_path, before)


def test_4d_without_and_with_volume(tmp_path):
    vols = np.random.default_rng(0).random((8, 8, 6, 3), dtype=np.float32)  # not constant:
    write_nifti(tmp_path / "dwi.nii.gz", vols, np.eye(4))  # the default model normalises
    before = snapshot(tmp_path)
    r = infer(tmp_path / "dwi.nii.gz", tmp_path / "o.nii.gz")
    assert_clean_failure(r, ["dwi.nii.gz", "4D", "--volume"], tmp_path, before)
    r = infer(tmp_path / "dwi.nii.gz", tmp_path / "o.nii.gz", "--volume", 1, "--scale", 1, 1, 2)
    assert r.exit_code == 0, r.stderr
    assert nib.load(tmp_path / "o.nii.gz").shape == (8, 8, 12)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_inf_voxels(tmp_path, bad):
    data = np.ones((8, 8, 6), np.float32)
    data[2, 3, 4] = bad
    write_nifti(tmp_path / "nan.nii.gz", data, np.eye(4))
    before = snapshot(tmp_path)
    r = infer(tmp_path / "nan.nii.gz", tmp_path / "o.nii.gz")
    assert_clean_failure(r, ["nan.nii.gz", "1 voxel(s) are NaN or infinite"], tmp_path, before)


@pytest.mark.parametrize("value", [0.0, -2.0, np.nan])
def test_bad_pixdim(tmp_path, good, value):
    patch_header(good, pixdim3=value)
    before = snapshot(tmp_path)
    r = infer(good, tmp_path / "o.nii.gz")
    assert_clean_failure(r, ["good.nii.gz", "pixdim"], tmp_path, before)


def test_singular_affine(tmp_path):
    a = np.diag([1.0, 1.0, 1.0, 1.0])
    a[:3, 2] = a[:3, 0]  # third voxel axis parallel to the first
    img = nib.Nifti1Image(np.ones((8, 8, 6), np.float32), None)
    img.set_sform(a, code=2)
    nib.save(img, tmp_path / "sing.nii.gz")
    before = snapshot(tmp_path)
    r = infer(tmp_path / "sing.nii.gz", tmp_path / "o.nii.gz")
    assert_clean_failure(r, ["sing.nii.gz", "singular"], tmp_path, before)


def test_truncated_gz(tmp_path, good):
    data = np.random.default_rng(0).random((40, 40, 30)).astype(np.float32)
    p = write_nifti(tmp_path / "big.nii.gz", data, np.eye(4))
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 2])
    before = snapshot(tmp_path)
    r = infer(p, tmp_path / "o.nii.gz")
    assert_clean_failure(r, ["big.nii.gz", "truncated or corrupt"], tmp_path, before)


def test_output_folder_is_a_file(tmp_path, good):
    (tmp_path / "afile").write_text("x")
    before = snapshot(tmp_path)
    r = infer(good, tmp_path / "afile" / "o.nii.gz")
    assert_clean_failure(r, ["afile", "not a folder"], tmp_path, before)


def test_output_folder_missing(tmp_path, good):
    before = snapshot(tmp_path)
    r = infer(good, tmp_path / "missing" / "o.nii.gz")
    assert_clean_failure(r, ["missing", "does not exist"], tmp_path, before)


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs /proc")
def test_output_folder_not_writable(tmp_path, good):
    before = snapshot(tmp_path)
    r = infer(good, "/proc/volsr_out.nii.gz")
    assert_clean_failure(r, ["/proc", "not writable"], tmp_path, before)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_output_folder_read_only(tmp_path, good):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        before = snapshot(tmp_path)
        r = infer(good, ro / "o.nii.gz")
        assert_clean_failure(r, ["ro", "not writable"], tmp_path, before)
    finally:
        ro.chmod(0o700)


@pytest.mark.parametrize("flag", [[], ["--overwrite"]])
def test_output_equal_to_input(tmp_path, good, flag):
    before = snapshot(tmp_path)
    r = infer(good, good, *flag)
    assert_clean_failure(r, ["good.nii.gz", "input"], tmp_path, before)


def test_degrade_and_eval_report_bad_input_in_one_line(tmp_path):
    (tmp_path / "bad.nii.gz").write_text("no")
    before = snapshot(tmp_path)
    for args in (["degrade", str(tmp_path / "bad.nii.gz"), "-o", str(tmp_path / "o.nii.gz")],
                 ["eval", str(tmp_path / "bad.nii.gz"), str(tmp_path / "bad.nii.gz")]):
        r = runner.invoke(app, args, catch_exceptions=False)
        assert_clean_failure(r, ["bad.nii.gz"], tmp_path, before)


@pytest.mark.parametrize("dim0", [0, 8, 9])
def test_invalid_dim0_is_named(tmp_path, dim0):
    import struct

    p = write_nifti(tmp_path / "d.nii", np.ones((6, 6, 6), np.float32), np.eye(4))
    raw = bytearray(p.read_bytes())
    raw[40:42] = struct.pack("<h", dim0)
    p.write_bytes(bytes(raw))
    before = snapshot(tmp_path)
    r = infer(p, tmp_path / "o.nii.gz")
    assert_clean_failure(r, [f"dim[0] = {dim0}", "1 to 7"], tmp_path, before)
    assert "2D image" not in r.stderr


def test_5d_file_is_called_5d(tmp_path):
    p = write_nifti(tmp_path / "five.nii.gz", np.ones((6, 6, 6, 2, 2), np.float32), np.eye(4))
    before = snapshot(tmp_path)
    assert_clean_failure(infer(p, tmp_path / "o.nii.gz"), ["5D image with 4 volumes"],
                         tmp_path, before)


def test_numpy_warnings_are_one_line(tmp_path):
    """An int16 file scaled by 1e38 overflows float32: numpy warns, volsr refuses; the
    warning is one 'volsr:' line, not numpy's source-quoting two lines."""
    img = nib.Nifti1Image((np.arange(384).reshape(8, 8, 6) % 300).astype(np.int16), np.eye(4))
    img.header.set_slope_inter(1e38, 0)
    nib.save(img, tmp_path / "slope.nii.gz")
    before = snapshot(tmp_path)
    r = infer(tmp_path / "slope.nii.gz", tmp_path / "o.nii.gz", "-m", "nearest")
    assert_clean_failure(r, ["NaN or infinite"], tmp_path, before)
    assert all(ln.startswith("volsr: ") for ln in r.stderr.splitlines()), r.stderr


@pytest.mark.parametrize("kind, problem", [
    ("4d", "4D image with 3 volumes"), ("nan", "NaN or infinite"), ("complex", "complex64")])
def test_info_describes_files_it_would_refuse(tmp_path, kind, problem):
    data = {"4d": np.ones((6, 5, 4, 3), np.float32),
            "nan": np.concatenate([np.full((1, 5, 4), np.nan), np.ones((5, 5, 4))]).astype(
                np.float32),
            "complex": np.ones((6, 5, 4), np.complex64)}[kind]
    p = write_nifti(tmp_path / f"{kind}.nii.gz", data, np.diag([1.0, 2.0, 3.0, 1.0]))
    r = runner.invoke(app, ["info", str(p), "--json"])
    assert r.exit_code == 1
    import json

    rec = json.loads(r.stdout)
    assert rec["shape"][:3] == [6, 5, 4] and rec["spacing_mm"] == [1.0, 2.0, 3.0]
    assert problem in rec["problems"][0]
    if kind == "nan":
        assert rec["nonfinite_voxels"] == 20 and rec["range"] == [1.0, 1.0]
    err = [ln for ln in r.stderr.splitlines() if ln.startswith("volsr: error:")]
    assert len(err) == 1 and problem in err[0]


def test_info_of_a_good_file_has_no_problems(good):
    r = runner.invoke(app, ["info", str(good)])
    assert r.exit_code == 0 and "problems" not in r.stdout and "shape:" in r.stdout


def test_models_lists_bundled_weights():
    import json

    from volsr.weights import bundled_models

    rows = json.loads(runner.invoke(app, ["models", "--json"]).stdout)
    bundled = {r["name"] for r in rows if r.get("bundled")}
    assert bundled == set(bundled_models()) and bundled
    r = runner.invoke(app, ["models", "--tag", "bundled"])
    assert r.exit_code == 0 and all(n in r.stdout for n in bundled)


def test_constant_volume_error_names_the_file(tmp_path):
    p = write_nifti(tmp_path / "flat.nii.gz", np.full((16, 16, 8), 5.0, np.float32),
                    np.diag([1.0, 1.0, 3.0, 1.0]))
    before = snapshot(tmp_path)
    r = runner.invoke(app, ["ssr", str(p), "-o", str(tmp_path / "o.nii.gz")],
                      catch_exceptions=False)
    assert_clean_failure(r, ["flat.nii.gz", "constant volume"], tmp_path, before)


@pytest.mark.parametrize("stop, code", [("int", 130), ("term", 143)])
def test_a_signal_wrapped_by_python_is_still_the_signal(stop, code, capsys):
    """Ctrl-C during a lazy import can surface as ``RuntimeError: Error calling __set_name__``
    (the interrupt as its cause): exit 130/143 with the no-partial-output line, not exit 3."""
    import typer

    from volsr.cli._common import Terminated, handle_errors

    @handle_errors
    def job():
        try:
            raise KeyboardInterrupt if stop == "int" else Terminated()
        except BaseException as exc:
            raise RuntimeError("Error calling __set_name__ on 'Field' instance") from exc

    with pytest.raises(typer.Exit) as info:
        job()
    assert info.value.exit_code == code
    assert "no partial output was left behind" in capsys.readouterr().err
