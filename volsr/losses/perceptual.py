"""Perceptual (VGG feature) and texture (Gram matrix) losses, 2D and slice-wise 3D.

* ``perceptual``: distance between VGG feature maps of prediction and target
  (Johnson et al., "Perceptual losses for real-time style transfer and
  super-resolution", ECCV 2016; the "VGG loss" of SRGAN, Ledig et al., CVPR 2017,
  which uses ``relu5_4``; ESRGAN, Wang et al. 2018, uses ``conv5_4``, before the
  activation).
* ``texture``: distance between Gram matrices of VGG feature maps (Gatys et al., CVPR
  2016; for super-resolution Sajjadi et al., "EnhanceNet", ICCV 2017).

The VGG-style feature extractor (:class:`VGGFeatures`) is defined here; its layer
indices follow torchvision's ``vgg16``/``vgg19`` ``features`` module, so a state dict
converted from those models to safetensors (keys ``features.<i>.weight`` /
``features.<i>.bias``, or without the ``features.`` prefix) loads directly. **volsr
never downloads weights**: the ``weights`` option names a VGG file you provide (their
licence is yours to check).

Without a ``weights`` file (``network: auto``, the default) the losses use volsr's
built-in feature network instead, :class:`~volsr.losses.features.GradientPyramidFeatures`
(fixed multi-scale Sobel + Laplacian filters on the grey image; nothing to download), and
log which network they use; ``layers``/``layer_weights`` then name VGG layers and are not
used. ``network: vgg`` insists on VGG weights (refuses without a file).

Volumes: a ``(B, C, X, Y, Z)`` tensor is cut into 2D slices across each axis of
``slice_axes`` (default all three, a 2.5D loss that also sees the thick-slice
direction), each slice is treated as an image, and the per-axis losses are averaged.
Images: single-channel intensities are mapped from ``input_range`` to [0, 1],
replicated to RGB and normalised with the ImageNet mean and standard deviation.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from volsr.errors import ConfigError
from volsr.losses.base import LOSSES, check_pair
from volsr.losses.features import BUILTIN_NAME, DEFAULT_LEVELS, GradientPyramidFeatures

log = logging.getLogger(__name__)

# channel widths per convolution; "M" = 2x2 max pooling (Simonyan & Zisserman, ICLR 2015)
VGG_LAYOUTS: dict[str, list[int | str]] = {
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],
}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _layer_names(layout: Sequence[int | str]) -> dict[str, int]:
    """``{"conv1_1": 0, "relu1_1": 1, "pool1": 4, ...}``: index in ``features``."""
    names: dict[str, int] = {}
    block, conv, i = 1, 0, 0
    for item in layout:
        if item == "M":
            names[f"pool{block}"] = i
            block, conv, i = block + 1, 0, i + 1
        else:
            conv += 1
            names[f"conv{block}_{conv}"] = i
            names[f"relu{block}_{conv}"] = i + 1
            i += 2
    return names


class VGGFeatures(nn.Module):
    """VGG convolutional trunk (3x3 convs + ReLU, 2x2 max pooling), truncated after the
    deepest requested layer; frozen (no gradients to its weights).

    Reference: Simonyan & Zisserman, "Very deep convolutional networks for large-scale
    image recognition", ICLR 2015.

    Shapes: ``(N, 3, H, W)`` -> ``{layer name: (N, C_l, H_l, W_l)}``.

    Args:
        layers: Layer names (``conv3_4``, ``relu5_4``, ``pool2``, ...).
        arch: ``"vgg19"``, ``"vgg16"`` or an explicit layout list (ints and ``"M"``).
        weights: A safetensors file with the trunk's weights (required unless
            ``random_init``; nothing is downloaded).
        random_init: Keep the random initialisation (tests only; such features are not
            perceptually meaningful).
    """

    def __init__(self, layers: Sequence[str], *, arch: str | Sequence[int | str] = "vgg19",
                 weights: str | Path | None = None, random_init: bool = False) -> None:
        super().__init__()
        layout = VGG_LAYOUTS.get(arch) if isinstance(arch, str) else list(arch)
        if layout is None:
            raise ConfigError(f"unknown VGG arch {arch!r}; use one of {sorted(VGG_LAYOUTS)} "
                              "or a list of widths and 'M'")
        index = _layer_names(layout)
        bad = [name for name in layers if name not in index]
        if bad or not layers:
            raise ConfigError(f"unknown VGG layer(s) {bad or list(layers)}; e.g. "
                              f"{', '.join(list(index)[:6])}, ...")
        self.layers = {name: index[name] for name in layers}
        last = max(self.layers.values())
        modules: list[nn.Module] = []
        c = 3
        for item in layout:
            if len(modules) > last:
                break
            if item == "M":
                modules.append(nn.MaxPool2d(2, 2))
            else:
                modules += [nn.Conv2d(c, int(item), 3, padding=1), nn.ReLU(inplace=False)]
                c = int(item)
        self.features = nn.Sequential(*modules[:last + 1])
        if weights is not None:
            self.load_weights(weights)
        elif not random_init:
            raise ConfigError("the perceptual/texture loss needs `weights: <file.safetensors>` "
                              "with VGG weights you provide (volsr downloads nothing); see "
                              "docs/gan.md")
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def load_weights(self, path: str | Path) -> None:
        """Load the trunk from a safetensors file (torchvision ``features.*`` key layout)."""
        from safetensors.torch import load_file

        p = Path(path).expanduser()
        if not p.is_file():
            raise ConfigError(f"VGG weights file not found: {str(p)!r} (volsr downloads no "
                              "weights; convert them yourself, see docs/gan.md)")
        raw = load_file(str(p))
        state = {(k if k.startswith("features.") else f"features.{k}"): v
                 for k, v in raw.items() if not k.startswith("classifier.")}
        own = self.state_dict()
        missing = [k for k in own if k not in state]
        if missing:
            raise ConfigError(f"VGG weights {p.name}: missing {missing[:4]}"
                              f"{' ...' if len(missing) > 4 else ''}")
        for k, v in own.items():
            if tuple(state[k].shape) != tuple(v.shape):
                raise ConfigError(f"VGG weights {p.name}: {k} has shape "
                                  f"{tuple(state[k].shape)}, expected {tuple(v.shape)}")
        self.load_state_dict({k: state[k] for k in own})
        log.info("loaded VGG weights from %s", p)

    def train(self, mode: bool = True) -> VGGFeatures:
        return super().train(False)  # always eval: no dropout/BN, fixed features

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        wanted = {i: name for name, i in self.layers.items()}
        for i, module in enumerate(self.features):
            x = module(x)
            if i in wanted:
                out[wanted[i]] = x
        return out


NETWORKS = ("auto", "vgg", "gradient_pyramid")


class _VGGLoss(nn.Module):
    """Shared slicing, intensity mapping and feature extraction of the feature losses
    (a VGG trunk, or the built-in gradient pyramid when no VGG file is given)."""

    default_layers: tuple[str, ...] = ("relu5_4",)

    def __init__(self, weights: str | None = None, layers: Sequence[str] | None = None,
                 layer_weights: Sequence[float] | None = None, arch: Any = "vgg19",
                 criterion: str = "l1", slice_axes: Sequence[int] = (0, 1, 2),
                 input_range: Sequence[float] = (0.0, 1.0), imagenet_norm: bool = True,
                 random_init: bool = False, network: str = "auto",
                 levels: int = DEFAULT_LEVELS) -> None:
        super().__init__()
        if network not in NETWORKS:
            raise ConfigError(f"network must be one of {list(NETWORKS)}, got {network!r}")
        if network == "auto":
            network = "vgg" if (weights is not None or random_init) else "gradient_pyramid"
        self.network = network
        if network == "gradient_pyramid":
            if weights is not None:
                raise ConfigError("network: gradient_pyramid takes no weights file; drop "
                                  "`weights` or use network: vgg")
            self.builtin: GradientPyramidFeatures | None = GradientPyramidFeatures(levels)
            if layers:
                log.info("%s: no VGG weights given; the VGG layers %s are used only with "
                         "a VGG file", type(self).__name__, list(layers))
            log.info("%s uses %s (no VGG weights file given; pass `weights: FILE` for "
                     "VGG19)", type(self).__name__, BUILTIN_NAME)
            layers, layer_weights = self.builtin.names, None
        else:
            self.builtin = None
        names = list(layers) if layers else list(self.default_layers)
        self.layer_weights = [1.0] * len(names) if layer_weights is None \
            else [float(w) for w in layer_weights]
        if len(self.layer_weights) != len(names):
            raise ConfigError(f"layer_weights needs {len(names)} entries, got "
                              f"{list(self.layer_weights)}")
        if criterion not in ("l1", "l2"):
            raise ConfigError(f"criterion must be 'l1' or 'l2', got {criterion!r}")
        axes = sorted({int(a) for a in slice_axes})
        if not axes or any(a not in (0, 1, 2) for a in axes):
            raise ConfigError(f"slice_axes must be a non-empty subset of [0, 1, 2], got "
                              f"{list(slice_axes)}")
        lo, hi = (float(v) for v in input_range)
        if not hi > lo:
            raise ConfigError(f"input_range must be [low, high] with high > low, got "
                              f"{list(input_range)}")
        self.names, self.criterion, self.slice_axes = names, criterion, axes
        self.lo, self.hi, self.imagenet_norm = lo, hi, bool(imagenet_norm)
        self.vgg = None if self.builtin is not None else VGGFeatures(
            names, arch=arch, weights=weights, random_init=random_init)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1),
                             persistent=False)

    def _images(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``(B, C, X, Y[, Z])`` -> list of ``(N, 3, H, W)`` image batches (one per axis)."""
        x = (x.float() - self.lo) / (self.hi - self.lo)
        if x.ndim == 4:
            stacks = [x]
        elif x.ndim == 5:
            stacks = []
            for axis in self.slice_axes:
                moved = x.movedim(2 + axis, 1)  # (B, S_axis, C, ., .)
                stacks.append(moved.reshape(-1, *moved.shape[2:]))
        else:
            raise ValueError(f"VGG losses need 2D or 3D tensors, got shape {tuple(x.shape)}")
        if self.builtin is not None:  # grey [0, 1] images, no ImageNet statistics
            return [s if s.shape[1] == 1 else s.mean(dim=1, keepdim=True) for s in stacks]
        out = []
        for s in stacks:
            if s.shape[1] == 1:
                s = s.expand(-1, 3, -1, -1)
            elif s.shape[1] != 3:
                s = s.mean(dim=1, keepdim=True).expand(-1, 3, -1, -1)
            out.append((s - self.mean) / self.std if self.imagenet_norm else s)
        return out

    def _distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a - b).abs().mean() if self.criterion == "l1" else (a - b).square().mean()

    def _term(self, fp: torch.Tensor, ft: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_pair(pred, target)
        terms = []
        net = self.builtin if self.builtin is not None else self.vgg
        for ip, it in zip(self._images(pred), self._images(target)):
            fp = net(ip)
            with torch.no_grad():
                ft = net(it)
            if self.builtin is not None:  # mean over the levels the image size allows
                terms.append(sum(self._term(fp[n], ft[n]) for n in fp) / len(fp))
                continue
            terms.append(sum(w * self._term(fp[n], ft[n])
                             for n, w in zip(self.names, self.layer_weights)))
        return torch.stack([torch.as_tensor(t) for t in terms]).mean()


@LOSSES.register("perceptual")
class PerceptualLoss(_VGGLoss):
    """Feature (perceptual) loss: ``sum_l w_l * dist(phi_l(pred), phi_l(target))``.

    Reference: Johnson et al., ECCV 2016; Ledig et al. (SRGAN), CVPR 2017. ``dist`` is
    the mean absolute (``criterion: l1``) or squared (``l2``) difference of the VGG
    feature maps ``phi_l`` (default ``relu5_4`` of VGG19). Input ``(B, C, X, Y)`` or
    ``(B, C, X, Y, Z)`` (slice-wise, see the module docs); output a scalar.

    Without ``weights`` the features are volsr's built-in gradient pyramid (see the module
    docs), logged at construction.

    Args:
        weights: safetensors file with VGG weights (nothing is downloaded); without it,
            the built-in features (``network: auto``).
        layers: VGG layer names.
        layer_weights: One weight per layer (default 1 each).
        arch: ``vgg19`` / ``vgg16`` / explicit layout.
        criterion: ``l1`` or ``l2``.
        slice_axes: Axes a 3D tensor is sliced across (default all three).
        input_range: Normalised intensities mapped to [0, 1] before ImageNet normalisation.
        imagenet_norm: Apply the ImageNet mean/std.
        random_init: Allow random VGG weights (tests only).
        network: ``auto`` (VGG with ``weights``, else the built-in), ``vgg`` (refuses
            without weights) or ``gradient_pyramid``.
        levels: Pyramid levels of the built-in features.
    """

    def _term(self, fp: torch.Tensor, ft: torch.Tensor) -> torch.Tensor:
        return self._distance(fp, ft)


def gram_matrix(f: torch.Tensor) -> torch.Tensor:
    """Gram matrices ``F F^T / (C H W)`` of feature maps ``(N, C, H, W)`` -> ``(N, C, C)``."""
    n, c = f.shape[:2]
    flat = f.reshape(n, c, -1)
    return flat @ flat.transpose(1, 2) / float(flat.shape[1] * flat.shape[2])


@LOSSES.register("texture")
class TextureLoss(_VGGLoss):
    """Texture loss: distance of Gram matrices of VGG features (per slice / image).

    Reference: Gatys et al., "Image style transfer using convolutional neural
    networks", CVPR 2016; Sajjadi et al., "EnhanceNet", ICCV 2017 (which computes it on
    16x16 patches; here on whole training patches/slices). Default layers ``relu1_1``,
    ``relu2_1``, ``relu3_1``. Same options as :class:`PerceptualLoss`; the default
    criterion is ``l2``.
    """

    default_layers = ("relu1_1", "relu2_1", "relu3_1")

    def __init__(self, criterion: str = "l2", **kwargs: Any) -> None:
        super().__init__(criterion=criterion, **kwargs)

    def _term(self, fp: torch.Tensor, ft: torch.Tensor) -> torch.Tensor:
        return self._distance(gram_matrix(fp), gram_matrix(ft))


def save_vgg_weights(module: VGGFeatures, path: str | Path) -> Path:
    """Write ``module``'s trunk as safetensors (``features.<i>.*`` keys), e.g. for tests."""
    from safetensors.torch import save_file

    path = Path(path)
    save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(path))
    return path


__all__ = ["VGG_LAYOUTS", "PerceptualLoss", "TextureLoss", "VGGFeatures", "gram_matrix",
           "save_vgg_weights"]
