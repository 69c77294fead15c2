"""2D images in manifests: importing a folder of images, checking it, loading a case."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from volsr.data import check_manifest, manifest_from_folder, write_manifest
from volsr.data.loading import load_case_file
from volsr.data.manifest import volume_stem
from volsr.errors import InputError


def _png16(path, h=20, w=24, dpi=(254.0, 127.0), seed=0):
    a = np.random.default_rng(seed).integers(0, 4096, (h, w)).astype(np.uint16)
    Image.fromarray(a).save(path, dpi=dpi)
    return a


def test_load_case_file_gives_a_one_slice_volume_with_the_pixel_size(tmp_path):
    a = _png16(tmp_path / "cxr.png")  # 254 dpi across, 127 dpi down: 0.1 x 0.2 mm
    vol = load_case_file(tmp_path / "cxr.png")
    assert vol.data.shape == (1, 20, 24, 1)
    np.testing.assert_array_equal(vol.data[0, :, :, 0], a.astype(np.float32))  # 12-bit kept
    np.testing.assert_allclose(vol.affine, np.diag([0.2, 0.1, 1.0, 1.0]))


def test_dicom_case_keeps_its_pixel_spacing(tmp_path):
    im = sitk.GetImageFromArray(np.arange(30 * 40, dtype=np.uint16).reshape(30, 40))
    im.SetSpacing((0.15, 0.3))  # (column, row) in ITK order
    sitk.WriteImage(im, str(tmp_path / "dx.dcm"))
    vol = load_case_file(tmp_path / "dx.dcm")
    assert vol.data.shape == (1, 30, 40, 1)
    np.testing.assert_allclose(vol.spacing, [0.3, 0.15, 1.0])


def test_volume_stem_drops_image_suffixes():
    assert volume_stem("a/b.png") == "b" and volume_stem("a/c.TIFF") == "c"
    assert volume_stem("a/d.dcm") == "d" and volume_stem("a/e.nii.gz") == "e"


def test_folder_of_images_imports_and_checks(tmp_path):
    src = tmp_path / "imgs"
    src.mkdir()
    for i in range(5):
        _png16(src / f"cxr{i}.png", seed=i)
    Image.fromarray(np.zeros((6, 7, 3), np.uint8)).save(src / "colour.tif")
    (src / "notes.txt").write_text("not an image")
    with pytest.raises(InputError, match=r"no file matches '\*\.nii\*'"):
        manifest_from_folder(src)  # the library default stays NIfTI only
    man = manifest_from_folder(src, pattern=None, fractions=(0.6, 0.2, 0.2))
    ids = sorted(c.id for _, c in man.all_cases())
    assert ids == ["colour", "cxr0", "cxr1", "cxr2", "cxr3", "cxr4"]
    path = write_manifest(tmp_path / "m.json", man)
    report = check_manifest(path)
    assert report.ok, report.summary()


def test_auto_pattern_prefers_nifti_and_says_what_it_looked_for(tmp_path, phantom_path):
    (tmp_path / "scan.nii.gz").write_bytes(phantom_path.read_bytes())  # beside phantom.nii.gz
    _png16(tmp_path / "scout.png")
    man = manifest_from_folder(tmp_path, pattern=None, fractions=(1.0, 0.0, 0.0))
    assert sorted(c.id for c in man.cases("training")) == ["phantom", "scan"]  # no scout
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match=r"nor a 2D image \(\.png, \.tif, \.tiff, \.dcm\)"):
        manifest_from_folder(empty, pattern=None)


def test_check_reports_bad_images_and_warns_on_colour(tmp_path, caplog):
    _png16(tmp_path / "good.png")
    Image.fromarray(np.full((8, 9, 3), (200, 10, 10), np.uint8)).save(tmp_path / "rgb.png")
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((3, 8, 9), np.uint16)),
                    str(tmp_path / "multi.dcm"))
    Image.fromarray(np.full((1, 1), 3, np.uint8)).save(tmp_path / "dot.png")
    man = manifest_from_folder(tmp_path, pattern=None, fractions=(1.0, 0.0, 0.0))
    path = write_manifest(tmp_path / "m.json", man)
    with caplog.at_level(logging.WARNING, logger="volsr"):
        report = check_manifest(path)
    assert not report.ok
    bad = {c.id: " ".join(c.messages) for c in report.cases if c.status != "ok"}
    assert set(bad) == {"multi", "dot"}, report.summary()
    assert "multi-frame DICOM (3 frames)" in bad["multi"]
    assert "image is 1x1 pixels" in bad["dot"]
    assert any("RGB colour image converted to luminance" in r.getMessage()
               for r in caplog.records)
