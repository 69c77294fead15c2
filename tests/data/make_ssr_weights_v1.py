"""Regenerate ``ssr_weights_v1/``: a self-SR weights folder written by volsr 857fd34.

That code trained EDSR with ``residual=False`` and added the input in the SSR trainer
(``"add_input": true`` in ``ssr.json``). ``expected.npy`` is what that code's
``SSRModel.load(folder).run(phantom)`` returned; tests/test_ssr.py checks that today's
loader still gives it. Run from a checkout of 857fd34 only (it freezes the old format):

    PYTHONPATH=. python tests/data/make_ssr_weights_v1.py
"""

from pathlib import Path

import numpy as np
import torch

from volsr.phantom import phantom_volume
from volsr.ssr import SSRModel, self_super_resolve

HERE = Path(__file__).parent / "ssr_weights_v1"

torch.set_num_threads(1)
lr = phantom_volume((16, 16, 4), (2.0, 2.0, 8.0), supersample=1, seed=0)
self_super_resolve(lr, model="edsr_baseline_2d", width=4, depth=1, steps=20, patch_size=16,
                   batch_size=4, device="cpu", seed=0, save_weights=HERE / "weights")
out = SSRModel.load(HERE / "weights", device="cpu").run(lr)
np.save(HERE / "expected.npy", out.data.astype(np.float32))
