"""Slice-profile estimation (volsr.ssr.profile_estimate) on simulated thick-slice scans.

The scans are made with volsr.degrade.ThickSlice from a statistically isotropic texture
(a Gaussian random field with a power-law spectrum, inside a ball): the estimator's
assumption holds there, so what these tests measure is the method, not the anatomy.

What is identifiable (measured here; numbers for real scans are in docs/ssr.md):

* the profile's standard deviation, always: within 15 %;
* the width, whenever the family is right;
* the family, where the two families differ measurably: a rect of width ``w`` and a
  Gaussian of FWHM ~0.68 ``w`` (equal standard deviation) have nearly the same
  pass-band spectrum, and only their aliased tails tell them apart. Where the family
  confidence is >= 0.3 it is right; on this texture rect is confidently told apart
  only at x2, a wide Gaussian always;
* not at all: rect widths at or below two pixels at x2 give *identical* scans (each
  thick slice weights its two pixels alike), and the estimate says "no gap".
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from volsr.degrade import ThickSlice
from volsr.io import Volume
from volsr.ssr import analyze_header, self_super_resolve
from volsr.ssr.profile_choice import choose_profile
from volsr.ssr.profile_estimate import ProfileEstimate, estimate_profile, profile_std

CONFIDENT = 0.3


def _texture(n: int = 96, *, spacing=(1.0, 1.0, 1.0), beta: float = 1.5, seed: int = 0
             ) -> Volume:
    """An isotropic (in mm) power-law random field inside a ball, on a voxel grid."""
    rng = np.random.default_rng(seed)
    k = [np.fft.fftfreq(n, d=spacing[0])[:, None, None],
         np.fft.fftfreq(n, d=spacing[1])[None, :, None],
         np.fft.rfftfreq(n, d=spacing[2])[None, None, :]]
    kk = np.sqrt(k[0] ** 2 + k[1] ** 2 + k[2] ** 2)
    noise = np.fft.rfftn(rng.standard_normal((n, n, n)), axes=(0, 1, 2))
    field = np.fft.irfftn(noise * (kk ** 2 + 0.02 ** 2) ** (-beta / 4), s=(n, n, n),
                          axes=(0, 1, 2))
    field = (field - field.mean()) / field.std()
    c = [(np.arange(n) - (n - 1) / 2) * s for s in spacing]
    radius = 0.4 * n * min(spacing)
    ball = (c[0][:, None, None] ** 2 + c[1][None, :, None] ** 2
            + c[2][None, None, :] ** 2) < radius ** 2
    return Volume(((1.0 + 0.3 * field) * ball).astype(np.float32)[None],
                  np.diag([*spacing, 1.0]))


@pytest.fixture(scope="module")
def texture() -> Volume:
    return _texture()


def _thick(hr: Volume, factor: float, family: str, ratio: float) -> Volume:
    return ThickSlice(axis=2, factor=factor, profile=family, thickness=factor * ratio)(hr)


CASES = [(f, fam, r) for f in (4.0, 6.0) for fam in ("rect", "gaussian")
         for r in (0.8, 1.0, 1.2)] + [(2.0, "gaussian", r) for r in (0.8, 1.0, 1.2)] + [
    (2.0, "rect", 1.2)]


@pytest.mark.parametrize(("factor", "family", "ratio"), CASES)
def test_estimate_on_simulated_thick_slices(texture, factor, family, ratio):
    lr = _thick(texture, factor, family, ratio)
    acq = analyze_header(lr)
    est = estimate_profile(lr.data[0], acq)
    true_mm = factor * ratio  # HR voxels are 1 mm
    # the blur's size (standard deviation) is always found
    assert est.std == pytest.approx(profile_std(family, true_mm), rel=0.15)
    assert est.gap == pytest.approx(acq.slice_spacing - est.thickness)
    if est.family_confidence >= CONFIDENT:  # the families differ measurably: it is right
        assert est.family == family
    if est.family == family:
        assert est.thickness == pytest.approx(true_mm, rel=0.15)
    if family == "gaussian" and ratio == 1.2:  # a wide Gaussian is unmistakable
        assert est.family == "gaussian" and est.family_confidence >= 0.5
    assert est.confidence >= 0.15  # the width (standard deviation) is well determined


def test_some_cases_are_confident_and_right(texture):
    """The confident branch above is not vacuous: it covers both families."""
    confident = set()
    for factor, family, ratio in [(4.0, "gaussian", 1.0), (2.0, "rect", 1.0)]:
        lr = _thick(texture, factor, family, ratio)
        est = estimate_profile(lr.data[0], analyze_header(lr))
        if est.family_confidence >= CONFIDENT and est.family == family:
            confident.add(family)
    assert confident == {"rect", "gaussian"}


def test_thin_rects_at_x2_are_unidentifiable_and_read_as_no_gap(texture):
    a, b = _thick(texture, 2.0, "rect", 0.8), _thick(texture, 2.0, "rect", 1.0)
    assert np.array_equal(a.data, b.data)  # the scans themselves are the same
    est = estimate_profile(a.data[0], analyze_header(a))
    assert est.family == "rect" and est.thickness == pytest.approx(2.0)
    assert est.gap == pytest.approx(0.0)


def test_anisotropic_inplane_spacing(tmp_path):
    hr = _texture(96, spacing=(1.0, 1.12, 1.0), seed=3)
    lr = _thick(hr, 4.0, "gaussian", 1.2)  # 4 mm slices, 4.8 mm FWHM
    acq = analyze_header(lr)
    assert acq.spacing[1] == pytest.approx(1.12)
    est = estimate_profile(lr.data[0], acq)
    assert est.family == "gaussian"
    assert est.thickness == pytest.approx(4.8, rel=0.15)


def test_known_thickness_estimates_the_family_only(texture):
    lr = _thick(texture, 4.0, "gaussian", 1.2)
    est = estimate_profile(lr.data[0], analyze_header(lr), thickness=4.8)
    assert est.thickness == 4.8 and est.family == "gaussian"
    assert [len(v) for v in est.costs.values()] == [1, 1]


def test_to_dict_is_json_ready(texture):
    lr = _thick(texture, 4.0, "rect", 1.0)
    est = estimate_profile(lr.data[0], analyze_header(lr))
    d = json.loads(json.dumps(est.to_dict()))
    assert set(d) >= {"family", "thickness_mm", "gap_mm", "confidence", "family_confidence",
                      "costs", "std_mm"}
    assert set(d["costs"]) == {"rect", "gaussian"}
    assert all(len(row) == 2 for rows in d["costs"].values() for row in rows)
    assert isinstance(est, ProfileEstimate) and est.profile().kind == est.family


# -- wiring: config default, overrides, low confidence, sidecar ---------------------------

TINY = {"steps": 2, "model": "srcnn_2d", "device": "cpu", "patch_size": 16, "batch_size": 2,
        "model_kwargs": {"features": [4], "kernel_sizes": [3, 3], "residual": True}}


@pytest.fixture(scope="module")
def small_lr() -> Volume:
    return _thick(_texture(64, seed=2), 4.0, "gaussian", 1.2)


def test_auto_is_the_default_and_is_recorded(small_lr):
    from volsr.config.ssr import SSRConfig

    assert SSRConfig().profile == "auto"
    rep = self_super_resolve(small_lr, **TINY).report
    rec = rep["profile_estimate"]
    assert rec["used"] and rec["fallback"] is None
    est = rec["estimate"]
    assert rep["profile"]["kind"] == est["family"] == "gaussian"
    assert rep["profile"]["thickness_mm"] == pytest.approx(est["thickness_mm"], abs=1e-3)
    assert rep["acquisition"]["thickness_mm"] == pytest.approx(est["thickness_mm"], abs=1e-3)
    assert rep["acquisition"]["gap_mm"] == pytest.approx(4.0 - est["thickness_mm"], abs=1e-3)
    assert rep["settings"]["profile"] == "auto"


def test_low_confidence_falls_back_to_the_gaussian_default(small_lr):
    rep = self_super_resolve(small_lr, profile_min_confidence=1.0, **TINY).report
    rec = rep["profile_estimate"]
    assert not rec["used"] and rec["min_confidence"] == 1.0
    assert rep["profile"] == {"kind": "gaussian", "thickness_mm": 4.0}
    assert rec["fallback"] == rep["profile"]
    assert any("low confidence" in w for w in rep["warnings"])


def test_too_few_slices_for_a_spectrum_fall_back_with_a_warning():
    from volsr.config.ssr import SSRConfig

    lr = _thick(_texture(48, seed=4), 16.0, "rect", 1.0)  # 3 slices
    acq = analyze_header(lr)
    with pytest.raises(ValueError, match="too few samples"):
        estimate_profile(lr.data[0], acq)
    acq2, prof, rec = choose_profile(lr, acq, SSRConfig())
    assert prof.to_dict() == {"kind": "gaussian", "thickness_mm": 16.0}
    assert rec["estimate"] is None and not rec["used"] and rec["fallback"] == prof.to_dict()
    assert any("too few samples" in w for w in acq2.warnings)


def test_explicit_profile_and_thickness_override_the_estimate(small_lr):
    rep = self_super_resolve(small_lr, profile="rect", **TINY).report
    assert rep["profile"] == {"kind": "rect", "thickness_mm": 4.0}
    assert rep["profile_estimate"] is None
    rep = self_super_resolve(small_lr, slice_thickness=3.0, **TINY).report
    assert rep["profile"]["thickness_mm"] == 3.0  # auto estimates the family only
    assert rep["profile_estimate"]["estimate"]["thickness_mm"] == 3.0


def test_cli_default_is_auto_and_the_sidecar_has_the_estimate(tmp_path):
    from typer.testing import CliRunner

    from volsr.cli import app
    from volsr.io import save_volume

    src, out = tmp_path / "thick.nii.gz", tmp_path / "sr.nii.gz"
    save_volume(_thick(_texture(40, seed=5), 4.0, "gaussian", 1.2), src)
    r = CliRunner().invoke(app, ["ssr", str(src), "-o", str(out), "--budget", "fast",
                                 "--steps", "2", "--device", "cpu", "--threads", "1",
                                 "-m", "srcnn_2d", "--no-saa"])
    assert r.exit_code == 0, r.output
    side = json.loads((tmp_path / "sr.nii.gz.volsr.json").read_text(encoding="utf-8"))
    assert side["settings"]["profile"] == "auto"
    assert side["profile_estimate"]["estimate"]["family"] == side["profile"]["kind"]


def _est_record(family: str, width: float, fc: float, *, fallback: dict | None = None,
                costs: dict | None = None) -> dict:
    est = {"family": family, "thickness_mm": width, "gap_mm": 4.0 - width, "confidence": 0.4,
           "family_confidence": fc, "costs": costs or {}}
    return {"estimate": est, "used": fallback is None, "min_confidence": 0.05,
            "fallback": fallback}


def test_training_profiles_one_when_confident_two_when_not():
    from volsr.errors import ConfigError
    from volsr.ssr.profile import build_profile
    from volsr.ssr.profile_choice import training_profiles

    acq = analyze_header(np.diag([1.0, 1.0, 4.0, 1.0]))
    gauss = build_profile("gaussian", thickness=4.4)
    # a given profile, or a confident estimate: that profile alone
    assert training_profiles(acq, gauss, None, fallback="mixed",
                             family_min_confidence=0.5) == [gauss]
    rec = _est_record("gaussian", 4.4, 0.6)
    assert training_profiles(acq, gauss, rec, fallback="mixed",
                             family_min_confidence=0.5) == [gauss]
    assert rec["hedge"] is None and rec["trained_on"] == [gauss.to_dict()]
    # ambiguous family: the other family too, at the same standard deviation ...
    rec = _est_record("gaussian", 4.4, 0.1)
    got = training_profiles(acq, gauss, rec, family_min_confidence=0.5)
    assert [p.kind for p in got] == ["gaussian", "rect"] and rec["hedge"] == "family"
    assert profile_std("rect", got[1].thickness) == pytest.approx(profile_std("gaussian", 4.4))
    assert rec["trained_on"] == [p.to_dict() for p in got]
    assert rec["family_min_confidence"] == 0.5
    # ... or at its own best width in the estimate's costs when that is inside the range
    costs = {"rect": [[4.0, 0.3], [5.0, 0.1], [6.0, 0.3]], "gaussian": [[4.0, 0.05]]}
    rec = _est_record("gaussian", 4.4, 0.1, costs=costs)
    got = training_profiles(acq, gauss, rec, family_min_confidence=0.5)
    assert got[1].kind == "rect" and got[1].thickness == pytest.approx(5.0)
    # threshold 0 (the default): never on the family
    assert training_profiles(acq, gauss, _est_record("gaussian", 4.4, 0.0)) == [gauss]
    # estimate set aside: Gaussian alone, or (mixed) Gaussian and rect of the header thickness
    fb = build_profile("gaussian", thickness=4.0)
    rec = _est_record("rect", 2.4, 0.4, fallback=fb.to_dict())
    assert training_profiles(acq, fb, rec, fallback="gaussian") == [fb]
    assert rec["hedge"] is None
    got = training_profiles(acq, fb, rec, fallback="mixed")
    assert [p.to_dict() for p in got] == [fb.to_dict(), {"kind": "rect", "thickness_mm": 4.0}]
    assert rec["hedge"] == "fallback" and rec["trained_on"] == [p.to_dict() for p in got]
    with pytest.raises(ConfigError, match="fallback"):
        training_profiles(acq, fb, rec, fallback="both")


@pytest.mark.parametrize("settings, hedge", [
    ({"profile_min_confidence": 1.0, "profile_fallback": "mixed"}, "fallback"),
    ({"profile_family_min_confidence": 1.0}, "family")])
def test_ssr_trains_on_two_profiles_and_records_them(small_lr, tmp_path, settings, hedge):
    res = self_super_resolve(small_lr, save_weights=tmp_path / "w", **settings, **TINY)
    rep = res.report
    rec = rep["profile_estimate"]
    assert rec["hedge"] == hedge and len(rec["trained_on"]) == 2
    assert rep["trained_on"] == rec["trained_on"]
    assert {p["kind"] for p in rep["trained_on"]} == {"gaussian", "rect"}
    assert rep["trained_on"][0] == rep["profile"]  # the profile used comes first
    for role in ("saa", "ssr"):
        kinds = [p["profile"]["kind"] for p in rep["training"][role]["pairs"]]
        assert kinds == [rep["trained_on"][0]["kind"]] * 2 + [rep["trained_on"][1]["kind"]] * 2
    assert rep["settings"][next(iter(settings))] == next(iter(settings.values()))
    assert np.isfinite(res.volume.data).all()
    json.dumps(rep)


def test_single_profile_runs_are_unchanged_by_the_hedge_settings(small_lr):
    a = self_super_resolve(small_lr, **TINY)
    b = self_super_resolve(small_lr, profile_fallback="mixed", **TINY)  # estimate confident
    assert a.report["trained_on"] == b.report["trained_on"] == [a.report["profile"]]
    assert a.report["profile_estimate"]["hedge"] is None
    assert np.array_equal(a.volume.data, b.volume.data)
