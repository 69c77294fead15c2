"""The pieces of a run built from its config: manifest path, network, batches."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from volsr.config import ExperimentConfig
from volsr.errors import ConfigError

log = logging.getLogger(__name__)


def resolve_manifest(cfg: ExperimentConfig) -> Path:
    """Find ``data.manifest``: relative to the working directory, else to the config.

    An absolute path is used as is. A relative path is tried against the current working
    directory first; if no file is there, against the folder of the config file
    (``cfg.config_dir``) and then each of its parent folders, nearest first, so the
    repository's ``configs/*.yaml`` (which name ``data_manifests/...``) work from any
    working directory.

    Raises:
        ConfigError: no such file in any of those places.
    """
    p = Path(cfg.data.manifest).expanduser()
    if p.is_absolute():
        if not p.is_file():
            raise ConfigError(f"data.manifest: no such file {str(p)!r}")
        return p
    if p.is_file():
        return p.resolve()
    tried = [Path.cwd()]
    if cfg.config_dir:
        folder = Path(cfg.config_dir).resolve()
        for base in (folder, *folder.parents):
            if (base / p).is_file():
                log.info("data.manifest %s found relative to %s", p, base)
                return (base / p).resolve()
            tried.append(base)
    raise ConfigError(f"data.manifest: {cfg.data.manifest!r} not found relative to the working "
                      f"directory nor to the config's folder or its parents (tried "
                      f"{', '.join(str(t) for t in tried[:4])}{', ...' if len(tried) > 4 else ''})")


def build_network(cfg: ExperimentConfig) -> torch.nn.Module:
    """The untrained network of ``cfg.model`` (scale and channels from the config).

    2D networks (``data.mode: 2d``) get the two in-plane factors of ``model.scale``;
    ``any_factor`` networks trained on thick slices (:func:`grid_pairs`) get ``(s, 1)``
    with ``s`` the largest factor of ``model.scale``: their planes have the thick axis as
    rows, in training as at inference (:mod:`volsr.inference.lr_axis`).

    Raises:
        ConfigError: unknown model, an interpolation baseline, a 2D/3D mismatch with
            ``data.mode``, or ``scale``/``in_channels`` given in ``model.args``.
    """
    from volsr.models import create_model, model_entry

    entry = model_entry(cfg.model.name)
    if entry.info.get("upsampling") == "interpolation":
        raise ConfigError(f"model.name: {cfg.model.name!r} is an interpolation baseline; there "
                          "is nothing to train")
    dims = int(entry.info.get("dims", 3))
    if (dims == 3) != (cfg.data.mode == "3d"):
        raise ConfigError(f"model {cfg.model.name!r} is {dims}D but data.mode is "
                          f"{cfg.data.mode!r}")
    clash = sorted({"scale", "in_channels", "spatial_dims"} & set(cfg.model.args))
    if clash:
        raise ConfigError(f"model.args: set {', '.join(clash)} through model.* keys, not args")
    scale = cfg.model.scale if dims == 3 else tuple(
        s for i, s in enumerate(cfg.model.scale) if i != cfg.data.slice_axis)
    net = create_model(cfg.model.name, scale=list(scale), in_channels=cfg.model.in_channels,
                       **dict(cfg.model.args))
    if grid_pairs(cfg, net.any_factor):
        net = create_model(cfg.model.name, scale=[max(cfg.model.scale), 1.0],
                           in_channels=cfg.model.in_channels, **dict(cfg.model.args))
    return net


def grid_pairs(cfg: ExperimentConfig, any_factor: bool) -> bool:
    """Whether ``cfg`` trains a network on any-factor grid pairs: its class declares
    ``any_factor`` (``SRNet.any_factor``), 2D mode, a thick-slice degradation."""
    from volsr.data.grid_pairs import uses_grid_pairs

    return uses_grid_pairs(bool(any_factor), cfg.data.mode, cfg.data.degradation)


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack ``lr``/``hr`` arrays into ``(B, C, *spatial)`` tensors; keep ``params`` a list.

    Any-factor pairs carry a ``grid``; a batch must share it (``batch["grid"]``).

    Raises:
        ValueError: the items of an any-factor batch have different grids.
    """
    out: dict[str, Any] = {}
    if "grid" in items[0]:
        grids = {it["grid"] for it in items}
        if len(grids) != 1:
            raise ValueError(f"a batch of any-factor pairs mixes {len(grids)} grids; its "
                             "items must come from one group (see StepBatchSampler)")
        out["grid"] = items[0]["grid"]
    for key in ("lr", "hr"):
        out[key] = torch.stack([torch.as_tensor(np.asarray(it[key], dtype=np.float32))
                                for it in items])
    out["params"] = [it.get("params") for it in items]
    return out


__all__ = ["build_network", "collate", "grid_pairs", "resolve_manifest"]
