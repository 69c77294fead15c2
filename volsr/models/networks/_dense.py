"""Dense concatenation, the connectivity shared by DCSRN, RDN, RRDBNet and SRDenseNet.

Unit ``j`` of a dense block sees the concatenation of the block input and the outputs
of units ``1..j-1`` (Huang et al., "Densely connected convolutional networks", CVPR
2017). The networks differ only in what a unit is (pre-activation ``[norm] -> act ->
conv`` in DCSRN, ``conv -> ReLU`` in RDN and SRDenseNet, ``conv`` then leaky ReLU in
RRDBNet) and in what they do with the concatenation (fuse it, keep it, drop the
input), so :class:`DenseConcat` holds the units and returns the concatenation, and each
network wraps it in its own block class. Being a ``ModuleList``, it keeps the
state-dict keys of a plain list of units (``<name>.<j>.<...>``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn


class DenseConcat(nn.ModuleList):
    """Densely connected units; returns the concatenation of their outputs.

    Args:
        units: The units in order; unit ``j`` must accept the channels of the input
            plus those of units ``1..j-1``.
        keep_input: Put the block input first in the returned concatenation (DCSRN,
            RDN, RRDBNet); ``False`` returns the unit outputs only (SRDenseNet).
        activation: A parameter-free function applied to every unit output before it
            joins the concatenation (RRDBNet's shared leaky ReLU); ``None`` for none.

    Shapes: ``(B, C, *S)`` -> ``(B, [C +] sum of unit output channels, *S)``.

    Example:
        >>> from volsr.models.networks._layers import conv_nd
        >>> block = DenseConcat(conv_nd(2, 3 + 4 * j, 4, 3) for j in range(2))
        >>> block(torch.zeros(1, 3, 5, 6)).shape
        torch.Size([1, 11, 5, 6])
        >>> [k for k in block.state_dict()][:2]
        ['0.weight', '0.bias']
    """

    def __init__(
        self,
        units: Iterable[nn.Module],
        *,
        keep_input: bool = True,
        activation: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        super().__init__(units)
        self.keep_input = bool(keep_input)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for unit in self:
            y = unit(torch.cat(feats, dim=1))
            feats.append(y if self.activation is None else self.activation(y))
        return torch.cat(feats if self.keep_input else feats[1:], dim=1)

    def extra_repr(self) -> str:
        return f"keep_input={self.keep_input}"


__all__ = ["DenseConcat"]
