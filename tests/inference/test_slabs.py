"""Slab-by-slab, in-place refinement equals one pass over the whole volume."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from volsr.inference import slabs
from volsr.inference.predictor import Predictor
from volsr.inference.slabs import refine_in_slabs, slab_thickness
from volsr.io import Volume
from volsr.models import create_model


def _box(r: int):
    def op(sub: np.ndarray) -> np.ndarray:
        return ndimage.uniform_filter(sub, size=(1, 2 * r + 1, 2 * r + 1, 2 * r + 1),
                                      mode="nearest").astype(np.float32)
    return op


@pytest.mark.parametrize("axis", [1, 2, 3])
@pytest.mark.parametrize("thickness", [2, 3, 5, 7, 40])
def test_slabs_equal_one_pass_and_write_in_place(axis, thickness):
    rng = np.random.default_rng(0)
    vol = rng.normal(size=(2, 17, 13, 11)).astype(np.float32)
    want = _box(2)(vol.copy())
    out = refine_in_slabs(_box(2), vol, radius=2, axis=axis, thickness=thickness)
    assert out is vol  # written into the input array
    np.testing.assert_allclose(out, want, atol=1e-6)


def test_too_little_context_is_not_exact():
    """The check above can fail: a radius smaller than the operator's reach differs."""
    rng = np.random.default_rng(1)
    vol = rng.normal(size=(1, 20, 6, 6)).astype(np.float32)
    want = _box(3)(vol.copy())
    out = refine_in_slabs(_box(3), vol, radius=1, thickness=4)
    assert np.abs(out - want).max() > 1e-3


def test_memmap_volume(tmp_path):
    rng = np.random.default_rng(2)
    data = rng.normal(size=(1, 16, 9, 7)).astype(np.float32)
    mm = np.lib.format.open_memmap(tmp_path / "v.npy", mode="w+", dtype=np.float32,
                                   shape=data.shape)
    mm[...] = data
    refine_in_slabs(_box(1), mm, radius=1, thickness=3)
    mm.flush()
    np.testing.assert_allclose(np.load(tmp_path / "v.npy"), _box(1)(data), atol=1e-6)


def test_shape_change_refused():
    with pytest.raises(ValueError, match="shape"):
        refine_in_slabs(lambda s: s[:, :1], np.zeros((1, 4, 4, 4), np.float32), radius=0)


def test_slab_thickness_bounds():
    assert slab_thickness((1, 512, 512, 400), radius=10) == 64  # an eighth of 512
    assert slab_thickness((1, 4, 4, 4), radius=10) == 4  # never more than the volume
    assert slab_thickness((1, 1000, 2000, 2000), radius=30) == 30  # at least the radius


def _phantom_volume() -> Volume:
    rng = np.random.default_rng(3)
    data = ndimage.gaussian_filter(rng.normal(size=(20, 18, 8)), 1.5).astype(np.float32)
    aff = np.diag([1.0, 1.0, 3.0, 1.0])
    return Volume(data[None] * 100 + 50, aff)


@pytest.mark.parametrize("name,kw", [
    ("srcnn_3d", {"features": (8, 4), "kernel_sizes": (5, 1, 3)}),
    ("edsr_baseline_2d", {"scale": 1, "num_blocks": 2, "features": 8}),
])
def test_predictor_slabs_match_whole_volume(monkeypatch, name, kw):
    torch.manual_seed(0)
    net = create_model(name, **kw).eval()
    pred = Predictor(net, model_name=name, patch_size=None, halo=0)
    vol = _phantom_volume()
    whole = pred.run(vol, scale=(1, 1, 3)).data  # small volume: a single slab
    monkeypatch.setattr(slabs, "MIN_SLAB_BYTES", 1)
    monkeypatch.setattr(slabs, "DEFAULT_SLAB_BYTES", 4 * 18 * 24 * 4)  # 4-voxel slabs
    sliced = pred.run(vol, scale=(1, 1, 3)).data
    assert whole.shape == sliced.shape == (1, 20, 18, 24)
    np.testing.assert_allclose(sliced, whole, rtol=0, atol=1e-4 * np.abs(whole).max())


@pytest.mark.parametrize("scale", [(1, 1, 4), (2, 2, 2), (1.5, 1, 1), (1, 2.5, 1)])
@pytest.mark.parametrize("thickness", [1, 5, 64])
def test_interpolate_in_slabs_equals_whole(scale, thickness):
    from volsr.inference.slabs import interpolate_in_slabs
    from volsr.models.interpolation import Interpolator

    rng = np.random.default_rng(4)
    arr = rng.normal(size=(2, 30, 12, 9)).astype(np.float32)
    s = np.asarray(scale, float)
    step, offset = 1 / s, (1 / s - 1) / 2
    shape = tuple(int(round(n * f)) for n, f in zip(arr.shape[1:], s))
    whole = np.stack([Interpolator("bspline").resample_linear(a, step, offset, shape)
                      for a in arr])
    out = np.full((2, *shape), np.nan, np.float32)
    interpolate_in_slabs(arr, step, offset, out, thickness=thickness)
    np.testing.assert_allclose(out, whole, atol=1e-5)
