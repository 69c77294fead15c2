"""End-to-end self-super-resolution of one thick-slice scan (SMORE-style).

:func:`self_super_resolve` needs nothing but the scan:

1. header analysis (:func:`volsr.ssr.header.analyze_header`): slice axis, factor,
   thickness, gap;
2. slice profile (:mod:`volsr.ssr.profile`): estimated from the scan by default
   (``profile="auto"``, :mod:`volsr.ssr.profile_estimate`; a low-confidence estimate
   falls back to the Gaussian with FWHM = thickness), or given: Gaussian, rect, or a
   user profile;
3. percentile intensity normalisation fitted on the scan (undone at the end);
4. SAA network (self anti-aliasing, skipped with ``saa=False``): trained on in-plane
   patches to map "thick-slice acquired, then B-spline interpolated" (aliased) to
   "profile-blurred at full sampling" (alias-free);
5. SSR network: trained to map in-plane patches back to the originals; its inputs are
   the aliased patches passed through the trained SAA network (the default "cascade":
   exactly what SSR meets when applied), the aliased patches themselves (without SAA),
   or, with ``cascade=False``, the alias-free profile-blurred patches (the textbook
   pairing);
6. application to the through-plane slices of the B-spline-interpolated scan in several
   orientations, fused by Fourier burst accumulation (:class:`volsr.ssr.model.SSRModel`).

The recipe follows Zhao et al.: SAA learns ``U D x -> h * x`` and SSR ``h * x -> x`` from
the scan's own in-plane slices (``D``: the thick-slice acquisition with profile ``h``,
``U``: cubic B-spline interpolation), both are applied to the through-plane slices, and
the orientations are combined by Fourier burst accumulation. Differences: the two
networks are small registry networks (EDSR-baseline style by default) with a global
residual, trained for a budget rather than to convergence; SAA trains fewer steps than
SSR; SSR learns from SAA's output instead of from ``h * x``. Trained on ``h * x``, a
short-budget SSR learns a sharp deconvolution that amplifies whatever SAA leaves behind:
at 1000 steps per network that pairing scored 1.08 dB *below* B-spline at x4, where the
cascade matches or beats SSR alone (``docs/ssr.md``). A gap or overlap simply changes
``h``'s width relative to the slice spacing (as in ECLARE).

References:
    C. Zhao et al., "SMORE: a self-supervised anti-aliasing and super-resolution
    algorithm for MRI using deep learning", IEEE TMI 40(3):805-817, 2021.
    S. Remedios et al., "ECLARE: efficient cross-planar learning for anisotropic
    resolution enhancement", arXiv:2503.11787 (SASHIMI 2023 version).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from volsr.geometry import Grid
from volsr.io.volume import Volume
from volsr.ssr.config import SSRConfig, build_net, zero_last_conv
from volsr.ssr.fit import training_dtype
from volsr.ssr.header import analyze_header
from volsr.ssr.model import SSRModel, TrainedNet, apply_to_slices
from volsr.ssr.pairs import CASCADE_TASK, build_sampler
from volsr.ssr.profile_choice import choose_profile, training_profiles
from volsr.ssr.train import torch_threads, train_network

__all__ = ["SSRResult", "self_super_resolve"]

log = logging.getLogger(__name__)


@dataclass
class SSRResult:
    """Output of :func:`self_super_resolve`.

    Attributes:
        volume: the super-resolved scan (float32, input units, convention grid).
        report: JSON-ready record: geometry, profile, settings, seeds, timings, grid.
        model: the trained model (``model.save(dir)``, ``model.run(other_scan)``).
    """

    volume: Volume
    report: dict[str, Any]
    model: SSRModel


def self_super_resolve(
    volume: Volume,
    *,
    budget: str = "default",
    slice_thickness: float | None = None,
    slice_gap: float | None = None,
    profile: str | None = None,
    profile_kernel: Sequence[float] | np.ndarray | None = None,
    profile_step: float | None = None,
    saa: bool = True,
    steps: int | None = None,
    time_limit: float | None = None,
    scale: float | Sequence[float] | None = None,
    target_spacing: float | Sequence[float] | None = None,
    reference: Grid | None = None,
    fusion: str | None = None,
    orientations: int | None = None,
    model: str | None = None,
    model_kwargs: dict[str, Any] | None = None,
    device: Any = "auto",
    seed: int = 0,
    save_weights: str | Path | None = None,
    progress: bool | None = None,
    threads: int | None = None,
    **settings: Any,
) -> SSRResult:
    """Super-resolve a thick-slice scan from itself (no external training data).

    Args:
        volume: the scan (one channel).
        budget: ``"fast"``, ``"default"`` or ``"thorough"``: the preset of
            :class:`~volsr.config.ssr.SSRConfig` the settings start from.
        slice_thickness / slice_gap: what the header cannot say, in mm (default:
            estimated with ``profile="auto"``, else thickness = slice spacing, gap 0).
        profile: ``"auto"`` (the config's default: family and width estimated from the
            scan, see :func:`~volsr.ssr.profile_estimate.estimate_profile`; with a given
            thickness or gap only the family is estimated), ``"gaussian"`` (FWHM =
            thickness), ``"rect"`` or ``"custom"``.
        profile_kernel / profile_step: custom profile samples and their spacing in mm.
        saa: train and apply the anti-aliasing network first.
        steps / time_limit: training steps of the SSR network (SAA trains ``saa_share``
            times as many) / seconds for all training (override the budget).
        scale / target_spacing / reference: output grid (default: the slice axis at the
            in-plane spacing, in-plane axes unchanged).
        fusion: ``"fba"`` (default) or ``"average"``; orientations: 2 or 4.
        model / model_kwargs: registry name and kwargs of both 2D networks.
        device: ``auto``, ``cpu``, ``cuda[:N]`` or ``mps`` (explicit and missing: error).
        seed: seed of initialisation and sampling (SAA uses ``seed``, SSR ``seed + 1``).
        save_weights: folder to save the trained model into.
        progress: tqdm bars (None: only on a terminal).
        threads: CPU threads for torch during this call (None: torch's setting). On a
            busy shared machine 1 can be many times faster than oversubscribed threads.
        **settings: further :class:`~volsr.config.ssr.SSRConfig` fields (batch_size,
            patch_size, lr, angles, fg_fraction, fba_p, normalization, features,
            num_blocks, saa_share, cascade, max_seconds, ...).

    Returns:
        :class:`SSRResult` (volume, report, model).

    Raises:
        InputError: isotropic / 4D / two-coarse-axes scans (see
            :func:`~volsr.ssr.header.analyze_header`); ConfigError: bad options;
            DeviceError: an explicit device that is not available.

    Example:
        >>> from volsr.phantom import phantom_volume
        >>> lr = phantom_volume((32, 32, 8), (2.0, 2.0, 8.0), supersample=1)
        >>> res = self_super_resolve(lr, steps=2, model="srcnn_2d", device="cpu",
        ...     model_kwargs={"features": [4], "kernel_sizes": [3, 3], "residual": True},
        ...     patch_size=16, batch_size=2)
        >>> res.volume.spatial_shape, res.report["acquisition"]["factor"]
        ((32, 32, 32), 4.0)
    """
    from volsr.data.normalize import fit_normalization
    from volsr.devices import resolve_device
    from volsr.inference.grid import plan_output_grid

    with torch_threads(threads):
        t_start = time.perf_counter()
        dev = resolve_device(str(device)) if isinstance(device, str) else device
        acq = analyze_header(volume, slice_thickness=slice_thickness, slice_gap=slice_gap)
        cfg = SSRConfig.preset(budget, steps=steps, time_limit=time_limit, saa=saa,
                               fusion=fusion, orientations=orientations, model=model,
                               model_kwargs=model_kwargs, seed=seed, profile=profile,
                               **settings)
        t_prof = time.perf_counter()
        given = slice_thickness is not None or slice_gap is not None
        acq, prof, estimate = choose_profile(volume, acq, cfg, thickness_given=given,
                                             kernel=profile_kernel, step=profile_step)
        profiles = training_profiles(acq, prof, estimate, fallback=cfg.profile_fallback,
                                     family_min_confidence=cfg.profile_family_min_confidence)
        t_prof = time.perf_counter() - t_prof
        if scale is not None or target_spacing is not None or reference is not None:
            plan_output_grid(volume.grid, scale=scale, target_spacing=target_spacing,
                             reference=reference)  # bad grid options fail before training
        if save_weights is not None:
            SSRModel.check_folder(save_weights)
        for w in acq.warnings:
            log.warning("%s", w)
        log.info("slice axis %d, factor %.4g (%.4g mm slices, %.4g mm in-plane), %s profile "
                 "%.4g mm, budget %s", acq.axis, acq.factor, acq.slice_spacing,
                 acq.inplane_spacing, prof.kind, prof.thickness, cfg.budget)
        norm_spec = cfg.normalization.to_dict()
        norm = fit_normalization(volume.data, norm_spec)
        hr = np.asarray(norm.forward(volume.data[0].astype(np.float64)), np.float32)

        plan = _training_plan(cfg)
        timings: dict[str, float] = {"profile_s": round(t_prof, 3)}
        training: dict[str, Any] = {}
        nets: dict[str, TrainedNet | None] = {"saa": None, "ssr": None}
        # with the cascade, SSR learns from SAA's own output on the aliased inputs
        ssr_task = "blurred_to_sharp" if cfg.saa and not cfg.cascade else "aliased_to_sharp"
        tasks = ([("saa", "aliased_to_blurred", cfg.seed)] if cfg.saa else []) + [
            ("ssr", ssr_task, cfg.seed + 1)]
        for role, task, net_seed in tasks:
            steps_r, limit_r = plan[role]
            if role == "ssr" and "saa" in training:
                limit_r = _ssr_time_limit(plan, training["saa"]["seconds"])
            nets[role], training[role] = _train_one(
                role, task, hr, acq, profiles, cfg, net_seed, dev, steps_r, limit_r, progress,
                before=nets["saa"] if role == "ssr" else None)
            timings[f"train_{role}_s"] = round(training[role]["seconds"], 3)

        ssr_model = SSRModel(acquisition=acq, profile=prof, ssr=nets["ssr"], saa=nets["saa"],
                             normalization=norm_spec, fusion=cfg.fusion,
                             fba_p=cfg.fba_p, orientations=cfg.orientations, device=dev,
                             training={"config": cfg.to_dict(), **training})
        apply_t: dict[str, float] = {}
        out = ssr_model.run(volume, scale=scale, target_spacing=target_spacing,
                            reference=reference, timings=apply_t)
        timings["apply_s"] = round(apply_t["apply_s"], 3)
        if save_weights is not None:
            ssr_model.save(save_weights)
        timings["total_s"] = round(time.perf_counter() - t_start, 3)
        report = _report(acq, prof, cfg, norm, nets, training, dev, timings, out, save_weights)
        report["profile_estimate"] = estimate
        report["trained_on"] = [p.to_dict() for p in profiles]
        return SSRResult(volume=out, report=report, model=ssr_model)


def _report(acq: Any, prof: Any, cfg: SSRConfig, norm: Any, nets: dict[str, Any],
            training: dict[str, Any], dev: Any, timings: dict[str, float], out: Volume,
            save_weights: str | Path | None) -> dict[str, Any]:
    """The JSON-ready run record (what the sidecar of ``volsr ssr`` holds)."""
    import torch

    from volsr.provenance import grid_record

    return {
        "method": "self-super-resolution (SMORE-style: SAA + SSR)" if cfg.saa
        else "self-super-resolution (SMORE-style: SSR only)",
        "acquisition": acq.to_dict(),
        "profile": prof.to_dict(),
        "normalization": {"spec": cfg.normalization.to_dict(), **norm.to_dict()},
        "settings": cfg.to_dict(),
        "networks": {k: (None if tn is None else {"name": tn.name, "kwargs": tn.kwargs,
                                                   "seed": training[k]["seed"]})
                     for k, tn in nets.items()},
        "training": training,
        "seeds": {"seed": cfg.seed, "saa": cfg.seed if cfg.saa else None, "ssr": cfg.seed + 1},
        "device": str(dev),
        "threads": torch.get_num_threads() if dev.type == "cpu" else None,
        "timings": timings,
        "output_grid": grid_record(out.spatial_shape, out.affine),
        "weights": None if save_weights is None else str(Path(save_weights)),
        "warnings": list(acq.warnings),
    }


def _training_plan(cfg: SSRConfig) -> dict[str, tuple[int | None, float | None]]:
    """``(steps, time limit)`` of each network.

    SAA trains ``saa_share`` times as many steps as SSR and gets that share of the time
    (``time_limit`` and the budget's ``max_seconds`` are totals for all training).
    """
    shares = {"ssr": 1.0, **({"saa": float(cfg.saa_share)} if cfg.saa else {})}
    total = sum(shares.values())
    cap = cfg.time_limit
    if cfg.max_seconds is not None:
        cap = cfg.max_seconds if cap is None else min(cap, cfg.max_seconds)
    plan = {}
    for role, share in shares.items():
        steps = None if cfg.steps is None else max(1, round(cfg.steps * share))
        plan[role] = (steps, None if cap is None else cap * share / total)
    return plan


def _ssr_time_limit(plan: dict[str, tuple[int | None, float | None]], saa_seconds: float
                    ) -> float | None:
    """SSR's time limit once SAA is trained: its share plus whatever SAA left unused."""
    limit = plan["ssr"][1]
    if limit is None or "saa" not in plan:
        return limit
    return max(limit, limit + plan["saa"][1] - saa_seconds)


def _train_one(role: str, task: str, hr: np.ndarray, acq: Any, profiles: list[Any],
               cfg: SSRConfig,
               seed: int, dev: Any, steps: int | None, limit: float | None,
               progress: bool | None,
               before: TrainedNet | None = None) -> tuple[TrainedNet, dict[str, Any]]:
    """Train one network on pairs of ``profiles`` (one, or several sharing each batch);
    ``before`` (the trained SAA) is first run over the inputs."""
    import torch

    torch.manual_seed(seed)
    net, kwargs = build_net(cfg.model, cfg.model_kwargs, acq.factor, features=cfg.features,
                            num_blocks=cfg.num_blocks)
    if cfg.identity_init:
        zero_last_conv(net)
    drawn = np.random.default_rng(cfg.seed).uniform(0.0, 90.0, int(cfg.random_angles))
    sampler = build_sampler(hr, acq, profiles, task, patch_size=cfg.patch_size,
                            angles=(*cfg.angles, *drawn.tolist()), fg_fraction=cfg.fg_fraction)
    if before is not None and task == "aliased_to_sharp":
        with torch.inference_mode():
            sampler.map_inputs(lambda a: apply_to_slices(before, a, dev))
        task = CASCADE_TASK
    res = train_network(net, sampler, steps=steps, time_limit=limit,
                        batch_size=cfg.batch_size, lr=cfg.lr, device=dev, seed=seed,
                        progress=progress, desc=f"volsr ssr: train {role.upper()}",
                        dtype=training_dtype(cfg.precision, dev))
    info = {"task": task, "seed": seed, "patch": list(sampler.patch),
            "pairs": sampler.info, "parameters": int(sum(p.numel() for p in net.parameters())),
            **res.to_dict()}
    return TrainedNet(net, cfg.model, kwargs), info
