"""Self-super-resolution settings and its two 2D networks: build them, load saved ones.

The settings are :class:`volsr.config.ssr.SSRConfig` (a typed config section; budgets
are its presets), re-exported here with :func:`resolve_config`.

The networks come from the model registry (:mod:`volsr.models`): any 2D ``"pre"``
network, or a 2D ``"post"`` network that accepts ``scale=1`` (e.g. EDSR without its
up-sampler) -- both then refine an input already interpolated onto the output grid. They
are built with ``residual=True`` (the network adds its input to its output: global
residual learning, the only skip there is) and with the settings' ``features`` /
``num_blocks`` as the constructor arguments of those names when the network has them;
explicit ``model_kwargs`` win.

Weights folders written before this rule (volsr <= 857fd34) hold networks built with
``residual=False`` whose input was added by the SSR code (``"add_input": true`` in
``ssr.json``); :func:`load_net` rebuilds those with ``residual=True`` and the same
weights, which computes the same output.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from volsr.config.ssr import DEFAULT_SSR_MODEL, SSR_BUDGETS, SSRConfig
from volsr.errors import ConfigError, InputError

__all__ = ["BUDGETS", "DEFAULT_MODEL", "SSRConfig", "build_net", "load_net", "resolve_config",
           "zero_last_conv"]

log = logging.getLogger(__name__)

DEFAULT_MODEL = DEFAULT_SSR_MODEL
BUDGETS = SSR_BUDGETS


def resolve_config(budget: str = "default", **settings: Any) -> SSRConfig:
    """:meth:`SSRConfig.preset`: the budget's settings plus explicit ones (None = budget's)."""
    return SSRConfig.preset(budget, **settings)


def _int_args(name: str) -> frozenset[str]:
    """The integer constructor arguments of registry network ``name`` (from its config).

    Builds the network with its defaults. That draws its initial weights from torch's
    random generator, before the real network is built: not cached, so that a seed gives
    the same networks as it always has.
    """
    from volsr.models import create_model

    try:
        defaults = create_model(name).config()
    except Exception:  # noqa: BLE001 - a network that cannot be built bare: none known
        return frozenset()
    return frozenset(k for k, v in defaults.items()
                     if isinstance(v, int) and not isinstance(v, bool))


def build_net(name: str, kwargs: Mapping[str, Any], factor: float, *,
              features: int | None = None, num_blocks: int | None = None
              ) -> tuple[Any, dict[str, Any]]:
    """A 2D refining network from the registry; returns ``(net, kwargs to rebuild it)``.

    Args:
        name: registry name of a 2D network.
        kwargs: its constructor kwargs (win over ``features``/``num_blocks``).
        factor: the through-plane factor (``"pre"`` networks record ``scale=(1, factor)``).
        features, num_blocks: passed under those names when the network takes them.

    The network maps ``(B, 1, H, W)`` to ``(B, 1, H, W)`` and adds its input
    (``residual=True``). ``"pre"`` networks get ``scale=(1, factor)`` (metadata);
    ``"post"`` networks are built with ``scale=1`` (same-size output). Anything else is
    refused with a :class:`~volsr.errors.ConfigError`.
    """
    from volsr.models import create_model, model_entry

    entry = model_entry(name)
    dims, kind = entry.info.get("dims"), entry.info.get("upsampling")
    if dims != 2:
        raise ConfigError(f"self-super-resolution needs a 2D network; {name!r} is "
                          f"{dims}D (try one of the *_2d models: 'volsr models')")
    kw = dict(kwargs)
    wanted = {"features": features, "num_blocks": num_blocks}
    known = _int_args(name) if features is not None or num_blocks is not None else frozenset()
    for arg, value in wanted.items():
        if value is None or arg in kw:
            continue
        if arg in known:
            kw[arg] = int(value)
        else:
            log.debug("network %s has no integer %s argument; setting ignored", name, arg)
    if kw.setdefault("residual", True) is not True:
        raise ConfigError(f"self-super-resolution networks add their input (residual=True); "
                          f"got residual={kw['residual']!r} for {name!r}")
    if kind == "pre":
        kw.setdefault("scale", [1.0, float(factor)])
    elif kind == "post":
        if kw.get("scale", 1) not in (1, 1.0, [1, 1], [1.0, 1.0]):
            raise ConfigError(f"{name!r} up-samples internally: self-super-resolution runs it "
                              f"with scale 1, got scale={kw['scale']!r}")
        kw["scale"] = 1
    else:
        raise ConfigError(f"{name!r} is a {kind} model; self-super-resolution needs a 2D "
                          "network that refines a pre-interpolated image ('pre', or 'post' "
                          "with scale 1)")
    try:
        net = create_model(name, **kw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"cannot build {name!r} with {kw}: {exc}") from None
    config = net.config() if hasattr(net, "config") else kw
    return net, config


def load_net(folder: str | Path, *, add_input: bool = False) -> tuple[Any, str, dict[str, Any]]:
    """The network saved in one network folder of an SSR weights folder (``saa/``, ``ssr/``).

    Args:
        folder: the network's weights folder (``model.json`` + ``model.safetensors``).
        add_input: ``ssr.json``'s ``"add_input"`` for this network: True in folders written
            before networks were built with ``residual=True`` (the code added the input);
            such a network is rebuilt with ``residual=True`` and the same weights.

    Returns:
        ``(net, registry name, kwargs to rebuild it)``; the net is on the CPU in eval mode
        and adds its input itself.

    Raises:
        InputError: unreadable folder, or ``add_input`` for a network that already adds
            its input (the output would add it twice).
    """
    from volsr.checkpoint import load_weights
    from volsr.models import create_model

    net, meta = load_weights(folder, device="cpu")
    if add_input:
        if getattr(net, "residual", None) is not False:
            raise InputError("ssr.json says the input is added to this network's output, but "
                             "the network adds it itself or cannot (inconsistent folder)",
                             path=folder)
        residual = create_model(meta.model_name, **{**meta.model_kwargs, "residual": True})
        residual.load_state_dict(net.state_dict())
        net = residual.eval()
    kwargs = net.config() if hasattr(net, "config") else dict(meta.model_kwargs)
    return net, meta.model_name, kwargs


def zero_last_conv(net: Any) -> bool:
    """Zero the weights and bias of the last convolution registered in ``net``.

    A refiner whose output is added to its input (``residual=True``) then starts as the
    identity (the B-spline interpolation), so short trainings only ever improve on it.
    Returns False when ``net`` has no convolution.
    """
    import torch
    from torch import nn

    convs = [m for m in net.modules() if isinstance(m, nn.modules.conv._ConvNd)]
    if not convs:
        return False
    with torch.no_grad():
        convs[-1].weight.zero_()
        if convs[-1].bias is not None:
            convs[-1].bias.zero_()
    return True
