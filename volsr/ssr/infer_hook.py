"""Self-SR as volume predictors for ``volsr infer --model ssr`` and ``volsr benchmark``.

Both implement :class:`~volsr.inference.protocol.VolumePredictor`; the application layer
(:func:`volsr.predictors.load_predictor`) builds them for the model name ``ssr``:

* with ``--weights DIR`` (saved by ``volsr ssr --save-weights``): :func:`ssr_predictor`,
  an :class:`~volsr.ssr.model.SSRModel` run through the inference path of 2D networks;
* without weights: :class:`PerScanSSR`, self-SR trained on each scan itself
  (:func:`volsr.ssr.self_super_resolve`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from volsr.errors import ConfigError
from volsr.geometry import Grid
from volsr.inference.settings import WindowSettings
from volsr.io.volume import Volume
from volsr.ssr.model import META_FILE, SSRModel

__all__ = ["PerScanSSR", "is_ssr_weights", "per_scan_predictor", "ssr_predictor"]

_TRAINING = ("budget", "steps", "time_limit", "saa", "seed", "threads")
# precision: the arithmetic of the per-scan training (SSRConfig.precision)
_WINDOW_ONLY = frozenset(WindowSettings.names()) - {"fusion", "device", "precision"}


def is_ssr_weights(path: str | Path) -> bool:
    """True when ``path`` is a folder written by ``volsr ssr --save-weights``."""
    return (Path(path) / META_FILE).is_file()


def ssr_predictor(weights_dir: str | Path | None, **opts: Any) -> SSRModel:
    """Load saved self-SR weights as a predictor.

    Args:
        weights_dir: folder written by ``volsr ssr --save-weights`` /
            :meth:`SSRModel.save`.
        **opts: ``device`` (default ``auto``), ``fusion`` (``fba``/``average``),
            ``orientations`` (2/4), ``tta`` (True = 4 orientations, each stack also
            flipped), and the window settings of the 2D networks
            (:class:`~volsr.inference.settings.WindowSettings`: ``patch_size``, ``overlap``,
            ... default: whole slices in float32); ``None`` values are ignored.

    Returns:
        An :class:`SSRModel` (``model(volume, **grid)``, ``.run``, ``.record()``).

    Raises:
        ConfigError: no weights folder given, or unknown options.
        InputError: not a self-SR weights folder.
    """
    if weights_dir is None:
        raise ConfigError("--model ssr needs --weights DIR (a folder written by 'volsr ssr "
                          "--save-weights DIR')")
    opts = {k: v for k, v in opts.items() if v is not None}
    tta = opts.pop("tta", None)
    device = opts.pop("device", "auto")
    fusion, orientations = opts.pop("fusion", None), opts.pop("orientations", None)
    unknown = sorted(set(opts) - set(WindowSettings.names()))
    if unknown:
        raise ConfigError(f"unknown option(s) for --model ssr: {', '.join(unknown)}")
    window = WindowSettings(amp=False, precision="fp32").with_overrides(opts)
    return SSRModel.load(weights_dir, device=device, fusion=fusion,
                         orientations=orientations or (4 if tta else None), window=window)


class PerScanSSR:
    """Self-SR trained on each scan it is given (:func:`volsr.ssr.self_super_resolve`).

    Args:
        device: compute device of training and inference.
        record: what :meth:`record` returns (the sidecar's ``predictor``).
        **options: keyword arguments of :func:`~volsr.ssr.self_super_resolve` (budget,
            steps, time_limit, saa, seed, threads, fusion, profile, save_weights, ...;
            ``progress`` defaults to False).

    Attributes:
        last_result: the :class:`~volsr.ssr.SSRResult` of the last run (its report and
            trained model), None before the first.
    """

    model_name = "ssr"
    spatial_dims = 3
    native_scale = None
    last_memory_plan = None

    def __init__(self, *, device: Any = "auto", record: dict[str, Any],
                 **options: Any) -> None:
        self.device = device
        self.options = {"progress": False, **options}
        self._record = dict(record)
        self.last_result: Any = None

    def record(self) -> dict[str, Any]:
        return dict(self._record)

    def __call__(self, volume: Volume, **grid: Any) -> Volume:
        return self.run(volume, **grid)

    def run(self, volume: Volume, *, scale: float | Sequence[float] | None = None,
            target_spacing: float | Sequence[float] | None = None, isotropic: bool = False,
            reference: Grid | None = None, max_memory: int | None = None,
            scratch_dir: str | Path | None = None) -> Volume:
        """Train on ``volume`` and super-resolve it (``isotropic``: the default grid, the
        slice axis at the in-plane spacing)."""
        from volsr.ssr import self_super_resolve

        self.last_result = self_super_resolve(volume, scale=scale,
                                              target_spacing=target_spacing,
                                              reference=reference, device=self.device,
                                              **self.options)
        return self.last_result.volume


def per_scan_predictor(*, device: Any = "auto", **opts: Any) -> PerScanSSR:
    """``ssr`` without weights: self-SR trained on each scan (``volsr ssr``,
    ``volsr infer --model ssr``, the ``ssr`` methods of ``volsr benchmark``).

    Of the window settings only ``fusion`` applies (the others are refused: self-SR
    trains its networks on whole slices); the options of
    :func:`~volsr.ssr.self_super_resolve` (``budget``, ``steps``, ``time_limit``,
    ``saa``, ``seed``, ``threads``, ``profile``, ...) set the training.
    """
    opts = {k: v for k, v in opts.items() if v is not None}
    bad = sorted(set(opts) & _WINDOW_ONLY)
    if bad:
        raise ConfigError(f"{', '.join(bad)}: not used by --model ssr; use 'volsr ssr' for "
                          "the self-SR options")
    if any(k in opts for k in _TRAINING):
        record = {"name": "ssr", "saa": opts.get("saa", True),
                  "budget": opts.get("budget", "default"), "steps": opts.get("steps"),
                  "time_limit": opts.get("time_limit"), "trained_per_scan": True}
    else:
        record = {"name": "ssr", "trained_per_scan": True, "budget": "default", **opts}
    return PerScanSSR(device=device, record=record, **opts)
