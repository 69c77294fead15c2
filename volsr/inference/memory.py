"""Memory preflight for network inference: estimate, choose RAM or a disk-backed buffer.

Before a network runs, :func:`plan_memory` estimates the peak memory of the run from
the input, the output grid, the slab size and the network, and compares it with the
memory available (``MemAvailable`` of ``/proc/meminfo``, bounded by the limits of the
process's own cgroup and its parents: :mod:`volsr.sysmem`; or
``--max-memory``):

* ``"ram"``: the output-grid buffer lives in RAM (the usual case);
* ``"memmap"``: it would not fit, so the output-grid buffer becomes a memory-mapped
  scratch file (unlinked at once, so nothing is left behind even after ``SIGKILL``),
  filled and refined slab by slab (:mod:`volsr.inference.slabs`) and written out slice
  by slice. Only the input, a few slabs and the network's working set stay in RAM;
* refusal (:class:`~volsr.errors.ResourceError`) only when even that does not fit, or
  the scratch folder has no room for the buffer.

Networks whose output is not a local refinement of an input on the output grid (3D
post-upsampling networks, or several 2D orientations fused in the Fourier domain) need
input and output whole in RAM; they are planned as such.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from volsr.errors import ResourceError
from volsr.inference.protocol import Network

__all__ = ["MemoryPlan", "available_memory", "plan_memory", "plan_network_memory"]

log = logging.getLogger(__name__)

SAFETY = 0.85  # plan to use at most this share of the available memory
_GiB = 2**30


def available_memory() -> int:
    """Bytes of RAM this process can still use (best effort; 8 GiB when unknown).

    hardening #17: reads the process's own cgroup and its parents (SLURM job steps,
    nested containers), not only the root one; see :mod:`volsr.sysmem`.
    """
    from volsr.sysmem import available_memory as _available

    return _available(8 * _GiB)


def _widest(model: Any) -> int:
    """The largest channel count of the network's layers (its activation width)."""
    width = 1
    for m in getattr(model, "modules", lambda: [])():
        for attr in ("out_channels", "in_channels"):
            v = getattr(m, attr, None)
            if isinstance(v, int):
                width = max(width, v)
    return width


@dataclass(frozen=True)
class MemoryPlan:
    """What :func:`plan_memory` decided.

    Attributes:
        mode: ``"ram"`` or ``"memmap"``.
        ram_bytes: estimated peak with the output-grid buffer in RAM.
        streamed_bytes: estimated peak with it on disk (None: the model cannot stream).
        available_bytes: the memory the estimate was compared with.
        buffer_bytes: size of the output-grid buffer.
        scratch_dir: where a memmap buffer goes.
    """

    mode: str
    ram_bytes: int
    streamed_bytes: int | None
    available_bytes: int
    buffer_bytes: int
    scratch_dir: Path

    def allocate(self, shape: tuple[int, ...]) -> np.ndarray:
        """A float32 buffer of ``shape``: in RAM, or an unlinked memory-mapped file."""
        if self.mode == "ram":
            return np.empty(shape, dtype=np.float32)
        self.scratch_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".volsr-buffer-", suffix=".f32",
                                    dir=self.scratch_dir)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.truncate(4 * math.prod(shape))
            buf = np.memmap(name, dtype=np.float32, mode="r+", shape=shape)
        finally:
            os.unlink(name)  # the mapping keeps the space until the buffer is released
        return buf

    def describe(self) -> str:
        gib = lambda b: f"{b / _GiB:.2f} GiB"  # noqa: E731
        if self.mode == "ram":
            return (f"estimated peak memory {gib(self.ram_bytes)} of "
                    f"{gib(self.available_bytes)} available")
        return (f"estimated peak memory {gib(self.ram_bytes)} in RAM would exceed the "
                f"{gib(self.available_bytes)} available: the {gib(self.buffer_bytes)} "
                f"output buffer is memory-mapped on disk in {self.scratch_dir} and processed "
                f"slab by slab (about {gib(self.streamed_bytes or 0)} of RAM)")


def plan_memory(
    *,
    input_bytes: int,
    input_voxels: int,
    channels: int,
    out_shape: tuple[int, ...],
    out_channels: int,
    model: Any,
    streamable: bool,
    window_voxels: int,
    slab_voxels: int,
    stream_slab_voxels: int | None = None,
    max_bytes: int | None = None,
    scratch_dir: str | Path | None = None,
) -> MemoryPlan:
    """Estimate the peak memory of one inference and choose where the big buffer lives.

    Args:
        input_bytes: bytes of the loaded input volume (as read).
        input_voxels: its voxel count per channel.
        channels, out_channels: network input / output channels.
        out_shape: the output grid's spatial shape.
        model: the network (its widest layer sizes the activations).
        streamable: the run is a local refinement on the output grid (slab-wise works).
        window_voxels: voxels of one network window (input side, with its halo).
        slab_voxels: voxels of one slab (with its context) per channel.
        stream_slab_voxels: the same for the thinner slabs of a streamed run (default:
            ``slab_voxels``).
        max_bytes: memory the run's data may take on top of what the process already
            holds (default: :func:`available_memory`, which counts that already).
        scratch_dir: folder of a memmap buffer (default: the system temporary folder).

    Raises:
        ResourceError: it fits neither in RAM nor streamed from disk.
    """
    out_vox = math.prod(int(n) for n in out_shape)
    buffer = 4 * max(channels, out_channels) * out_vox
    inputs = int(input_bytes) + 4 * channels * int(input_voxels)  # as read + float32 copy
    acts = 4 * 3 * _widest(model) * int(window_voxels)  # a few activation maps per window
    per_slab = 4 * max(channels, out_channels) * 6  # sub, result, held-back core, blending
    slabs = per_slab * int(slab_voxels)
    write = out_vox  # the finite check's boolean mask when writing
    if streamable:
        ram = inputs + buffer + slabs + acts + write
        thin = int(stream_slab_voxels if stream_slab_voxels is not None else slab_voxels)
        streamed: int | None = (inputs + per_slab * thin + acts
                                + 4 * out_vox // max(1, out_shape[0]))
    else:
        ram = inputs + 3 * buffer + acts + write
        streamed = None
    avail = int(max_bytes) if max_bytes is not None else available_memory()
    scratch = Path(scratch_dir) if scratch_dir is not None else Path(tempfile.gettempdir())
    budget = avail * SAFETY
    if ram <= budget:
        return MemoryPlan("ram", ram, streamed, avail, buffer, scratch)
    gib = lambda b: f"{b / _GiB:.2f} GiB"  # noqa: E731
    if streamed is None or streamed > budget:
        how = ("even streaming the output from disk needs about " + gib(streamed)
               if streamed is not None else
               "this model cannot stream its output from disk (it is not a local refinement "
               "of an input on the output grid)")
        raise ResourceError(
            f"not enough memory: the run needs about {gib(ram)} and {gib(avail)} is "
            f"available; {how} (use a smaller output grid, a smaller --patch, or a machine "
            "with more memory)")
    scratch.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(scratch).free
    if free < buffer * 1.05:
        raise ResourceError(
            f"not enough memory: the run needs about {gib(ram)} and {gib(avail)} is "
            f"available, and {scratch} has {gib(free)} free for the {gib(buffer)} disk buffer")
    return MemoryPlan("memmap", ram, streamed, avail, buffer, scratch)


def plan_network_memory(model: Network, volume_bytes: int, volume_shape: tuple[int, ...],
                        channels: int, plan: Any, *, patch_size: tuple[int, ...] | None,
                        two_d: bool, streamable: bool, max_memory: int | None = None,
                        scratch_dir: str | Path | None = None) -> tuple[MemoryPlan, int]:
    """:func:`plan_memory` for ``model`` run onto ``plan.grid`` (a
    :class:`~volsr.inference.grid.GridPlan`), and the slab thickness to use.

    Args:
        model: the network (``out_channels``, receptive field, minimum input size).
        volume_bytes / volume_shape / channels: the input as read.
        patch_size: the sliding window in output voxels (None: whole volume).
        two_d: a 2D network (its windows are batches of planes, not blocks).
        streamable: the run can refine the output grid slab by slab in place.
        max_memory / scratch_dir: as for :func:`plan_memory` (``max_bytes``, ...).

    Returns:
        ``(memory plan, slab thickness along X)``; thinner slabs for a memmap buffer.
    """
    from volsr.inference.slabs import STREAM_SLAB_BYTES, model_slab_thickness, receptive_radius

    c_out = int(model.out_channels)
    grid_shape = tuple(int(n) for n in plan.grid.shape)
    shape = (max(channels, c_out), *grid_shape)
    radius = receptive_radius(model)
    thickness = model_slab_thickness(model, shape)
    plane = math.prod(grid_shape[1:])
    thin = model_slab_thickness(model, shape, max_bytes=STREAM_SLAB_BYTES)
    slab_vox = min(grid_shape[0], thickness + 2 * radius) * plane
    thin_vox = min(grid_shape[0], thin + 2 * radius) * plane
    win = math.prod(grid_shape) if patch_size is None else math.prod(
        min(p + 2 * radius, n) for p, n in zip(patch_size, grid_shape))
    if two_d:  # a batch of planes, not a block
        win = min(win, max(grid_shape[0] * grid_shape[1], grid_shape[1] * grid_shape[2],
                           grid_shape[0] * grid_shape[2]))
    if streamable:
        win = min(win, slab_vox)
    mem = plan_memory(
        input_bytes=int(volume_bytes), input_voxels=math.prod(volume_shape),
        channels=channels, out_shape=grid_shape, out_channels=c_out, model=model,
        streamable=streamable, window_voxels=win, slab_voxels=slab_vox,
        stream_slab_voxels=thin_vox, max_bytes=max_memory, scratch_dir=scratch_dir)
    (log.warning if mem.mode == "memmap" else log.debug)("%s", mem.describe())
    return mem, (thin if mem.mode == "memmap" else thickness)
