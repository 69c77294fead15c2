"""lraxis_2d: low-resolution-grid features, one-axis sub-pixel tail, B-spline skip.

The geometry checks run the whole inference path (Predictor -> slicewise -> lr_axis) and
compare with volsr's own B-spline: with the learned residual switched off the network
must be B-spline exactly, on the volsr grid convention, for non-integer factors and for
``reference=`` grids that are not ``output_size(n, s)`` long.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from volsr.degrade import ThickSlice
from volsr.errors import ConfigError
from volsr.inference.predictor import Predictor
from volsr.models import create_model
from volsr.models.networks.lraxis import axis_grid
from volsr.phantom import phantom_volume
from volsr.predictors import super_resolve


def _net(zero_tail: bool, **kw) -> torch.nn.Module:
    torch.manual_seed(0)
    net = create_model("lraxis_2d", features=8, num_blocks=1, subpixel=4, **kw)
    if zero_tail:
        with torch.no_grad():
            net.tail.weight.zero_()
            net.tail.bias.zero_()
    return net.eval()


def _phantom():
    return phantom_volume((16, 14, 7), (1.0, 1.0, 2.5), seed=3)


@pytest.mark.parametrize("factor", [2.5, 4.0])
def test_without_residual_it_is_volsr_bspline_on_the_planned_grid(factor: float) -> None:
    vol = _phantom()
    pred = Predictor(_net(True), model_name="lraxis_2d", device="cpu", precision="fp32")
    out = pred.run(vol, scale=(1, 1, factor))
    ref = super_resolve(vol, "bspline", scale=(1, 1, factor))
    assert out.spatial_shape == ref.spatial_shape
    np.testing.assert_allclose(out.affine, ref.affine, atol=1e-9)
    rng = float(np.ptp(ref.data))
    np.testing.assert_allclose(out.data, ref.data, atol=2e-5 * rng)


def test_reference_grid_of_another_length_lands_exactly() -> None:
    truth = phantom_volume((16, 14, 23), (1.0, 1.0, 1.0), seed=4)
    lr = ThickSlice(axis=2, factor=3.3, profile="rect")(truth)
    pred = Predictor(_net(True), model_name="lraxis_2d", device="cpu", precision="fp32")
    out = pred.run(lr, reference=truth.grid)
    ref = super_resolve(lr, "bspline", reference=truth.grid)
    assert out.spatial_shape == truth.spatial_shape
    np.testing.assert_allclose(out.affine, truth.affine, atol=1e-9)
    np.testing.assert_allclose(out.data, ref.data, atol=2e-5 * float(np.ptp(ref.data)))


def test_ramp_is_reproduced_at_the_grid_convention_positions() -> None:
    net = _net(True)
    n, s = 40, 2.7
    x = torch.arange(n, dtype=torch.float32).view(1, 1, n, 1).expand(1, 1, n, 5).clone()
    with torch.no_grad():
        y = net(x, grid=(axis_grid(n, s), (1.0, 0.0, 5)))
    o = np.arange(y.shape[2])
    want = (o + 0.5) / s - 0.5
    inner = (want > 10) & (want < n - 11)  # away from the mirrored ends
    assert inner.sum() > 10
    np.testing.assert_allclose(y[0, 0, inner, 2].numpy(), want[inner], atol=1e-4)


def test_learned_residual_changes_the_output_and_bf16_keeps_the_skip_exact() -> None:
    vol = _phantom()
    plain = Predictor(_net(True), model_name="lraxis_2d", device="cpu", precision="fp32")
    half = Predictor(_net(True), model_name="lraxis_2d", device="cpu", precision="bf16")
    a = plain.run(vol, scale=(1, 1, 3)).data
    b = half.run(vol, scale=(1, 1, 3)).data
    np.testing.assert_allclose(a, b, atol=2e-5 * float(np.ptp(a)))  # skip stays float32
    live = Predictor(_net(False), model_name="lraxis_2d", device="cpu", precision="fp32")
    c = live.run(vol, scale=(1, 1, 3)).data
    assert np.abs(c - a).max() > 1e-4 * float(np.ptp(a))


def test_in_plane_runs_on_the_slices_and_three_axes_are_refused() -> None:
    vol = _phantom()
    pred = Predictor(_net(True, scale=(2, 2)), model_name="lraxis_2d", device="cpu",
                     precision="fp32")
    out = pred.run(vol, scale=(2, 1.5, 1))
    ref = super_resolve(vol, "bspline", scale=(2, 1.5, 1))
    np.testing.assert_allclose(out.affine, ref.affine, atol=1e-9)
    np.testing.assert_allclose(out.data, ref.data, atol=2e-5 * float(np.ptp(ref.data)))
    with pytest.raises(ConfigError, match="changes 3 axes"):
        pred.run(vol, scale=(2, 2, 2))


def test_saved_weights_reload_and_run_any_factor(tmp_path) -> None:
    from volsr.checkpoint import save_weights

    net = _net(False)
    folder = save_weights(net, tmp_path / "w", model_name="lraxis_2d",
                          normalization={"name": "percentile", "lower": 0.5, "upper": 99.5},
                          scale=[1.0, 1.0, 4.0])
    vol = _phantom()
    a = Predictor(net, model_name="lraxis_2d", device="cpu", precision="fp32",
                  normalization={"name": "percentile", "lower": 0.5, "upper": 99.5})
    b = Predictor.from_pretrained(folder, device="cpu", precision="fp32")
    assert b.model_name == "lraxis_2d"
    want = a.run(vol, scale=(1, 1, 3.7))
    got = b.run(vol, scale=(1, 1, 3.7))
    assert got.spatial_shape == want.spatial_shape == (16, 14, 26)
    np.testing.assert_array_equal(got.data, want.data)


def test_a_float32_affine_from_a_file_keeps_the_thick_axis_path(tmp_path) -> None:
    """A NIfTI's float32 affine makes --isotropic ask for in-plane factors of 1 +- 1e-7: the
    network must still run with the thick axis as rows (regression: it ran the planes the
    wrong way round, 0.27 max difference, 1 dB lost on a phantom)."""
    from conftest import oblique_affine

    from volsr.io import load_volume, save_volume

    truth = phantom_volume((24, 20, 24), (1.0, 1.0, 1.0), seed=5,
                           affine=oblique_affine(spacing=(1.0, 1.0, 1.0)))
    lr = ThickSlice(axis=2, factor=4, profile="rect")(truth)
    save_volume(lr, tmp_path / "lr.nii.gz")
    from_file = load_volume(tmp_path / "lr.nii.gz")
    assert not np.array_equal(from_file.affine, lr.affine)  # float32 rounding
    pred = Predictor(_net(False), model_name="lraxis_2d", device="cpu", precision="fp32")
    a = pred.run(lr, isotropic=True).data
    b = pred.run(from_file, isotropic=True).data
    np.testing.assert_allclose(a, b, atol=1e-5 * float(np.ptp(a)))
