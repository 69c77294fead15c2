"""Same inputs and weights give bit-identical outputs on the CPU."""

from __future__ import annotations

import numpy as np
import torch

from volsr.inference import Predictor, super_resolve
from volsr.models import create_model
from volsr.phantom import phantom_volume


def test_network_inference_is_bit_identical_across_runs():
    vol = phantom_volume((24, 26, 8), (2.0, 2.0, 6.0), supersample=1, noise=0.02, seed=3)
    torch.manual_seed(0)
    net = create_model("dcsrn_3d", growth_rate=4, num_units=2, norm="none")
    outs = [Predictor(net, model_name="dcsrn_3d", device="cpu", patch_size=(16, 16, 16),
                      overlap=0.25).run(vol, isotropic=True).data for _ in range(2)]
    assert outs[0].tobytes() == outs[1].tobytes()


def test_interpolation_is_bit_identical_across_runs():
    vol = phantom_volume((20, 22, 6), (2.0, 2.0, 8.0), supersample=1)
    a = super_resolve(vol, "bspline", isotropic=True).data
    b = super_resolve(vol, "bspline", isotropic=True).data
    assert np.array_equal(a, b)
