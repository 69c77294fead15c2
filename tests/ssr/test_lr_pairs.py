"""LR-grid training pairs (volsr.ssr.lr_pairs): grids that land exactly, patch fitting."""

from __future__ import annotations

import numpy as np
import pytest

from volsr.ssr.header import analyze_header
from volsr.ssr.lr_pairs import MIN_PATCH, build_lr_sampler, fit_patch
from volsr.ssr.profile import SliceProfile


def _ramp_scan(shape=(96, 80, 6), spacing=(1.0, 1.0, 4.0)) -> tuple[np.ndarray, object]:
    """A scan whose value is the row index along axis 0 plus 1000 x the index along
    axis 1 (both in-plane axes are ramps), and its acquisition."""
    i, j, _ = np.meshgrid(*(np.arange(n, dtype=np.float32) for n in shape), indexing="ij")
    data = i + 1000.0 * j
    acq = analyze_header(np.diag([*spacing, 1.0]), shape=(1, *shape))
    return data, acq


@pytest.mark.parametrize("factor", [4.0, 3.0])
def test_grid_maps_lr_crop_onto_hr_patch_exactly(factor):
    # a rect profile of width = factor pixels averages a ramp to the value at the slab
    # centre, so linear interpolation of the LR crop at the batch's grid positions must
    # give the HR patch exactly, flips included
    data, acq = _ramp_scan(spacing=(1.0, 1.0, factor))
    prof = SliceProfile("rect", factor)
    sampler = build_lr_sampler(data, acq, prof, patch=32, fg_fraction=0.0)
    rng = np.random.default_rng(0)
    for _ in range(12):
        b = sampler.sample(rng, 3)
        (step, offset, rows), (cstep, coff, cols) = b.grid
        assert (cstep, coff, cols) == (1.0, 0.0, b.hr.shape[3])
        assert rows == b.hr.shape[2] and step == pytest.approx(1.0 / factor)
        pos = offset + step * np.arange(rows)
        assert pos.min() >= 0 and pos.max() <= b.lr.shape[2] - 1  # context on both sides
        for k in range(3):
            for c in (0, cols - 1):
                got = np.interp(pos, np.arange(b.lr.shape[2]), b.lr[k, 0, :, c])
                np.testing.assert_allclose(got, b.hr[k, 0, :, c], atol=2e-2)


def test_fit_patch_shrinks_then_refuses():
    assert fit_patch(256, 64, 4.0, 256) == (64, 64, 3)
    rows, cols, ctx = fit_patch(32, 8, 4.0, 32)
    assert rows >= MIN_PATCH and cols == 32 and ctx < 3
    assert fit_patch(12, 3, 4.0, 40) is None
    assert fit_patch(64, 16, 4.0, 8) is None


def test_sampler_uses_the_given_slices_and_every_profile():
    data, acq = _ramp_scan()
    profs = [SliceProfile("rect", 4.0), SliceProfile("gaussian", 4.0)]
    s = build_lr_sampler(data, acq, profs, slices=[1, 4], patch=32, fg_fraction=0.0)
    assert len(s.stacks) == 4 and s.slices == 2
    with pytest.raises(ValueError, match="no slices"):
        build_lr_sampler(data, acq, profs[0], slices=[])
