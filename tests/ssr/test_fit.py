"""The loop shared by ``volsr ssr`` and adaptation (volsr.ssr.fit): pure and guarded modes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from volsr.errors import VolsrError
from volsr.ssr.fit import Guard, fit, heldout_loss, lr_factor

pytestmark = pytest.mark.usefixtures("one_thread")


def _net(identity: bool = False) -> torch.nn.Module:
    torch.manual_seed(0)
    net = torch.nn.Conv2d(1, 1, 3, padding=1)
    if identity:
        with torch.no_grad():
            net.weight.zero_()
            net.weight[0, 0, 1, 1] = 1.0
            net.bias.zero_()
    return net


def _sampler(gain: float):
    """Batches ``(x, gain * x)`` of 8x8 noise patches."""
    def sample(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.standard_normal((n, 1, 8, 8)).astype(np.float32)
        return x, (gain * x).astype(np.float32)
    return sample


def _forward(net, batch, device):
    x, y = (torch.from_numpy(a).to(device) for a in batch)
    return net(x), y


def _heldout(gain: float, n: int = 3) -> list:
    rng = np.random.default_rng(123)
    return [_sampler(gain)(rng, 4) for _ in range(n)]


def _state(net) -> list[np.ndarray]:
    return [v.detach().clone().numpy() for v in net.state_dict().values()]


def test_pure_mode_lowers_the_loss_and_is_reproducible():
    held = _heldout(2.0)
    net = _net()
    before = heldout_loss(net, held, _forward)
    res = fit(net, _sampler(2.0), _forward, steps=60, batch_size=4, lr=0.1, seed=3)
    assert res.stopped_by == "steps" and res.steps == 60 and res.changed
    assert res.heldout_before is None and res.checks == []
    assert heldout_loss(net, held, _forward) < 0.5 * before
    assert res.loss_curve[-1] < res.loss_curve[0] and not net.training
    again = _net()
    fit(again, _sampler(2.0), _forward, steps=60, batch_size=4, lr=0.1, seed=3)
    for a, b in zip(_state(net), _state(again)):
        np.testing.assert_array_equal(a, b)


def test_guard_keeps_the_best_state_when_training_helps():
    net = _net()
    res = fit(net, _sampler(2.0), _forward, steps=40, batch_size=4, lr=1e-2,
              guard=Guard(_heldout(2.0), checks=3), warmup=5, grad_clip=1.0, l2sp=1e-4)
    assert res.changed and res.best_step > 0
    assert res.heldout_after < res.heldout_before
    assert res.checks[0] == (0, res.heldout_before) and res.checks[-1][0] == 40
    assert len(res.checks) == 5  # before, 3 during, at the end
    assert heldout_loss(net, _heldout(2.0), _forward) == pytest.approx(res.heldout_after)


def test_guard_returns_the_starting_state_when_training_cannot_help():
    # the network starts at the held-out optimum (identity) and trains on y = -x
    net = _net(identity=True)
    start = _state(net)
    res = fit(net, _sampler(-1.0), _forward, steps=20, batch_size=4, lr=1e-2,
              guard=Guard(_heldout(1.0), checks=2))
    assert res.steps == 20 and not res.changed and res.best_step == 0
    assert res.heldout_after == res.heldout_before < 1e-6
    assert all(v > 0 for _, v in res.checks[1:])  # training did move away
    for a, b in zip(start, _state(net)):
        np.testing.assert_array_equal(a, b)


def test_anchor_pulls_toward_the_starting_weights():
    def moved(l2sp: float) -> float:
        net = _net()
        start = _state(net)
        fit(net, _sampler(2.0), _forward, steps=30, batch_size=4, lr=1e-2, l2sp=l2sp)
        return float(sum(np.abs(a - b).sum() for a, b in zip(start, _state(net))))

    assert moved(10.0) < 0.5 * moved(0.0)


def _nan_forward(net, batch, device):
    out, y = _forward(net, batch, device)
    return out * float("nan"), y


def test_a_non_finite_loss_raises_or_stops():
    with pytest.raises(VolsrError, match="ssr: the loss became nan at step 1"):
        fit(_net(), _sampler(1.0), _nan_forward, steps=5, batch_size=2, desc="ssr")
    res = fit(_net(), _sampler(1.0), _nan_forward, steps=5, batch_size=2,
              on_nonfinite="stop")
    assert res.stopped_by == "diverged" and res.steps == 0

    def nan_in_training(net, batch, device):  # finite on the held-out set (eval mode)
        return (_nan_forward if net.training else _forward)(net, batch, device)

    net = _net()
    start = _state(net)
    res = fit(net, _sampler(1.0), nan_in_training, steps=5, batch_size=2,
              guard=Guard(_heldout(1.0)), on_nonfinite="stop")
    assert res.stopped_by == "diverged" and not res.changed
    for a, b in zip(start, _state(net)):  # the guard restored the starting state
        np.testing.assert_array_equal(a, b)


def test_budget_and_schedule():
    with pytest.raises(ValueError, match="steps or seconds"):
        fit(_net(), _sampler(1.0), _forward, steps=None)
    res = fit(_net(), _sampler(1.0), _forward, steps=None, seconds=1e-9)
    assert res.stopped_by == "time_limit" and res.steps == 0
    # SSR: blended floor, no warm-up; adaptation: warm-up, clamped floor
    assert lr_factor(0, 0.5) == pytest.approx(0.01 + 0.99 * 0.5)
    assert lr_factor(4, 0.0, warmup=10, clamp=True) == pytest.approx(0.5)
    assert lr_factor(0, 0.99, warmup=10, clamp=True) == 0.01
    assert lr_factor(100, 1.0, warmup=10) == pytest.approx(0.01)


def test_bfloat16_steps_train_and_hand_back_float32_contiguous_weights():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1),
                              torch.nn.Conv2d(4, 1, 3, padding=1))
    before = heldout_loss(net, [_sampler(2.0)(np.random.default_rng(9), 16)], _forward)
    res = fit(net, _sampler(2.0), _forward, steps=150, batch_size=8, lr=2e-2,
              dtype=torch.bfloat16)
    after = heldout_loss(net, [_sampler(2.0)(np.random.default_rng(9), 16)], _forward)
    assert res.steps == 150
    assert after < 0.5 * before
    for p in net.parameters():
        assert p.dtype == torch.float32
        assert p.is_contiguous()  # not left in channels-last memory (safetensors needs this)
