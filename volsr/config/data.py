"""The ``data`` section: training volumes, patch sampling, degradation, augmentation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from volsr.config.typed import Section, Spec
from volsr.config.values import FieldError, check_at_least, check_positive, check_unit

__all__ = ["AugmentConfig", "DataConfig"]


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
        slice_axis: Voxel axis (0, 1 or 2) slices are taken across in 2D mode. For
            ``any_factor`` networks on thick slices, cases whose manifest entry lists
            ``hr_axes`` choose their planes from those instead (``docs/data.md``).
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
            raise FieldError("manifest", "manifest path is empty")
        if self.slice_axis not in (0, 1, 2):
            raise FieldError("slice_axis", f"must be 0, 1 or 2, got {self.slice_axis}")
        need = 3 if self.mode == "3d" else 2
        if len(self.patch_size) != need:
            raise FieldError("patch_size", f"mode {self.mode!r} needs {need} entries, got "
                                           f"{list(self.patch_size)}")
        check_positive("patch_size", self.patch_size)
        check_at_least("patches_per_volume", self.patches_per_volume, 1)
        check_at_least("batch_size", self.batch_size, 1)
        check_at_least("num_workers", self.num_workers, 0)
        check_unit("foreground_sampling", self.foreground_sampling)
