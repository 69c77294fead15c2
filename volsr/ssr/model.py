"""A trained self-super-resolution model: apply it, save it, load it, apply it again.

Applying (:meth:`SSRModel.run`), all on the volsr grid convention:

1. check that the scan has the trained through-plane axis and factor;
2. normalise intensities (fitted on this scan);
3. the inference path of 2D networks (:func:`volsr.inference.slicewise.predict_slicewise`)
   onto the *working grid* (the input grid with the slice axis resampled by ``factor``,
   spacing = in-plane spacing), the SAA and SSR networks as a chain of two ``"pre"``
   networks: cubic B-spline interpolation, then each network on the through-plane
   slices cut along each in-plane axis (2D images whose second axis is the slice
   direction; with ``orientations=4`` each stack also flipped), the estimates fused by
   Fourier burst accumulation (or averaged). Window settings, devices, the memory
   preflight and memory-mapped buffers are those of every network;
4. cubic B-spline resampling onto the requested output grid when it is not the working
   grid, then the inverse normalisation (output in the input's units).

Saved layout (``save``/``load``): ``ssr.json`` (geometry, profile, normalisation, fusion,
training provenance) plus ``ssr/`` and, when trained, ``saa/``, each an ordinary volsr
weights folder (:func:`volsr.checkpoint.save_weights`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from volsr._version import __version__
from volsr.errors import ConfigError, InputError
from volsr.geometry import Grid
from volsr.inference.settings import WindowSettings
from volsr.io.volume import Volume
from volsr.ssr.header import Acquisition, analyze_header
from volsr.ssr.profile import SliceProfile
from volsr.ssr.train import refine

__all__ = ["FORMAT", "SSRModel", "TrainedNet", "apply_to_slices"]

log = logging.getLogger(__name__)

FORMAT = "volsr-ssr"
FORMAT_VERSION = 1
META_FILE = "ssr.json"
FACTOR_RTOL = 0.02  # another scan "of the same acquisition": factor within 2 %
_PIXELS_PER_BATCH = 1 << 21


@dataclass
class TrainedNet:
    """A trained 2D network (it adds its input: ``residual=True``), its registry name and
    rebuild kwargs."""

    net: Any
    name: str
    kwargs: dict[str, Any]


def apply_to_slices(tn: TrainedNet, stack: np.ndarray, device: Any = "cpu") -> np.ndarray:
    """``tn`` on every 2D slice of ``stack`` ``(N, H, W)``; float32 ``(N, H, W)``.

    Slices go through in batches of about two million pixels; the caller holds the
    inference mode.
    """
    import torch

    n, h, wd = stack.shape
    out = np.empty((n, h, wd), np.float32)
    per = max(1, _PIXELS_PER_BATCH // max(1, h * wd))
    for i in range(0, n, per):
        xb = torch.from_numpy(np.ascontiguousarray(stack[i:i + per], np.float32)[:, None])
        out[i:i + per] = refine(tn.net, xb.to(device))[:, 0].float().cpu().numpy()
    return out


class _Refiner:
    """A :class:`TrainedNet` as a same-size ``"pre"`` 2D network for the inference path
    (:class:`~volsr.inference.protocol.Network`: ``net(x)``; the networks add their input
    themselves, ``residual=True``)."""

    upsampling = "pre"
    spatial_dims = 2
    in_channels = out_channels = 1
    scale = (1.0, 1.0)

    def __init__(self, tn: TrainedNet) -> None:
        self.tn = tn

    def __call__(self, x: Any) -> Any:
        return refine(self.tn.net, x)

    def parameters(self) -> Any:
        return self.tn.net.parameters()

    def integer_scale(self) -> tuple[int, ...]:
        return (1, 1)

    def receptive_field(self) -> tuple[int, ...]:
        return tuple(self.tn.net.receptive_field())

    def min_input_size(self) -> tuple[int, ...]:
        return tuple(self.tn.net.min_input_size())


@dataclass
class SSRModel:
    """Trained SAA (optional) and SSR networks plus what is needed to apply them.

    Example:
        >>> m = SSRModel.load("ssr_weights")          # doctest: +SKIP
        >>> sr = m.run(load_volume("mask.nii.gz"))    # doctest: +SKIP
    """

    acquisition: Acquisition
    profile: SliceProfile
    ssr: TrainedNet
    saa: TrainedNet | None = None
    normalization: dict[str, Any] = field(default_factory=lambda: {"name": "percentile"})
    fusion: str = "fba"
    fba_p: float = 11.0
    orientations: int = 2
    device: Any = "cpu"
    training: dict[str, Any] = field(default_factory=dict)
    folder: Path | None = None
    model_name: str = "ssr"
    window: WindowSettings = field(
        default_factory=lambda: WindowSettings(amp=False, precision="fp32"))
    last_memory_plan: Any = field(default=None, compare=False, repr=False)

    spatial_dims = 3  # a volume predictor (VolumePredictor); 2D images are not thick-slice
    native_scale = None  # the default grid depends on the scan (its slice axis and factor)

    # -- applying ------------------------------------------------------------------------

    def check_volume(self, volume: Volume) -> Acquisition:
        """The scan's geometry; refuses another through-plane axis or factor."""
        acq = analyze_header(volume)
        want = self.acquisition
        if acq.axis != want.axis or abs(acq.factor / want.factor - 1.0) > FACTOR_RTOL:
            raise InputError(f"this scan's slice axis/factor (axis {acq.axis}, x{acq.factor:.3g}"
                             f"; {acq.slice_spacing:.4g} mm over {acq.inplane_spacing:.4g} mm) "
                             f"differs from the trained model's (axis {want.axis}, "
                             f"x{want.factor:.3g}): apply self-SR weights only to scans of the "
                             "same acquisition")
        return acq

    def working_scale(self, acq: Acquisition) -> np.ndarray:
        s = np.ones(3)
        s[acq.axis] = acq.factor
        return s

    def run(self, volume: Volume, *, scale: float | Sequence[float] | None = None,
            target_spacing: float | Sequence[float] | None = None, isotropic: bool = False,
            reference: Grid | None = None, max_memory: int | None = None,
            scratch_dir: str | Path | None = None,
            timings: dict[str, float] | None = None) -> Volume:
        """Super-resolve ``volume`` (default grid: slice axis at the in-plane spacing).

        ``max_memory`` / ``scratch_dir``: as for :meth:`volsr.inference.Predictor.run`.

        Returns:
            float32 Volume on the planned grid, in the input's intensity units.
        """
        import time
        from dataclasses import replace

        from volsr.data.normalize import fit_normalization
        from volsr.inference.grid import plan_output_grid
        from volsr.inference.memory import plan_network_memory
        from volsr.inference.slicewise import predict_slicewise
        from volsr.models.interpolation import Interpolator

        t0 = time.perf_counter()
        acq = self.check_volume(volume)
        w = self.working_scale(acq)
        if scale is None and target_spacing is None and not isotropic and reference is None:
            scale = w
        plan = plan_output_grid(volume.grid, scale=scale, target_spacing=target_spacing,
                                isotropic=isotropic, reference=reference)
        work = plan_output_grid(volume.grid, scale=w)
        norm = fit_normalization(volume.data, self.normalization)
        arr = np.asarray(norm.forward(volume.data[0].astype(np.float64)), np.float32)[None]
        chain = [_Refiner(tn) for tn in (self.saa, self.ssr) if tn is not None]
        mem, thickness = plan_network_memory(
            chain[-1].tn.net, int(volume.data.nbytes), tuple(volume.spatial_shape), 1, work,
            patch_size=self.window.patch_size, two_d=True,
            streamable=self.fusion == "average", max_memory=max_memory,
            scratch_dir=scratch_dir)
        self.last_memory_plan = mem
        x = predict_slicewise(chain, arr, work, replace(self.window, fusion=self.fusion),
                              name=self.model_name, buffer=mem.allocate(arr.shape[:1] + tuple(
                                  work.grid.shape)), thickness=thickness,
                              flips=self.orientations == 4, target_last=True,
                              fba_p=self.fba_p)[0]
        step_w, offset_w = plan.step * w, (plan.offset + 0.5) * w - 0.5
        if not (tuple(x.shape) == tuple(plan.grid.shape) and np.allclose(step_w, 1.0)
                and np.allclose(offset_w, 0.0, atol=1e-9)):
            x = Interpolator("bspline").resample_linear(x, step_w, offset_w, plan.grid.shape)
        data = np.asarray(norm.inverse(np.asarray(x, np.float64)), np.float32)[None]
        if timings is not None:
            timings["apply_s"] = time.perf_counter() - t0
        return volume.with_data(data, plan.grid.affine.copy())

    def __call__(self, volume: Volume, **grid: Any) -> Volume:
        return self.run(volume, **grid)

    def to(self, device: Any) -> SSRModel:
        """Move both networks to ``device`` (a ``torch.device`` or its name)."""
        import torch

        self.device = torch.device(device)
        for tn in (self.saa, self.ssr):
            if tn is not None:
                tn.net.to(self.device).eval()
        return self

    # -- provenance ----------------------------------------------------------------------

    def meta(self) -> dict[str, Any]:
        """The ``ssr.json`` content (without the network folders)."""
        acq = self.acquisition.to_dict()
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "acquisition": acq, "profile": self.profile.to_dict(),
            "normalization": self.normalization, "fusion": self.fusion, "fba_p": self.fba_p,
            "orientations": self.orientations,
            # "add_input": false -- the networks add their input themselves (folders of
            # volsr <= 857fd34 say true: see volsr.ssr.config.load_net)
            "networks": {k: (None if tn is None else {"folder": k, "name": tn.name,
                                                       "add_input": False})
                         for k, tn in (("saa", self.saa), ("ssr", self.ssr))},
            "training": self.training, "volsr_version": __version__,
        }

    def sha256(self) -> str | None:
        """sha256 over ``ssr.json`` and the network weights of a saved/loaded model."""
        if self.folder is None:
            return None
        h = hashlib.sha256()
        for rel in (META_FILE, "saa/model.safetensors", "ssr/model.safetensors"):
            p = self.folder / rel
            if p.is_file():
                h.update(p.read_bytes())
        return h.hexdigest()

    def record(self) -> dict[str, Any]:
        """JSON-ready description for sidecars (the Predictor-like interface)."""
        return {
            "name": self.model_name, "upsampling": "self-super-resolution",
            "weights": None if self.folder is None else str(self.folder.resolve()),
            "weights_sha256": self.sha256(),
            "acquisition": self.acquisition.to_dict(), "profile": self.profile.to_dict(),
            "networks": {k: (None if tn is None else tn.name)
                         for k, tn in (("saa", self.saa), ("ssr", self.ssr))},
            "normalization": self.normalization, "fusion": self.fusion,
            "orientations": self.orientations, "device": str(self.device),
        }

    # -- saving and loading --------------------------------------------------------------

    def save(self, folder: str | Path) -> Path:
        """Write ``ssr.json`` + ``ssr/`` (+ ``saa/``) into ``folder`` (created if missing)."""
        from volsr.checkpoint import save_weights
        from volsr.io import atomic_write

        folder = self.check_folder(folder)
        folder.mkdir(exist_ok=True)
        for key, tn in (("saa", self.saa), ("ssr", self.ssr)):
            if tn is None:
                continue
            save_weights(tn.net, folder / key, model_name=tn.name,
                         normalization=self.normalization,
                         inference={"self_super_resolution": True, "add_input": False},
                         training={"role": key, **self.training.get(key, {})})
        with atomic_write(folder / META_FILE) as tmp:
            tmp.write_text(json.dumps(self.meta(), indent=2) + "\n")
        self.folder = folder
        log.info("saved self-SR model to %s", folder)
        return folder

    @staticmethod
    def check_folder(folder: str | Path) -> Path:
        """Raise :class:`~volsr.errors.OutputError` unless ``folder`` can hold saved weights."""
        from volsr.errors import OutputError

        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise OutputError("weights folder is a file", path=folder)
        if not folder.parent.is_dir():
            raise OutputError("parent folder does not exist", path=folder)
        return folder

    @classmethod
    def load(cls, folder: str | Path, *, device: Any = "auto", fusion: str | None = None,
             orientations: int | None = None, window: WindowSettings | None = None
             ) -> SSRModel:
        """Read a folder written by :meth:`save` (``fusion``/``orientations`` override;
        ``window``: sliding-window settings of the 2D networks, default whole slices in
        float32).

        Raises:
            InputError: not such a folder, unreadable or inconsistent content.
        """
        from volsr.devices import resolve_device
        from volsr.ssr.config import load_net

        folder = Path(folder)
        meta_path = folder / META_FILE
        if not meta_path.is_file():
            raise InputError(f"not a volsr self-SR weights folder: no {META_FILE} (write one "
                             "with 'volsr ssr --save-weights DIR')", path=folder)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise InputError(f"unreadable {META_FILE} ({exc})", path=meta_path) from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise InputError(f"not a volsr self-SR weights folder (format "
                             f"{meta.get('format') if isinstance(meta, dict) else None!r})",
                             path=meta_path)
        if int(meta.get("format_version", 0)) > FORMAT_VERSION:
            raise InputError("written by a newer volsr; upgrade volsr", path=meta_path)
        try:
            acq, profile = _acq_from_dict(meta["acquisition"]), SliceProfile.from_dict(
                meta["profile"])
            nets: dict[str, TrainedNet | None] = {}
            for key in ("saa", "ssr"):
                info = meta["networks"].get(key)
                if info is None:
                    nets[key] = None
                    continue
                nets[key] = TrainedNet(*load_net(folder / info["folder"],
                                                 add_input=bool(info["add_input"])))
        except (KeyError, TypeError, ValueError, ConfigError) as exc:
            raise InputError(f"inconsistent {META_FILE}: {exc}", path=meta_path) from None
        if nets["ssr"] is None:
            raise InputError(f"{META_FILE} names no SSR network", path=meta_path)
        model = cls(acquisition=acq, profile=profile, ssr=nets["ssr"], saa=nets["saa"],
                    normalization=meta.get("normalization") or {"name": "percentile"},
                    fusion=fusion or meta.get("fusion", "fba"),
                    fba_p=float(meta.get("fba_p", 11.0)),
                    orientations=int(orientations or meta.get("orientations", 2)),
                    training=meta.get("training") or {}, folder=folder,
                    window=window or WindowSettings(amp=False, precision="fp32"))
        if model.fusion not in ("fba", "average") or model.orientations not in (2, 4):
            raise ConfigError(f"fusion must be fba/average and orientations 2/4, got "
                              f"{model.fusion!r}, {model.orientations!r}")
        return model.to(resolve_device(str(device)) if isinstance(device, str) else device)


def _acq_from_dict(d: dict[str, Any]) -> Acquisition:
    return Acquisition(axis=int(d["axis"]), inplane_axes=tuple(d["inplane_axes"]),
                       spacing=tuple(float(v) for v in d["spacing_mm"]),
                       inplane_spacing=float(d["inplane_spacing_mm"]),
                       slice_spacing=float(d["slice_spacing_mm"]),
                       thickness=float(d["thickness_mm"]), gap=float(d["gap_mm"]),
                       warnings=tuple(d.get("warnings", ())))
