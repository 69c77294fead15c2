"""The one interface every way of super-resolving a volume implements.

A *volume predictor* is what ``volsr infer``, ``volsr benchmark``, ``volsr demo`` and
:func:`volsr.super_resolve` run: a trained network (:class:`~volsr.inference.predictor.Predictor`),
an interpolation baseline (:class:`~volsr.inference.interpolate.InterpolationPredictor`),
saved self-SR weights (:class:`~volsr.ssr.model.SSRModel`) or self-SR trained on each scan
(:class:`~volsr.ssr.infer_hook.PerScanSSR`). :func:`volsr.predictors.load_predictor` turns a
model name (+ weights) into one; the batch runner (:mod:`volsr.inference.runner`) only
runs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from volsr.geometry import Grid
from volsr.io.volume import Volume

__all__ = ["Network", "VolumePredictor"]


@runtime_checkable
class Network(Protocol):
    """The network interface the inference path relies on; every
    :class:`~volsr.models.networks.SRNet` (and so every registered network) has it.

    Attributes:
        upsampling: ``"pre"`` (same-size refiner on an interpolated input), ``"post"``
            or ``"progressive"`` (upsamples by ``integer_scale()`` itself).
        spatial_dims: 2 (runs on planes) or 3.
        in_channels / out_channels: image channels in and out.
        scale: the trained factor per spatial axis.
    """

    @property
    def upsampling(self) -> str: ...

    @property
    def spatial_dims(self) -> int: ...

    @property
    def in_channels(self) -> int: ...

    @property
    def out_channels(self) -> int: ...

    @property
    def scale(self) -> tuple[float, ...]: ...

    def __call__(self, x: Any) -> Any:
        """``(B, C, *spatial)`` tensor -> ``(B, C_out, *spatial * integer_scale())``."""
        ...

    def parameters(self) -> Any:
        """Its parameters (their device is where windows run)."""
        ...

    def integer_scale(self) -> tuple[int, ...]:
        """The output/input size ratio per spatial axis (post/progressive networks)."""
        ...

    def receptive_field(self) -> tuple[int, ...]:
        """Receptive field per spatial axis, in input voxels."""
        ...

    def min_input_size(self) -> tuple[int, ...]:
        """The smallest input size per spatial axis."""
        ...


@runtime_checkable
class VolumePredictor(Protocol):
    """``run`` a volume onto an output grid; ``record`` what did it.

    Attributes:
        model_name: the name recorded in sidecars (registry name, ``"ssr"``, ...).
        spatial_dims: 2 for a 2D network (it may run on 2D images), 3 for a 3D one,
            None when the predictor works on any image (interpolation).
        native_scale: the factor per axis the predictor makes by itself (a network's
            trained scale), None when it needs one (interpolation).
        last_memory_plan: the memory plan of the last run
            (:class:`~volsr.inference.memory.MemoryPlan`), None when not planned.
    """

    @property
    def model_name(self) -> str: ...

    @property
    def spatial_dims(self) -> int | None: ...

    @property
    def native_scale(self) -> tuple[float, ...] | None: ...

    @property
    def last_memory_plan(self) -> Any: ...

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
        """Super-resolve ``volume`` onto the grid of at most one grid option (none: the
        predictor's own default) within ``max_memory`` bytes of RAM (None: what is
        available), spilling to a memory-mapped buffer in ``scratch_dir`` (None: the
        temporary folder) where it can. Returns a float32 Volume in the input's units."""
        ...

    def record(self) -> dict[str, Any]:
        """JSON-ready description for sidecars (``name``, ``weights``, ``weights_sha256``
        and settings); empty when the model name says it all (interpolation). Read again
        after :meth:`run`, it may describe that run (``--adapt``'s fine-tune), and an
        optional ``warnings`` list is moved into the sidecar's warnings."""
        ...
