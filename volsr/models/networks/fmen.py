"""FMEN: fast and memory-efficient network with re-parameterisable blocks, 2D and 3D.

Du et al., "Fast and memory-efficient network towards efficient image
super-resolution", CVPR Workshops (NTIRE) 2022, arXiv:2204.08397.

Architecture (defaults, the configuration of the authors' NTIRE 2022 code: 4 stages,
50 features, 16 attention features): ``head conv 3 (50)``; warm-up ``conv 3`` +
HFAB(12 maps, 2 ERBs); 4 stages of ``ERB(50) -> HFAB(16 maps, 1 ERB)``; ``conv 3``
plus the head output (global residual); one sub-pixel convolution straight to
``C_out * prod(r)`` maps and a shuffle (``"post"``, one factor per axis).

* ERB (enhanced residual block) = ``RRRB -> LeakyReLU(0.1) -> RRRB``. An RRRB
  (residual-in-residual re-parameterisable block) trains as ``1^d expand (C -> 2C) ->
  3^d conv (2C -> 2C) + identity -> 1^d reduce (2C -> C) + identity``; it is linear,
  so at deployment it collapses into a single ``3^d`` convolution ``C -> C``.
* HFAB (high-frequency attention block) trains as ``BN -> 3^d squeeze (C -> m) ->
  LReLU -> ERBs -> LReLU -> BN -> 3^d excitate (m -> C) -> BN -> sigmoid``, and
  multiplies its input by the result; at deployment the three batch normalisations
  are folded into the two convolutions.

Exact re-parameterisation at the borders: in training mode the ``3^d`` convolution of
an RRRB pads its input with the expand convolution's bias (what a zero-padded input
becomes after the ``1^d`` expand conv), and the convolutions after a batch norm pad
with the batch norm's shift (what zero becomes after it), so that the deployed,
zero-padded network computes exactly the same function as the training-time network
in eval mode (the paper's code does the same). :meth:`FMEN.switch_to_deploy` fuses a
trained model in place; ``deploy=True`` builds the fused structure directly (to load
fused weights).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from volsr.models.networks._base import (
    ScaleArg,
    SRNet,
    conv_extent,
    receptive_field_from,
    register_network,
)
from volsr.models.networks._checks import check_positive_int
from volsr.models.networks._layers import conv_nd, norm_nd
from volsr.models.networks._upsample import SubPixelConv

PAPER = (
    "Du et al., Fast and memory-efficient network towards efficient image "
    "super-resolution, CVPR Workshops 2022"
)


def pad_with(x: torch.Tensor, value: torch.Tensor, pad: int = 1) -> torch.Tensor:
    """Pad every spatial side of ``x`` by ``pad`` voxels filled with ``value[c]`` per channel."""
    d = x.ndim - 2
    out_shape = (x.shape[0], x.shape[1], *(s + 2 * pad for s in x.shape[2:]))
    out = value.to(x.dtype).view(1, -1, *([1] * d)).expand(out_shape).clone()
    out[(slice(None), slice(None), *([slice(pad, -pad)] * d))] = x
    return out


def bn_affine(bn: nn.modules.batchnorm._BatchNorm) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scale, shift)`` with ``bn(x) == scale * x + shift`` per channel in eval mode."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias - bn.running_mean * scale


def _per_in(v: torch.Tensor, d: int) -> torch.Tensor:
    return v.view(1, -1, *([1] * d))


def _per_out(v: torch.Tensor, d: int) -> torch.Tensor:
    return v.view(-1, 1, *([1] * d))


class RRRB(nn.Module):
    """Residual-in-residual re-parameterisable block (one ``3^d`` conv at deployment).

    Shapes: ``(B, C, *S)`` -> same.
    """

    def __init__(self, spatial_dims: int, channels: int, ratio: int = 2, *,
                 deploy: bool = False) -> None:
        super().__init__()
        self.spatial_dims = spatial_dims
        self.deploy = deploy
        d, c = spatial_dims, channels
        if deploy:
            self.rep = conv_nd(d, c, c, 3)
        else:
            self.expand = conv_nd(d, c, ratio * c, 1)
            self.fea = conv_nd(d, ratio * c, ratio * c, 3, padding=0)
            self.reduce = conv_nd(d, ratio * c, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.deploy:
            return self.rep(x)
        e = self.expand(x)
        y = self.fea(pad_with(e, self.expand.bias)) + e
        return self.reduce(y) + x

    @torch.no_grad()
    def fuse(self) -> None:
        """Replace expand/fea/reduce by the single equivalent ``3^d`` convolution."""
        if self.deploy:
            return
        d = self.spatial_dims
        e_w = self.expand.weight.flatten(1)  # (2C, C)
        e_b = self.expand.bias
        r_w = self.reduce.weight.flatten(1)  # (C, 2C)
        f_w, f_b = self.fea.weight, self.fea.bias  # (2C, 2C, k..)
        centre = (slice(None), slice(None), *(k // 2 for k in f_w.shape[2:]))
        k1 = torch.einsum("om...,mi->oi...", f_w, e_w)
        k1[centre] += e_w
        b1 = f_b + torch.einsum("om...,m->o", f_w, e_b) + e_b
        k = torch.einsum("co,oi...->ci...", r_w, k1)
        b = r_w @ b1 + self.reduce.bias
        k[centre] += torch.eye(k.shape[0], dtype=k.dtype, device=k.device)
        rep = conv_nd(d, k.shape[1], k.shape[0], 3).to(k.device, k.dtype)
        rep.weight.copy_(k)
        rep.bias.copy_(b)
        del self.expand, self.fea, self.reduce
        self.rep = rep
        self.deploy = True


class ERB(nn.Module):
    """Enhanced residual block ``RRRB -> LeakyReLU -> RRRB``."""

    def __init__(self, spatial_dims: int, channels: int, ratio: int = 2, *,
                 negative_slope: float = 0.1, deploy: bool = False) -> None:
        super().__init__()
        self.conv1 = RRRB(spatial_dims, channels, ratio, deploy=deploy)
        self.act = nn.LeakyReLU(negative_slope)
        self.conv2 = RRRB(spatial_dims, channels, ratio, deploy=deploy)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.act(self.conv1(x)))


class HFAB(nn.Module):
    """High-frequency attention block: ``x * sigmoid(branch(x))``.

    Shapes: ``(B, C, *S)`` -> same.
    """

    def __init__(self, spatial_dims: int, channels: int, mid: int, num_erbs: int,
                 ratio: int = 2, *, negative_slope: float = 0.1, deploy: bool = False) -> None:
        super().__init__()
        d = self.spatial_dims = spatial_dims
        self.deploy = deploy
        pad = 1 if deploy else 0
        if not deploy:
            self.bn1 = norm_nd("batch", d, channels)
        self.squeeze = conv_nd(d, channels, mid, 3, padding=pad)
        self.erbs = nn.Sequential(
            *(ERB(d, mid, ratio, negative_slope=negative_slope, deploy=deploy)
              for _ in range(num_erbs))
        )
        if not deploy:
            self.bn2 = norm_nd("batch", d, mid)
        self.excitate = conv_nd(d, mid, channels, 3, padding=pad)
        if not deploy:
            self.bn3 = norm_nd("batch", d, channels)
        self.act = nn.LeakyReLU(negative_slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.deploy:
            h = self.act(self.squeeze(x))
            h = self.act(self.erbs(h))
            return x * torch.sigmoid(self.excitate(h))
        h = pad_with(self.bn1(x), bn_affine(self.bn1)[1])
        h = self.act(self.squeeze(h))
        h = self.act(self.erbs(h))
        h = pad_with(self.bn2(h), bn_affine(self.bn2)[1])
        return x * torch.sigmoid(self.bn3(self.excitate(h)))

    @torch.no_grad()
    def fuse(self) -> None:
        """Fold the batch norms into the convolutions and fuse the ERBs' RRRBs."""
        for m in self.erbs.modules():
            if isinstance(m, RRRB):
                m.fuse()
        if self.deploy:
            return
        d = self.spatial_dims
        s1, t1 = bn_affine(self.bn1)
        s2, t2 = bn_affine(self.bn2)
        s3, t3 = bn_affine(self.bn3)
        w, b = self.squeeze.weight, self.squeeze.bias
        sq_w, sq_b = w * _per_in(s1, d), b + torch.einsum("oi...,i->o", w, t1)
        w, b = self.excitate.weight, self.excitate.bias
        ex_w = _per_out(s3, d) * (w * _per_in(s2, d))
        ex_b = s3 * (b + torch.einsum("oi...,i->o", w, t2)) + t3
        for name, new_w, new_b in (("squeeze", sq_w, sq_b), ("excitate", ex_w, ex_b)):
            conv = conv_nd(d, new_w.shape[1], new_w.shape[0], 3).to(new_w.device, new_w.dtype)
            conv.weight.copy_(new_w)
            conv.bias.copy_(new_b)
            setattr(self, name, conv)
        del self.bn1, self.bn2, self.bn3
        self.deploy = True


class FMEN(SRNet):
    """Fast and memory-efficient network (ERB + HFAB stages, sub-pixel tail).

    Reference: Du et al., CVPR Workshops 2022 (arXiv:2204.08397).

    Shapes: input ``(B, C_in, *S)`` on the low-resolution grid -> output
    ``(B, C_out, *(s * r))`` with ``r = scale`` (integers per axis, ``"post"``).

    Args:
        spatial_dims: 2 or 3.
        in_channels: Input channels.
        out_channels: Output channels (default ``in_channels``).
        scale: Integer up-sampling factor(s), one or one per axis.
        features: Trunk feature maps (50).
        mid_features: Feature maps inside the stage HFABs (16).
        warmup_mid_features: Maps inside the warm-up HFAB (default ``mid_features - 4``).
        num_stages: ``ERB -> HFAB`` stages (4).
        attention_erbs: ERBs inside each HFAB, warm-up first (``num_stages + 1``
            values; default ``(2, 1, 1, 1, 1)``).
        expand_ratio: Channel expansion inside the RRRBs (2).
        negative_slope: Leaky ReLU slope (0.1).
        deploy: Build the fused (inference) structure.
        residual: Must stay ``False`` (post network).

    Example:
        >>> import torch
        >>> net = FMEN(spatial_dims=2, scale=2, features=8, mid_features=6, num_stages=1,
        ...            attention_erbs=(1, 1)).eval()
        >>> x = torch.rand(1, 1, 5, 6)
        >>> y = net(x)
        >>> y.shape, torch.allclose(net.switch_to_deploy()(x), y, atol=1e-5)
        (torch.Size([1, 1, 10, 12]), True)
    """

    upsampling = "post"

    def __init__(
        self,
        *,
        spatial_dims: int,
        in_channels: int = 1,
        out_channels: int | None = None,
        scale: ScaleArg = 2,
        features: int = 50,
        mid_features: int = 16,
        warmup_mid_features: int | None = None,
        num_stages: int = 4,
        attention_erbs: Sequence[int] = (2, 1, 1, 1, 1),
        expand_ratio: int = 2,
        negative_slope: float = 0.1,
        deploy: bool = False,
        residual: bool = False,
    ) -> None:
        super().__init__(
            spatial_dims=spatial_dims,
            in_channels=in_channels,
            out_channels=out_channels,
            scale=scale,
            residual=residual,
        )
        factors = self.integer_scale()
        self.features = check_positive_int(features, "features")
        self.mid_features = check_positive_int(mid_features, "mid_features")
        warm = self.mid_features - 4 if warmup_mid_features is None else warmup_mid_features
        self.warmup_mid_features = check_positive_int(warm, "warmup_mid_features")
        self.num_stages = check_positive_int(num_stages, "num_stages")
        erbs = tuple(attention_erbs)
        if len(erbs) != self.num_stages + 1 or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in erbs
        ):
            raise ValueError(
                f"attention_erbs needs num_stages + 1 = {self.num_stages + 1} non-negative "
                f"ints, got {attention_erbs!r}"
            )
        self.attention_erbs = erbs
        self.expand_ratio = check_positive_int(expand_ratio, "expand_ratio")
        if isinstance(negative_slope, bool) or not isinstance(negative_slope, (int, float)) or \
                not 0 <= negative_slope < 1:
            raise ValueError(f"negative_slope must be in [0, 1), got {negative_slope!r}")
        self.negative_slope = float(negative_slope)
        self.deploy = bool(deploy)
        d, f, r = self.spatial_dims, self.features, self.expand_ratio
        kw = {"negative_slope": self.negative_slope, "deploy": self.deploy}
        self.head = conv_nd(d, self.in_channels, f, 3)
        self.warmup = nn.Sequential(
            conv_nd(d, f, f, 3), HFAB(d, f, self.warmup_mid_features, erbs[0], r, **kw)
        )
        self.erbs = nn.ModuleList(ERB(d, f, r, **kw) for _ in range(self.num_stages))
        self.hfabs = nn.ModuleList(
            HFAB(d, f, self.mid_features, erbs[i + 1], r, **kw) for i in range(self.num_stages)
        )
        self.lr_conv = conv_nd(d, f, f, 3)
        self.tail = SubPixelConv(d, f, self.out_channels, factors)

    def _extra_config(self) -> dict[str, Any]:
        return {
            "features": self.features,
            "mid_features": self.mid_features,
            "warmup_mid_features": self.warmup_mid_features,
            "num_stages": self.num_stages,
            "attention_erbs": list(self.attention_erbs),
            "expand_ratio": self.expand_ratio,
            "negative_slope": self.negative_slope,
            "deploy": self.deploy,
        }

    @torch.no_grad()
    def switch_to_deploy(self) -> FMEN:
        """Fuse every RRRB and HFAB in place (uses the batch norms' running statistics);
        the model then computes its eval-mode function with plain convolutions."""
        for m in list(self.modules()):
            if isinstance(m, (RRRB, HFAB)):
                m.fuse()
        self.deploy = True
        return self

    def receptive_field(self) -> tuple[int, ...]:
        """Receptive field per axis in low-resolution input voxels (longest path)."""
        d = self.spatial_dims
        lr = [self.head, self.warmup, self.erbs, self.hfabs, self.lr_conv]
        return receptive_field_from(conv_extent(lr, d), conv_extent([self.tail], d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Super-resolve ``(B, C_in, *S)`` into ``(B, C_out, *(S * scale))``."""
        self.check_input(x)
        x = self.head(x)
        h = self.warmup(x)
        for erb, hfab in zip(self.erbs, self.hfabs):
            h = hfab(erb(h))
        return self.tail(self.lr_conv(h) + x)


# narrow version for the registry-wide tests (tests/models/test_models.py)
_TEST = {"features": 8, "mid_features": 6, "num_stages": 2, "attention_erbs": [1, 1, 1]}

register_network("fmen_2d", FMEN, dims=2, family="fmen", paper=PAPER, test_kwargs=_TEST)
register_network("fmen_3d", FMEN, dims=3, family="fmen", paper=PAPER, test_kwargs=_TEST)

__all__ = ["ERB", "FMEN", "HFAB", "RRRB", "bn_affine", "pad_with"]
