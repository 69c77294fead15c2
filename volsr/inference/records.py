"""What ``volsr infer`` records: settings, per-case results, sidecars and run reports.

The provenance of every output lives here, in clearly named functions:

* :class:`InferSettings`: everything that decides an output besides the input file;
* :func:`write_case_record`: the JSON sidecar beside one output (``OUT.volsr.json``, with
  the output's size and sha256, which ``--skip-existing`` checks:
  :func:`volsr.io.outputs.existing_output_action`);
* :func:`write_report`: the JSON run report of ``--report``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from volsr.io.claim import file_digest
from volsr.provenance import base_record, sidecar_path, write_sidecar

__all__ = ["CaseResult", "InferSettings", "write_case_record", "write_report"]


@dataclass
class InferSettings:
    """Everything that decides an output besides the input file itself.

    ``model`` is an interpolation name, a bundled model name, or a network name to check
    against ``weights``; None means the bundled ``"default"`` model, else ``"bspline"``.
    :func:`volsr.predictors.resolve_settings` fills in the resolved name, weights folder
    and sha256. ``options`` records the window settings the user gave explicitly (the
    predictor holds the validated :class:`~volsr.inference.settings.WindowSettings`);
    kept in sidecars for provenance and ``--skip-existing``. ``dtype`` None means float32
    for volumes and the source's type (bit depth) for 2D images.
    """

    model: str | None = "bspline"
    weights: str | None = None
    weights_sha256: str | None = None
    scale: tuple[float, ...] | None = None
    target_spacing: tuple[float, ...] | None = None
    isotropic: bool = False
    reference: str | None = None
    dtype: str | None = None
    volume_index: int | None = None
    series_uid: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


@dataclass
class CaseResult:
    """Outcome of one input: ``written``, ``skipped`` or ``failed`` (with the error)."""

    input: str
    output: str
    status: str
    error: str | None = None
    seconds: float = 0.0


def write_report(path: str | Path, pairs: list[tuple[Path, Path]], results: list[CaseResult],
                 settings: InferSettings) -> Path:
    """JSON run report: every planned case with its status (``written``, ``skipped``,
    ``failed`` with the error, or ``not run`` when the run stopped before it)."""
    done = {r.input: r for r in results}
    cases = [asdict(done[str(src)]) if str(src) in done else
             asdict(CaseResult(str(src), str(dst), "not run")) for src, dst in pairs]
    counts: dict[str, int] = {}
    for c in cases:
        counts[c["status"]] = counts.get(c["status"], 0) + 1
    record = base_record("infer-report")
    record.update({"settings": settings.record(), "counts": counts, "cases": cases})
    return write_sidecar(path, record)


def write_case_record(dst: Path, settings: InferSettings, info: dict[str, Any] | None,
                      timings: dict[str, float], warnings: list[str], inp: dict[str, Any],
                      out: dict[str, Any], memory: dict[str, Any] | None = None,
                      write: bool = True) -> dict[str, Any]:
    """The provenance sidecar of one output (volumes and 2D images alike).

    Written beside ``dst`` (with ``dst``'s size and sha256) unless ``write`` is False;
    then the caller publishes it together with the output
    (:func:`volsr.io.claim.write_with_sidecar`, which adds the digest).

    Returns:
        The record.
    """
    record = base_record("infer")
    record.update({
        "model": settings.model,
        "weights": None if settings.weights is None else {
            "path": settings.weights, "sha256": settings.weights_sha256},
        "predictor": info,
        "settings": settings.record(),
        "input": inp,
        "output": out,
        "warnings": warnings,
        "timings": {k: round(v, 4) for k, v in timings.items()},
    })
    if memory is not None:
        record["memory"] = memory
    if write:  # hardening #17: the digest --skip-existing checks
        record["output"] = {**record["output"], **file_digest(dst)}
        write_sidecar(sidecar_path(dst), record)
    return record
