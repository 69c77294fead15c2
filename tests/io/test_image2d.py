"""2D images: PNG/TIFF/DICOM reading, bit depth and metadata kept on writing."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from volsr.errors import InputError, OutputError
from volsr.io import Volume
from volsr.io.image2d import Image2D, is_image2d_path, load_image2d, save_image2d


def _elem(group: int, elem: int, vr: str, value: bytes) -> bytes:
    """One explicit-VR little-endian DICOM element (value padded to even length)."""
    if len(value) % 2:
        value += b"\0" if vr in ("UI", "OB") else b" "
    head = struct.pack("<HH", group, elem) + vr.encode()
    if vr in ("OB", "OW", "OF", "SQ", "UT", "UN"):
        return head + b"\0\0" + struct.pack("<I", len(value)) + value
    return head + struct.pack("<H", len(value)) + value


def write_dicom(path, pixels: np.ndarray, *, photometric="MONOCHROME2", spacing="0.2\\0.3",
                bits_stored=16, frames: int | None = None) -> None:
    """A minimal uncompressed DICOM file (explicit VR little endian), written by hand."""
    sop_class, uid = b"1.2.840.10008.5.1.4.1.1.1.1", b"1.2.826.0.1.3680043.2.1125.99.1"
    meta = (_elem(2, 1, "OB", b"\0\1") + _elem(2, 2, "UI", sop_class) + _elem(2, 3, "UI", uid)
            + _elem(2, 0x10, "UI", b"1.2.840.10008.1.2.1")
            + _elem(2, 0x12, "UI", b"1.2.826.0.1.3680043.2.1125.99"))
    rows, cols = pixels.shape[-2:]
    ds = (_elem(8, 0x16, "UI", sop_class) + _elem(8, 0x18, "UI", uid)
          + _elem(8, 0x60, "CS", b"DX") + _elem(0x10, 0x10, "PN", b"Phantom")
          + _elem(0x20, 0xD, "UI", uid + b".1") + _elem(0x20, 0xE, "UI", uid + b".2")
          + _elem(0x28, 2, "US", struct.pack("<H", 1))
          + _elem(0x28, 4, "CS", photometric.encode()))
    if frames is not None:
        ds += _elem(0x28, 8, "IS", str(frames).encode())
    ds += (_elem(0x28, 0x10, "US", struct.pack("<H", rows))
           + _elem(0x28, 0x11, "US", struct.pack("<H", cols)))
    if spacing:
        ds += _elem(0x28, 0x30, "DS", spacing.encode())
    ds += (_elem(0x28, 0x100, "US", struct.pack("<H", 16))
           + _elem(0x28, 0x101, "US", struct.pack("<H", bits_stored))
           + _elem(0x28, 0x102, "US", struct.pack("<H", bits_stored - 1))
           + _elem(0x28, 0x103, "US", struct.pack("<H", 0))
           + _elem(0x7FE0, 0x10, "OW", pixels.astype("<u2").tobytes()))
    group_len = _elem(2, 0, "UL", struct.pack("<I", len(meta)))
    path.write_bytes(b"\0" * 128 + b"DICM" + group_len + meta + ds)


def ramp16(h=12, w=10) -> np.ndarray:
    return (np.arange(h * w).reshape(h, w) * 523 + 7).astype(np.uint16)


def test_png_8bit_roundtrip_keeps_values_dpi_and_text(tmp_path):
    a = (np.arange(12 * 10).reshape(12, 10) * 2).astype(np.uint8)
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "lab")
    Image.fromarray(a).save(tmp_path / "a.png", dpi=(254, 127), pnginfo=info)
    img = load_image2d(tmp_path / "a.png")
    assert img.data.shape == (1, 12, 10) and img.data.dtype == np.float32
    assert (img.source_dtype, img.bit_depth, img.format) == ("uint8", 8, "png")
    # 254 dpi horizontally -> 0.1 mm columns; 127 dpi vertically -> 0.2 mm rows
    np.testing.assert_allclose(img.spacing, [0.2, 0.1], rtol=1e-4)
    assert img.spacing_known and img.metadata["text"] == {"Author": "lab"}
    save_image2d(img, tmp_path / "b.png", note="hello")
    back = Image.open(tmp_path / "b.png")
    assert back.mode == "L" and np.array_equal(np.asarray(back), a)
    assert back.text["Author"] == "lab" and back.text["volsr"] == "hello"
    assert back.text["Software"].startswith("volsr")


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_roundtrip_exact(tmp_path, suffix):
    a = ramp16()
    assert a.max() > 255
    Image.fromarray(a).save(tmp_path / f"a{suffix}")
    img = load_image2d(tmp_path / f"a{suffix}")
    assert (img.source_dtype, img.bit_depth) == ("uint16", 16)
    assert not img.spacing_known and img.dpi is None
    np.testing.assert_array_equal(img.data[0], a.astype(np.float32))
    save_image2d(img, tmp_path / f"b{suffix}")
    back = Image.open(tmp_path / f"b{suffix}")
    assert back.mode == "I;16" and np.array_equal(np.asarray(back), a)


def test_round_and_clip_to_the_source_range(tmp_path):
    img = Image2D(np.array([[[-3.4, 12.5, 13.5, 70000.6]]], np.float32),
                  source_dtype="uint16", bit_depth=16)
    save_image2d(img, tmp_path / "c.png")
    assert np.asarray(Image.open(tmp_path / "c.png")).tolist() == [[0, 12, 14, 65535]]
    img8 = Image2D(np.array([[[254.6, 300.0, -1.0]]], np.float32), source_dtype="uint8",
                   bit_depth=8)
    save_image2d(img8, tmp_path / "d.png")
    out = Image.open(tmp_path / "d.png")
    assert out.mode == "L" and np.asarray(out).tolist() == [[255, 255, 0]]


def test_rgb_becomes_bt601_luminance_with_a_warning(tmp_path, caplog):
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0] = 255  # pure red
    rgb[1, 1] = (0, 255, 0)
    rgb[2, 2] = (10, 20, 30)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    with caplog.at_level("WARNING"):
        img = load_image2d(tmp_path / "rgb.png")
    assert img.channels == 1 and img.source_dtype == "uint8"
    assert img.data[0, 0, 0] == pytest.approx(76.245, abs=1e-3)  # 0.299 * 255
    assert img.data[0, 1, 1] == pytest.approx(149.685, abs=1e-3)  # 0.587 * 255
    assert img.data[0, 2, 2] == pytest.approx(2.99 + 11.74 + 3.42, abs=1e-3)
    assert any("BT.601" in w for w in img.warnings)
    assert "BT.601" in caplog.text


def test_geometry_volume_and_dpi_follow_the_factor():
    img = Image2D(np.ones((1, 6, 8), np.float32), spacing=(0.2, 0.1), source_dtype="uint8",
                  bit_depth=8, dpi=(254.0, 127.0), spacing_known=True)
    vol = img.to_volume()
    assert vol.spatial_shape == (6, 8, 1)
    np.testing.assert_allclose(vol.spacing, [0.2, 0.1, 1.0])
    big = Volume(np.zeros((1, 12, 24, 1), np.float32), np.diag([0.1, 1 / 30, 1.0, 1.0]))
    out = img.with_volume(big)
    assert out.shape == (12, 24)
    np.testing.assert_allclose(out.spacing, [0.1, 1 / 30])
    assert out.dpi == pytest.approx((762.0, 254.0))  # columns x3, rows x2
    assert out.source_dtype == "uint8" and img.dpi == (254.0, 127.0)  # original untouched


def test_float_tiff_and_format_limits(tmp_path):
    f = np.linspace(-1.5, 2.5, 20, dtype=np.float32).reshape(4, 5)
    Image.fromarray(f).save(tmp_path / "f.tif")
    img = load_image2d(tmp_path / "f.tif")
    assert (img.source_dtype, img.format) == ("float32", "tiff")
    save_image2d(img, tmp_path / "g.tiff")
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "g.tiff")), f)
    with pytest.raises(OutputError, match="PNG cannot store float32"):
        save_image2d(img, tmp_path / "g.png")
    with pytest.raises(OutputError, match="DICOM is not supported"):
        save_image2d(img, tmp_path / "g.dcm")
    with pytest.raises(OutputError, match="already exists"):
        save_image2d(img, tmp_path / "g.tiff")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.tif", "g.tiff"]  # nothing partial


def test_dicom_monochrome1_spacing_and_bits_stored(tmp_path, caplog):
    px = ramp16(6, 5) % 4096
    px[0, 0] = 4095
    write_dicom(tmp_path / "cr.dcm", px, photometric="MONOCHROME1", spacing="0.2\\0.3",
                bits_stored=12)
    assert is_image2d_path(tmp_path / "cr.dcm")
    with caplog.at_level("WARNING"):
        img = load_image2d(tmp_path / "cr.dcm")
    assert img.format == "dicom" and img.shape == (6, 5)
    np.testing.assert_allclose(img.spacing, [0.2, 0.3])  # PixelSpacing = row \ column
    assert img.spacing_known and img.metadata["photometric"] == "MONOCHROME1"
    assert img.bit_depth == 12 and img.metadata["dicom"]["modality"] == "DX"
    # GDCM turns MONOCHROME1 into MONOCHROME2 within the 12-bit range: v -> 4095 - v
    np.testing.assert_array_equal(img.data[0], 4095.0 - px.astype(np.float32))
    assert any("MONOCHROME1" in w for w in img.warnings) and "inverted" in caplog.text
    # writing the 12-bit source back clips to 0..4095 in a 16-bit PNG
    img.data[0, 0, 0] = 5000.0
    save_image2d(img, tmp_path / "cr.png")
    back = np.asarray(Image.open(tmp_path / "cr.png"))
    assert back.dtype == np.uint16 and back[0, 0] == 4095 and back[0, 1] == 4095 - px[0, 1]


def test_dicom_written_by_simpleitk_imager_pixel_spacing(tmp_path):
    import SimpleITK as sitk

    a = ramp16(7, 9)
    im = sitk.GetImageFromArray(a)
    im.SetSpacing((0.15, 0.25))  # (columns, rows) in ITK order
    sitk.WriteImage(im, str(tmp_path / "dx.dcm"))
    img = load_image2d(tmp_path / "dx.dcm")
    np.testing.assert_allclose(img.spacing, [0.25, 0.15])
    assert img.source_dtype == "uint16" and img.metadata["photometric"] == "MONOCHROME2"
    np.testing.assert_array_equal(img.data[0], a)


def test_refused_inputs(tmp_path):
    write_dicom(tmp_path / "mf.dcm", np.zeros((3, 4, 5), np.uint16), frames=3)
    with pytest.raises(InputError, match="multi-frame DICOM"):
        load_image2d(tmp_path / "mf.dcm")
    frames = [Image.fromarray(np.full((4, 4), i, np.uint8)) for i in range(3)]
    frames[0].save(tmp_path / "stack.tif", save_all=True, append_images=frames[1:])
    with pytest.raises(InputError, match="multi-page"):
        load_image2d(tmp_path / "stack.tif")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(InputError, match="bad.png: unsupported file type or corrupt"):
        load_image2d(tmp_path / "bad.png")
    with pytest.raises(InputError, match="no such file"):
        load_image2d(tmp_path / "missing.png")


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_dicom_spacing_goes_to_png_phys_and_tiff_resolution(tmp_path, suffix):
    write_dicom(tmp_path / "dx.dcm", ramp16(), spacing="0.2\\0.125", bits_stored=16)
    src = load_image2d(tmp_path / "dx.dcm")
    assert src.dpi is None and src.spacing_known
    # a x2 result: the spacing halves, the physical size stays
    out = src.with_volume(Volume(np.repeat(np.repeat(src.data, 2, 1), 2, 2)[..., None],
                                 np.diag([0.1, 0.0625, 1.0, 1.0])))
    save_image2d(out, tmp_path / f"sr{suffix}")
    back = load_image2d(tmp_path / f"sr{suffix}")
    assert back.spacing_known and back.source_dtype == "uint16"
    # PNG pHYs holds whole pixels per metre: 10000 and 16000 here, exact
    np.testing.assert_allclose(back.spacing, [0.1, 0.0625], rtol=1e-6)
    with Image.open(tmp_path / f"sr{suffix}") as im:
        dpi = [float(v) for v in im.info["dpi"]]
    np.testing.assert_allclose(dpi, (25.4 / 0.0625, 25.4 / 0.1), rtol=1e-5)
    np.testing.assert_allclose(out.stored_dpi(), dpi, rtol=1e-5)


def test_unknown_spacing_writes_no_resolution(tmp_path):
    img = Image2D(np.ones((1, 4, 5), np.float32), source_dtype="uint8", bit_depth=8)
    save_image2d(img, tmp_path / "a.png")
    with Image.open(tmp_path / "a.png") as im:
        assert "dpi" not in im.info
    assert not load_image2d(tmp_path / "a.png").spacing_known


def test_16bit_png_with_a_12bit_range_keeps_its_values(tmp_path):
    a = (np.arange(12 * 10).reshape(12, 10) * 34).astype(np.uint16)  # 0..4046
    Image.fromarray(a).save(tmp_path / "c12.png")
    img = load_image2d(tmp_path / "c12.png")
    assert img.source_dtype == "uint16" and img.bit_depth == 16
    np.testing.assert_array_equal(img.data[0], a.astype(np.float32))  # not rescaled
    img.data[0, 0, 0] = 5000.0  # a result above 4095 is not clipped to 12 bits either
    save_image2d(img, tmp_path / "out.png")
    back = np.asarray(Image.open(tmp_path / "out.png"))
    assert back.dtype == np.uint16 and back[0, 0] == 5000
    np.testing.assert_array_equal(back.ravel()[1:], a.ravel()[1:])


def test_int16_to_png_is_refused_in_one_line_tiff_keeps_the_values(tmp_path):
    vals = np.array([[-1000, -1], [0, 3071]], np.float32)
    img = Image2D(np.repeat(np.repeat(vals, 3, 0), 3, 1)[None], source_dtype="int16",
                  bit_depth=16, format="dicom")
    with pytest.raises(OutputError, match=r"PNG cannot store int16 .*\.tif") as e:
        save_image2d(img, tmp_path / "ct.png")
    assert "\n" not in str(e.value)
    assert not (tmp_path / "ct.png").exists()
    save_image2d(img, tmp_path / "ct.tif")
    back = load_image2d(tmp_path / "ct.tif")
    np.testing.assert_array_equal(back.data, img.data)


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (6, 1)])
def test_one_pixel_wide_images_are_refused(tmp_path, shape):
    Image.fromarray(np.full(shape, 9, np.uint8)).save(tmp_path / "thin.png")
    with pytest.raises(InputError, match=r"thin.png: image is \d+x\d+ pixels; volsr needs at "
                                         "least 2"):
        load_image2d(tmp_path / "thin.png")
