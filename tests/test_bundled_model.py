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
