"""Extra MONAI / torchio transforms named in ``data.transforms`` (an explicit allow-list).

A config entry ``{name: monai.RandGaussianNoised, prob: 0.5, std: 0.01}`` or
``{name: torchio.RandomBiasField, coefficients: 0.3}`` is looked up in
:data:`TRANSFORMS` (never imported or evaluated from the string) and built with the
remaining keys as arguments. Each entry has a default target: ``input`` transforms
(artefacts, noise, blur) act on the network input ``lr`` only; ``pair`` transforms
(intensity changes such as a bias field or gamma) act on ``lr`` and ``hr`` with the same
drawn parameters, so the target stays consistent with the input. ``keys: [lr]`` or
``keys: [lr, hr]`` overrides the default.

They run on the patch pair after the degradation and before flips/rotations, on
channel-first ``(C, X, Y, Z)`` arrays in normalised intensities. torchio transforms are
seeded from MONAI's RNG (inside a forked torch RNG), so they are reproducible too.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.transforms import MapTransform, Randomizable

from volsr.errors import ConfigError

__all__ = ["TRANSFORMS", "TorchIOd", "build_extra_transforms", "build_region_transforms"]

# name -> default target ("input": lr only, "pair": lr and hr)
_MONAI = {
    "RandGaussianNoised": "input", "RandRicianNoised": "input",
    "RandGaussianSmoothd": "input", "RandGaussianSharpend": "input",
    "RandGibbsNoised": "input", "RandKSpaceSpikeNoised": "input",
    "RandBiasFieldd": "pair", "RandAdjustContrastd": "pair",
    "RandScaleIntensityd": "pair", "RandShiftIntensityd": "pair",
    "RandStdShiftIntensityd": "pair", "RandHistogramShiftd": "pair",
}
_TORCHIO = {
    "RandomBiasField": "pair", "RandomGamma": "pair",
    "RandomMotion": "input", "RandomGhosting": "input", "RandomSpike": "input",
    "RandomBlur": "input", "RandomNoise": "input",
}
_VOLSR = {"RandInvertForegroundd": "pair"}  # volsr/data/invert.py
#: Allowed names and their default targets.
TRANSFORMS: dict[str, str] = {**{f"monai.{k}": v for k, v in _MONAI.items()},
                              **{f"torchio.{k}": v for k, v in _TORCHIO.items()},
                              **{f"volsr.{k}": v for k, v in _VOLSR.items()}}
TARGETS = {"input": ("lr",), "pair": ("lr", "hr")}


class TorchIOd(Randomizable, MapTransform):
    """Apply a torchio transform to ``keys`` of a data dict (the same draw for all keys).

    The torchio draw uses torch's RNG; it is seeded from ``self.R`` inside
    :func:`torch.random.fork_rng` (the global torch stream is left untouched), with the
    same seed for every key, since torchio draws parameters per image.

    Args:
        transform: A torchio transform instance.
        keys: Channel-first ``(C, X, Y, Z)`` arrays or tensors to transform.
    """

    def __init__(self, transform: Any, keys: Sequence[str]) -> None:
        MapTransform.__init__(self, keys=tuple(keys))
        self.transform = transform
        self._seed = 0

    def randomize(self, data: Any = None) -> None:
        self._seed = int(self.R.randint(2**31 - 1))

    def __call__(self, data: Mapping[str, Any]) -> dict[str, Any]:
        import torchio as tio

        d = dict(data)
        self.randomize()
        for k in self.key_iterator(d):
            # one key at a time with the same seed: torchio draws the parameters per
            # image, and the pair must get the same bias field / gamma / ghosts
            image = tio.ScalarImage(tensor=torch.as_tensor(np.asarray(d[k])))
            with torch.random.fork_rng(devices=[]):
                # the CPU generator only (torch.manual_seed also queues a CUDA seeding,
                # with a stack trace, ~0.7 ms a call)
                torch.random.default_generator.manual_seed(self._seed)
                out = self.transform(tio.Subject(image=image))
            d[k] = out["image"].data.numpy()
        return d


def _did_you_mean(name: str) -> str:
    # a missing prefix first: "RandomGamma" -> "torchio.RandomGamma"
    close = [k for k in TRANSFORMS if k.split(".", 1)[1].lower() == name.lower()]
    if not close:
        close = difflib.get_close_matches(name, list(TRANSFORMS), n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""


def build_transform(name: str, kwargs: Mapping[str, Any], *,
                    region: bool = False) -> Any:
    """One allow-listed transform (a MONAI map transform) from its name and arguments.

    With ``region``, a transform whose keys include ``hr`` acts on ``region`` instead
    (the HR region of an any-factor plane pair, before it is degraded).

    Raises:
        ConfigError: unknown name (with a suggestion), bad ``keys`` or bad arguments.
    """
    name = {k.lower(): k for k in TRANSFORMS}.get(name.lower(), name)
    if name not in TRANSFORMS:
        raise ConfigError(f"data.transforms: unknown transform {name!r}.{_did_you_mean(name)}"
                          f" Allowed: {', '.join(sorted(TRANSFORMS))}")
    args = dict(kwargs)
    keys = tuple(args.pop("keys", TARGETS[TRANSFORMS[name]]))
    if not keys or any(k not in ("lr", "hr") for k in keys):
        raise ConfigError(f"data.transforms: {name}: keys must be a non-empty subset of "
                          f"[lr, hr], got {list(keys)}")
    if region and "hr" in keys:
        keys = ("region",)
    lib, cls = name.split(".", 1)
    try:
        if lib == "monai":
            import monai.transforms as mt

            return getattr(mt, cls)(keys=keys, **args)
        if lib == "volsr":
            from volsr.data.invert import RandInvertForegroundd

            return {"RandInvertForegroundd": RandInvertForegroundd}[cls](keys=keys, **args)
        import torchio as tio

        # TorchIOd wraps every call's arrays in a new Subject: torchio's deep copy of it
        # (~0.5 ms a call) protects nothing
        args.setdefault("copy", False)
        return TorchIOd(getattr(tio, cls)(**args), keys)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"data.transforms: bad arguments for {name}: {exc}") from None


def _name_kwargs(s: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(s, Mapping):
        s = dict(s)
        return str(s.pop("name", "")), s
    return str(s.name), dict(s.kwargs)


def build_extra_transforms(specs: Sequence[Any]) -> list[Any]:
    """The transforms of ``DataConfig.transforms`` (``Spec`` objects or dicts), in order."""
    return [build_transform(*_name_kwargs(s)) for s in specs]


def build_region_transforms(specs: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """The transforms of ``DataConfig.transforms`` for any-factor plane pairs:
    ``(on_region, on_input)``. Transforms of the pair (keys with ``hr``) act on the HR
    region before the degradation (a contrast change of the anatomy; one draw for input
    and target by construction), the others on the LR input after it, each in order."""
    region: list[Any] = []
    inputs: list[Any] = []
    for s in specs:
        t = build_transform(*_name_kwargs(s), region=True)
        (region if "region" in t.keys else inputs).append(t)
    return region, inputs
