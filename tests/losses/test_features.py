"""volsr's built-in feature network (gradient pyramid) and the perceptual/texture losses
that fall back to it when no VGG file is given."""

from __future__ import annotations

import logging

import pytest
import torch
import torch.nn.functional as F

from volsr.errors import ConfigError
from volsr.losses import build_loss
from volsr.losses.features import GradientPyramidFeatures


def test_pyramid_shapes_levels_and_early_stop():
    net = GradientPyramidFeatures(levels=4)
    out = net(torch.rand(2, 1, 32, 40))
    assert [tuple(v.shape) for v in out.values()] == [
        (2, 3, 32, 40), (2, 3, 16, 20), (2, 3, 8, 10), (2, 3, 4, 5)]
    assert list(net(torch.rand(1, 1, 32, 24))) == [
        "level1", "level2", "level3"]  # no level below 4 pixels a side (4x3)
    with pytest.raises(ConfigError, match="levels"):
        GradientPyramidFeatures(levels=0)
    with pytest.raises(ConfigError, match="layer"):
        GradientPyramidFeatures(levels=2, layers=["level3"])


def test_pyramid_hand_values_on_a_ramp():
    x = torch.arange(8.0).view(1, 1, 1, 8).expand(1, 1, 8, 8) / 8.0  # d/dx = 1/8 inside
    f = GradientPyramidFeatures(levels=1)(x)["level1"]
    torch.testing.assert_close(f[0, 0, 2:-2, 2:-2], torch.full((4, 4), 1 / 8))
    assert float(f[0, 1].abs().max()) == 0.0  # no vertical change
    assert float(f[0, 2, 2:-2, 2:-2].abs().max()) < 1e-6  # a ramp has no curvature


def test_perceptual_without_weights_uses_the_builtin_and_logs_it(caplog):
    with caplog.at_level(logging.INFO):
        loss = build_loss([{"name": "perceptual", "layers": ["relu5_4"], "criterion": "l1"}])
    assert "gradient-pyramid features" in caplog.text and "relu5_4" in caplog.text
    torch.manual_seed(0)
    t = torch.rand(2, 1, 24, 24)
    total, _ = loss(t + 0.3, t)
    assert float(total) == pytest.approx(0.0, abs=1e-6)  # blind to an intensity offset
    blurred = F.avg_pool2d(t, 3, stride=1, padding=1)
    assert float(loss(blurred, t)[0]) > 0.05
    # RGB is compared as grey; 3D slice-wise like the VGG loss
    rgb = t.expand(-1, 3, -1, -1)
    assert float(loss(rgb, rgb)[0]) == 0.0
    v = torch.rand(1, 1, 16, 16, 8, requires_grad=True)
    loss(v, torch.rand(1, 1, 16, 16, 8))[0].backward()
    assert v.grad is not None and float(v.grad.abs().sum()) > 0
    tex = build_loss([{"name": "texture"}])
    assert float(tex(blurred, t)[0]) > 0 and float(tex(t, t)[0]) == 0.0


def test_network_option_is_checked():
    with pytest.raises(ConfigError, match="network must be one of"):
        build_loss([{"name": "perceptual", "network": "resnet"}])
    with pytest.raises(ConfigError, match="takes no weights"):
        build_loss([{"name": "perceptual", "network": "gradient_pyramid",
                     "weights": "vgg.safetensors"}])
