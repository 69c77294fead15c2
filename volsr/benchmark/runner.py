"""Run every method on every case of a manifest under one protocol, and score it.

For each case: load ``hr`` (optionally centre-cropped to ``max_size`` voxels per axis,
keeping its world position), make the LR input with the protocol
(:func:`volsr.benchmark.protocols.make_pair`), compute the foreground mask of the truth
once, run each method onto the truth's grid, and score it with
:func:`volsr.metrics.evaluate` (world coordinates, inside the mask, ``data_range`` = the
truth's max - min). Seconds are wall-clock time of the method call; peak memory is the
highest resident set size of the process sampled during the call (and, on CUDA, the
peak allocated GPU memory). Per case, the figure of :mod:`volsr.benchmark.figures` is
written while the outputs are still in memory; then they are dropped.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from volsr.benchmark.methods import Method, build_method, parse_methods
from volsr.benchmark.protocols import Protocol, get_protocol, make_pair
from volsr.errors import ConfigError, InputError, VolsrError
from volsr.io.volume import Volume

__all__ = ["BenchmarkResult", "RESULT_METRICS", "crop_center", "run_benchmark", "summarize"]

log = logging.getLogger(__name__)

RESULT_METRICS = ("psnr", "ssim", "nrmse", "hfen", "seconds", "peak_mb")
"""Columns of the results table (per volume, and mean/sd per method)."""


@dataclass
class BenchmarkResult:
    """What :func:`run_benchmark` measured.

    Attributes:
        rows: one dict per (case, method): ``case``, ``method``, the metrics of
            :data:`RESULT_METRICS`, ``mask_voxels``, ``data_range``, ``status``
            (``ok``/``failed``) and ``error``.
        summary: one dict per method: ``n`` and ``<metric>_mean`` / ``<metric>_sd``.
        protocol: the protocol's record; methods: each method's record; cases: per case
            the truth grid, LR grid and degradation parameters.
        figures: per case id, the figure path (when figures were made).
        settings: benchmark settings (manifest, split, seed, max_size, ...).
    """

    rows: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    protocol: dict[str, Any]
    methods: list[dict[str, Any]]
    cases: list[dict[str, Any]]
    figures: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (non-finite floats become strings)."""
        return _jsonable({"settings": self.settings, "protocol": self.protocol,
                          "methods": self.methods, "cases": self.cases, "rows": self.rows,
                          "summary": self.summary, "figures": self.figures})


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else
                                                                          "-inf"))
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def crop_center(vol: Volume, max_size: int | Sequence[int] | None) -> Volume:
    """Centre crop to at most ``max_size`` voxels per axis; the affine is shifted so that
    every kept voxel stays where it was in world space."""
    if max_size is None:
        return vol
    sizes = [int(max_size)] * 3 if np.isscalar(max_size) else [int(s) for s in max_size]
    if any(s < 2 for s in sizes):
        raise ConfigError(f"max_size must be >= 2 voxels, got {max_size}")
    starts, sl = [], []
    for n, m in zip(vol.spatial_shape, sizes):
        s = max(0, (n - m) // 2)
        starts.append(s)
        sl.append(slice(s, s + min(n, m)))
    if all(s.start == 0 and s.stop == n for s, n in zip(sl, vol.spatial_shape)):
        return vol
    aff = vol.affine.copy()
    aff[:3, 3] = vol.affine[:3, :3] @ np.asarray(starts, dtype=np.float64) + vol.affine[:3, 3]
    data = np.ascontiguousarray(vol.data[(slice(None), *sl)])
    return vol.with_data(data, aff)


class _PeakMemory:
    """Sample the process's resident set size in a thread; ``peak_mb`` after exit."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._cuda = False

    def _rss(self) -> int:
        try:
            with open("/proc/self/statm", encoding="ascii") as f:
                return int(f.read().split()[1]) * self._page
        except (OSError, ValueError, IndexError):
            import resource

            return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> _PeakMemory:
        self.peak = self._rss()
        try:
            import torch

            if torch.cuda.is_available() and torch.cuda.is_initialized():
                torch.cuda.reset_peak_memory_stats()
                self._cuda = True
        except Exception:  # noqa: BLE001 - memory accounting is best effort
            self._cuda = False
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())
        self.gpu_peak_mb: float | None = None
        if self._cuda:
            import torch

            self.gpu_peak_mb = torch.cuda.max_memory_allocated() / 2**20

    @property
    def peak_mb(self) -> float:
        return self.peak / 2**20


def summarize(rows: list[dict[str, Any]], methods: Sequence[str]) -> list[dict[str, Any]]:
    """Mean and sample standard deviation (ddof 1; 0 for one case) of each metric per
    method, over its ``ok`` rows; infinite PSNRs are left out of the mean."""
    out = []
    for m in methods:
        mine = [r for r in rows if r["method"] == m and r["status"] == "ok"]
        rec: dict[str, Any] = {"method": m, "n": len(mine)}
        for key in RESULT_METRICS:
            vals = np.array([r[key] for r in mine if r.get(key) is not None
                             and math.isfinite(float(r[key]))], dtype=np.float64)
            rec[f"{key}_mean"] = float(vals.mean()) if vals.size else None
            rec[f"{key}_sd"] = float(vals.std(ddof=1)) if vals.size > 1 else (
                0.0 if vals.size else None)
        out.append(rec)
    return out


def run_benchmark(
    manifest: str | Path | Any,
    methods: str | list[str] | list[Method],
    *,
    protocol: str | Protocol = "thick4",
    out_dir: str | Path | None = None,
    split: str = "test",
    cases: Sequence[str] | None = None,
    seed: int = 0,
    max_size: int | Sequence[int] | None = None,
    mask: str = "auto",
    device: Any = "cpu",
    ssr_budget: str = "fast",
    ssr_steps: int | None = None,
    ssr_time_limit: float | None = None,
    threads: int | None = None,
    figures: bool = True,
    save_outputs: bool = False,
    keep_going: bool = True,
    title: str | None = None,
) -> BenchmarkResult:
    """Benchmark ``methods`` on the cases of ``manifest`` under ``protocol``.

    Args:
        manifest: manifest path or a loaded :class:`~volsr.data.Manifest`.
        methods: ``"bspline,default,ssr,RUN_DIR"``, a list of such strings, or built
            :class:`~volsr.benchmark.methods.Method` objects.
        protocol: protocol name (see :mod:`volsr.benchmark.protocols`) or object.
        out_dir: when given, write results.csv, results.json, report.md, report.html
            and figures/ there (see :func:`volsr.benchmark.report.write_report`).
        split: ``training``, ``validation``, ``test`` or ``all``.
        cases: only these case ids (in this order).
        seed: protocol seed (noise) and self-SR seed.
        max_size: centre-crop each truth to at most this many voxels per axis (faster
            runs; the crop keeps world positions).
        mask: ``auto`` (foreground of the truth, Otsu + morphology) or ``none``.
        device: torch device for networks.
        ssr_budget / ssr_steps / ssr_time_limit: self-SR training budget.
        threads: torch CPU threads for self-SR training.
        figures: make a comparison figure per case (needs matplotlib).
        save_outputs: also write each method's output volume under out_dir/outputs/.
        keep_going: a method that fails on a case is recorded as ``failed`` (error
            message kept) instead of stopping the benchmark.
        title: report title.

    Returns:
        A :class:`BenchmarkResult`.

    Raises:
        ConfigError: bad options or method names (before any case runs); InputError:
            no cases to run.
    """
    from volsr.data import load_manifest
    from volsr.data.manifest import SPLITS
    from volsr.io import load_volume, save_volume
    from volsr.metrics import evaluate, foreground_mask

    proto = get_protocol(protocol) if isinstance(protocol, str) else protocol
    man = load_manifest(manifest) if isinstance(manifest, (str, Path)) else manifest
    if split == "all":
        chosen = [c for _, c in man.all_cases()]
    elif split in SPLITS:
        chosen = man.cases(split)
    else:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)} or all, got {split!r}")
    if cases:
        by_id = {c.id: c for _, c in man.all_cases()}
        missing = [c for c in cases if c not in by_id]
        if missing:
            raise ConfigError(f"case(s) {', '.join(missing)} not in the manifest")
        chosen = [by_id[c] for c in cases]
    if not chosen:
        raise InputError(f"manifest {man.name!r} has no cases in split {split!r}")
    if mask not in ("auto", "none"):
        raise ConfigError(f"mask must be auto or none, got {mask!r}")
    if figures:
        from volsr.benchmark.figures import require_matplotlib

        require_matplotlib()

    if methods and isinstance(methods, list) and isinstance(methods[0], Method):
        built: list[Method] = list(methods)  # type: ignore[arg-type]
    else:
        built = [build_method(label, spec, device=device, ssr_budget=ssr_budget,
                              ssr_steps=ssr_steps, ssr_time_limit=ssr_time_limit,
                              threads=threads, seed=seed)
                 for label, spec in parse_methods(methods)]  # type: ignore[arg-type]
    labels = [m.label for m in built]
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)

    rows: list[dict[str, Any]] = []
    case_recs: list[dict[str, Any]] = []
    figs: dict[str, str] = {}
    for ci, case in enumerate(chosen):
        log.info("case %d/%d: %s", ci + 1, len(chosen), case.id)
        if not case.hr.exists():
            raise InputError(f"case {case.id!r}: truth volume not found (run 'volsr data "
                             "check' on the manifest)", path=case.hr)
        hr = crop_center(load_volume(case.hr), max_size)
        if hr.channels != 1:
            hr = hr.with_data(hr.data[:1])
        real_lr = load_volume(case.lr) if (proto.paired and case.lr is not None) else None
        lr, deg = make_pair(proto, hr, case_id=case.id, seed=seed, lr=real_lr)
        truth = np.asarray(hr.data[0], dtype=np.float64)
        fg = foreground_mask(truth) if mask == "auto" else None
        drange = float(truth.max() - truth.min())
        case_recs.append({"id": case.id, "hr": str(case.hr), "truth_grid": _grid(hr),
                          "lr_grid": _grid(lr), "mask_voxels": int(fg.sum()) if fg is not None
                          else int(truth.size), **deg})
        outputs: list[tuple[str, Volume]] = []
        for m in built:
            row: dict[str, Any] = {"case": case.id, "method": m.label, "status": "ok",
                                   "error": None}
            try:
                t0 = time.perf_counter()
                with _PeakMemory() as mem:
                    sr = m.predict(lr, hr.grid)
                row["seconds"] = time.perf_counter() - t0
                row["peak_mb"] = mem.peak_mb
                if mem.gpu_peak_mb is not None:
                    row["gpu_peak_mb"] = mem.gpu_peak_mb
                res = evaluate(hr, sr, data_range=drange, mask=fg)
                row.update({k: getattr(res, k) for k in ("psnr", "ssim", "nrmse", "hfen")})
                row.update(mask_voxels=res.mask_voxels, data_range=res.data_range,
                           resampled=res.resampled)
                outputs.append((m.label, sr))
                if save_outputs and out is not None:
                    save_volume(sr, out / "outputs" / f"{case.id}__{_safe(m.label)}.nii.gz",
                                overwrite=True)
            except VolsrError as exc:
                if not keep_going:
                    raise
                log.error("%s on %s failed: %s", m.label, case.id, exc)
                row.update(status="failed", error=str(exc))
            except (RuntimeError, ValueError, MemoryError) as exc:
                if not keep_going:
                    raise
                log.error("%s on %s failed: %s: %s", m.label, case.id, type(exc).__name__, exc)
                row.update(status="failed", error=f"{type(exc).__name__}: {exc}")
            for key in RESULT_METRICS:
                row.setdefault(key, None)
            rows.append(row)
            log.info("  %-16s %s", m.label, _row_line(row))
        if figures and out is not None:
            from volsr.benchmark.figures import comparison_figure

            path = out / "figures" / f"{_safe(case.id)}.png"
            comparison_figure([("truth", hr), ("input", lr), *outputs], path,
                              truth=True, axis=proto.degraded_axes[0],
                              title=f"{case.id} ({proto.name})")
            figs[case.id] = str(path.relative_to(out))
        del outputs
    result = BenchmarkResult(
        rows=rows, summary=summarize(rows, labels), protocol=proto.to_dict(),
        methods=[{"label": m.label, "spec": m.spec, **m.record} for m in built],
        cases=case_recs, figures=figs,
        settings={"manifest": str(man.path) if man.path else man.name, "split": split,
                  "cases": list(cases) if cases else None, "seed": seed, "max_size": max_size,
                  "mask": mask, "device": str(device), "ssr_budget": ssr_budget,
                  "ssr_steps": ssr_steps, "ssr_time_limit": ssr_time_limit,
                  "title": title or f"volsr benchmark: {proto.name} on {man.name}"})
    if out is not None:
        from volsr.benchmark.report import write_report

        write_report(result, out)
    return result


def _grid(v: Volume) -> dict[str, Any]:
    return {"shape": list(v.spatial_shape), "spacing": [round(float(s), 6) for s in v.spacing]}


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def _row_line(row: dict[str, Any]) -> str:
    if row["status"] != "ok":
        return f"FAILED: {row['error']}"
    return (f"PSNR {row['psnr']:.2f}  SSIM {row['ssim']:.4f}  NRMSE {row['nrmse']:.4f}  "
            f"HFEN {row['hfen']:.4f}  {row['seconds']:.2f} s  {row['peak_mb']:.0f} MiB")
