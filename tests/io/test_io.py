"""Volume I/O: geometry-exact round trips through nibabel and SimpleITK, DICOM series."""

from __future__ import annotations

import os

import nibabel as nib
import numpy as np
import pytest

from conftest import oblique_affine, write_nifti
from volsr.errors import InputError, OutputError
from volsr.io import Volume, load_volume, save_volume


def _ras_from_sitk(path):
    """RAS+ affine computed directly from SimpleITK's reading of a file (independent path)."""
    import SimpleITK as sitk

    img = sitk.ReadImage(str(path))
    d = np.array(img.GetDirection()).reshape(3, 3)
    a = np.eye(4)
    a[:3, :3] = np.diag([-1, -1, 1]) @ d @ np.diag(img.GetSpacing())
    a[:3, 3] = np.diag([-1, -1, 1]) @ np.array(img.GetOrigin())
    return a, sitk.GetArrayFromImage(img).transpose(2, 1, 0)


def test_nifti_round_trip_keeps_oblique_affine_and_values(tmp_path, small_volume):
    p = save_volume(small_volume, tmp_path / "v.nii.gz")
    back = load_volume(p)
    np.testing.assert_array_equal(back.data, small_volume.data)
    np.testing.assert_allclose(back.affine, small_volume.affine, atol=1e-6)
    hdr = nib.load(p).header
    assert hdr.get_data_dtype() == np.float32
    assert int(hdr["sform_code"]) > 0 and int(hdr["qform_code"]) > 0
    np.testing.assert_allclose(hdr.get_sform(), small_volume.affine, atol=1e-5)
    np.testing.assert_allclose(hdr.get_qform(), small_volume.affine, atol=1e-5)
    np.testing.assert_allclose(hdr["pixdim"][1:4], [0.9, 1.1, 3.0], rtol=1e-6)
    assert np.isnan(hdr["scl_slope"]) or hdr["scl_slope"] in (0, 1)


def test_nibabel_and_simpleitk_agree_on_our_output(tmp_path, small_volume):
    p = save_volume(small_volume, tmp_path / "v.nii.gz")
    a_itk, arr_itk = _ras_from_sitk(p)
    np.testing.assert_allclose(a_itk, small_volume.affine, atol=1e-5)
    np.testing.assert_array_equal(arr_itk, small_volume.data[0])


@pytest.mark.parametrize("suffix", [".nrrd", ".mha"])
def test_itk_formats_round_trip(tmp_path, small_volume, suffix):
    p = save_volume(small_volume, tmp_path / f"v{suffix}")
    a_itk, arr = _ras_from_sitk(p)
    np.testing.assert_allclose(a_itk, small_volume.affine, atol=1e-9)
    back = load_volume(p)
    np.testing.assert_allclose(back.affine, small_volume.affine, atol=1e-9)
    np.testing.assert_array_equal(back.data, small_volume.data)
    assert back.meta.format == suffix[1:]


def test_nifti_from_itk_and_back_world_coordinates(tmp_path, small_volume):
    """NRRD -> volsr -> NIfTI: the same voxel lands at the same world position."""
    p1 = save_volume(small_volume, tmp_path / "v.nrrd")
    p2 = save_volume(load_volume(p1), tmp_path / "v.nii.gz")
    img = nib.load(p2)
    np.testing.assert_allclose(img.affine, small_volume.affine, atol=1e-5)


def test_scaling_is_honoured_and_dtype_input_restores_it(tmp_path, rng):
    raw = rng.integers(0, 200, size=(6, 7, 5)).astype(np.int16)
    p = tmp_path / "scaled.nii.gz"
    img = nib.Nifti1Image(raw, np.diag([2.0, 2.0, 4.0, 1.0]))
    img.header.set_slope_inter(0.5, -10.0)
    nib.save(img, p)
    v = load_volume(p)
    np.testing.assert_allclose(v.data[0], raw * 0.5 - 10.0)
    assert (v.meta.scl_slope, v.meta.scl_inter, v.meta.source_dtype) == (0.5, -10.0, "int16")
    out = save_volume(v.with_data(v.data + 0.2), tmp_path / "back.nii.gz", dtype="input")
    back = nib.load(out)
    assert back.get_data_dtype() == np.int16
    assert (back.dataobj.slope, back.dataobj.inter) == (0.5, -10.0)
    np.testing.assert_array_equal(np.asarray(back.dataobj.get_unscaled()), raw)


def test_dtype_input_clips_and_rounds(tmp_path):
    v = Volume(np.array([-5.0, 3.4, 3.6, 300.0] * 6, np.float32).reshape(1, 2, 3, 4),
               np.eye(4))
    v.meta.source_dtype = "uint8"
    p = save_volume(v, tmp_path / "u8.nii.gz", dtype="input")
    arr = np.asarray(nib.load(p).dataobj)
    assert arr.dtype == np.uint8
    np.testing.assert_array_equal(arr.reshape(-1)[:4], [0, 3, 4, 255])


def test_4d_needs_volume_index(tmp_path, rng):
    data = rng.random((5, 6, 4, 3)).astype(np.float32)
    p = write_nifti(tmp_path / "four.nii.gz", data, np.eye(4))
    with pytest.raises(InputError, match="--volume"):
        load_volume(p)
    v = load_volume(p, volume_index=2)
    np.testing.assert_array_equal(v.data[0], data[..., 2])
    with pytest.raises(InputError, match="out of range"):
        load_volume(p, volume_index=3)


def test_trailing_singleton_4d_is_a_3d_volume(tmp_path, rng):
    data = rng.random((5, 6, 4, 1)).astype(np.float32)
    v = load_volume(write_nifti(tmp_path / "s.nii", data, np.eye(4)))
    assert v.spatial_shape == (5, 6, 4)


def test_sheared_affine_kept_in_sform_with_warning(tmp_path, caplog):
    a = np.diag([1.0, 1.0, 2.0, 1.0])
    a[0, 1] = 0.3
    v = Volume(np.ones((1, 4, 5, 6), np.float32), a)
    with caplog.at_level("WARNING", logger="volsr"):
        p = save_volume(v, tmp_path / "shear.nii.gz")
    assert "shear" in caplog.text
    np.testing.assert_allclose(nib.load(p).header.get_sform(), a, atol=1e-6)
    with pytest.raises(OutputError, match="shear"):
        save_volume(v, tmp_path / "shear.nrrd")


def test_qform_sform_disagreement_is_reported(tmp_path, caplog):
    img = nib.Nifti1Image(np.zeros((4, 4, 4), np.float32), np.diag([1.0, 1.0, 1.0, 1.0]))
    img.set_qform(np.diag([2.0, 2.0, 2.0, 1.0]), code=1)
    img.set_sform(np.diag([1.0, 1.0, 1.0, 1.0]), code=2)
    p = tmp_path / "dis.nii.gz"
    nib.save(img, p)
    with caplog.at_level("WARNING", logger="volsr"):
        v = load_volume(p)
    assert any("disagree" in w for w in v.meta.warnings)
    np.testing.assert_allclose(v.affine, np.eye(4))


def test_write_is_atomic_and_refuses_overwrite(tmp_path, small_volume, monkeypatch):
    p = tmp_path / "out.nii.gz"
    save_volume(small_volume, p)
    with pytest.raises(OutputError, match="exists"):
        save_volume(small_volume, p)
    import volsr.io.nifti as nifti_mod

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    before = p.read_bytes()
    monkeypatch.setattr(nifti_mod, "write_nifti", boom)
    with pytest.raises(RuntimeError):
        save_volume(small_volume, p, overwrite=True)
    assert p.read_bytes() == before  # old complete file untouched
    assert sorted(os.listdir(tmp_path)) == ["out.nii.gz"]  # no temporary left behind


def _write_dicom_series(folder, arr, spacing, origin, uid, rng_seed=0):
    import SimpleITK as sitk

    folder.mkdir(parents=True, exist_ok=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(arr.shape[0]):
        sl = sitk.GetImageFromArray(arr[k].astype(np.int16))
        sl.SetSpacing(spacing[:2])
        pos = [origin[0], origin[1], origin[2] + k * spacing[2]]
        for tag, value in [
            ("0008|0060", "MR"),
            ("0020|000d", uid + ".1"),
            ("0020|000e", uid),
            ("0020|0013", str(k + 1)),
            ("0020|0032", "\\".join(f"{v:.4f}" for v in pos)),
            ("0020|0037", "1\\0\\0\\0\\1\\0"),
            ("0018|0050", f"{spacing[2]:.4f}"),
            ("0008|0018", f"{uid}.{k + 1}"),
        ]:
            sl.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"{uid[-3:]}_{k:03d}.dcm"))
        writer.Execute(sl)


def test_dicom_series_folder(tmp_path, rng):
    arr = rng.integers(0, 1000, size=(6, 10, 12))  # (z, y, x)
    folder = tmp_path / "dicom"
    _write_dicom_series(folder, arr, (0.8, 0.7, 3.0), (-10.0, 20.0, 5.0), "1.2.826.0.1.3680043.2.1")
    v = load_volume(folder)
    assert v.spatial_shape == (12, 10, 6)
    np.testing.assert_allclose(v.spacing, [0.8, 0.7, 3.0], atol=1e-4)
    np.testing.assert_array_equal(v.data[0], arr.transpose(2, 1, 0))
    # DICOM is LPS: origin (-10, 20, 5) is RAS (10, -20, 5)
    np.testing.assert_allclose(v.affine[:3, 3], [10.0, -20.0, 5.0], atol=1e-4)
    assert v.meta.series_uid == "1.2.826.0.1.3680043.2.1"


def test_dicom_folder_with_two_series_lists_uids(tmp_path, rng):
    folder = tmp_path / "dicom"
    _write_dicom_series(folder, rng.integers(0, 9, (4, 6, 6)), (1, 1, 2), (0, 0, 0),
                        "1.2.826.0.1.3680043.2.7")
    _write_dicom_series(folder, rng.integers(0, 9, (5, 6, 6)), (1, 1, 2), (0, 0, 0),
                        "1.2.826.0.1.3680043.2.8")
    with pytest.raises(InputError) as exc:
        load_volume(folder)
    assert "1.2.826.0.1.3680043.2.7" in str(exc.value) and "1.2.826.0.1.3680043.2.8" in str(
        exc.value) and "--series-uid" in str(exc.value)
    v = load_volume(folder, series_uid="1.2.826.0.1.3680043.2.8")
    assert v.spatial_shape == (6, 6, 5)


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_dicom_series_with_a_gap_is_refused_quietly(tmp_path, rng, capfd, damage):
    """A missing or unreadable slice: one error naming the gap, no ITK text on stderr."""
    from typer.testing import CliRunner

    from volsr.cli import app

    folder = tmp_path / "dicom"
    _write_dicom_series(folder, rng.integers(0, 1000, (8, 10, 12)), (0.8, 0.7, 3.0),
                        (-10.0, 20.0, 5.0), "1.2.826.0.1.3680043.2.1")
    victim = folder / "2.1_004.dcm"
    if damage == "missing":
        victim.unlink()
    else:
        victim.write_bytes(victim.read_bytes()[:200])
    with pytest.raises(InputError, match=r"3 mm apart, but 6 mm between 2.1_003.dcm and "
                                         r"2.1_005.dcm"):
        load_volume(folder)
    r = CliRunner().invoke(app, ["infer", str(folder), "-o", str(tmp_path / "o.nii.gz"),
                                 "-m", "nearest"], catch_exceptions=False)
    assert r.exit_code == 1 and not (tmp_path / "o.nii.gz").exists()
    assert [ln.startswith("volsr: error:") for ln in r.stderr.splitlines()] == [True]
    assert "ITK" not in capfd.readouterr().err


def test_dicom_series_with_jitter_below_a_percent_is_read(tmp_path, rng):
    import SimpleITK as sitk

    folder = tmp_path / "dicom"
    _write_dicom_series(folder, rng.integers(0, 1000, (5, 6, 7)), (1.0, 1.0, 2.0),
                        (0.0, 0.0, 0.0), "1.2.826.0.1.3680043.2.3")
    f = folder / "2.3_002.dcm"  # nudge one slice by 0.004 mm (rounding in real headers)
    img = sitk.ReadImage(str(f))
    img.SetMetaData("0020|0032", "0.0000\\0.0000\\4.0040")
    w = sitk.ImageFileWriter()
    w.KeepOriginalImageUIDOn()
    w.SetFileName(str(f))
    w.Execute(img)
    assert load_volume(folder).spatial_shape == (7, 6, 5)


@pytest.mark.parametrize("grid, codes", [({"scale": (1, 1, 3)}, (0, 0)),
                                         ({"isotropic": True}, (2, 2))])
def test_unknown_space_is_never_called_scanner(tmp_path, grid, codes, caplog):
    """Input with sform and qform codes 0: the output keeps 0 when a pixdim-only reader
    gets its grid exactly, else says "aligned" (2); the world grid is the same either way."""
    import nibabel as nib

    from volsr.predictors import super_resolve

    hdr = nib.Nifti1Header()
    hdr.set_data_shape((20, 18, 8))
    hdr.set_zooms((1.0, 1.2, 3.0))
    hdr.set_data_dtype(np.float32)
    data = np.random.default_rng(0).random((20, 18, 8)).astype(np.float32)
    nib.save(nib.Nifti1Image(data, None, header=hdr), tmp_path / "in.nii.gz")
    v = load_volume(tmp_path / "in.nii.gz")
    assert (v.meta.sform_code, v.meta.qform_code) == (0, 0)
    out = super_resolve(v, "linear", **grid)  # x3 on z keeps the grid centred; 1.2 -> 1 mm
    save_volume(out, tmp_path / "o.nii.gz")  # on y (18 -> 22 voxels) does not
    img = nib.load(tmp_path / "o.nii.gz")
    assert (int(img.header["sform_code"]), int(img.header["qform_code"])) == codes
    np.testing.assert_allclose(img.affine, out.affine, atol=1e-5)
    assert "space unknown" in caplog.text
