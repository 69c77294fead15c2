"""Validation during training and the export of the trained weights.

Validation runs the network the way users will: :class:`volsr.inference.predictor.Predictor`
(normalisation fitted on the LR input, interpolation for ``"pre"`` networks, sliding
window, inverse normalisation) with ``reference=hr.grid``, so the output lands on the
HR grid; then PSNR and SSIM with :func:`volsr.metrics.evaluate` (``data_range`` = HR
max - min, foreground mask ``"auto"``), in the HR volume's units. Cubic B-spline is scored
the same way once per run (:func:`bspline_scores`), so every validation also records the
gain over it (the learning curve of a thick-slice model is a gain curve).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from volsr.config import ExperimentConfig, config_to_dict

log = logging.getLogger(__name__)


@torch.no_grad()
def validate_cases(net: torch.nn.Module, cases: Sequence[Any], cfg: ExperimentConfig,
                   device: torch.device) -> dict[str, Any]:
    """Mean and per-case PSNR/SSIM of ``net`` on validation cases.

    Args:
        net: The network (its train/eval mode is restored afterwards).
        cases: :class:`volsr.data.ValCase` objects (``id``, ``lr``, ``hr`` Volumes).
        cfg: The experiment config (normalisation, scale, ``train.val_patch_size`` or
            ``infer.patch_size``, ``train.val_overlap``).
        device: Where to run.

    Returns:
        ``{"psnr": mean dB, "ssim": mean, "cases": {id: {"psnr", "ssim"}}}``.
    """
    from volsr.inference.predictor import Predictor

    was_training = net.training
    patch = cfg.train.val_patch_size or cfg.infer.patch_size
    per_case: dict[str, dict[str, float]] = {}
    try:
        predictor = Predictor(
            net, model_name=cfg.model.name, normalization=cfg.data.normalization.to_dict(),
            scale=list(cfg.model.scale), device=device,
            patch_size=None if patch is None else list(patch), overlap=cfg.train.val_overlap)
        for case in cases:
            per_case[case.id] = _score(case, predictor.run(case.lr, reference=case.hr.grid))
    finally:
        net.train(was_training)
    return {"psnr": float(np.mean([v["psnr"] for v in per_case.values()])),
            "ssim": float(np.mean([v["ssim"] for v in per_case.values()])),
            "cases": per_case}


def _score(case: Any, out: Any) -> dict[str, float]:
    from volsr.metrics import evaluate

    hr = np.asarray(case.hr.data[0])
    res = evaluate(case.hr, out, data_range=float(hr.max() - hr.min()), mask="auto",
                   metrics=("psnr", "ssim"))
    return {"psnr": float(res.psnr), "ssim": float(res.ssim)}


def bspline_scores(cases: Sequence[Any]) -> dict[str, dict[str, float]]:
    """PSNR/SSIM of cubic B-spline on each validation case, scored as the network is:
    ``{id: {"psnr", "ssim"}}``."""
    from volsr.inference.interpolate import InterpolationPredictor
    from volsr.models import create_model

    bspline = InterpolationPredictor(create_model("bspline"), "bspline")
    return {c.id: _score(c, bspline.run(c.lr, reference=c.hr.grid)) for c in cases}


def with_gains(val: dict[str, Any], baseline: dict[str, dict[str, float]]) -> dict[str, Any]:
    """``val`` (of :func:`validate_cases`) with ``gain_psnr``/``gain_ssim`` over
    ``baseline`` (of :func:`bspline_scores`), per case and their means."""
    out = dict(val)
    for key in ("psnr", "ssim"):
        gains = []
        for cid, rec in out["cases"].items():
            if cid in baseline:
                rec[f"gain_{key}"] = rec[key] - baseline[cid][key]
                gains.append(rec[f"gain_{key}"])
        if gains:
            out[f"gain_{key}"] = float(np.mean(gains))
    return out


def export_weights(net: torch.nn.Module, folder: Path, cfg: ExperimentConfig, *,
                   training: dict[str, Any]) -> Path:
    """Write ``folder`` (``model.safetensors`` + ``model.json``) for ``volsr infer --weights``.

    The normalisation spec comes from ``data.normalization``, the default sliding-window
    settings from ``infer``; ``training`` is stored with the resolved config added.
    """
    from volsr.checkpoint import save_weights

    inference = {"patch_size": None if cfg.infer.patch_size is None
                 else list(cfg.infer.patch_size),
                 "overlap": cfg.infer.overlap, "blend": cfg.infer.blend}
    return save_weights(net, folder, model_name=cfg.model.name,
                        normalization=cfg.data.normalization.to_dict(), inference=inference,
                        training={"config": config_to_dict(cfg), **training},
                        scale=list(cfg.model.scale))


__all__ = ["bspline_scores", "export_weights", "validate_cases", "with_gains"]
