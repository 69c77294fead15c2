"""Self-super-resolution (volsr.ssr): header analysis, profiles, pairs, fusion, pipeline, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import oblique_affine

from volsr.errors import ConfigError, InputError
from volsr.geometry import scale_affine
from volsr.io import Volume
from volsr.ssr import (
    SSRModel,
    analyze_header,
    average_fusion,
    build_profile,
    fourier_burst_fusion,
    read_profile_file,
    self_super_resolve,
)
from volsr.ssr.pairs import build_sampler

TINY = {"model": "srcnn_2d", "model_kwargs": {"features": [4], "kernel_sizes": [3, 3],
                                              "residual": True},
        "patch_size": 16, "batch_size": 4, "steps": 20, "device": "cpu"}


pytestmark = pytest.mark.usefixtures("one_thread")


def _phantom(shape=(32, 32, 8), spacing=(2.0, 2.0, 8.0), affine=None, seed=0) -> Volume:
    from volsr.phantom import phantom_volume

    return phantom_volume(shape, spacing, affine=affine, supersample=1, seed=seed)


# -- header analysis ---------------------------------------------------------------------


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_header_finds_the_slice_axis_and_factor(axis):
    sp = [0.8, 0.8, 0.8]
    sp[axis] = 2.6  # non-integer factor 3.25
    acq = analyze_header(np.diag([*sp, 1.0]))
    assert acq.axis == axis
    assert acq.inplane_axes == tuple(i for i in range(3) if i != axis)
    assert acq.factor == pytest.approx(3.25)
    assert (acq.thickness, acq.gap) == (pytest.approx(2.6), pytest.approx(0.0))
    assert acq.thickness_px == pytest.approx(3.25)


def test_header_works_on_oblique_affines():
    acq = analyze_header(oblique_affine(spacing=(3.6, 0.9, 0.92)))
    assert acq.axis == 0 and acq.inplane_axes == (1, 2)
    assert acq.inplane_spacing == pytest.approx(0.91)
    assert acq.factor == pytest.approx(3.6 / 0.91)
    assert acq.warnings == ()  # 2 % in-plane difference is not worth a warning


def test_header_thickness_and_gap_options():
    a = np.diag([1.0, 1.0, 5.0, 1.0])
    assert analyze_header(a, slice_gap=1.0).thickness == pytest.approx(4.0)
    acq = analyze_header(a, slice_thickness=6.0)  # overlapping slices
    assert acq.gap == pytest.approx(-1.0) and any("overlap" in w for w in acq.warnings)
    assert analyze_header(a, slice_thickness=4.0, slice_gap=1.0).gap == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="must equal the slice spacing"):
        analyze_header(a, slice_thickness=4.0, slice_gap=2.0)


@pytest.mark.parametrize("spacing, match", [
    ((1.0, 1.0, 1.1), "isotropic"),
    ((1.0, 3.0, 3.0), "two voxel axes are coarse"),
    ((0.5, 0.8, 4.0), "in-plane spacings differ"),
])
def test_header_refuses_unusable_geometry(spacing, match):
    with pytest.raises(InputError, match=match):
        analyze_header(np.diag([*spacing, 1.0]))


def test_header_refuses_4d_and_thin_slices():
    vol = Volume(np.zeros((2, 8, 8, 4), np.float32), np.diag([1.0, 1.0, 4.0, 1.0]))
    with pytest.raises(InputError, match="4D or multi-channel"):
        analyze_header(vol)
    with pytest.raises(ConfigError, match="smaller than the in-plane spacing 0.9"):
        analyze_header(np.diag([0.9, 0.9, 4.0, 1.0]), slice_thickness=0.5)
    with pytest.raises(ConfigError, match="must be > 0"):
        analyze_header(np.diag([0.9, 0.9, 4.0, 1.0]), slice_gap=4.0)


# -- slice profiles ----------------------------------------------------------------------


def _row(profile, pixel=0.05, n=601):
    return profile.matrix(n, 1.0, pixel_mm=pixel).toarray()[n // 2]


def _fwhm(w, pixel):
    half = w.max() / 2
    above = np.flatnonzero(w >= half)
    lo, hi = above[0], above[-1]
    left = lo - 1 + (half - w[lo - 1]) / (w[lo] - w[lo - 1])
    right = hi + (w[hi] - half) / (w[hi] - w[hi + 1])
    return (right - left) * pixel


def test_gaussian_profile_has_unit_area_and_the_stated_fwhm():
    w = _row(build_profile("gaussian", thickness=3.0))
    assert w.sum() == pytest.approx(1.0, abs=1e-9)
    assert _fwhm(w, 0.05) == pytest.approx(3.0, abs=0.02)


def test_rect_profile_has_unit_area_and_the_stated_width():
    w = _row(build_profile("rect", thickness=3.0))
    assert w.sum() == pytest.approx(1.0, abs=1e-9)
    assert np.count_nonzero(w > 1e-12) * 0.05 == pytest.approx(3.0, abs=0.05 + 1e-9)
    inner = w[w > w.max() * 0.99]
    assert np.ptp(inner) < 1e-12  # flat top


def test_custom_profile_from_a_file(tmp_path):
    f = tmp_path / "profile.txt"
    f.write_text("# triangle\n0\n1\n2\n1\n0\n")
    prof = build_profile("custom", kernel=read_profile_file(f), step=1.5)
    assert prof.thickness == pytest.approx(3.0)  # FWHM of the triangle: 2 samples x 1.5 mm
    w = _row(prof, pixel=0.05)
    assert w.sum() == pytest.approx(1.0, abs=1e-9)
    assert _fwhm(w, 0.05) == pytest.approx(3.0, abs=0.05)
    with pytest.raises(ConfigError, match="profile-step"):
        build_profile("custom", kernel=[0, 1, 0], step=None)
    f.write_text("a\nb\n")
    with pytest.raises(ConfigError, match="cannot read"):
        read_profile_file(f)


# -- training pairs ----------------------------------------------------------------------


def _poisoned(rng):
    """In-plane slices that have nothing in common with each other along z."""
    data = np.stack([rng.normal(0, 1 + 3 * k, (24, 20)) + 100 * k for k in range(6)], -1)
    return data.astype(np.float32)


def _dihedral(img):
    for r in range(4):
        rot = np.rot90(img, r)
        yield rot
        yield rot[::-1]


def _is_crop(patch, image):
    from numpy.lib.stride_tricks import sliding_window_view

    for t in _dihedral(image):
        if t.shape[0] >= patch.shape[0] and t.shape[1] >= patch.shape[1]:
            win = sliding_window_view(t, patch.shape)
            if np.any(np.all(win == patch, axis=(2, 3))):
                return True
    return False


def test_training_targets_are_exact_in_plane_slices(rng):
    hr = _poisoned(rng)
    acq = analyze_header(np.diag([1.0, 1.0, 4.0, 1.0]))
    prof = build_profile("gaussian", thickness=4.0)
    sampler = build_sampler(hr, acq, prof, "aliased_to_sharp", patch_size=8, fg_fraction=0.0)
    _, ys, meta = sampler.sample(np.random.default_rng(0), 40, return_meta=True)
    assert {m["stack"] for m in meta} == {0, 1}  # both in-plane axes get degraded
    for y, m in zip(ys[:, 0], meta):
        k = m["slice"]
        assert _is_crop(y, hr[..., k])
        others = [j for j in range(hr.shape[2]) if j != k]
        assert not any(_is_crop(y, hr[..., j]) for j in others)


@pytest.mark.parametrize("task", ["aliased_to_blurred", "blurred_to_sharp", "aliased_to_sharp"])
def test_pairs_never_mix_in_plane_slices(rng, task):
    hr = _poisoned(rng)
    acq = analyze_header(np.diag([1.0, 1.0, 4.0, 1.0]))
    prof = build_profile("rect", thickness=4.0)
    a = build_sampler(hr, acq, prof, task, fg_fraction=0.0)
    hr2 = hr.copy()
    hr2[..., 3] = rng.normal(size=hr.shape[:2]) * 50
    b = build_sampler(hr2, acq, prof, task, fg_fraction=0.0)
    for sa, sb in zip(a.stacks, b.stacks):
        keep = [0, 1, 2, 4, 5]
        assert np.array_equal(sa.inputs[keep], sb.inputs[keep])
        assert np.array_equal(sa.targets[keep], sb.targets[keep])
        assert not np.allclose(sa.inputs[3], sb.inputs[3])
        # the input is a degraded version of the target: same mean per slice, less detail
        assert np.allclose(sa.inputs.mean(axis=(1, 2)), sa.targets.mean(axis=(1, 2)),
                           rtol=0.02, atol=0.5)


def test_pairs_degrade_only_the_last_patch_axis():
    x = np.zeros((20, 20, 3), np.float32)
    x[::2] = 1.0  # stripes along axis 0 only (constant along axis 1)
    acq = analyze_header(np.diag([1.0, 1.0, 4.0, 1.0]))
    s = build_sampler(x, acq, build_profile("rect", thickness=4.0), "aliased_to_sharp",
                      fg_fraction=0.0)
    by_axis = {info["degraded_axis"]: st for info, st in zip(s.info, s.stacks)}
    # degrading axis 0 wipes the stripes out; degrading axis 1 leaves them untouched
    assert np.ptp(by_axis[0].inputs[:, 4:-4, 4:-4]) < 0.05
    assert np.allclose(by_axis[1].inputs, by_axis[1].targets, atol=1e-5)
    assert by_axis[0].inputs.shape == (3, 20, 20)


# -- fusion ------------------------------------------------------------------------------


def test_fba_of_identical_estimates_is_the_estimate(rng):
    x = rng.normal(size=(12, 10, 9)).astype(np.float32)
    assert np.allclose(fourier_burst_fusion([x, x, x]), x, atol=1e-5)


def test_average_of_two_is_the_mean(rng):
    a, b = rng.normal(size=(2, 5, 6, 7)).astype(np.float32)
    assert np.allclose(average_fusion([a, b]), (a + b) / 2, atol=1e-6)
    assert np.allclose(fourier_burst_fusion([a, b], p=0), (a + b) / 2, atol=1e-5)


def test_fba_keeps_the_frequencies_one_estimate_restored():
    z = np.arange(32)
    sharp = (1.0 + np.cos(2 * np.pi * 5 * z / 32))[None, None, :].repeat(4, 0).repeat(4, 1)
    flat = np.ones_like(sharp)  # the other estimate lost the oscillation entirely
    fused = fourier_burst_fusion([sharp, flat], p=11)
    assert np.allclose(fused, sharp, atol=1e-5)
    assert not np.allclose(average_fusion([sharp, flat]), sharp, atol=0.1)


# -- pipeline, saved weights, CLI ---------------------------------------------------------


def test_pipeline_output_grid_and_report():
    lr = _phantom()
    res = self_super_resolve(lr, profile="gaussian", **TINY)  # the default is auto
    assert res.volume.spatial_shape == (32, 32, 32)
    assert np.allclose(res.volume.affine, scale_affine(lr.affine, (1, 1, 4)), atol=1e-9)
    assert np.isfinite(res.volume.data).all()
    rep = res.report
    assert rep["acquisition"]["axis"] == 2 and rep["acquisition"]["factor"] == 4.0
    assert rep["profile"] == {"kind": "gaussian", "thickness_mm": 8.0}
    assert set(rep["timings"]) >= {"train_saa_s", "train_ssr_s", "apply_s"}
    # the default budget gives SAA half the SSR steps
    assert rep["training"]["saa"]["steps"] == 10 and rep["training"]["ssr"]["steps"] == 20
    assert rep["seeds"] == {"seed": 0, "saa": 0, "ssr": 1}
    assert rep["output_grid"]["shape"] == [32, 32, 32]
    json.dumps(rep)  # JSON-ready


def test_cascade_trains_ssr_on_the_saa_output():
    lr = _phantom()
    res = self_super_resolve(lr, **TINY)
    assert res.report["training"]["saa"]["task"] == "aliased_to_blurred"
    assert res.report["training"]["ssr"]["task"] == "antialiased_to_sharp"
    plain = self_super_resolve(lr, cascade=False, **TINY)
    assert plain.report["training"]["ssr"]["task"] == "blurred_to_sharp"
    assert not np.array_equal(plain.volume.data, res.volume.data)


def test_training_plan_splits_steps_and_time_by_share():
    from volsr.ssr.config import resolve_config
    from volsr.ssr.pipeline import _training_plan

    plan = _training_plan(resolve_config("fast"))
    assert plan["ssr"][0] == 900 and plan["saa"][0] == 300
    assert plan["ssr"][1] + plan["saa"][1] == pytest.approx(420.0)
    assert plan["ssr"][1] == pytest.approx(3 * plan["saa"][1])
    plan = _training_plan(resolve_config("default", time_limit=60.0, saa_share=1.0))
    assert plan == {"ssr": (None, 30.0), "saa": (None, 30.0)}
    assert set(_training_plan(resolve_config("default", saa=False))) == {"ssr"}
    with pytest.raises(ConfigError, match="saa_share"):
        resolve_config("default", saa_share=0.0)


def test_time_saa_leaves_unused_goes_to_ssr():
    from volsr.ssr.config import resolve_config
    from volsr.ssr.pipeline import _ssr_time_limit, _training_plan

    plan = _training_plan(resolve_config("fast", time_limit=120.0))  # SAA 30 s, SSR 90 s
    assert _ssr_time_limit(plan, 10.0) == pytest.approx(110.0)
    assert _ssr_time_limit(plan, 45.0) == pytest.approx(90.0)  # overran: SSR keeps its share
    assert _ssr_time_limit(_training_plan(resolve_config("default")), 10.0) is None


def test_map_inputs_replaces_inputs_and_keeps_targets(rng):
    hr = _poisoned(rng)
    acq = analyze_header(np.diag([1.0, 1.0, 4.0, 1.0]))
    s = build_sampler(hr, acq, build_profile("rect", thickness=4.0), "aliased_to_sharp",
                      fg_fraction=0.0)
    targets = [st.targets.copy() for st in s.stacks]
    inputs = [st.inputs.copy() for st in s.stacks]
    s.map_inputs(lambda a: 2.0 * a + 1.0)
    for st, x, y in zip(s.stacks, inputs, targets):
        assert np.allclose(st.inputs, 2.0 * x + 1.0) and np.array_equal(st.targets, y)
    with pytest.raises(ValueError, match="shape"):
        s.map_inputs(lambda a: a[:, :-1])


def test_pipeline_on_an_oblique_scan_with_slices_along_axis_0():
    aff = oblique_affine(spacing=(6.0, 2.0, 2.0))
    lr = _phantom(shape=(6, 24, 20), affine=aff)
    res = self_super_resolve(lr, saa=False, fusion="average", slice_gap=1.0, random_angles=1,
                             **TINY)
    assert res.volume.spatial_shape == (18, 24, 20)
    pairs = res.report["training"]["ssr"]["pairs"]
    assert [p["degraded_axis"] for p in pairs] == [1, 2, 1, 2]
    assert pairs[0]["angle_deg"] == 0 and 0 < pairs[2]["angle_deg"] < 90
    assert np.allclose(res.volume.affine, scale_affine(aff, (3, 1, 1)), atol=1e-9)
    assert res.report["networks"]["saa"] is None
    assert res.report["acquisition"]["thickness_mm"] == pytest.approx(5.0)
    # an explicit output grid: the slice axis at 4 mm only
    res2 = self_super_resolve(lr, saa=False, target_spacing=(6.0, 2.0, 2.0 * 2), **TINY)
    assert res2.volume.spatial_shape == (6, 24, 10)


def test_same_seed_same_output_on_cpu():
    lr = _phantom()
    a = self_super_resolve(lr, **TINY).volume.data
    b = self_super_resolve(lr, **TINY).volume.data
    c = self_super_resolve(lr, seed=5, **TINY).volume.data
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_saved_weights_reproduce_and_apply_to_another_scan(tmp_path):
    from volsr.ssr.infer_hook import ssr_predictor

    lr = _phantom()
    res = self_super_resolve(lr, save_weights=tmp_path / "w", profile="gaussian", **TINY)
    meta = json.loads((tmp_path / "w" / "ssr.json").read_text(encoding="utf-8"))
    assert meta["acquisition"]["factor"] == 4.0 and meta["profile"]["kind"] == "gaussian"
    assert (tmp_path / "w" / "saa" / "model.safetensors").is_file()
    model = SSRModel.load(tmp_path / "w", device="cpu")
    again = model.run(lr)
    assert np.allclose(again.data, res.volume.data, atol=1e-6, rtol=0)
    assert np.allclose(again.affine, res.volume.affine)
    # another scan of the same acquisition (e.g. a mask) through the infer hook
    mask = lr.with_data((lr.data > 0.3).astype(np.float32))
    pred = ssr_predictor(tmp_path / "w", device="cpu", tta=True)
    out = pred(mask, isotropic=True)
    assert out.spatial_shape == (32, 32, 32) and pred.orientations == 4
    rec = pred.record()
    assert rec["name"] == "ssr" and len(rec["weights_sha256"]) == 64
    assert rec["weights"] == str((tmp_path / "w").resolve())
    # self-SR runs through the inference path: windows with a halo give the same output
    tiled = ssr_predictor(tmp_path / "w", device="cpu", patch_size=[8, 8, 8], overlap=0.5)
    assert tiled.window.patch_size == (8, 8, 8)
    np.testing.assert_allclose(tiled.run(lr).data, again.data, atol=1e-5, rtol=0)
    with pytest.raises(ConfigError, match="unknown option.*for --model ssr: normalization"):
        ssr_predictor(tmp_path / "w", normalization={"name": "none"})
    other = _phantom(shape=(32, 32, 16), spacing=(2.0, 2.0, 4.0))
    with pytest.raises(InputError, match="same acquisition"):
        model.run(other)


def test_old_task_names_still_build_the_same_pairs(rng):
    from volsr.ssr.pairs import task_name

    hr = _poisoned(rng)
    acq = analyze_header(np.diag([1.0, 1.0, 4.0, 1.0]))
    prof = build_profile("gaussian", thickness=4.0)
    for old, new in (("saa", "aliased_to_blurred"), ("ssr_after_saa", "blurred_to_sharp"),
                     ("ssr", "aliased_to_sharp")):
        a = build_sampler(hr, acq, prof, old, fg_fraction=0.0)
        b = build_sampler(hr, acq, prof, new, fg_fraction=0.0)
        assert task_name(old) == new
        for sa, sb in zip(a.stacks, b.stacks):
            assert np.array_equal(sa.inputs, sb.inputs)
            assert np.array_equal(sa.targets, sb.targets)
    with pytest.raises(ValueError, match="unknown self-SR task"):
        task_name("sharpen")


V1 = Path(__file__).resolve().parents[1] / "fixtures" / "ssr_weights_v1"


def test_weights_saved_by_the_old_code_load_and_give_the_same_output(tmp_path):
    """A folder written when EDSR had residual=False and the SSR code added the input
    (``"add_input": true``, tests/fixtures/make_ssr_weights_v1.py) still loads, as networks
    that add their input themselves, and reproduces that code's output exactly."""
    import shutil

    from volsr.ssr.pairs import task_name

    folder = tmp_path / "w"
    shutil.copytree(V1 / "weights", folder)
    before = {p.name: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    meta = json.loads((folder / "ssr.json").read_text(encoding="utf-8"))
    assert meta["networks"]["ssr"]["add_input"] is True  # the old format, really
    model = SSRModel.load(folder, device="cpu")
    assert model.ssr.net.residual is True and model.saa.net.residual is True
    assert model.ssr.kwargs["residual"] is True
    lr = _phantom(shape=(16, 16, 4))
    out = model.run(lr)
    np.testing.assert_array_equal(out.data, np.load(V1 / "expected.npy"))
    assert {p.name: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    assert [task_name(meta["training"][k]["task"]) for k in ("saa", "ssr")] == [
        "aliased_to_blurred", "antialiased_to_sharp"]
    # saved again by today's code: the networks add their input, the output is the same
    model.save(tmp_path / "again")
    again = json.loads((tmp_path / "again" / "ssr.json").read_text(encoding="utf-8"))
    assert again["networks"]["ssr"]["add_input"] is False
    np.testing.assert_array_equal(SSRModel.load(tmp_path / "again", device="cpu").run(lr).data,
                                  out.data)
    # a folder claiming the code adds the input to a network that adds it itself
    again["networks"]["ssr"]["add_input"] = True
    (tmp_path / "again" / "ssr.json").write_text(json.dumps(again), encoding="utf-8")
    with pytest.raises(InputError, match="adds it itself"):
        SSRModel.load(tmp_path / "again", device="cpu")


def test_networks_must_be_2d_refiners():
    lr = _phantom()
    with pytest.raises(ConfigError, match="2D network"):
        self_super_resolve(lr, **{**TINY, "model": "srcnn_3d", "model_kwargs": {}})
    with pytest.raises(ConfigError, match="budget"):
        self_super_resolve(lr, budget="instant")
    res = self_super_resolve(lr, **{**TINY, "model": "edsr_baseline_2d", "model_kwargs": {},
                                    "features": 4, "num_blocks": 1, "steps": 3})
    kw = res.report["networks"]["ssr"]["kwargs"]
    assert (kw["features"], kw["num_blocks"], kw["scale"]) == (4, 1, [1.0, 1.0])
    assert kw["residual"] is True and res.model.ssr.net.residual is True
    with pytest.raises(ConfigError, match="residual=True"):
        self_super_resolve(lr, **{**TINY, "model_kwargs": {"residual": False}})
    with pytest.raises(ConfigError, match="did you mean 'features'"):
        self_super_resolve(lr, **{**TINY, "feature": 4})


def test_bad_options_fail_before_any_training(tmp_path):
    from volsr.errors import OutputError

    lr, never = _phantom(), {**TINY, "steps": 10**9}  # training would never end
    with pytest.raises(ConfigError, match="exactly one"):
        self_super_resolve(lr, scale=(1, 1, 4), target_spacing=2.0, **never)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is a file"):
        self_super_resolve(lr, save_weights=tmp_path / "file", **never)
    with pytest.raises(ConfigError, match="custom"):
        self_super_resolve(lr, profile="custom", **never)


def test_explicit_cuda_without_cuda_is_an_error():
    import torch

    from volsr.errors import DeviceError

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(DeviceError, match="CUDA is not available"):
        self_super_resolve(_phantom(), **{**TINY, "device": "cuda"})


def _cli(*args):
    from typer.testing import CliRunner

    from volsr.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_writes_output_and_sidecar(tmp_path):
    from volsr.io import load_volume, save_volume

    src = tmp_path / "thick.nii.gz"
    save_volume(_phantom(), src)
    out = tmp_path / "sr.nii.gz"
    r = _cli("ssr", src, "-o", out, "--budget", "fast", "--steps", "3", "--device", "cpu",
             "--slice-thickness", "6", "--profile", "rect", "--save-weights", tmp_path / "w",
             "--threads", "1", "--precision", "bf16")
    assert r.exit_code == 0, r.output
    vol = load_volume(out)
    assert vol.spatial_shape == (32, 32, 32)
    side = json.loads((tmp_path / "sr.nii.gz.volsr.json").read_text(encoding="utf-8"))
    assert side["command"] == "ssr"
    assert side["acquisition"]["axis"] == 2 and side["acquisition"]["gap_mm"] == 2.0
    assert side["profile"] == {"kind": "rect", "thickness_mm": 6.0}
    assert side["settings"]["budget"] == "fast" and side["settings"]["steps"] == 3
    assert side["settings"]["precision"] == "bf16"  # training arithmetic, weights float32
    assert side["output_grid"]["shape"] == [32, 32, 32]
    assert len(side["input"]["sha256"]) == 64 and side["threads"] == 1
    assert (tmp_path / "w" / "ssr.json").is_file()


def test_cli_refuses_an_isotropic_scan(tmp_path):
    from volsr.io import save_volume

    src = tmp_path / "iso.nii.gz"
    save_volume(_phantom(shape=(16, 16, 16), spacing=(2.0, 2.0, 2.0)), src)
    out = tmp_path / "sr.nii.gz"
    r = _cli("ssr", src, "-o", out, "--budget", "fast", "--device", "cpu")
    assert r.exit_code != 0
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("volsr: error:") and "isotropic" in lines[0]
    assert not out.exists() and not Path(str(out) + ".volsr.json").exists()


def test_infer_model_ssr_reuses_saved_weights(tmp_path):
    """`volsr infer --model ssr --weights DIR` applies saved self-SR nets to another file
    of the same acquisition and reproduces the `volsr ssr` output."""
    import numpy as np

    from volsr.io import load_volume, save_volume

    src = tmp_path / "thick.nii.gz"
    save_volume(_phantom(), src)
    r = _cli("ssr", src, "-o", tmp_path / "sr.nii.gz", "--budget", "fast", "--steps", "3",
             "--device", "cpu", "--save-weights", tmp_path / "w", "--threads", "1")
    assert r.exit_code == 0, r.output
    r = _cli("infer", src, "-o", tmp_path / "again.nii.gz", "--model", "ssr", "--weights",
             tmp_path / "w", "--device", "cpu")
    assert r.exit_code == 0, r.output
    a, b = load_volume(tmp_path / "sr.nii.gz"), load_volume(tmp_path / "again.nii.gz")
    np.testing.assert_allclose(b.affine, a.affine, atol=1e-9)
    np.testing.assert_allclose(b.data, a.data, atol=1e-5)
    side = json.loads((tmp_path / "again.nii.gz.volsr.json").read_text(encoding="utf-8"))
    assert side["model"] == "ssr" and len(side["settings"]["weights_sha256"]) == 64
    r = _cli("infer", src, "-o", tmp_path / "x.nii.gz", "--model", "ssr", "--weights",
             tmp_path / "w", "--patch", 8, 8, 8, "--device", "cpu")  # windows, same output
    assert r.exit_code == 0, r.output
    np.testing.assert_allclose(load_volume(tmp_path / "x.nii.gz").data, b.data, atol=1e-5)
    r = _cli("infer", src, "-o", tmp_path / "y.nii.gz", "--model", "ssr", "--patch", 8, 8, 8)
    assert r.exit_code != 0 and "not used by --model ssr" in r.output


def test_saved_model_runs_through_the_inference_path_in_ram_or_memory_mapped(tmp_path,
                                                                           monkeypatch):
    """Self-SR applies its networks through the inference path of 2D networks: a
    memory-mapped output buffer refined in thin slabs gives the in-RAM result."""
    from volsr.inference import slabs
    from volsr.inference.memory import SAFETY

    lr = _phantom(shape=(32, 32, 8))
    model = self_super_resolve(lr, fusion="average", **TINY).model
    ram = model.run(lr)
    est = model.last_memory_plan
    assert est.mode == "ram" and est.streamed_bytes < est.ram_bytes
    between = int((est.ram_bytes + est.streamed_bytes) / 2 / SAFETY)
    monkeypatch.setattr(slabs, "STREAM_SLAB_BYTES", 4 * 32 * 32 * 3)  # 3-voxel slabs
    mapped = model.run(lr, max_memory=between, scratch_dir=tmp_path)
    assert model.last_memory_plan.mode == "memmap"
    assert list(tmp_path.iterdir()) == []  # the scratch file is unlinked at once
    np.testing.assert_allclose(mapped.data, ram.data, atol=1e-5, rtol=0)
    np.testing.assert_array_equal(mapped.affine, ram.affine)


def test_sampler_of_two_profiles_gives_each_half_of_every_batch(rng):
    hr = _poisoned(rng)
    acq = analyze_header(np.diag([1.0, 1.0, 4.0, 1.0]))
    profs = [build_profile("gaussian", thickness=4.0), build_profile("rect", thickness=4.0)]
    one = build_sampler(hr, acq, profs[0], "aliased_to_sharp", patch_size=8, fg_fraction=0.0)
    two = build_sampler(hr, acq, profs, "aliased_to_sharp", patch_size=8, fg_fraction=0.0)
    assert len(two.stacks) == 2 * len(one.stacks) and len(two.groups) == 2
    assert [i["profile"]["kind"] for i in two.info] == ["gaussian"] * 2 + ["rect"] * 2
    for a, b in zip(one.stacks, two.stacks[:2]):  # the first profile's pairs are unchanged
        assert np.array_equal(a.inputs, b.inputs) and np.array_equal(a.targets, b.targets)
    assert not np.allclose(two.stacks[0].inputs, two.stacks[2].inputs)
    _, _, meta = two.sample(np.random.default_rng(0), 10, return_meta=True)
    assert [m["stack"] < 2 for m in meta] == [True, False] * 5
    # one profile given as a list samples exactly as given alone
    alone = build_sampler(hr, acq, [profs[0]], "aliased_to_sharp", patch_size=8, fg_fraction=0.0)
    xa, ya = one.sample(np.random.default_rng(3), 6)
    xb, yb = alone.sample(np.random.default_rng(3), 6)
    assert np.array_equal(xa, xb) and np.array_equal(ya, yb)


def test_model_ssr_takes_the_training_precision():
    """``precision`` is a window setting for other models; for per-scan ``ssr`` it is the
    arithmetic of the training, recorded in the settings."""
    from volsr.degrade import ThickSlice
    from volsr.phantom import phantom_volume
    from volsr.predictors import load_predictor

    lr = ThickSlice(axis=2, factor=4, profile="rect")(
        phantom_volume((32, 32, 32), (1.0, 1.0, 1.0), supersample=1))
    p = load_predictor("ssr", device="cpu", budget="fast", steps=2, profile="rect",
                       precision="fp32")
    p.run(lr)
    assert p.last_result.report["settings"]["precision"] == "fp32"
