"""A network trained for thick slices along one axis is applied along any single coarse axis."""

from __future__ import annotations

import numpy as np
import torch

from volsr.inference import Predictor
from volsr.io import Volume
from volsr.models import create_model


def _net():
    torch.manual_seed(0)
    return create_model("srcnn_3d", features=(6, 4), kernel_sizes=(3, 1, 3))


def test_coarse_x_runs_like_coarse_z_transposed():
    rng = np.random.default_rng(0)
    data_z = rng.random((1, 10, 9, 4)).astype(np.float32)  # thick along z
    vol_z = Volume(data_z, np.diag([1.0, 1.0, 3.0, 1.0]))
    data_x = np.ascontiguousarray(np.swapaxes(data_z, 1, 3))  # the same scan, thick along x
    vol_x = Volume(data_x, np.diag([3.0, 1.0, 1.0, 1.0]))
    p = Predictor(_net(), model_name="srcnn_3d", device="cpu", through_plane_axis=2,
                  normalization={"name": "none"})
    out_z = p.run(vol_z, scale=(1, 1, 3))
    out_x = p.run(vol_x, scale=(3, 1, 1))
    np.testing.assert_allclose(np.swapaxes(out_x.data, 1, 3), out_z.data, atol=1e-6)
    # without the hint the network sees the coarse axis where it was not trained
    q = Predictor(_net(), model_name="srcnn_3d", device="cpu", normalization={"name": "none"})
    plain = q.run(vol_x, scale=(3, 1, 1))
    assert np.abs(np.swapaxes(plain.data, 1, 3) - out_z.data).max() > 1e-4
    np.testing.assert_allclose(out_x.affine, plain.affine)
