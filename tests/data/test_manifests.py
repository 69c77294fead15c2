"""Every shipped manifest loads, has a README, and checks cleanly or reports missing data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from volsr.cli import app

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = sorted((REPO / "data_manifests").rglob("*.json"))
runner = CliRunner()


def test_public_dataset_manifests_are_present():
    names = {p.stem for p in MANIFESTS}
    assert {"shared_data", "ixi_t1", "ixi_t2", "ixi_pd", "hcp1200_t1", "kirby21_mprage",
            "brats2023_gli", "msd_ct"} <= names


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.stem)
def test_manifest_validates(path):
    from volsr.data import check_manifest, load_manifest

    man = load_manifest(path)
    assert man.all_cases(), "a manifest with no cases"
    assert (path.parent / "README.md").is_file()
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert any(k in raw for k in ("licence", "license")) or all(
        "licence" in c for s in ("training", "validation", "test") for c in raw.get(s, []))
    report = check_manifest(path, hashes=False)
    statuses = {c.status for c in report.cases}
    # either the data are here and fine, or they are reported missing (never a crash)
    assert statuses <= {"ok", "missing"}
    if path.parent.name != "data_manifests":
        readme = (path.parent / "README.md").read_text(encoding="utf-8").lower()
        assert "licence" in readme and "layout" in readme and "where" in readme


def test_data_check_reports_absent_files_clearly(tmp_path):
    man = tmp_path / "m.json"
    man.write_text(json.dumps({"name": "absent", "test": ["nowhere/a.nii.gz",
                                                          "nowhere/b.nii.gz"]}))
    r = runner.invoke(app, ["data", "check", str(man)])
    assert r.exit_code == 1
    assert "missing" in r.output and "a.nii.gz" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["data", "check", str(REPO / "data_manifests/msd_ct/msd_ct.json"),
                            "--json"])
    if r.exit_code == 1:
        rep = json.loads(r.stdout)
        assert all(c["status"] == "missing" for c in rep["cases"])


def test_data_import_nnunet_and_bids(tmp_path):
    from volsr.data import load_manifest
    from volsr.io import save_volume
    from volsr.phantom import phantom_volume

    vol = phantom_volume((8, 8, 8), (4.0, 4.0, 4.0))

    def save(v, path):
        path.parent.mkdir(parents=True, exist_ok=True)
        save_volume(v, path)

    nn = tmp_path / "Dataset001_X"
    for i in range(3):
        save(vol, nn / "imagesTr" / f"case_{i:03d}_0000.nii.gz")
        save(vol, nn / "imagesTr" / f"case_{i:03d}_0001.nii.gz")  # second channel
        save(vol, nn / "labelsTr" / f"case_{i:03d}.nii.gz")
    r = runner.invoke(app, ["data", "import", str(nn), "--from", "nnunet", "-o",
                            str(tmp_path / "nn.json"), "--no-hashes"])
    assert r.exit_code == 0, r.output
    man = load_manifest(tmp_path / "nn.json")
    files = sorted(c.hr.name for _, c in man.all_cases())
    assert files == [f"case_{i:03d}_0000.nii.gz" for i in range(3)]

    bids = tmp_path / "bids"
    save(vol, bids / "sub-01" / "anat" / "sub-01_T1w.nii.gz")
    save(vol, bids / "sub-02" / "ses-1" / "anat" / "sub-02_ses-1_T1w.nii.gz")
    save(vol, bids / "derivatives" / "x" / "anat" / "junk.nii.gz")
    r = runner.invoke(app, ["data", "import", str(bids), "--from", "bids", "-o",
                            str(tmp_path / "bids.json"), "--fractions", "1", "0", "0"])
    assert r.exit_code == 0, r.output
    man = load_manifest(tmp_path / "bids.json")
    assert sorted(c.hr.name for _, c in man.all_cases()) == [
        "sub-01_T1w.nii.gz", "sub-02_ses-1_T1w.nii.gz"]
    r = runner.invoke(app, ["data", "check", str(tmp_path / "bids.json")])
    assert r.exit_code == 0, r.output
