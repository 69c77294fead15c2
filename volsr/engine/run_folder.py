"""The training run folder and its writers (metrics.jsonl, TensorBoard, train.log).

Layout of ``<output_dir>/<name>/``::

    config.yaml            resolved config (what was trained)
    train.log              the volsr log of the run (appended on resume)
    metrics.jsonl          one JSON object per event: train logs, validations, the end
    tensorboard/           TensorBoard event files (if ``tensorboard`` is installed)
    checkpoint_latest.pt   full training state, every ``checkpoint_every`` steps and at the end
    checkpoint_best.pt     the state with the best validation PSNR
    model/                 exported weights (model.safetensors + model.json)

Only rank 0 writes here.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from pathlib import Path
from typing import Any

from volsr.errors import OutputError

log = logging.getLogger(__name__)

RUN_ENTRIES = ("config.yaml", "train.log", "metrics.jsonl", "tensorboard",
               "checkpoint_latest.pt", "checkpoint_best.pt", "model")


class RunFolder:
    """Paths of one run folder.

    Args:
        root: The run folder ``<output_dir>/<name>``.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    config = property(lambda self: self.root / "config.yaml")
    log_file = property(lambda self: self.root / "train.log")
    metrics = property(lambda self: self.root / "metrics.jsonl")
    tensorboard = property(lambda self: self.root / "tensorboard")
    latest = property(lambda self: self.root / "checkpoint_latest.pt")
    best = property(lambda self: self.root / "checkpoint_best.pt")
    model = property(lambda self: self.root / "model")

    def is_empty(self) -> bool:
        return not self.root.exists() or not any(self.root.iterdir())

    def prepare(self, *, resume: bool, overwrite: bool) -> bool:
        """Create the folder; decide whether this run resumes.

        A new run into an existing, non-empty folder is refused unless ``resume``
        (continue from ``checkpoint_latest.pt``) or ``overwrite`` (delete the run files
        listed in :data:`RUN_ENTRIES`; other files are left alone). ``resume`` without a
        checkpoint starts from scratch (with a warning), so a requeued job that died
        before its first checkpoint still runs.

        Returns:
            True when training continues from ``checkpoint_latest.pt``.

        Raises:
            OutputError: the folder exists and is not empty (neither flag given), or it
                cannot be created.
        """
        if resume and overwrite:
            raise OutputError("--resume and --overwrite contradict each other")
        if self.root.exists() and not self.root.is_dir():
            raise OutputError("run folder path exists and is not a folder", path=self.root)
        if not self.is_empty():
            if resume:
                if self.latest.exists():
                    return True
                log.warning("--resume: no %s in %s; starting from scratch", self.latest.name,
                            self.root)
                self._clear()
            elif overwrite:
                log.warning("--overwrite: deleting the previous run in %s", self.root)
                self._clear()
            else:
                raise OutputError("run folder exists and is not empty; use --resume to "
                                  "continue it or --overwrite to replace it", path=self.root)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the run folder ({exc.strerror or exc})",
                              path=self.root) from None
        return False

    def _clear(self) -> None:
        for name in RUN_ENTRIES:
            p = self.root / name
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            elif p.exists() or p.is_symlink():
                p.unlink()
        for p in self.root.glob(".*.part"):
            p.unlink()


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


class MetricsLog:
    """Append-only ``metrics.jsonl``: one JSON object per line, flushed per event.

    Non-finite floats are written as the strings ``"nan"``, ``"inf"``, ``"-inf"``.

    Args:
        path: The ``metrics.jsonl`` file.
        enabled: False on ranks other than 0 (then nothing is written).
    """

    def __init__(self, path: str | Path, *, enabled: bool = True) -> None:
        self.path = Path(path)
        self.enabled = enabled

    def truncate_after(self, step: int) -> None:
        """Drop events logged after ``step`` (by a run killed after its last checkpoint)
        and ``end`` events (the run goes on)."""
        if not self.enabled or not self.path.exists():
            return
        keep: list[str] = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by the kill
            if isinstance(rec, dict) and int(rec.get("step", 0)) <= step \
                    and rec.get("event") != "end":
                keep.append(line)
        self.path.write_text("".join(f"{line}\n" for line in keep), encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        line = json.dumps(_jsonable(record), separators=(",", ":"))
        try:
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")
        except OSError as exc:
            raise OutputError(f"cannot write metrics ({exc.strerror or exc})",
                              path=self.path) from None


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """All events of a ``metrics.jsonl`` file, in order."""
    text = Path(path).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class TensorBoard:
    """A ``SummaryWriter`` that becomes a no-op (with one warning) without ``tensorboard``.

    Args:
        folder: The ``tensorboard/`` folder.
        enabled: False on ranks other than 0.
        purge_step: On resume, events at or after this step are dropped from the curves.
    """

    def __init__(self, folder: str | Path, *, enabled: bool = True,
                 purge_step: int | None = None) -> None:
        self.writer: Any = None
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            log.warning("tensorboard is not installed; no TensorBoard curves are written "
                        "(metrics.jsonl has every value; 'pip install tensorboard' to get them)")
            return
        self.writer = SummaryWriter(log_dir=str(folder), purge_step=purge_step)

    @property
    def active(self) -> bool:
        return self.writer is not None

    def scalars(self, values: dict[str, Any], step: int, prefix: str = "") -> None:
        if self.writer is None:
            return
        for key, value in values.items():
            v = _jsonable(value)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                self.writer.add_scalar(f"{prefix}{key}", float(v), step)

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class LogFile:
    """Mirror the ``volsr`` logger into ``train.log`` (INFO and above) while open."""

    def __init__(self, path: str | Path, *, enabled: bool = True) -> None:
        self.handler: logging.Handler | None = None
        self._old_level: int | None = None
        self._pinned: list[logging.Handler] = []
        if not enabled:
            return
        handler = logging.FileHandler(path, mode="a", encoding="utf-8")
        handler.setLevel(logging.INFO)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger = logging.getLogger("volsr")
        effective = logger.getEffectiveLevel()
        if effective > logging.INFO:
            # Let INFO reach the file without making the other (stderr) handlers louder.
            for h in logger.handlers:
                if h.level == logging.NOTSET:
                    h.setLevel(effective)
                    self._pinned.append(h)
            self._old_level = logger.level
            logger.setLevel(logging.INFO)
        logger.addHandler(handler)
        self.handler = handler

    def close(self) -> None:
        if self.handler is None:
            return
        logger = logging.getLogger("volsr")
        logger.removeHandler(self.handler)
        self.handler.close()
        if self._old_level is not None:
            logger.setLevel(self._old_level)
        for h in self._pinned:
            h.setLevel(logging.NOTSET)
        self.handler = None


__all__ = ["RUN_ENTRIES", "LogFile", "MetricsLog", "RunFolder", "TensorBoard", "read_metrics"]
