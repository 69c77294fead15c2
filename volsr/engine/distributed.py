"""Multi-process (DDP) plumbing for ``torchrun`` launches, and a resumable batch sampler.

``torchrun --nproc_per_node N -m volsr train CONFIG`` (or ``python -m
torch.distributed.run ...``) sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` in each
process; :func:`init_distributed` reads them and, when ``WORLD_SIZE > 1``, joins the
process group (``nccl`` on CUDA, ``gloo`` on CPU). Without those variables everything
here degrades to a single process: rank 0 of 1, barriers are no-ops.

Only rank 0 writes files and logs; validation runs on rank 0 while the others wait
at a barrier.

:class:`StepBatchSampler` replaces ``DistributedSampler``: the indices of step ``s`` on
rank ``r`` are a pure function of ``(s, r)``, so a resumed run draws exactly the
batches the uninterrupted run would have drawn, independent of any iterator state.
Ranks get disjoint index blocks, as with ``DistributedSampler``.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from volsr.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in a (possibly single-process) job.

    Attributes:
        rank: Global rank (0 is the main process).
        world_size: Number of processes.
        local_rank: Rank on this machine (selects the CUDA device).
        initialized: True when this module joined a process group (and must leave it).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialized: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None or not text.strip():
        return default
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"environment variable {name}={text!r} is not an integer") from None


def detect() -> DistInfo:
    """Rank, world size and local rank from the ``torchrun`` environment (1 process if unset)."""
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local = _env_int("LOCAL_RANK", rank)
    if world < 1 or not 0 <= rank < world:
        raise ConfigError(f"bad torchrun environment: RANK={rank}, WORLD_SIZE={world}")
    return DistInfo(rank, world, local)


def init_distributed(device_type: str, *, timeout_s: float = 1800.0) -> DistInfo:
    """Join the process group when launched by ``torchrun`` with ``WORLD_SIZE > 1``.

    Args:
        device_type: ``"cuda"`` selects the ``nccl`` backend, anything else ``gloo``.
        timeout_s: Collective timeout (validation on rank 0 must finish within it).

    Returns:
        The :class:`DistInfo`; ``initialized`` tells whether :func:`cleanup` must be called.
    """
    info = detect()
    if not info.distributed:
        return info
    if dist.is_initialized():
        return DistInfo(info.rank, info.world_size, info.local_rank, initialized=False)
    backend = "nccl" if device_type == "cuda" else "gloo"
    if device_type == "cuda":
        torch.cuda.set_device(info.local_rank)
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout_s))
    log.info("joined process group: rank %d of %d (backend %s)", info.rank, info.world_size,
             backend)
    return DistInfo(info.rank, info.world_size, info.local_rank, initialized=True)


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def cleanup(info: DistInfo) -> None:
    """Leave the process group if :func:`init_distributed` joined it."""
    if info.initialized and dist.is_initialized():
        dist.destroy_process_group()


def all_mean(value: torch.Tensor) -> torch.Tensor:
    """Mean of a tensor over ranks (the tensor itself in a single process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    out = value.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / dist.get_world_size()


def broadcast_object(obj: Any) -> Any:
    """Rank 0's picklable ``obj`` on every rank (``obj`` itself in a single process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(obj: Any) -> list[Any]:
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank (``[obj]`` in one process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def parameter_digest(module: torch.nn.Module) -> str:
    """SHA-256 of every parameter and buffer (name, dtype, shape and float bytes)."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


class StepBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Batches of dataset indices that are a pure function of the step and the rank.

    Step ``s`` (0-based) on rank ``r`` of ``W`` takes the global positions
    ``g = (s * W + r) * B + j`` for ``j < B``: consecutive blocks, disjoint between ranks
    and between steps until the dataset wraps. The index of position ``g`` is
    ``g % n``, or with ``shuffle`` the bijection ``(g * P) % n`` with ``P`` coprime to
    ``n`` near ``0.618 n``, which spreads a batch over the dataset (e.g. over volumes whose
    patches have consecutive indices) without any state. Iteration starts at
    ``start_step`` and stops before ``stop_step``.

    With ``groups`` (any-factor pairs, whose items ``i`` share a factor by ``i //
    batch_size``), the batch of block ``b = s * W + r`` is the whole group ``q``:
    indices ``q * B + j``, with ``q = b`` or, with ``shuffle``, ``(b * P) % (n / B)``; the
    groups are permuted, never split.

    Args:
        dataset_size: Number of items ``n`` of the map-style dataset.
        batch_size: Items per step on this rank ``B``.
        start_step: First step to yield (the resumed step).
        stop_step: Step at which iteration stops.
        rank: This process's rank ``r``.
        world_size: Number of processes ``W``.
        shuffle: Use the multiplicative permutation instead of sequential indices.
        groups: Keep the dataset's groups of ``batch_size`` consecutive indices together
            (``dataset_size`` must be a multiple of ``batch_size``).

    Example:
        >>> StepBatchSampler(10, 3, start_step=0, stop_step=2, shuffle=True).indices(0)
        [0, 7, 4]
    """

    def __init__(self, dataset_size: int, batch_size: int, *, start_step: int, stop_step: int,
                 rank: int = 0, world_size: int = 1, shuffle: bool = False,
                 groups: bool = False) -> None:
        if dataset_size < 1:
            raise ConfigError("the training dataset is empty")
        if batch_size < 1 or start_step < 0 or world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"bad sampler settings: batch {batch_size}, start {start_step}, "
                             f"rank {rank}/{world_size}")
        self.n, self.batch_size = int(dataset_size), int(batch_size)
        self.start_step, self.stop_step = int(start_step), int(stop_step)
        self.rank, self.world_size = int(rank), int(world_size)
        self.groups = bool(groups)
        if self.groups and self.n % self.batch_size:
            raise ValueError(f"grouped batches need a dataset size ({self.n}) that is a "
                             f"multiple of the batch size ({self.batch_size})")
        self.n_permuted = self.n // self.batch_size if self.groups else self.n
        self.multiplier = 1
        if shuffle and self.n_permuted > 2:
            p = max(2, round(self.n_permuted * 0.6180339887))
            while math.gcd(p, self.n_permuted) != 1:
                p += 1
            self.multiplier = p

    def indices(self, step: int) -> list[int]:
        """The dataset indices of ``step`` on this rank."""
        block = step * self.world_size + self.rank
        if self.groups:
            q = (block * self.multiplier) % self.n_permuted
            return [q * self.batch_size + j for j in range(self.batch_size)]
        base = block * self.batch_size
        return [((base + j) * self.multiplier) % self.n for j in range(self.batch_size)]

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start_step, self.stop_step):
            yield self.indices(step)

    def __len__(self) -> int:
        return max(0, self.stop_step - self.start_step)


__all__ = ["DistInfo", "StepBatchSampler", "all_mean", "barrier", "broadcast_object", "cleanup",
           "detect", "gather_objects", "init_distributed", "parameter_digest"]
