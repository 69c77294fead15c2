"""Super-resolving volumes with a trained network: :class:`Predictor`.

The steps of :meth:`Predictor.run`:

1. plan the output grid (:func:`volsr.inference.plan_output_grid`, the volsr grid
   convention);
2. fit the model's intensity normalisation on the input and apply it;
3. ``"pre"`` networks: B-spline interpolation onto the output grid, then the network;
   ``"post"``/``"progressive"`` networks: the network on the input itself, allowed only
   when the output grid is exactly the input grid scaled by the network's factor;
4. sliding-window inference (:func:`volsr.inference.sliding.sliding_window_predict`);
   2D networks run slice by slice in the orientations the requested factors call for
   (in-plane, through-plane with two fused orientations, ...; see
   :mod:`volsr.inference.slicewise`);
5. inverse normalisation, so the output is in the input's units, on ``plan.grid``.

2D images (:class:`~volsr.io.image2d.Image2D`) go through :meth:`Predictor.run_image`.
The Predictor implements :class:`~volsr.inference.protocol.VolumePredictor`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

from volsr.errors import ConfigError, InputError, OutputError
from volsr.geometry import Grid
from volsr.inference.grid import GridPlan, check_post_plan, plan_output_grid
from volsr.inference.protocol import Network
from volsr.inference.settings import WindowSettings
from volsr.io.volume import Volume

log = logging.getLogger(__name__)

_STORED = ("patch_size", "overlap", "blend", "sw_batch_size", "tta")  # saved with weights


class Predictor:
    """A network plus everything needed to apply it to a scan.

    Args:
        model: an :class:`~volsr.models.networks.SRNet` (any ``torch.nn.Module``
            implementing :class:`~volsr.inference.protocol.Network` works).
        model_name: registry name (recorded in sidecars).
        normalization: intensity normalisation spec used in training (None: percentile).
        scale: factor the network was trained for (default ``model.scale``); binding for
            post-upsampling networks, informative for ``"pre"`` ones.
        window: the sliding-window settings (:class:`~volsr.inference.settings.WindowSettings`:
            patch_size, overlap, blend, sw_batch_size, tta, halo, amp, device, fusion).
        weights: provenance of the weights (``WeightsMeta``), if loaded from disk.
        through_plane_axis: the thick-slice axis a 3D ``"pre"`` network was trained for.
        **overrides: single window settings by name, replacing those of ``window``
            (``None`` values are ignored; unknown names are a ConfigError).

    The memory budget and the scratch folder of a run are arguments of :meth:`run`.

    Example:
        >>> from volsr.models import create_model
        >>> from volsr.phantom import phantom_volume
        >>> net = create_model("srcnn_3d", features=(4, 4), kernel_sizes=(3, 1, 3))
        >>> p = Predictor(net, model_name="srcnn_3d", device="cpu")
        >>> p.run(phantom_volume((12, 12, 6), (2.0, 2.0, 4.0)), scale=(1, 1, 2)).spatial_shape
        (12, 12, 12)
    """

    def __init__(
        self,
        model: Network,
        *,
        model_name: str | None = None,
        normalization: Mapping[str, Any] | None = None,
        scale: float | Sequence[float] | None = None,
        window: WindowSettings | None = None,
        weights: Any = None,
        through_plane_axis: int | None = None,
        **overrides: Any,
    ) -> None:
        import torch

        from volsr.devices import resolve_device

        if not isinstance(model, Network) or model.upsampling not in ("pre", "post",
                                                                      "progressive"):
            raise ConfigError(f"{type(model).__name__} is not a network; interpolation "
                              "baselines run through volsr.super_resolve")
        device = overrides.get("device")
        if isinstance(device, torch.device):
            overrides["device"] = str(device)
        self.window = (window or WindowSettings()).with_overrides(overrides)
        self.device = (device if isinstance(device, torch.device)
                       else resolve_device(self.window.device))
        self.model: Network = cast(Any, model).eval().to(self.device)  # a torch module
        self.model_name = model_name or type(model).__name__
        self.normalization = dict(normalization) if normalization is not None else None
        s = scale if scale is not None else model.scale
        self.scale = tuple(float(v) for v in np.atleast_1d(np.asarray(s, dtype=float)))
        self.weights = weights
        if through_plane_axis is not None and int(through_plane_axis) not in (0, 1, 2):
            raise ConfigError(f"through_plane_axis must be 0, 1 or 2, got {through_plane_axis}")
        self.through_plane_axis = None if through_plane_axis is None else int(through_plane_axis)
        self.last_memory_plan: Any = None

    @property
    def spatial_dims(self) -> int:
        return int(self.model.spatial_dims)

    @property
    def native_scale(self) -> tuple[float, ...]:
        """The trained factor per voxel axis (3 entries; a 2D network's third is 1)."""
        return self.scale if len(self.scale) == 3 else (*self.scale, 1.0)

    @property
    def upsampling(self) -> str:
        return str(self.model.upsampling)

    # -- construction ------------------------------------------------------------------

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, **overrides: Any) -> Predictor:
        """Load a bundled model (``"default"`` too), a weights folder or file, or a run folder.

        ``overrides`` (:class:`~volsr.inference.settings.WindowSettings` names,
        ``normalization`` and ``through_plane_axis``) replace the defaults stored with the
        weights; ``None`` values are ignored.
        """
        from volsr.checkpoint import load_weights
        from volsr.weights import bundled_models, resolve_bundled

        opts = {k: v for k, v in overrides.items() if v is not None}
        model_opts = {k: opts.pop(k) for k in ("normalization", "through_plane_axis")
                      if k in opts}
        window = WindowSettings().with_overrides(opts)  # unknown names fail before loading
        path = Path(name_or_path)
        if not path.exists():
            found = resolve_bundled(str(name_or_path))
            if found is None:
                known = ", ".join(sorted(bundled_models())) or "none installed"
                raise InputError(f"no weights folder or bundled model named {str(name_or_path)!r} "
                                 f"(bundled models: {known})")
            path = found
        model, meta = load_weights(path, device="cpu")
        stored = {k: v for k, v in meta.inference.items() if k in _STORED}
        window = WindowSettings.from_mapping(stored).with_overrides(opts)
        model_opts.setdefault("normalization", meta.normalization)
        model_opts.setdefault("through_plane_axis", meta.inference.get("through_plane_axis"))
        return cls(model, model_name=meta.model_name, scale=meta.scale or None, window=window,
                   weights=meta, **model_opts)

    # -- running -----------------------------------------------------------------------

    def record(self) -> dict[str, Any]:
        """JSON-ready description for sidecars: model, weights (path, sha256), settings."""
        meta, w = self.weights, self.window
        return {
            "name": self.model_name,
            "upsampling": self.upsampling,
            "scale": list(self.scale),
            "weights": None if meta is None else str(Path(meta.folder).resolve()),
            "weights_sha256": None if meta is None else meta.sha256,
            "normalization": self.normalization,
            "patch_size": None if w.patch_size is None else list(w.patch_size),
            "overlap": w.overlap,
            "blend": w.blend,
            "tta": w.tta,
            "fusion": w.fusion,
            "device": str(self.device),
            "precision": w.precision,
            "compute_dtype": self.compute_dtype,
        }

    @property
    def compute_dtype(self) -> str:
        """What ``precision`` resolves to here: ``"float32"``, ``"bfloat16"``, ``"float16"``."""
        from volsr.inference.sliding import compute_dtype

        dt = compute_dtype(self.window.precision, self.device, amp=self.window.amp,
                           two_d=self.spatial_dims == 2)
        return "float32" if dt is None else str(dt).removeprefix("torch.")

    def __call__(self, volume: Volume, **grid: Any) -> Volume:
        return self.run(volume, **grid)

    def run(
        self,
        volume: Volume,
        *,
        scale: float | Sequence[float] | None = None,
        target_spacing: float | Sequence[float] | None = None,
        isotropic: bool = False,
        reference: Grid | None = None,
        max_memory: int | None = None,
        scratch_dir: str | Path | None = None,
    ) -> Volume:
        """Super-resolve ``volume`` onto the requested grid.

        With no grid option the network's trained scale is used. ``max_memory``: bytes
        of RAM the run may use (default: what is available); when the estimated peak
        exceeds it, the output-grid buffer is memory-mapped on disk in ``scratch_dir``
        (default: the system temporary folder; :mod:`volsr.inference.memory`).

        Returns:
            float32 Volume on the planned grid, intensities in the input's units, with
            the input's meta.

        Raises:
            ConfigError: post-upsampling network asked for another factor or grid.
            InputError: channel mismatch, constant volume, or a volume smaller than the
                network's receptive field.
        """
        import torch

        from volsr.data.normalize import fit_normalization
        from volsr.inference.sliding import min_volume_size, sliding_window_predict

        if max_memory is not None and int(max_memory) <= 0:
            raise ConfigError(f"max_memory must be a positive number of bytes, got {max_memory}")
        if scale is None and target_spacing is None and not isotropic and reference is None:
            scale = self.native_scale
        plan = plan_output_grid(volume.grid, scale=scale, target_spacing=target_spacing,
                                isotropic=isotropic, reference=reference)
        c_in = int(self.model.in_channels)
        if volume.channels != c_in:
            raise InputError(f"model {self.model_name} takes {c_in} channel(s), the volume has "
                             f"{volume.channels}")
        norm = fit_normalization(volume.data, self.normalization)
        arr = volume.data.astype(np.float32, copy=True)  # normalise in place, in float32
        arr -= np.float32(norm.offset)
        arr /= np.float32(norm.scale)
        two_d = self.spatial_dims == 2
        mem, thickness = self._plan_memory(volume, plan, two_d, max_memory, scratch_dir)
        if two_d:
            from volsr.inference.slicewise import predict_slicewise

            buffer = (mem.allocate((volume.channels, *plan.grid.shape))
                      if self.upsampling == "pre" else None)
            out = predict_slicewise(self.model, arr, plan, self.window, name=self.model_name,
                                    buffer=buffer, thickness=thickness)
            return self._finish(volume, out, plan, norm)
        if self.upsampling == "pre":
            from volsr.inference.slabs import interpolate_in_slabs

            big = mem.allocate((arr.shape[0], *plan.grid.shape))
            arr = interpolate_in_slabs(arr, plan.step, plan.offset, big, thickness=thickness)
        else:
            from volsr.inference.sliding import volume_scale

            check_post_plan(self.model_name, volume_scale(self.model), volume.spatial_shape, plan)
        need = min_volume_size(self.model)
        if any(n < m for n, m in zip(arr.shape[1:], need)):
            where = "after interpolation to the output grid" if self.upsampling == "pre" else ""
            raise InputError(f"volume is smaller than the model's receptive field: "
                             f"{self.model_name} needs at least {list(need)} voxels, the input "
                             f"{where + ' ' if where else ''}has {list(arr.shape[1:])}")
        swap = self._axis_swap(plan)

        def predict(sub: np.ndarray) -> np.ndarray:
            if swap is not None:  # bring the upsampled axis where the network learned it
                sub = np.swapaxes(sub, 1 + swap[0], 1 + swap[1])
            x = torch.from_numpy(np.ascontiguousarray(sub))[None]
            y = sliding_window_predict(self.model, x, self.window)
            del x
            res = y[0].numpy()
            return res if swap is None else np.swapaxes(res, 1 + swap[0], 1 + swap[1])

        c_out = int(self.model.out_channels)
        if self.upsampling == "pre" and c_out == arr.shape[0]:
            # a local operator on the output grid: slab by slab, written in place
            from volsr.inference.slabs import receptive_radius, refine_in_slabs

            out = refine_in_slabs(predict, arr, radius=receptive_radius(self.model),
                                  axis=1, thickness=thickness)
        else:
            out = predict(arr)
            del arr
            out = np.ascontiguousarray(out)
        return self._finish(volume, out, plan, norm)

    def _plan_memory(self, volume: Volume, plan: GridPlan, two_d: bool,
                     max_memory: int | None, scratch_dir: str | Path | None
                     ) -> tuple[Any, int]:
        """Memory preflight (:func:`~volsr.inference.memory.plan_network_memory`)."""
        from volsr.inference.memory import plan_network_memory

        c_in = volume.channels
        c_out = int(self.model.out_channels)
        n_orient = sum(1 for s in plan.scale if abs(s - 1.0) > 1e-6)
        streamable = (self.upsampling == "pre" and c_in == c_out
                      and (not two_d or self.window.fusion == "average" or n_orient < 2))
        mem, thickness = plan_network_memory(
            self.model, int(volume.data.nbytes), tuple(volume.spatial_shape), c_in, plan,
            patch_size=self.window.patch_size, two_d=two_d, streamable=streamable,
            max_memory=max_memory, scratch_dir=scratch_dir)
        self.last_memory_plan = mem
        return mem, thickness

    def _finish(self, volume: Volume, out: np.ndarray, plan: GridPlan, norm: Any) -> Volume:
        """Check the output grid, undo the normalisation, wrap as a Volume."""
        if tuple(out.shape[1:]) != tuple(plan.grid.shape):
            raise InputError(f"model output {list(out.shape[1:])} does not match the planned "
                             f"grid {list(plan.grid.shape)}")
        data = np.asarray(out, dtype=np.float32)  # inverse normalisation in place
        data *= np.float32(norm.scale)
        data += np.float32(norm.offset)
        log.debug("%s: %s -> %s", self.model_name, volume.spatial_shape, plan.grid.shape)
        return volume.with_data(data, plan.grid.affine.copy())

    def run_image(self, image: Any, *, scale: float | Sequence[float] | None = None) -> Any:
        """Super-resolve a 2D image (:class:`~volsr.io.image2d.Image2D`) with a 2D network.

        Args:
            image: the image (e.g. from :func:`volsr.io.image2d.load_image2d`).
            scale: one factor for both axes or ``(rows, columns)``; default: the
                network's own factor.

        Returns:
            An Image2D with the spacing divided and the DPI multiplied by the factor.

        Raises:
            ConfigError: a 3D network, or a factor a post network cannot produce.
        """
        from volsr.inference.slicewise import predict_image2d

        return predict_image2d(self, image, scale=scale)

    def _axis_swap(self, plan: GridPlan) -> tuple[int, int] | None:
        """Axes to swap so a one-axis upsampling runs along the network's trained axis.

        A pre-upsampling network trained on thick slices along voxel axis ``a`` (the
        ``through_plane_axis`` stored with its weights) is applied with that axis swapped
        into place when the scan is coarse along another single axis (e.g. sagittal thick
        slices), and swapped back afterwards.
        """
        axis = self.through_plane_axis
        if axis is None or self.upsampling != "pre" or self.spatial_dims != 3:
            return None
        coarse = [i for i, s in enumerate(plan.scale) if s > 1.0 + 1e-6]
        if len(coarse) != 1 or coarse[0] == axis:
            return None
        log.info("running %s with voxel axes %d and %d swapped (trained for thick slices "
                 "along axis %d)", self.model_name, coarse[0], axis, axis)
        return (coarse[0], int(axis))

    def run_file(self, in_path: str | Path, out_path: str | Path, *, overwrite: bool = False,
                 **grid: Any) -> Path:
        """Read, super-resolve and write one file with its ``OUT.volsr.json`` sidecar; no
        grid option: the trained scale.

        Goes through :func:`volsr.inference.case.run_case`: the output is claimed
        exclusively and the image and its sidecar are published as one unit.
        """
        from volsr.inference.case import run_case
        from volsr.inference.files import plan_cases, same_file
        from volsr.inference.records import InferSettings

        def three(v: Any) -> tuple[float, ...]:
            return tuple(float(f) for f in np.broadcast_to(np.asarray(v, float), 3))

        info = self.record()
        settings = InferSettings(model=self.model_name, isotropic=bool(grid.get("isotropic")),
                                 weights=info["weights"], weights_sha256=info["weights_sha256"])
        reference = grid.get("reference")
        if grid.get("scale") is not None:
            settings.scale = three(grid["scale"])
        elif grid.get("target_spacing") is not None:
            settings.target_spacing = three(grid["target_spacing"])
        elif reference is not None:
            settings.reference = str(reference)
            if not isinstance(reference, Grid):
                from volsr.io import load_volume

                ref = load_volume(reference)
                reference = Grid(ref.spatial_shape, ref.affine)
        elif not settings.isotropic:
            settings.scale = three(self.native_scale)
        pairs = plan_cases(Path(in_path), Path(out_path))
        if len(pairs) != 1:
            raise InputError("run_file takes one file; 'volsr infer' runs folders",
                             path=in_path)
        src, dst = pairs[0]
        if same_file(src, dst):
            raise OutputError("output path is the input file; choose another name", path=dst)
        run_case(src, dst, settings, self, reference, overwrite=overwrite)
        return dst


__all__ = ["Predictor"]
