"""``train.init_from``: start a run from shipped or exported weights (warm start).

Only the network's weights are taken; the optimiser, scheduler, EMA and step count start
afresh, so training can continue in stages from the last shipped weights with a new
schedule. The weights must be of the very network the config builds: same registry name
and same constructor arguments (``net.config()``, e.g. width, depth, scale), else the
run is refused with one line naming what differs.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from volsr.errors import ConfigError

__all__ = ["resolve_init_from", "warm_start"]

log = logging.getLogger(__name__)


def resolve_init_from(spec: str, config_dir: str | Path | None = None) -> Path:
    """The weights folder of ``init_from``: a bundled model name, or a weights folder /
    ``model.json`` / training run folder (relative paths: the working directory, then
    the config's folder).

    Raises:
        ConfigError: neither a bundled name nor an existing path.
    """
    from volsr.weights import bundled_models, resolve_bundled

    bundled = resolve_bundled(spec)
    if bundled is not None:
        return bundled
    p = Path(spec).expanduser()
    if not p.is_absolute() and not p.exists() and config_dir:
        p = Path(config_dir) / p
    if not p.exists():
        raise ConfigError(f"train.init_from: {spec!r} is neither a bundled model "
                          f"({', '.join(sorted(bundled_models())) or 'none installed'}) nor an "
                          "existing weights folder")
    return p


def _plain(value: Any) -> Any:
    """JSON round trip, so tuples and lists (and 1 vs 1.0) compare as stored."""
    return json.loads(json.dumps(value, default=list))


def warm_start(net: torch.nn.Module, spec: str, *, model_name: str,
               config_dir: str | Path | None = None) -> dict[str, Any]:
    """Load the weights of ``spec`` into ``net`` (in place), after checking they match.

    Args:
        net: the freshly built network of the run (``build_network(cfg)``).
        spec: ``train.init_from`` (see :func:`resolve_init_from`).
        model_name: the config's ``model.name``.
        config_dir: the config's folder, for relative paths.

    Returns:
        ``{"init_from": folder, "sha256": ..., "model": name}`` for the run's records.

    Raises:
        ConfigError: another network or other constructor arguments than the config's.
        InputError: unreadable or corrupt weights.
    """
    from volsr.checkpoint import load_weights, read_weights_meta
    from volsr.models import model_entry

    folder = resolve_init_from(spec, config_dir)
    meta = read_weights_meta(folder)
    want, have = model_entry(model_name).name, model_entry(meta.model_name).name
    if want != have:
        raise ConfigError(f"train.init_from: the weights are a {have!r} network, the config "
                          f"trains {want!r} ({meta.folder})")
    config = getattr(net, "config", None)
    ours = _plain(config()) if callable(config) else {}
    theirs = _plain(meta.model_kwargs)
    diff = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
    if diff:
        shown = "; ".join(f"{k}: config {ours.get(k)!r}, weights {theirs.get(k)!r}"
                          for k in diff[:4])
        raise ConfigError(f"train.init_from: the weights' {have} differs from the config's "
                          f"model ({shown}) ({meta.folder})")
    src, meta = load_weights(folder, device="cpu")
    with torch.no_grad():
        net.load_state_dict(src.state_dict(), strict=True)
    log.info("warm start from %s (%s, sha256 %s); optimiser and schedule start afresh",
             meta.folder, have, meta.sha256[:12])
    return {"init_from": str(Path(meta.folder).resolve()), "sha256": meta.sha256, "model": have}
