"""The common base of the super-resolution networks and their registration helper.

Every network is an :class:`SRNet`: a ``torch.nn.Module`` taking ``(B, C, *spatial)``
tensors, with

* ``upsampling`` (class attribute): ``"pre"`` (input already interpolated to the output
  grid; ``scale`` is metadata and any per-axis, non-integer factor works), ``"post"``
  (up-samples inside by integer factors) or ``"progressive"`` (x2 stages);
* ``spatial_dims``, ``in_channels``, ``out_channels``, ``scale`` (per-axis floats),
  ``residual`` (global residual learning: the input is added to the output);
* :meth:`~SRNet.receptive_field` and :meth:`~SRNet.min_input_size` per axis;
* :meth:`~SRNet.config`: JSON-serialisable constructor kwargs, so that
  ``create_model(name, **net.config())`` rebuilds the same architecture (the weights
  come from the checkpoint's ``state_dict``).
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from volsr.errors import ConfigError
from volsr.geometry.grid import output_size
from volsr.models import register_model
from volsr.models.networks._checks import check_positive_int, check_spatial_dims

logger = logging.getLogger(__name__)

NetworkUpsampling = Literal["pre", "post", "progressive"]
ScaleArg = float | int | Sequence[float]


def normalize_scale(scale: ScaleArg, spatial_dims: int) -> tuple[float, ...]:
    """Per-axis scale as a tuple of ``spatial_dims`` positive finite floats.

    Example:
        >>> normalize_scale(2, 3), normalize_scale([1, 1, 2.5], 3)
        ((2.0, 2.0, 2.0), (1.0, 1.0, 2.5))
    """
    if isinstance(scale, numbers.Real) and not isinstance(scale, bool):
        values: tuple[Any, ...] = (scale,) * spatial_dims
    else:
        try:
            values = tuple(scale)  # type: ignore[arg-type]
        except TypeError:
            msg = f"scale must be a number or a sequence of numbers, got {scale!r}"
            raise ValueError(msg) from None
        if len(values) != spatial_dims:
            raise ValueError(f"scale needs 1 or {spatial_dims} values, got {scale!r}")
    if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values):
        raise ValueError(f"scale must be numbers, got {scale!r}")
    out = tuple(float(v) for v in values)
    if any(not math.isfinite(v) or v <= 0 for v in out):
        raise ValueError(f"scale must be finite and > 0, got {scale!r}")
    return out


def conv_extent(
    modules: Iterable[nn.Module], spatial_dims: int, factor: Sequence[float] | None = None
) -> list[float]:
    """Summed kernel reach ``dilation * (k - 1)`` per axis of all convolutions inside
    ``modules``, in voxels of a grid ``factor`` times coarser than theirs (so convs
    running on a grid up-sampled by ``factor`` count ``1 / factor``); transposed
    convolutions count ``(k - 1) / stride`` in units of their input grid.
    """
    f = [1.0] * spatial_dims if factor is None else [float(v) for v in factor]
    ext = [0.0] * spatial_dims
    for module in modules:
        for m in module.modules():
            if not isinstance(m, nn.modules.conv._ConvNd):
                continue
            transposed = isinstance(m, nn.modules.conv._ConvTransposeNd)
            for i in range(spatial_dims):
                reach = m.dilation[i] * (m.kernel_size[i] - 1)
                ext[i] += reach / (m.stride[i] if transposed else 1) / f[i]
    return ext


def receptive_field_from(*extents: Sequence[float]) -> tuple[int, ...]:
    """``ceil(1 + sum of extents)`` per axis, as an int tuple of input voxels."""
    total = [1.0 + sum(e[i] for e in extents) for i in range(len(extents[0]))]
    return tuple(int(math.ceil(v - 1e-9)) for v in total)


class SRNet(nn.Module):
    """Base class of volsr's super-resolution networks.

    Args:
        spatial_dims: 2 or 3 (1 works for the building blocks too).
        in_channels: Input channels (contrasts / modalities).
        out_channels: Output channels; ``None`` means ``in_channels``.
        scale: Per-axis up-sampling factor(s) the network is meant for (one number or
            one per axis); stored as a tuple of floats.
        residual: Add the input to the network output (global residual learning).
            Needs ``out_channels == in_channels`` and a ``"pre"`` network.

    Subclasses set :attr:`upsampling`, build their layers after calling
    ``super().__init__`` and override :meth:`_extra_config`.
    """

    upsampling: ClassVar[NetworkUpsampling] = "pre"
    any_factor: ClassVar[bool] = False
    """True for networks whose ``forward(x, grid=...)`` writes onto any output grid."""

    def __init__(
        self,
        *,
        spatial_dims: int,
        in_channels: int = 1,
        out_channels: int | None = None,
        scale: ScaleArg = 2,
        residual: bool = False,
    ) -> None:
        super().__init__()
        self.spatial_dims = check_spatial_dims(spatial_dims)
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.out_channels = (
            self.in_channels
            if out_channels is None
            else check_positive_int(out_channels, "out_channels")
        )
        self.scale = normalize_scale(scale, self.spatial_dims)
        self.residual = bool(residual)
        if self.upsampling == "post" and all(f == 1 for f in self.scale):
            # Nothing to upsample: the network refines an input that is already on the
            # output grid, exactly like a "pre" network (B-spline first, any factor).
            self.upsampling = "pre"
        if self.residual and self.upsampling != "pre":
            raise ValueError(f"residual=True needs a 'pre' network, {type(self).__name__} is not")
        if self.residual and self.out_channels != self.in_channels:
            raise ValueError(
                "residual=True needs out_channels == in_channels, got "
                f"{self.in_channels} -> {self.out_channels}"
            )

    # -- metadata ---------------------------------------------------------------------

    def _extra_config(self) -> dict[str, Any]:
        """Architecture kwargs beyond the base ones (JSON-serialisable; lists, not tuples)."""
        return {}

    def config(self) -> dict[str, Any]:
        """JSON-serialisable constructor kwargs; ``type(self)(**net.config())`` rebuilds it."""
        return {
            "spatial_dims": self.spatial_dims,
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "scale": list(self.scale),
            "residual": self.residual,
            **self._extra_config(),
        }

    def integer_scale(self) -> tuple[int, ...]:
        """The scale as integers (for ``"post"``/``"progressive"`` networks); raises if not."""
        ints = tuple(round(s) for s in self.scale)
        if any(abs(s - i) > 1e-9 or i < 1 for s, i in zip(self.scale, ints)):
            raise ConfigError(
                f"{type(self).__name__} up-samples internally and needs integer scale >= 1 "
                f"per axis, got {self.scale}"
            )
        return ints

    def receptive_field(self) -> tuple[int, ...]:
        """Receptive field per axis, in voxels of the network input.

        The default sums ``dilation * (kernel - 1)`` over all stride-1 convolutions,
        which is exact when every convolution lies on one path from input to output
        (true for SRCNN, DCSRN, mDCSRN); networks with parallel branches or strides
        override it.
        """
        rf = [1] * self.spatial_dims
        for m in self.modules():
            if isinstance(m, nn.modules.conv._ConvNd):
                for i in range(self.spatial_dims):
                    rf[i] += m.dilation[i] * (m.kernel_size[i] - 1)
        return tuple(rf)

    def min_input_size(self) -> tuple[int, ...]:
        """Smallest spatial size per axis the network accepts.

        1 for zero/replicate padding; ``max padding + 1`` where a convolution uses
        reflect padding (PyTorch needs the padding to be smaller than the size).
        """
        size = [1] * self.spatial_dims
        for m in self.modules():
            if isinstance(m, nn.modules.conv._ConvNd) and m.padding_mode == "reflect":
                # (last axis left, last axis right, ..., first axis right)
                pads = m._reversed_padding_repeated_twice
                for i in range(self.spatial_dims):
                    j = 2 * (self.spatial_dims - 1 - i)
                    size[i] = max(size[i], int(max(pads[j], pads[j + 1])) + 1)
        return tuple(size)

    def output_spatial_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        """Spatial shape of the output for a given input spatial shape."""
        if len(input_shape) != self.spatial_dims:
            raise ValueError(f"expected {self.spatial_dims} spatial sizes, got {input_shape!r}")
        if self.upsampling == "pre":
            return tuple(int(n) for n in input_shape)
        return tuple(output_size(int(n), float(s)) for n, s in zip(input_shape, self.scale))

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Number of (trainable) parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    # -- forward helpers ---------------------------------------------------------------

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ``ValueError`` unless ``x`` is ``(B, in_channels, *spatial)`` and big enough."""
        if x.ndim != self.spatial_dims + 2:
            raise ValueError(
                f"{type(self).__name__} expects a (B, C, {self.spatial_dims} spatial) tensor, "
                f"got shape {tuple(x.shape)}"
            )
        if x.shape[1] != self.in_channels:
            raise ValueError(f"expected {self.in_channels} input channels, got {x.shape[1]}")
        small = self.min_input_size()
        if any(n < m for n, m in zip(x.shape[2:], small)):
            raise ValueError(f"input spatial shape {tuple(x.shape[2:])} is below minimum {small}")

    def extra_repr(self) -> str:
        return (
            f"spatial_dims={self.spatial_dims}, in_channels={self.in_channels}, "
            f"out_channels={self.out_channels}, scale={self.scale}, "
            f"upsampling={self.upsampling!r}, residual={self.residual}"
        )


def register_network(
    name: str,
    cls: type[SRNet],
    *,
    dims: int,
    family: str,
    paper: str,
    test_kwargs: Mapping[str, Any],
    tags: Sequence[str] = (),
    **defaults: Any,
) -> Callable[..., SRNet]:
    """Register ``cls`` as model ``name`` with fixed ``spatial_dims`` and default kwargs.

    The factory accepts every constructor kwarg (so ``config()`` output round-trips);
    ``spatial_dims`` may be given but must equal ``dims``. ``test_kwargs`` (required)
    are the overrides that make a small, fast variant of the network for the tests
    run over the whole registry (``tests/models/test_models.py``); they are stored in the
    entry's ``info["test_kwargs"]``.
    """

    def factory(**kwargs: Any) -> SRNet:
        sd = kwargs.pop("spatial_dims", dims)
        if sd != dims:
            raise ConfigError(f"model {name!r} is {dims}D, got spatial_dims={sd!r}")
        try:
            return cls(spatial_dims=dims, **{**defaults, **kwargs})
        except TypeError as exc:
            if "unexpected keyword argument" not in str(exc):
                raise
            raise ConfigError(f"model {name!r}: {exc}") from None

    factory.__name__ = name
    factory.__qualname__ = name
    factory.__doc__ = cls.__doc__
    register_model(
        name, dims=dims, upsampling=cls.upsampling, family=family, paper=paper, tags=tags,
        test_kwargs=test_kwargs,
    )(factory)
    return factory


__all__ = ["NetworkUpsampling", "SRNet", "conv_extent", "normalize_scale",
           "receptive_field_from", "register_network"]
