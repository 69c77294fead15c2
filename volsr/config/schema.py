"""Typed experiment configuration: frozen dataclasses with strict ``from_dict``.

Every section is a frozen dataclass. ``Section.from_dict(mapping, path="")`` rejects
unknown keys (with a "did you mean" hint naming the full dotted path), checks types,
coerces where it is unambiguous (int -> float, numeric strings such as ``"1e-4"`` ->
float/int, lists -> tuples) and validates ``Literal`` choices and value ranges. Every
problem raises :class:`volsr.errors.ConfigError` naming the dotted path and the bad value.
Constructing a section directly in Python runs the same coercion and checks.

Components chosen from a registry (optimizer, scheduler, normalization, degradations,
losses) are :class:`Spec` values; in YAML they are flat mappings such as
``{name: adam, lr: 1.0e-4}`` (or just the name: ``adam``).

Free-form mappings (``model.args``, spec options) hold plain data only: strings, numbers,
booleans, null, lists and string-keyed mappings; tuples become lists there.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar, Union

from volsr.errors import ConfigError

S = TypeVar("S", bound="Section")

_INT_RE = re.compile(r"^[+-]?[0-9]+$")
_FLOAT_RE = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")


class _FieldError(ConfigError):
    """A value check failed for ``field`` (a dotted path relative to the section)."""

    def __init__(self, field_name: str, message: str) -> None:
        self.field = field_name
        self.message = message
        super().__init__(f"{field_name}: {message}")


def _join(path: str, key: str | int) -> str:
    """Dotted path of ``key`` under ``path``; list entries are numbers, as in overrides."""
    return f"{path}.{key}" if path else str(key)


def _where(path: str) -> str:
    return path or "config"


def _show(value: Any) -> str:
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _type_error(path: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(f"{_where(path)}: expected {expected}, got {_show(value)}")


def unknown_key_error(key: str, path: str, valid: list[str]) -> ConfigError:
    """The error for a key that is not a field of the section at ``path``."""
    full = _join(path, key)
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    if close:
        return ConfigError(f"unknown key {full!r} — did you mean {_join(path, close[0])!r}?")
    where = f"under {path!r}" if path else "at the top level"
    return ConfigError(f"unknown key {full!r}; valid keys {where}: {', '.join(valid)}")


# --------------------------------------------------------------------------- conversion


def plain(value: Any, path: str) -> Any:
    """Deep-copy free-form ``value`` as plain data (tuples -> lists); reject anything else."""
    if value is None or isinstance(value, str):
        return None if value is None else str(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [plain(v, _join(path, i)) for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ConfigError(f"{_where(path)}: keys must be strings, got {_show(k)} "
                                  "(quote it in YAML)")
            out[str(k)] = plain(v, _join(path, k))
        return out
    raise _type_error(path, "plain data (string, number, boolean, null, list or mapping)",
                      value)


def _scalar(tp: type, value: Any, path: str) -> Any:
    if tp is bool:
        if isinstance(value, bool):
            return bool(value)
        raise _type_error(path, "a boolean (true/false)", value)
    if tp is str:
        if isinstance(value, str):
            return str(value)
        raise _type_error(path, "a string (quote it in YAML)", value)
    if isinstance(value, bool):
        raise _type_error(path, "an integer" if tp is int else "a number", value)
    if isinstance(value, str):
        text = value.strip()
        if tp is int and _INT_RE.match(text):
            return int(text)
        if _FLOAT_RE.match(text):
            value = float(text)
    if tp is int:
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise _type_error(path, "an integer", value)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    raise _type_error(path, "a finite number", value)


def convert(tp: Any, value: Any, path: str) -> Any:
    """Check and coerce ``value`` to the type hint ``tp``; ``path`` names it in errors."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return plain(value, path)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) != 1:
            raise TypeError(f"unsupported union in config schema: {tp}")
        return convert(options[0], value, path)
    if origin is Literal:
        for choice in args:
            if type(value) is type(choice) and value == choice:
                return choice
        close = [c for c in args if isinstance(c, str) and isinstance(value, str)
                 and c.lower() == value.lower()]
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"{_where(path)}: expected one of "
                          f"{', '.join(repr(c) for c in args)}, got {_show(value)}{hint}")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise _type_error(path, "a list", value)
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise _type_error(path, f"a list of {len(args)} entries", value)
            items = [convert(a, v, _join(path, i)) for i, (a, v) in enumerate(zip(args, value))]
        else:
            items = [convert(args[0], v, _join(path, i)) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise _type_error(path, "a mapping", value)
        return plain(value, path)
    if tp in (bool, int, float, str):
        return _scalar(tp, value, path)
    if isinstance(tp, type) and issubclass(tp, (Section, _SpecBase)):
        return tp.from_dict(value, path)
    raise TypeError(f"unsupported type in config schema: {tp!r}")


def to_plain(obj: Any) -> Any:
    """Config object -> plain YAML/JSON data (tuples -> lists, specs -> flat mappings)."""
    if isinstance(obj, (_SpecBase, Section)):
        return obj.to_dict()
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, Mapping):
        return {k: to_plain(v) for k, v in obj.items()}
    return obj


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def public_fields(cls: type) -> list[dataclasses.Field[Any]]:
    """The fields a config file may set (excludes internal bookkeeping fields)."""
    return [f for f in dataclasses.fields(cls) if f.init and not f.metadata.get("internal")]


def child_type(tp: Any, key: str, path: str) -> Any:
    """Type hint of ``key`` inside a value of type ``tp`` (used to check override paths).

    Raises:
        ConfigError: if ``tp`` has no such key (with a did-you-mean hint), or is a scalar.
    """
    if typing.get_origin(tp) in (Union, types.UnionType):
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    origin = typing.get_origin(tp)
    if tp is Any or origin in (dict, Mapping):
        return Any
    if origin in (tuple, list):
        if not key.isdigit():
            raise ConfigError(f"{_where(path)} is a list; use a numeric index, e.g. "
                              f"{_join(path, '0')!r}, not {key!r}")
        args = typing.get_args(tp)
        return args[0] if args[-1] is Ellipsis or origin is list else args[int(key)]
    if isinstance(tp, type) and issubclass(tp, _SpecBase):
        return _hints(tp).get(key, Any) if key in tp.reserved else Any
    if isinstance(tp, type) and issubclass(tp, Section):
        names = [f.name for f in public_fields(tp)]
        if key not in names:
            raise unknown_key_error(key, path, names)
        return _hints(tp)[key]
    raise ConfigError(f"{_where(path)!r} holds a single value, not a section; "
                      f"cannot set {_join(path, key)!r}")


# --------------------------------------------------------------------------- component specs


class _SpecBase:
    """Shared behaviour of :class:`Spec` and :class:`WeightedSpec` (flat-mapping form)."""

    name: str
    kwargs: Mapping[str, Any]
    reserved: ClassVar[tuple[str, ...]] = ("name",)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise _FieldError("name", f"expected a non-empty component name, got "
                                      f"{_show(self.name)}")
        if not isinstance(self.kwargs, Mapping):
            raise _FieldError("kwargs", f"expected a mapping, got {_show(self.kwargs)}")
        for key in self.kwargs:
            if key in self.reserved:
                raise _FieldError(str(key), f"{key!r} is reserved in a component spec")
        object.__setattr__(self, "kwargs", plain(self.kwargs, "kwargs"))
        hints = _hints(type(self))
        for key in self.reserved[1:]:
            object.__setattr__(self, key, convert(hints[key], getattr(self, key), key))
        self._check()

    def _check(self) -> None:
        """Checks of the reserved fields; raise :class:`_FieldError`."""

    @classmethod
    def from_dict(cls, value: Any, path: str = "") -> Any:
        """Build from a flat mapping ``{name: ..., **kwargs}`` or a bare name string."""
        if isinstance(value, cls):
            return value
        if isinstance(value, _SpecBase):  # e.g. a Spec where a WeightedSpec is expected
            value = value.to_dict()
        if isinstance(value, str):
            value = {"name": value}
        if not isinstance(value, Mapping):
            raise _type_error(path, "a component spec such as {name: ..., option: value}",
                              value)
        if "name" not in value:
            raise ConfigError(f"{_where(path)}: component spec needs a 'name' key, got "
                              f"{_show(dict(value))}")
        hints = _hints(cls)
        reserved = {k: convert(hints[k], value[k], _join(path, k))
                    for k in cls.reserved if k in value}
        kwargs = plain({k: v for k, v in value.items() if k not in cls.reserved}, path)
        try:
            return cls(kwargs=kwargs, **reserved)
        except _FieldError as exc:
            raise ConfigError(f"{_join(path, exc.field)}: {exc.message}") from None

    def to_dict(self) -> dict[str, Any]:
        """The flat mapping form: ``{"name": ..., <reserved keys>..., **kwargs}``."""
        out = {k: getattr(self, k) for k in self.reserved}
        out.update(plain(self.kwargs, ""))
        return out


@dataclass(frozen=True)
class Spec(_SpecBase):
    """A registry component and its options, e.g. an optimizer or a degradation.

    YAML form: a flat mapping ``{name: adam, lr: 1.0e-4, betas: [0.9, 0.99]}`` or just
    ``adam``. The engine builds it as ``REGISTRY.build(spec.name, **spec.kwargs)``.

    Attributes:
        name: Registry key of the component (registries look it up case-insensitively).
        kwargs: Keyword arguments for the component's factory: plain data, read-only by
            convention; tuples are stored as lists. May not contain ``name``.
    """

    name: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WeightedSpec(_SpecBase):
    """A loss term: a component spec plus its weight in the summed loss.

    YAML form: ``{name: l1, weight: 0.5, **kwargs}``; ``weight`` defaults to 1.0.

    Attributes:
        name: Loss registry key.
        weight: Non-negative multiplier of this term in the total loss.
        kwargs: Options for the loss (may not contain ``name`` or ``weight``).
    """

    name: str
    weight: float = 1.0
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    reserved: ClassVar[tuple[str, ...]] = ("name", "weight")

    def _check(self) -> None:
        if self.weight < 0:
            raise _FieldError("weight", f"must be >= 0, got {self.weight}")


# --------------------------------------------------------------------------- sections


class Section:
    """Base of the config sections: strict ``from_dict``, coercion and checks."""

    def __post_init__(self) -> None:
        hints = _hints(type(self))
        for f in public_fields(type(self)):
            object.__setattr__(self, f.name, convert(hints[f.name], getattr(self, f.name),
                                                     f.name))
        self._check()

    def _check(self) -> None:
        """Range/consistency checks; raise :class:`_FieldError` naming the field."""

    @classmethod
    def from_dict(cls: type[S], mapping: Any, path: str = "") -> S:
        """Build the section from a mapping, strictly; ``path`` prefixes error messages."""
        if isinstance(mapping, cls):
            return mapping
        if not isinstance(mapping, Mapping):
            raise _type_error(path, f"a mapping (the {path or 'config'} section)", mapping)
        fields = public_fields(cls)
        names = [f.name for f in fields]
        for key in mapping:
            if not isinstance(key, str):
                raise ConfigError(f"{_where(path)}: keys must be strings, got {_show(key)}")
            if key not in names:
                raise unknown_key_error(key, path, names)
        kwargs: dict[str, Any] = {}
        for f in fields:
            if f.name in mapping:
                kwargs[f.name] = convert(_hints(cls)[f.name], mapping[f.name],
                                         _join(path, f.name))
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"missing required key {_join(path, f.name)!r}")
        try:
            return cls(**kwargs)
        except _FieldError as exc:
            raise ConfigError(f"{_join(path, exc.field)}: {exc.message}") from None

    def to_dict(self) -> dict[str, Any]:
        """Plain, YAML/JSON-serialisable dict of the public fields in declaration order."""
        return {f.name: to_plain(getattr(self, f.name)) for f in public_fields(type(self))}


def _positive(name: str, values: tuple[float, ...] | None) -> None:
    if values is not None and (not values or any(v <= 0 for v in values)):
        raise _FieldError(name, f"entries must be > 0, got {list(values)}")


def _unit(name: str, value: float | None, *, high_open: bool = False,
          low_open: bool = False) -> None:
    if value is None:
        return
    ok = (value > 0 if low_open else value >= 0) and (value < 1 if high_open else value <= 1)
    if not ok:
        lo, hi = "(0" if low_open else "[0", "1)" if high_open else "1]"
        raise _FieldError(name, f"must be in {lo}, {hi}, got {value}")


def _at_least(name: str, value: int, low: int) -> None:
    if value < low:
        raise _FieldError(name, f"must be >= {low}, got {value}")


@dataclass(frozen=True, kw_only=True)
class ModelConfig(Section):
    """Which network to train and how it is built.

    Attributes:
        name: Model registry key (see ``volsr.models.list_models()``), e.g. ``dcsrn_3d``.
        scale: Per-axis upsampling factor (x, y, z) of the voxel grid; > 1 means finer.
            Follows the convention of :mod:`volsr.geometry.grid`.
        in_channels: Number of input image channels.
        args: Free-form keyword arguments for the model constructor (e.g. ``growth: 12``).
            When a config file changes ``model.name`` of a file it inherits from, the
            inherited ``args`` are dropped rather than merged.
    """

    name: str
    scale: tuple[float, ...] = (1.0, 1.0, 4.0)
    in_channels: int = 1
    args: Mapping[str, Any] = field(default_factory=dict, metadata={"name_bound": True})

    def _check(self) -> None:
        if not self.name.strip():
            raise _FieldError("name", "model name is empty")
        if len(self.scale) != 3:
            raise _FieldError("scale", f"expected 3 factors (x, y, z), got {list(self.scale)}")
        _positive("scale", self.scale)
        _at_least("in_channels", self.in_channels, 1)


@dataclass(frozen=True, kw_only=True)
class AugmentConfig(Section):
    """Random training-patch augmentations (applied identically to input and target).

    Attributes:
        flip: Random flips along the in-plane axes.
        rot90: Random 90 degree in-plane rotations (only between axes of equal scale).
    """

    flip: bool = True
    rot90: bool = True


@dataclass(frozen=True, kw_only=True)
class DataConfig(Section):
    """Training data: which volumes, how patches are drawn and degraded.

    Attributes:
        manifest: Path of the dataset manifest. Relative paths are relative to the
            current working directory (not the config file); the folder of the loaded
            config file is recorded in ``ExperimentConfig.config_dir`` for messages.
        mode: ``"3d"`` trains on 3D patches; ``"2d"`` on 2D slices along ``slice_axis``.
        slice_axis: Voxel axis (0, 1 or 2) slices are taken across in 2D mode.
        patch_size: High-resolution (target) patch size in voxels: 3 entries in 3D mode,
            2 (the in-plane size, remaining axes in increasing order) in 2D mode.
        patches_per_volume: Patches drawn from a volume each time it is loaded.
        batch_size: Patches per optimisation step.
        num_workers: DataLoader worker processes (0: load in the main process).
        cache: Keep loaded, normalised volumes in memory.
        normalization: Intensity normalisation spec, e.g. ``{name: percentile, lower: 0.5,
            upper: 99.5}`` or ``{name: ct_window, min: -1000, max: 2000}``.
        degradation: Ordered degradation specs that turn a target patch into the network
            input, e.g. ``[{name: random_thick_slice, factor: [2, 6]}, {name:
            random_noise, sigma: [0, 0.02]}]``. Empty: the engine's default for the scale.
        foreground_sampling: Probability that a patch is centred on foreground.
        augment: Patch augmentations.
        pad_small_volumes: Mirror-pad a training volume smaller than the patch (with a
            warning) instead of refusing it with an error naming the file.
        transforms: Extra MONAI/torchio transforms applied to each training pair, by
            allow-listed name with arguments, e.g. ``[{name: torchio.RandomBiasField,
            coefficients: 0.3}]`` (see ``docs/data.md``).
    """

    manifest: str
    mode: Literal["3d", "2d"] = "3d"
    slice_axis: int = 2
    patch_size: tuple[int, ...] = (32, 32, 32)
    patches_per_volume: int = 8
    batch_size: int = 4
    num_workers: int = 0
    cache: bool = True
    normalization: Spec = field(
        default_factory=lambda: Spec("percentile", {"lower": 0.5, "upper": 99.5}))
    degradation: tuple[Spec, ...] = ()
    foreground_sampling: float = 0.8
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    pad_small_volumes: bool = False
    transforms: tuple[Spec, ...] = ()

    def _check(self) -> None:
        if not self.manifest.strip():
            raise _FieldError("manifest", "manifest path is empty")
        if self.slice_axis not in (0, 1, 2):
            raise _FieldError("slice_axis", f"must be 0, 1 or 2, got {self.slice_axis}")
        need = 3 if self.mode == "3d" else 2
        if len(self.patch_size) != need:
            raise _FieldError("patch_size", f"mode {self.mode!r} needs {need} entries, got "
                                            f"{list(self.patch_size)}")
        _positive("patch_size", self.patch_size)
        _at_least("patches_per_volume", self.patches_per_volume, 1)
        _at_least("batch_size", self.batch_size, 1)
        _at_least("num_workers", self.num_workers, 0)
        _unit("foreground_sampling", self.foreground_sampling)


@dataclass(frozen=True, kw_only=True)
class TrainConfig(Section):
    """Optimisation loop settings.

    Attributes:
        steps: Total optimisation steps.
        loss: Loss terms summed with their weights, e.g. ``[{name: l1}, {name: ssim,
            weight: 0.1}]``.
        optimizer: Optimizer spec; ``lr`` etc. are its kwargs.
        scheduler: Learning-rate scheduler spec (e.g. ``{name: cosine, warmup_steps:
            100}``) or null for a constant rate.
        grad_clip: Max global gradient norm, or null for no clipping.
        amp: Mixed precision (used on CUDA only; ignored on CPU).
        deterministic: Request deterministic kernels (slower).
        val_every: Validate every this many steps (0: never during training).
        checkpoint_every: Save a checkpoint every this many steps (0: only at the end).
        log_every: Log training metrics every this many steps.
        val_patch_size: Sliding-window size (3 entries) for validation; null uses
            ``infer.patch_size``.
        val_overlap: Sliding-window overlap fraction for validation, in [0, 1).
        ema: Decay of an exponential moving average of the weights, or null for none.
    """

    steps: int
    loss: tuple[WeightedSpec, ...] = (WeightedSpec("l1"),)
    optimizer: Spec = field(default_factory=lambda: Spec("adam", {"lr": 1e-4}))
    scheduler: Spec | None = None
    grad_clip: float | None = None
    amp: bool = True
    deterministic: bool = False
    val_every: int = 500
    checkpoint_every: int = 500
    log_every: int = 50
    val_patch_size: tuple[int, ...] | None = None
    val_overlap: float = 0.25
    ema: float | None = None

    def _check(self) -> None:
        _at_least("steps", self.steps, 1)
        if not self.loss:
            raise _FieldError("loss", "needs at least one loss term")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise _FieldError("grad_clip", f"must be > 0 or null, got {self.grad_clip}")
        _at_least("val_every", self.val_every, 0)
        _at_least("checkpoint_every", self.checkpoint_every, 0)
        _at_least("log_every", self.log_every, 1)
        if self.val_patch_size is not None and len(self.val_patch_size) != 3:
            raise _FieldError("val_patch_size", f"expected 3 entries, got "
                                                f"{list(self.val_patch_size)}")
        _positive("val_patch_size", self.val_patch_size)
        _unit("val_overlap", self.val_overlap, high_open=True)
        _unit("ema", self.ema, low_open=True, high_open=True)


@dataclass(frozen=True, kw_only=True)
class InferConfig(Section):
    """Sliding-window inference settings (also the validation default).

    Attributes:
        patch_size: Window size in output voxels (3 entries, also in 2D mode, where the
            network runs slice by slice inside each window); null: whole volume at once.
        overlap: Fraction of overlap between neighbouring windows, in [0, 1).
        blend: How overlapping window outputs are weighted.
        sw_batch_size: Windows per forward pass.
        tta: Average predictions over flips (test-time augmentation).
    """

    patch_size: tuple[int, ...] | None = (64, 64, 64)
    overlap: float = 0.25
    blend: Literal["gaussian", "constant"] = "gaussian"
    sw_batch_size: int = 1
    tta: bool = False

    def _check(self) -> None:
        if self.patch_size is not None and len(self.patch_size) != 3:
            raise _FieldError("patch_size", f"expected 3 entries or null, got "
                                            f"{list(self.patch_size)}")
        _positive("patch_size", self.patch_size)
        _unit("overlap", self.overlap, high_open=True)
        _at_least("sw_batch_size", self.sw_batch_size, 1)


@dataclass(frozen=True, kw_only=True)
class AdversarialConfig(Section):
    """GAN training of the generator (``model``) against a discriminator.

    Present only in adversarial configs (``adversarial:``); without it training is the
    supervised loop. Steps ``1..pretrain_steps`` minimise ``train.loss`` only (the
    PSNR-oriented pre-training); every later step first updates the discriminator
    ``n_critic`` times, then the generator once with ``content_loss`` (default
    ``train.loss``) + ``weight`` x adversarial loss + ``feature_matching`` x the
    discriminator-feature-matching loss. See ``docs/gan.md``.

    Attributes:
        discriminator: Discriminator registry spec, e.g. ``{name: mdcsrn_critic,
            features: 32}`` (``volsr.models.discriminators``); ``spatial_dims`` and
            ``in_channels`` come from ``data.mode`` and ``model.in_channels``.
        loss: Adversarial objective: ``vanilla`` (BCE, non-saturating generator loss),
            ``lsgan``, ``wgan_gp`` (Wasserstein critic with gradient penalty) or
            ``relativistic`` (relativistic average BCE, as in ESRGAN).
        weight: Weight of the adversarial term in the generator loss (> 0).
        gp_weight: Gradient-penalty weight (``wgan_gp`` only; lambda = 10 in the paper).
        feature_matching: Weight of the discriminator-feature-matching term (0: off).
        content_loss: Generator loss terms of the adversarial phase (e.g. perceptual
            loss); null: ``train.loss``.
        n_critic: Discriminator updates per generator update in the adversarial phase.
        pretrain_steps: Generator-only steps before the adversarial phase (0: none);
            must be below ``train.steps``.
        optimizer: The discriminator's optimizer spec.
        scheduler: The discriminator's learning-rate schedule (its clock counts
            discriminator updates; the horizon is ``n_critic`` x the adversarial steps),
            or null for a constant rate.
        grad_clip: Max gradient norm of the discriminator, or null.
        export: Which generator weights ``model/`` holds after an adversarial phase:
            ``latest`` (the end of training) or ``best`` (best validation PSNR, which
            tends to pick the least adversarial weights).
    """

    discriminator: Spec = field(default_factory=lambda: Spec("patch"))
    loss: Literal["vanilla", "lsgan", "wgan_gp", "relativistic"] = "vanilla"
    weight: float = 1e-3
    gp_weight: float = 10.0
    feature_matching: float = 0.0
    content_loss: tuple[WeightedSpec, ...] | None = None
    n_critic: int = 1
    pretrain_steps: int = 0
    optimizer: Spec = field(
        default_factory=lambda: Spec("adam", {"lr": 1e-4, "betas": [0.5, 0.999]}))
    scheduler: Spec | None = None
    grad_clip: float | None = None
    export: Literal["latest", "best"] = "latest"

    def _check(self) -> None:
        if self.weight <= 0:
            raise _FieldError("weight", f"must be > 0, got {self.weight}")
        if self.gp_weight < 0:
            raise _FieldError("gp_weight", f"must be >= 0, got {self.gp_weight}")
        if self.feature_matching < 0:
            raise _FieldError("feature_matching", f"must be >= 0, got {self.feature_matching}")
        if self.content_loss is not None and not self.content_loss:
            raise _FieldError("content_loss", "needs at least one loss term, or null")
        _at_least("n_critic", self.n_critic, 1)
        _at_least("pretrain_steps", self.pretrain_steps, 0)
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise _FieldError("grad_clip", f"must be > 0 or null, got {self.grad_clip}")


@dataclass(frozen=True, kw_only=True)
class ExperimentConfig(Section):
    """A whole training experiment.

    Attributes:
        name: Experiment name; used as a folder name under ``output_dir``.
        seed: Random seed for Python, NumPy and torch (0 <= seed < 2**32).
        output_dir: Folder that receives ``<output_dir>/<name>/`` run folders
            (relative paths are relative to the current working directory).
        model: Network settings.
        data: Training data settings.
        train: Optimisation settings.
        infer: Sliding-window inference settings.
        adversarial: GAN training settings, or null (absent) for supervised training.
        config_dir: Folder of the config file this was loaded from (absolute), or None.
            Bookkeeping only: not a config key, not serialised, ignored by ``==``.
    """

    name: str
    seed: int = 0
    output_dir: str = "runs"
    model: ModelConfig
    data: DataConfig
    train: TrainConfig
    infer: InferConfig = field(default_factory=InferConfig)
    adversarial: AdversarialConfig | None = None
    config_dir: str | None = field(default=None, compare=False, repr=False,
                                   metadata={"internal": True})

    def _check(self) -> None:
        bad = {"", ".", ".."}
        if self.name.strip() in bad or any(c in self.name for c in "/\\"):
            raise _FieldError("name", f"must be a plain folder name, got {self.name!r}")
        if not 0 <= self.seed < 2**32:
            raise _FieldError("seed", f"must be in [0, 2**32), got {self.seed}")
        if not self.output_dir.strip():
            raise _FieldError("output_dir", "output folder is empty")
        adv = self.adversarial
        if adv is not None and adv.pretrain_steps >= self.train.steps:
            raise _FieldError("adversarial.pretrain_steps",
                              f"must be below train.steps ({self.train.steps}) so that an "
                              f"adversarial phase remains, got {adv.pretrain_steps}")

    def to_dict(self) -> dict[str, Any]:
        """As :meth:`Section.to_dict`; ``adversarial`` is left out when it is null, so
        supervised configs serialise exactly as before the section existed."""
        out = super().to_dict()
        if out.get("adversarial") is None:
            out.pop("adversarial", None)
        return out
