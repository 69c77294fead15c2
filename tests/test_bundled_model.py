"""The bundled model thickslice_v1: present with its card, trained only on permissively
licensed data, run by `volsr infer --model thickslice_v1`, and better than cubic B-spline on
a thick-slice phantom it never saw."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
from typer.testing import CliRunner

from volsr.cli import app
from volsr.weights import bundled_models

cli = CliRunner()
NAME = "thickslice_v1"


def test_bundled_with_a_model_card():
    folder = bundled_models()[NAME]
    assert "research use only" in (folder / "MODEL_CARD.md").read_text(encoding="utf-8").lower()
    meta = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    assert meta["format"] == "volsr-model"
    manifest = meta["training"]["config"]["data"]["manifest"]
    assert manifest == "data_manifests/shared_data.json"
    from pathlib import Path

    man = json.loads((Path(__file__).resolve().parents[1] / manifest).read_text(encoding="utf-8"))
    licences = [c["licence"] for c in man["training"]]
    assert licences and not [lic for lic in licences if "BY-NC" in lic]
    # the CC BY-NC scans are in the manifest, but only under "test"
    assert any("BY-NC" in c.get("licence", "") for c in man["test"])


def test_infer_with_it_beats_bspline(tmp_path):
    import volsr
    from volsr.degrade import ThickSlice

    truth = volsr.phantom_volume((48, 56, 48), (2.5, 2.5, 2.5), seed=3)
    lowres = ThickSlice(axis=2, factor=4, profile="gaussian")(truth)
    src = tmp_path / "thick.nii.gz"
    volsr.save_volume(lowres, src)
    out = tmp_path / "sr.nii.gz"
    r = cli.invoke(app, ["infer", str(src), "-o", str(out), "--device", "cpu", "--model",
                         NAME])
    assert r.exit_code == 0, r.output
    side = json.loads(next(tmp_path.glob("sr*.json")).read_text(encoding="utf-8"))
    assert side["weights"]["path"].endswith(NAME)
    img = nib.load(out)
    assert img.shape == truth.spatial_shape
    np.testing.assert_allclose(img.affine, truth.affine, atol=1e-5)
    sr = volsr.load_volume(out)
    model = volsr.evaluate(truth, sr, mask="auto", data_range=1.0)
    spline = volsr.evaluate(truth, volsr.super_resolve(lowres, "bspline", isotropic=True),
                            mask="auto", data_range=1.0)
    assert model.psnr > spline.psnr + 0.3, (model.psnr, spline.psnr)


# --- thickslice_v2: the default of `volsr infer` -------------------------------------------

V2 = "thickslice_v2"


def test_v2_is_the_default_with_a_card_and_permissive_data():
    from pathlib import Path

    from volsr.weights import default_model_name

    assert default_model_name() == V2
    folder = bundled_models()[V2]
    card = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "research use only" in card.lower()
    meta = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    assert meta["model"]["name"] == "lraxis_2d"
    assert meta["trained_range"] == {"kind": "through_plane", "factor": [1.5, 8.0]}
    assert meta["training"]["stages"], "every training stage is listed"
    manifest = Path(__file__).resolve().parents[1] / meta["training"]["manifest"]
    man = json.loads(manifest.read_text(encoding="utf-8"))
    train_ids = {c["id"] for c in man["training"]}
    assert train_ids and not [c for c in man["training"] if "BY-NC" in c["licence"]]
    held_out = {c["id"] for c in man["validation"]}
    assert held_out == {"t1_brain_niivue_otsu", "ct_abdomen_slab_totalsegmentator"}
    assert not held_out & train_ids


def test_infer_without_model_runs_v2_and_beats_bspline(tmp_path):
    """`volsr infer LR -o OUT` with no other flag: the learned default, exact geometry."""
    import volsr
    from volsr.degrade import ThickSlice

    from conftest import oblique_affine

    truth = volsr.phantom_volume((48, 56, 48), (1.0, 1.0, 1.0), seed=5,
                                 affine=oblique_affine(spacing=(1.0, 1.0, 1.0)))
    lowres = ThickSlice(axis=2, factor=4, profile="rect")(truth)
    src = tmp_path / "thick.nii.gz"
    volsr.save_volume(lowres, src)
    out = tmp_path / "sr.nii.gz"
    r = cli.invoke(app, ["infer", str(src), "-o", str(out), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    side = json.loads((tmp_path / "sr.nii.gz.volsr.json").read_text(encoding="utf-8"))
    assert side["weights"]["path"].endswith(V2)
    img = nib.load(out)
    assert img.shape == truth.spatial_shape
    np.testing.assert_allclose(img.affine, truth.affine, atol=1e-5)
    np.testing.assert_allclose(img.get_sform(), truth.affine, atol=1e-5)
    np.testing.assert_allclose(img.get_qform(), truth.affine, atol=1e-4)
    sr = volsr.load_volume(out)
    model = volsr.evaluate(truth, sr, mask="auto", data_range=1.0)
    spline = volsr.evaluate(truth, volsr.super_resolve(lowres, "bspline", isotropic=True),
                            mask="auto", data_range=1.0)
    assert model.psnr > spline.psnr, (model.psnr, spline.psnr)


def test_v2_any_factor_lands_on_the_reference_grid(tmp_path):
    """A non-integer factor (x2.5 along y) onto a reference grid: same affine and shape as
    B-spline's output, and better than B-spline."""
    import volsr
    from volsr.degrade import ThickSlice

    truth = volsr.phantom_volume((40, 50, 36), (1.0, 1.0, 1.0), seed=7)
    lowres = ThickSlice(axis=1, factor=2.5, profile="gaussian")(truth)
    spline = volsr.super_resolve(lowres, "bspline", reference=truth.grid)
    sr = volsr.super_resolve(lowres, V2, reference=truth.grid)
    assert sr.spatial_shape == spline.spatial_shape == truth.spatial_shape
    np.testing.assert_allclose(sr.affine, spline.affine, atol=1e-6)
    gain = (volsr.evaluate(truth, sr, mask="auto", data_range=1.0).psnr
            - volsr.evaluate(truth, spline, mask="auto", data_range=1.0).psnr)
    assert gain > 0, gain
