"""volsr benchmark: protocols, scoring and reports on tiny phantoms (real files, no mocks)."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from volsr.benchmark import (
    PROTOCOLS,
    Method,
    build_method,
    case_seed,
    crop_center,
    get_protocol,
    make_pair,
    parse_methods,
    run_benchmark,
)
from volsr.benchmark.report import fmt
from volsr.errors import ConfigError, InputError
from volsr.phantom import phantom_volume

SHAPE, SPACING = (32, 36, 32), (5.0, 5.0, 5.0)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    from volsr.data import write_manifest
    from volsr.io import save_volume

    d = tmp_path_factory.mktemp("bench")
    cases = []
    for i in range(2):
        save_volume(phantom_volume(SHAPE, SPACING, seed=i), d / f"ph{i}.nii.gz")
        cases.append({"id": f"ph{i}", "hr": f"ph{i}.nii.gz"})
    lr = make_pair("thick4", phantom_volume(SHAPE, SPACING, seed=5))[0]
    save_volume(phantom_volume(SHAPE, SPACING, seed=5), d / "ph5.nii.gz")
    save_volume(lr, d / "ph5_lr.nii.gz")
    path = d / "m.json"
    write_manifest(path, {"name": "phantoms", "test": cases,
                          "validation": [{"id": "ph5", "hr": "ph5.nii.gz",
                                          "lr": "ph5_lr.nii.gz"}]})
    return path


@pytest.fixture(scope="module")
def report(manifest, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    res = run_benchmark(manifest, "bspline,nearest", protocol="thick4", out_dir=out,
                        device="cpu")
    return res, out


def test_report_files_exist_and_are_self_contained(report):
    res, out = report
    for name in ("results.csv", "results.json", "report.md", "report.html"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0
    assert sorted(res.figures) == ["ph0", "ph1"]
    for rel in res.figures.values():
        assert (out / rel).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 2 and "<table>" in page
    assert "figures/ph0.png" in (out / "report.md").read_text(encoding="utf-8")


def test_table_values_equal_metrics_computed_directly(report, manifest):
    from volsr.data import load_manifest
    from volsr.io import load_volume
    from volsr.metrics import evaluate
    from volsr.models.interpolation import Interpolator  # noqa: F401 - registry import
    from volsr.predictors import super_resolve

    res, out = report
    rows = json.loads((out / "results.json").read_text(encoding="utf-8"))["rows"]
    with open(out / "results.csv", newline="") as f:
        csv_rows = list(csv.DictReader(f))
    md = (out / "report.md").read_text(encoding="utf-8")
    man = load_manifest(manifest)
    for case in man.cases("test"):
        hr = load_volume(case.hr)
        lr = make_pair("thick4", hr, case_id=case.id)[0]
        for method in ("bspline", "nearest"):
            sr = super_resolve(lr, method, reference=hr.grid)
            direct = evaluate(hr, sr, mask="auto")
            row = next(r for r in rows if r["case"] == case.id and r["method"] == method)
            crow = next(r for r in csv_rows if r["case"] == case.id and r["method"] == method)
            for key in ("psnr", "ssim", "nrmse", "hfen"):
                want = getattr(direct, key)
                assert row[key] == pytest.approx(want, rel=1e-12, abs=1e-12)
                assert float(crow[key]) == pytest.approx(want, rel=1e-12, abs=1e-12)
            line = (f"| {case.id} | {method} | {fmt('psnr', direct.psnr)} | "
                    f"{fmt('ssim', direct.ssim)} | {fmt('nrmse', direct.nrmse)} | "
                    f"{fmt('hfen', direct.hfen)} |")
            assert line in md
            assert row["seconds"] > 0 and row["peak_mb"] > 10
    # mean +/- sd in the summary is over the two cases
    for s in res.summary:
        vals = [r["psnr"] for r in rows if r["method"] == s["method"]]
        assert s["n"] == 2
        assert s["psnr_mean"] == pytest.approx(np.mean(vals))
        assert s["psnr_sd"] == pytest.approx(np.std(vals, ddof=1))
    bs = next(s for s in res.summary if s["method"] == "bspline")
    nn = next(s for s in res.summary if s["method"] == "nearest")
    assert bs["psnr_mean"] > nn["psnr_mean"]  # B-spline beats nearest on smooth anatomy


@pytest.mark.parametrize("name", ["thick4-noise", "thick4", "kspace4", "iso-gauss4"])
def test_protocol_is_deterministic(name):
    hr = phantom_volume((24, 24, 24), (6.0, 6.0, 6.0))
    a, rec_a = make_pair(name, hr, case_id="x", seed=3)
    b, rec_b = make_pair(name, hr, case_id="x", seed=3)
    assert np.array_equal(a.data, b.data) and np.array_equal(a.affine, b.affine)
    assert rec_a == rec_b
    if name == "thick4-noise":
        c, _ = make_pair(name, hr, case_id="x", seed=4)
        d, _ = make_pair(name, hr, case_id="y", seed=3)
        assert not np.array_equal(a.data, c.data) and not np.array_equal(a.data, d.data)


def test_protocol_grids():
    hr = phantom_volume((24, 24, 24), (6.0, 6.0, 6.0))
    assert make_pair("thick4", hr)[0].spatial_shape == (24, 24, 6)
    assert make_pair("thick6-rect", hr)[0].spatial_shape == (24, 24, 4)
    assert make_pair("kspace4", hr)[0].spatial_shape == (24, 24, 6)
    assert make_pair("iso-gauss4", hr)[0].spatial_shape == (6, 6, 6)
    assert set(PROTOCOLS) >= {"thick2", "thick4", "thick6", "thick4-rect", "kspace4",
                              "iso-gauss4", "paired"}
    with pytest.raises(ConfigError, match="unknown protocol"):
        get_protocol("thick5")
    with pytest.raises(InputError, match="no 'lr' volume"):
        make_pair("paired", hr)
    assert case_seed(0, "a") == case_seed(0, "a") != case_seed(1, "a")


def test_paired_protocol_uses_the_real_lr(manifest):
    res = run_benchmark(manifest, "bspline", protocol="paired", split="validation",
                        figures=False)
    assert res.rows[0]["status"] == "ok" and res.cases[0]["lr_grid"]["shape"] == [32, 36, 8]
    synth = run_benchmark(manifest, "bspline", protocol="thick4", split="validation",
                          figures=False)
    assert res.rows[0]["psnr"] == pytest.approx(synth.rows[0]["psnr"], abs=1e-6)


def test_crop_center_keeps_world_positions():
    v = phantom_volume((20, 22, 24), (2.0, 3.0, 4.0))
    c = crop_center(v, 10)
    assert c.spatial_shape == (10, 10, 10)
    # voxel (0,0,0) of the crop is voxel (5,6,7) of the original, at the same world point
    assert np.allclose(c.affine @ [0, 0, 0, 1], v.affine @ [5, 6, 7, 1])
    assert np.array_equal(c.data[0, 0, 0], v.data[0, 5, 6, 7:17])


def test_methods_parse_and_default_fails_clearly(tmp_path):
    from volsr.weights import resolve_bundled

    assert parse_methods("bspline, a=linear,runs/x/") == [
        ("bspline", "bspline"), ("a", "linear"), ("x", "runs/x/")]
    with pytest.raises(ConfigError, match="twice"):
        parse_methods("bspline,bspline")
    with pytest.raises(ConfigError, match="no such folder"):
        build_method("x", str(tmp_path / "nope") + "/")
    if resolve_bundled("default") is None:
        with pytest.raises(ConfigError, match="no bundled default model"):
            build_method("default", "default")


def test_a_failing_method_is_recorded_not_fatal(manifest):
    def broken(lr, grid):
        raise InputError("this method always fails")

    good = build_method("bspline", "bspline")
    res = run_benchmark(manifest, [good, Method("broken", "broken", broken)], figures=False,
                        cases=["ph0"])
    bad = next(r for r in res.rows if r["method"] == "broken")
    assert bad["status"] == "failed" and "always fails" in bad["error"]
    assert next(s for s in res.summary if s["method"] == "broken")["n"] == 0
    with pytest.raises(InputError):
        run_benchmark(manifest, [Method("broken", "broken", broken)], figures=False,
                      cases=["ph0"], keep_going=False)


def test_cli_benchmark(manifest, tmp_path):
    from volsr.cli import app

    out = tmp_path / "rep"
    r = CliRunner().invoke(app, ["benchmark", "--manifest", str(manifest), "--methods",
                                 "bspline,lin=linear", "--protocol", "thick2-rect", "--out",
                                 str(out), "--no-figures", "--cases", "ph1", "--max-size", "24"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "bspline" in r.stdout and "lin" in r.stdout
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert data["protocol"]["name"] == "thick2-rect" and data["figures"] == {}
    assert data["cases"][0]["truth_grid"]["shape"] == [24, 24, 24]
    assert all(math.isfinite(r["psnr"]) for r in data["rows"])
    r = CliRunner().invoke(app, ["benchmark", "--manifest", str(manifest), "--protocol",
                                 "nope"])
    assert r.exit_code == 2 and "unknown protocol" in r.output


def test_ssr_method_trains_per_scan_on_the_budget(manifest):
    res = run_benchmark(manifest, "ssr-nosaa", figures=False, cases=["ph0"], ssr_steps=2,
                        threads=1, device="cpu")
    row = res.rows[0]
    assert row["status"] == "ok", row["error"]
    assert math.isfinite(row["psnr"]) and row["psnr"] > 10
    assert res.methods[0]["saa"] is False and res.methods[0]["steps"] == 2
