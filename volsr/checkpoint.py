"""Saving and loading trained networks without ever unpickling code.

Two formats:

* **Exported weights** (what ``volsr infer --weights`` and
  :meth:`volsr.inference.predictor.Predictor.from_pretrained` read): a folder holding
  ``model.safetensors`` (the ``state_dict``, floating tensors as float32) and
  ``model.json``::

      {"format": "volsr-model", "format_version": 1,
       "model": {"name": "<registry name>", "kwargs": {...net.config()}},
       "upsampling": "pre", "scale": [...], "normalization": {...},
       "inference": {"patch_size": [...], "overlap": 0.25, "blend": "gaussian"},
       "training": {...}, "volsr_version": "..."}

  safetensors holds raw tensors only, so loading it cannot run code.
* **Training checkpoints** (``checkpoint_latest.pt``): ``torch.save`` of a dict of
  tensors and primitives, read back with ``torch.load(weights_only=True)``; anything
  that needs real unpickling is refused (never retried with ``weights_only=False``).

Both are written atomically (temporary file + rename), so a crash never leaves half a
file under the final name.
"""

from __future__ import annotations

import json
import logging
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from volsr._version import __version__
from volsr.errors import InputError, OutputError
from volsr.io import atomic_write, file_sha256

log = logging.getLogger(__name__)

FORMAT = "volsr-model"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
META_FILE = "model.json"
RUN_MODEL_DIR = "model"


@dataclass(frozen=True)
class WeightsMeta:
    """What ``model.json`` says about a set of exported weights.

    Attributes:
        folder: the weights folder.
        model_name: registry name of the network (``create_model(model_name, **model_kwargs)``).
        model_kwargs: constructor kwargs (``net.config()``).
        upsampling: ``"pre"``, ``"post"`` or ``"progressive"``.
        scale: trained factor per axis (binding for post/progressive networks).
        normalization: the intensity normalisation spec used in training.
        inference: default sliding-window settings (patch_size, overlap, blend).
        training: free-form training provenance.
        volsr_version: version that wrote the weights.
        sha256: sha256 of ``model.safetensors``.
    """

    folder: Path
    model_name: str
    model_kwargs: dict[str, Any]
    upsampling: str
    scale: tuple[float, ...]
    normalization: dict[str, Any] | None
    inference: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    volsr_version: str = ""
    sha256: str = ""

    @property
    def weights_file(self) -> Path:
        return self.folder / WEIGHTS_FILE


# -- exported weights ---------------------------------------------------------------------


def save_weights(
    model: Any,
    folder: str | Path,
    *,
    model_name: str,
    normalization: Mapping[str, Any] | None = None,
    inference: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    scale: float | Sequence[float] | None = None,
) -> Path:
    """Export a network as ``folder/model.safetensors`` + ``folder/model.json``.

    Args:
        model: a ``torch.nn.Module`` with ``config()`` (an :class:`~volsr.models.networks.SRNet`).
        folder: created if missing (its parent must exist); existing files are replaced.
        model_name: the registry name that rebuilds it.
        normalization: intensity normalisation spec used in training.
        inference: default sliding-window settings.
        training: training provenance (resolved config, steps, data).
        scale: trained factor(s); default ``model.scale``.

    Returns:
        The folder.
    """
    import torch
    from safetensors.torch import save_file

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError("weights folder is a file", path=folder)
    if not folder.parent.exists():
        raise OutputError("parent folder does not exist", path=folder)
    folder.mkdir(exist_ok=True)
    from volsr.models import model_entry

    model_entry(model_name)  # unknown names fail now, not when loading
    tensors = {}
    for key, value in model.state_dict().items():
        t = value.detach().to("cpu")
        if t.is_floating_point():
            t = t.to(torch.float32)
        tensors[key] = t.contiguous().clone()
    s = scale if scale is not None else getattr(model, "scale", None)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": {"name": model_name, "kwargs": _jsonable(model.config())},
        "upsampling": getattr(model, "upsampling", "pre"),
        "scale": None if s is None else [float(v) for v in _as_list(s)],
        "normalization": _jsonable(dict(normalization)) if normalization is not None else None,
        "inference": _jsonable(dict(inference or {})),
        "training": _jsonable(dict(training or {})),
        "volsr_version": __version__,
    }
    text = json.dumps(meta, indent=2) + "\n"
    # weights first: a model.json always points at complete weights
    with atomic_write(folder / WEIGHTS_FILE) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt", "volsr": FORMAT})
    with atomic_write(folder / META_FILE) as tmp:
        tmp.write_text(text)
    log.info("exported %s weights to %s", model_name, folder)
    return folder


def resolve_weights_folder(path: str | Path) -> Path:
    """The weights folder for a folder, ``model.json``/``model.safetensors`` or run folder."""
    p = Path(path)
    if not p.exists():
        raise InputError("no such weights file or folder", path=p)
    if p.is_file():
        if p.name not in (META_FILE, WEIGHTS_FILE):
            raise InputError(f"not a volsr weights folder: expected a folder with {META_FILE} "
                             f"and {WEIGHTS_FILE}, or one of those files", path=p)
        p = p.parent
    if (p / META_FILE).is_file():
        return p
    if (p / RUN_MODEL_DIR / META_FILE).is_file():
        return p / RUN_MODEL_DIR
    raise InputError(f"not a volsr weights folder: no {META_FILE} here (nor in "
                     f"{RUN_MODEL_DIR}/ of a training run folder)", path=p)


def read_weights_meta(path: str | Path) -> WeightsMeta:
    """Parse and validate ``model.json`` (does not read the tensors)."""
    folder = resolve_weights_folder(path)
    meta_path = folder / META_FILE
    try:
        raw = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"not a volsr weights folder: unreadable JSON ({exc})",
                         path=meta_path) from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        got = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
        raise InputError(f"not a volsr weights folder: format is {got!r}, expected {FORMAT!r}",
                         path=meta_path)
    version = raw.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise InputError(f"bad format_version {version!r}", path=meta_path)
    if version > FORMAT_VERSION:
        raise InputError(f"format_version {version} was written by a newer volsr; this one "
                         f"reads up to {FORMAT_VERSION} (upgrade volsr)", path=meta_path)
    model = raw.get("model")
    if not isinstance(model, dict) or not isinstance(model.get("name"), str):
        raise InputError('model.json lacks {"model": {"name": ..., "kwargs": ...}}',
                         path=meta_path)
    kwargs = model.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise InputError(f"model.kwargs must be an object, got {kwargs!r}", path=meta_path)
    scale = raw.get("scale") if raw.get("scale") is not None else kwargs.get("scale")
    try:
        scale_t = tuple(float(v) for v in _as_list(scale)) if scale is not None else ()
    except (TypeError, ValueError):
        raise InputError(f"bad scale {scale!r}", path=meta_path) from None
    if not (folder / WEIGHTS_FILE).is_file():
        raise InputError(f"{WEIGHTS_FILE} is missing next to {META_FILE}", path=folder)
    return WeightsMeta(
        folder=folder,
        model_name=model["name"],
        model_kwargs=dict(kwargs),
        upsampling=str(raw.get("upsampling", "pre")),
        scale=scale_t,
        normalization=raw.get("normalization"),
        inference=dict(raw.get("inference") or {}),
        training=dict(raw.get("training") or {}),
        volsr_version=str(raw.get("volsr_version", "")),
        sha256=file_sha256(folder / WEIGHTS_FILE),
    )


def load_weights(path: str | Path, *, device: Any = "cpu") -> tuple[Any, WeightsMeta]:
    """Rebuild a network from exported weights.

    Args:
        path: weights folder, its ``model.json`` or ``model.safetensors``, or a training
            run folder (its ``model/`` subfolder is used).
        device: where to put the network.

    Returns:
        ``(model, meta)``; the model is in eval mode.

    Raises:
        InputError: not our format, corrupt/truncated tensors, missing or unexpected keys.
        ConfigError: the model name is not registered.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from volsr.models import create_model

    meta = read_weights_meta(path)
    model = create_model(meta.model_name, **meta.model_kwargs)
    if not hasattr(model, "load_state_dict"):
        raise InputError(f"model {meta.model_name!r} is not a network (it has no weights)",
                         path=meta.folder)
    try:
        state = load_file(str(meta.weights_file), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise InputError(f"cannot read weights: truncated or corrupt file ({exc})",
                         path=meta.weights_file) from None
    missing, unexpected = _key_mismatch(model.state_dict(), state)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
        raise InputError(f"weights do not fit model {meta.model_name!r}: keys "
                         + "; ".join(parts), path=meta.weights_file)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise InputError(f"weights do not fit model {meta.model_name!r}: "
                         f"{first[-1].strip() if first else exc}",
                         path=meta.weights_file) from None
    model.eval()
    model.to(device)
    log.info("loaded %s from %s (sha256 %s)", meta.model_name, meta.folder, meta.sha256[:12])
    return model, meta


def _key_mismatch(expected: Mapping[str, Any], got: Mapping[str, Any]) -> tuple[list, list]:
    return sorted(set(expected) - set(got)), sorted(set(got) - set(expected))


# -- training checkpoints -----------------------------------------------------------------


def save_checkpoint(path: str | Path, state: Mapping[str, Any]) -> Path:
    """``torch.save`` a dict of tensors and primitives atomically.

    Raises:
        TypeError: ``state`` holds something other than tensors, numbers, strings,
            None, dtypes and (nested) dicts/lists/tuples of them (it could not be loaded
            back with ``weights_only=True``).
    """
    import torch

    if not isinstance(state, Mapping):
        raise TypeError(f"checkpoint state must be a dict, got {type(state).__name__}")
    _check_plain(state, "state")
    p = Path(path)
    with atomic_write(p) as tmp:
        torch.save(dict(state), tmp)
    return p


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a training checkpoint with ``torch.load(weights_only=True)`` on the CPU.

    Raises:
        InputError: missing, truncated or corrupt file, or a file that contains pickled
            Python objects (which could run code) rather than tensors and primitives.
    """
    import torch

    p = Path(path)
    if not p.is_file():
        raise InputError("no such checkpoint file", path=p)
    try:
        state = torch.load(p, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError:
        raise InputError("refusing to load the checkpoint: it contains pickled Python objects, "
                         "not just tensors; volsr never unpickles code", path=p) from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"cannot read checkpoint: truncated or corrupt file ({first})",
                         path=p) from None
    if not isinstance(state, dict):
        raise InputError(f"not a volsr checkpoint: holds a {type(state).__name__}, not a dict",
                         path=p)
    return state


def _check_plain(obj: Any, where: str) -> None:
    import torch

    if obj is None or isinstance(obj, (bool, int, float, str, torch.Tensor, torch.dtype,
                                       torch.device, torch.Size)):
        return
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"{where}: checkpoint keys must be str or int, got {k!r}")
            _check_plain(v, f"{where}[{k!r}]")
        return
    if isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _check_plain(v, f"{where}[{i}]")
        return
    raise TypeError(f"{where}: checkpoints hold tensors and primitives only, got "
                    f"{type(obj).__name__}")


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    if hasattr(value, "tolist"):
        v = value.tolist()
        return v if isinstance(v, list) else [v]
    return [value]


def _jsonable(obj: Any) -> Any:
    """Tuples to lists, numpy scalars to Python, recursively (JSON round-trips then)."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):
        return _jsonable(obj.tolist())  # numpy / torch arrays and scalars
    if isinstance(obj, Path):
        return str(obj)
    return obj


__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "META_FILE",
    "WEIGHTS_FILE",
    "WeightsMeta",
    "load_checkpoint",
    "load_weights",
    "read_weights_meta",
    "resolve_weights_folder",
    "save_checkpoint",
    "save_weights",
]
