"""Per-scan adaptation (volsr.adapt): guards, bad input, geometry, saved weights."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import thick_phantom

from volsr.adapt import AdaptSettings, adapt_to_scan, adapting_predictor
from volsr.adapt.scan import scan_acquisition, split_slices
from volsr.errors import ConfigError, InputError
from volsr.predictors import load_predictor

FAST = {"seconds": 30.0, "steps": 40, "lr": 1e-3, "batch_size": 4, "patch": 32,
        "heldout_batches": 4}


@pytest.fixture(scope="module")
def phantom():
    return thick_phantom()


def test_split_slices_keeps_some_of_each():
    train, held = split_slices(3, 5)
    assert held.tolist() == [1] and train.tolist() == [0, 2]
    train, held = split_slices(40, 5)
    assert held.size == 8 and np.intersect1d(train, held).size == 0


def test_adaptation_lowers_heldout_loss_and_keeps_the_geometry(lraxis_weights, phantom):
    truth, lr = phantom
    base = load_predictor(None, lraxis_weights, device="cpu")
    plain = base.run(lr, reference=truth.grid)
    pred = adapting_predictor(base, **FAST)
    out = pred.run(lr, reference=truth.grid)
    rec = pred.record()["adaptation"]
    assert rec["adapted"] is True and rec["steps"] == 40
    assert rec["heldout_l1_after"] < rec["heldout_l1_before"]
    assert rec["profile"]["used"]["kind"] in ("gaussian", "rect")
    assert out.spatial_shape == plain.spatial_shape
    np.testing.assert_allclose(out.affine, plain.affine, atol=1e-9)
    assert not np.array_equal(out.data, plain.data)  # the adapted network was applied
    # the base model itself is untouched
    again = base.run(lr, reference=truth.grid)
    np.testing.assert_array_equal(again.data, plain.data)


def test_no_improvement_keeps_the_pretrained_model(lraxis_weights, phantom):
    _, lr = phantom
    base = load_predictor(None, lraxis_weights, device="cpu")
    res = adapt_to_scan(lr, base.model, base.normalization,
                        AdaptSettings(**{**FAST, "lr": 1e-9, "steps": 2}))
    assert res.record["adapted"] is False
    assert res.net is base.model
    assert res.record["heldout_l1_after"] == res.record["heldout_l1_before"]
    assert any("pretrained model is used" in w for w in res.warnings)


@pytest.mark.parametrize("fallback, trained", [("gaussian", ["gaussian"]),
                                               ("mixed", ["gaussian", "rect"])])
def test_low_confidence_profile_warns_and_uses_gaussian(lraxis_weights, phantom, caplog,
                                                        fallback, trained):
    _, lr = phantom
    base = load_predictor(None, lraxis_weights, device="cpu")
    s = AdaptSettings(**{**FAST, "steps": 2, "min_confidence": 1.0, "fallback": fallback})
    res = adapt_to_scan(lr, base.model, base.normalization, s)
    prof = res.record["profile"]
    assert prof["used"]["kind"] == "gaussian" and prof["estimate"]["fallback"] is not None
    assert [p["kind"] for p in prof["trained_on"]] == trained
    # the warning says what the run trains on: the Gaussian alone, or both families
    said = [w for w in res.warnings if "no usable slice-profile estimate" in w]
    assert said and "Gaussian" in said[0]
    assert ("rect profile" in said[0]) == (fallback == "mixed")
    assert any(said[0] in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("shape, spacing, match", [
    ((24, 24, 24), (1.0, 1.0, 1.0), "thick-slice scan"),   # isotropic
    ((24, 40, 8), (1.0, 1.0, 4.0), "too small"),           # 24 px in-plane
    ((48, 48, 2), (1.0, 1.0, 4.0), "slice"),               # 2 slices
])
def test_unusable_scans_are_refused_before_training(shape, spacing, match):
    from volsr.phantom import phantom_volume

    vol = phantom_volume(shape, spacing, supersample=1)
    with pytest.raises(InputError, match=match):
        scan_acquisition(vol)


def test_only_grid_taking_2d_networks_can_be_adapted(tmp_path):
    with pytest.raises(ConfigError, match="any_factor"):
        adapting_predictor(load_predictor("bspline"))
    with pytest.raises(ConfigError, match="profile"):
        AdaptSettings(profile="box")


def test_saved_weights_reload_and_give_the_same_output(lraxis_weights, phantom, tmp_path):
    truth, lr = phantom
    base = load_predictor(None, lraxis_weights, device="cpu")
    pred = adapting_predictor(base, save_weights=tmp_path / "adapted", **FAST)
    out = pred.run(lr, reference=truth.grid)
    again = load_predictor(None, tmp_path / "adapted", device="cpu")
    assert again.model_name == "lraxis_2d"
    assert again.weights.training["adaptation"]["adapted"] is True
    np.testing.assert_allclose(again.run(lr, reference=truth.grid).data, out.data, atol=1e-5)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_both_training_precisions_adapt_and_are_recorded(lraxis_weights, phantom, precision):
    _, lr = phantom
    base = load_predictor(None, lraxis_weights, device="cpu")
    res = adapt_to_scan(lr, base.model, base.normalization,
                        AdaptSettings(**FAST, precision=precision))
    rec = res.record
    assert rec["training_dtype"] == {"fp32": "float32", "bf16": "bfloat16"}[precision]
    assert rec["adapted"] is True
    assert rec["heldout_l1_after"] < rec["heldout_l1_before"]
    for p in res.net.parameters():  # weights stay float32, in plain memory order
        assert p.dtype.is_floating_point and p.element_size() == 4 and p.is_contiguous()


def test_an_unknown_precision_is_refused():
    with pytest.raises(ConfigError, match="precision"):
        AdaptSettings(precision="fp16")


def test_precision_fp32_for_inference_also_trains_in_float32(lraxis_weights, phantom):
    truth, lr = phantom
    base = load_predictor(None, lraxis_weights, device="cpu", precision="fp32")
    pred = adapting_predictor(base, **FAST)
    pred.run(lr, reference=truth.grid)
    assert pred.record()["adaptation"]["training_dtype"] == "float32"
