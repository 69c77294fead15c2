"""Settings of a self-super-resolution run: budgets and the two 2D networks.

A budget fixes the training length, patch and batch size and the network width/depth;
``--steps`` / ``--time-limit`` override the length. The networks come from the model
registry (:mod:`volsr.models`): any 2D ``"pre"`` network, or a 2D ``"post"`` network
that accepts ``scale=1`` (e.g. EDSR without its up-sampler) -- both then refine an
input already interpolated onto the output grid. The budget's ``width``/``depth`` are
passed under whichever of the usual constructor names the network uses
(``n_feats``/``num_features``/..., ``n_resblocks``/``num_blocks``/...); explicit
``model_kwargs`` win.

Budgets (``steps`` are the SSR network's; the SAA network trains ``saa_share`` times as
many, and gets that share of any time limit; time SAA leaves unused goes to SSR):

============  =====  =========  =====  =====  =====  =====  ============
budget        steps  saa_share  batch  patch  width  depth  orientations
============  =====  =========  =====  =====  =====  =====  ============
``fast``        900        1/3     16     40     24      6             2
``default``    1500        1/2     16     40     24      6             2
``thorough``   6000          1     32     48     64     16             4
============  =====  =========  =====  =====  =====  =====  ============

Why SAA gets fewer steps: with the usual Gaussian profile (FWHM = slice spacing) there is
little aliasing to remove, and SAA's loss settles far sooner than SSR's; steps spent on
SSR buy more (``benchmarks/ssr.py``, numbers in ``docs/ssr.md``).

``fast`` also caps all training at ``max_seconds`` (420 s in total), so that a
~200x200x45 scan finishes in under 10 minutes on two CPU cores including inference;
the cap only matters on slow or busy machines (the run is then no longer
bit-reproducible, and the report says the cap stopped it). ``default`` takes tens of
minutes on a CPU and a few on a GPU; ``thorough`` is meant for a GPU.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from volsr.errors import ConfigError

__all__ = ["BUDGETS", "DEFAULT_MODEL", "SSRConfig", "build_net", "resolve_config", "zero_last_conv"]

log = logging.getLogger(__name__)

DEFAULT_MODEL = "edsr_baseline_2d"

BUDGETS: dict[str, dict[str, Any]] = {
    "fast": {"steps": 900, "saa_share": 1 / 3, "batch_size": 16, "patch_size": 40,
             "width": 24, "depth": 6, "orientations": 2, "lr": 1e-3, "max_seconds": 420.0},
    "default": {"steps": 1500, "saa_share": 0.5, "batch_size": 16, "patch_size": 40,
                "width": 24, "depth": 6, "orientations": 2, "lr": 1e-3, "max_seconds": None},
    "thorough": {"steps": 6000, "saa_share": 1.0, "batch_size": 32, "patch_size": 48,
                 "width": 64, "depth": 16, "orientations": 4, "lr": 5e-4, "max_seconds": None},
}

_WIDTH_KEYS = ("n_feats", "num_features", "n_features", "num_feat", "features", "channels",
               "width")
_DEPTH_KEYS = ("n_resblocks", "num_blocks", "n_blocks", "num_res_blocks", "num_resblocks",
               "depth", "blocks")


@dataclass
class SSRConfig:
    """Resolved settings (what the sidecar records).

    Attributes:
        budget: budget name.
        steps: training steps of the SSR network (None: until ``time_limit``).
        time_limit: seconds for all training (split between the networks in proportion
            to their steps).
        max_seconds: the budget's safety cap on all training, in seconds (None: none).
        batch_size, patch_size, lr: optimisation settings (Adam, L1 loss, cosine decay).
        model: registry name of both networks; ``model_kwargs``: its constructor kwargs.
        width, depth: the budget's feature count and block count (mapped onto the
            network's own argument names unless ``model_kwargs`` sets them).
        saa: train and apply the anti-aliasing network.
        saa_share: SAA's training steps (and share of the time) relative to SSR's.
        cascade: with SAA, train the SSR network on the trained SAA network's output for
            the aliased inputs (what it meets when applied) instead of on alias-free
            profile-blurred inputs (``False``, the textbook pairing).
        orientations: 2 (the two through-plane slice stacks) or 4 (each also flipped).
        fusion: ``fba`` or ``average``; ``fba_p``: FBA exponent.
        angles: in-plane rotation angles (degrees) of the training slices; 0 keeps them
            exact (the 90 degree rotation is always in: both in-plane axes are degraded).
        random_angles: this many further angles drawn uniformly in (0, 90) from the seed
            (each adds a resampled copy of the slices; cubic B-spline).
        fg_fraction: share of patches centred on the foreground.
        identity_init: zero the networks' last convolution, so that each starts as the
            identity on its B-spline-interpolated input.
        normalization: intensity normalisation spec.
        seed: seed of weights initialisation and patch sampling.
    """

    budget: str = "default"
    steps: int | None = 1500
    time_limit: float | None = None
    max_seconds: float | None = None
    batch_size: int = 16
    patch_size: int = 40
    lr: float = 1e-3
    model: str = DEFAULT_MODEL
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    width: int | None = 24
    depth: int | None = 6
    saa: bool = True
    saa_share: float = 1.0
    cascade: bool = True
    orientations: int = 2
    fusion: str = "fba"
    fba_p: float = 11.0
    angles: tuple[float, ...] = (0.0,)
    random_angles: int = 0
    fg_fraction: float = 0.8
    identity_init: bool = True
    normalization: dict[str, Any] = field(
        default_factory=lambda: {"name": "percentile", "lower": 0.5, "upper": 99.5})
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["angles"] = list(self.angles)
        return d


def resolve_config(budget: str = "default", **overrides: Any) -> SSRConfig:
    """A :class:`SSRConfig` from a budget name plus explicit settings (None = budget's)."""
    if budget not in BUDGETS:
        raise ConfigError(f"--budget must be one of {', '.join(BUDGETS)}, got {budget!r}")
    b = dict(BUDGETS[budget])
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(given) - set(SSRConfig.__dataclass_fields__))
    if unknown:
        raise ConfigError(f"unknown self-super-resolution setting(s): {', '.join(unknown)}")
    if "time_limit" in given and "steps" not in given:
        b["steps"] = None  # an explicit time limit alone decides the length
    cfg = SSRConfig(budget=budget, **{**b, **given})
    cfg.model_kwargs = dict(cfg.model_kwargs)
    cfg.angles = tuple(float(a) for a in cfg.angles)
    _validate(cfg)
    return cfg


def _validate(cfg: SSRConfig) -> None:
    if cfg.steps is not None and (int(cfg.steps) != cfg.steps or cfg.steps < 1):
        raise ConfigError(f"--steps must be a positive integer, got {cfg.steps!r}")
    if cfg.time_limit is not None and not cfg.time_limit > 0:
        raise ConfigError(f"--time-limit must be > 0 seconds, got {cfg.time_limit!r}")
    if cfg.steps is None and cfg.time_limit is None:
        raise ConfigError("give --steps or --time-limit (or a budget)")
    if cfg.orientations not in (2, 4):
        raise ConfigError(f"orientations must be 2 or 4, got {cfg.orientations!r}")
    if cfg.fusion not in ("fba", "average"):
        raise ConfigError(f"--fusion must be fba or average, got {cfg.fusion!r}")
    for name in ("batch_size", "patch_size"):
        v = getattr(cfg, name)
        if int(v) != v or v < 1:
            raise ConfigError(f"{name} must be a positive integer, got {v!r}")
    if not cfg.lr > 0:
        raise ConfigError(f"learning rate must be > 0, got {cfg.lr!r}")
    if int(cfg.random_angles) != cfg.random_angles or cfg.random_angles < 0:
        raise ConfigError(f"random_angles must be an integer >= 0, got {cfg.random_angles!r}")
    if not 0 < cfg.saa_share <= 4:
        raise ConfigError(f"saa_share must be in (0, 4], got {cfg.saa_share!r}")
    if not 0 <= cfg.fg_fraction <= 1:
        raise ConfigError(f"fg_fraction must be in [0, 1], got {cfg.fg_fraction!r}")


def _arch_kwargs(name: str, kwargs: dict[str, Any], width: int | None, depth: int | None
                 ) -> dict[str, Any]:
    """``kwargs`` plus ``width``/``depth`` under the network's own argument names."""
    from volsr.models import create_model

    kw = dict(kwargs)
    if width is None and depth is None:
        return kw
    try:
        defaults = create_model(name).config()
    except Exception:  # noqa: BLE001 - a model that cannot be built bare: no mapping
        defaults = {}
    for value, keys, what in ((width, _WIDTH_KEYS, "width"), (depth, _DEPTH_KEYS, "depth")):
        key = next((k for k in keys if isinstance(defaults.get(k), int)
                    and not isinstance(defaults.get(k), bool)), None)
        if key is None:
            log.debug("model %s has no integer %s argument; budget %s ignored", name, what,
                      what)
        elif key not in kw:
            kw[key] = int(value)
    return kw


def build_net(name: str, kwargs: dict[str, Any], factor: float, *, width: int | None = None,
              depth: int | None = None) -> tuple[Any, dict[str, Any]]:
    """A 2D refining network from the registry; returns ``(net, kwargs to rebuild it)``.

    ``"pre"`` networks get ``scale=(1, factor)`` (metadata); ``"post"`` networks are built
    with ``scale=1`` (same-size output). Anything else is refused.
    """
    from volsr.models import create_model, model_entry

    entry = model_entry(name)
    dims, kind = entry.info.get("dims"), entry.info.get("upsampling")
    if dims != 2:
        raise ConfigError(f"self-super-resolution needs a 2D network; {name!r} is "
                          f"{dims}D (try one of the *_2d models: 'volsr models')")
    kw = _arch_kwargs(name, kwargs, width, depth)
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


def zero_last_conv(net: Any) -> bool:
    """Zero the weights and bias of the last convolution registered in ``net``.

    A refiner whose output is added to its input then starts as the identity (the
    B-spline interpolation), so short trainings only ever improve on it. Returns False
    when ``net`` has no convolution.
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
