"""The EMA of weights forgets the random initialisation (decay warm-up)."""

from __future__ import annotations

import torch

from volsr.engine.state import EMA


def test_ema_warmup_forgets_the_initial_weights():
    net = torch.nn.Linear(3, 1)
    with torch.no_grad():
        net.weight.fill_(5.0)
    ema = EMA(net, 0.999)
    with torch.no_grad():
        net.weight.fill_(1.0)  # training moved the weights; they stay there
    for n in range(300):
        ema.update(net, n)
    # plain EMA would keep 0.999**300 = 74 % of the initial 5.0; the warm-up keeps < 1e-6
    assert torch.allclose(ema.model.weight, torch.ones(1, 3), atol=1e-5)
    assert ema.decay_at(0) == 0.1 and ema.decay_at(10**6) == 0.999


def test_ema_decay_bounds_the_average():
    net = torch.nn.Linear(2, 1)
    ema = EMA(net, 0.5)
    w0 = net.weight.detach().clone()
    with torch.no_grad():
        net.weight.add_(2.0)
    ema.update(net, 10**6)  # late update: decay 0.5
    assert torch.allclose(ema.model.weight, w0 + 1.0)
