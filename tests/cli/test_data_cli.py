"""`volsr data import` then `volsr data check`, and a check that fails."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from volsr.cli import app

runner = CliRunner()


def test_import_then_check_then_detect_corruption(tmp_path, phantom_path):
    src = tmp_path / "scans"
    src.mkdir()
    for i in range(4):
        (src / f"case{i}.nii.gz").write_bytes(phantom_path.read_bytes())
    man = tmp_path / "m.json"
    r = runner.invoke(app, ["data", "import", str(src), "-o", str(man), "--modality", "MR"],
                      catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    data = json.loads(man.read_text(encoding="utf-8"))
    ids = [c["id"] for split in ("training", "validation", "test") for c in data.get(split, [])]
    assert sorted(ids) == [f"case{i}" for i in range(4)]
    r = runner.invoke(app, ["data", "check", str(man)], catch_exceptions=False)
    assert r.exit_code == 0, r.stdout + r.stderr
    (src / "case2.nii.gz").write_bytes(b"corrupted")
    r = runner.invoke(app, ["data", "check", str(man)], catch_exceptions=False)
    assert r.exit_code == 1 and "manifest check failed" in r.stderr
