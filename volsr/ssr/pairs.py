"""Training pairs for self-super-resolution, made from the scan's own in-plane slices.

The in-plane slices of a thick-slice scan are high-resolution along both of their axes.
Degrading them along ONE in-plane axis exactly as the scanner degraded the slice
direction gives pairs whose low-resolution half looks like a through-plane slice
(SMORE, Zhao et al., IEEE TMI 2021). For in-plane axis ``a`` with pixel size
``p_a``, factor ``f_a = slice_spacing / p_a`` and profile ``h`` (thickness in pixels
``thickness / p_a``):

* ``blurred = H_1 x``: the profile applied at full sampling (no aliasing);
* ``aliased = U D x``: the thick-slice acquisition ``D`` (profile averaged around LR
  slice centres ``(o + 1/2) f_a - 1/2``, the grid convention) followed by cubic B-spline
  interpolation ``U`` back onto the pixel grid, exactly what the pipeline does to the
  real slice direction before the networks see it.

Tasks are named by their pairs (input ``_to_`` target):

* ``"aliased_to_blurred"`` (SAA, self anti-aliasing): remove aliasing, keep the blur;
* ``"blurred_to_sharp"``: deblur an alias-free image (SSR after SAA, textbook pairing);
* ``"aliased_to_sharp"``: SSR alone (``--no-saa``); after SAA, the pipeline maps these
  inputs through the trained SAA network first (:meth:`PairSampler.map_inputs`) and
  records the task as ``"antialiased_to_sharp"`` (the default cascade).

Weights folders written before these names record ``"saa"``, ``"ssr_after_saa"``,
``"ssr"`` and ``"ssr_on_saa_output"``; :func:`task_name` reads both.

Every operation runs along in-plane axes only, so in-plane slice ``k`` of every pair
array depends on in-plane slice ``k`` of the scan alone: the through-plane direction
never leaks into training. Patches are laid out with the degraded axis LAST (2D image
``(H, W)``, ``W`` degraded); degrading along each of the two in-plane axes in turn is the
0/90 degree augmentation, random flips of ``H`` and ``W`` the rest; optional extra
in-plane rotation angles resample the slices first (cubic B-spline).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from volsr.models.interpolation import Interpolator
from volsr.resample import apply_along_axis
from volsr.ssr.header import Acquisition
from volsr.ssr.profile import SliceProfile

__all__ = ["CASCADE_TASK", "LEGACY_TASKS", "PairSampler", "TASKS", "blur_along",
           "build_sampler", "task_name", "thick_slice_along", "upsample_along"]

log = logging.getLogger(__name__)

TASKS = ("aliased_to_blurred", "blurred_to_sharp", "aliased_to_sharp")
CASCADE_TASK = "antialiased_to_sharp"  # aliased_to_sharp with inputs mapped through SAA
LEGACY_TASKS = {"saa": "aliased_to_blurred", "ssr_after_saa": "blurred_to_sharp",
                "ssr": "aliased_to_sharp", "ssr_on_saa_output": CASCADE_TASK}


def task_name(name: str) -> str:
    """The pair name of a task, also for the names older volsr versions recorded.

    >>> task_name("ssr_on_saa_output"), task_name("blurred_to_sharp")
    ('antialiased_to_sharp', 'blurred_to_sharp')
    """
    name = LEGACY_TASKS.get(name, name)
    if name not in (*TASKS, CASCADE_TASK):
        raise ValueError(f"unknown self-SR task {name!r}; tasks: {', '.join(TASKS)}")
    return name


def thick_slice_along(arr: np.ndarray, axis: int, *, factor: float, profile: SliceProfile,
                      pixel_mm: float) -> np.ndarray:
    """Acquire thick slices along ``axis``: ``round(n / factor)`` samples (float32)."""
    n = arr.shape[axis]
    return apply_along_axis(arr, profile.matrix(n, 1.0 / factor, pixel_mm=pixel_mm), axis)


def blur_along(arr: np.ndarray, axis: int, *, profile: SliceProfile, pixel_mm: float
               ) -> np.ndarray:
    """The slice profile applied along ``axis`` at full sampling (same shape)."""
    n = arr.shape[axis]
    return apply_along_axis(arr, profile.matrix(n, 1.0, pixel_mm=pixel_mm), axis)


def upsample_along(lr: np.ndarray, axis: int, *, factor: float, n_out: int) -> np.ndarray:
    """Cubic B-spline from thick-slice samples back to ``n_out`` pixels (grid convention).

    Pixel ``o`` sits at LR index ``(o + 1/2)/factor - 1/2``. ``lr`` is 3D.
    """
    step, offset, shape = np.ones(3), np.zeros(3), list(lr.shape)
    step[axis] = 1.0 / factor
    offset[axis] = (1.0 / factor - 1.0) / 2.0
    shape[axis] = int(n_out)
    return Interpolator("bspline").resample_linear(lr, step, offset, shape)


@dataclass
class _Stack:
    """Slices ``(K, H, W)`` of one (angle, degraded axis) with W the degraded axis."""

    inputs: np.ndarray
    targets: np.ndarray
    centres: np.ndarray | None  # flat indices of foreground pixels, or None (uniform)


class PairSampler:
    """Draws random 2D training patches ``(B, 1, h, w)`` from precomputed pair stacks.

    Args:
        stacks: the pair stacks (one per rotation angle and degraded in-plane axis).
        patch_size: patch side in pixels (clipped to the slice size).
        fg_fraction: probability that a patch is centred on a foreground pixel.
        flips: random flips of both image axes.
        info: per-stack description (angle, degraded voxel axis), for provenance.
        groups: per-stack group number (e.g. the slice profile it was made with). With
            several groups, patch ``b`` of a batch comes from group ``b mod G`` (each group
            an equal share of every batch), from a random stack of it; with one group
            (the default) sampling is as it always was.
    """

    def __init__(self, stacks: Sequence[_Stack], *, patch_size: int, fg_fraction: float = 0.8,
                 flips: bool = True, info: Sequence[dict] = (),
                 groups: Sequence[int] | None = None) -> None:
        if not stacks:
            raise ValueError("PairSampler needs at least one stack")
        if groups is not None and len(groups) != len(stacks):
            raise ValueError(f"{len(groups)} group numbers for {len(stacks)} stacks")
        self.stacks = list(stacks)
        labels = [0] * len(self.stacks) if groups is None else [int(g) for g in groups]
        self.groups = [[i for i, g in enumerate(labels) if g == u] for u in sorted(set(labels))]
        self.fg_fraction = float(fg_fraction)
        self.flips = bool(flips)
        self.info = list(info)
        # stacks differ in shape (each in-plane axis is degraded in turn), so the patch
        # must fit the smallest of them
        h = min(st.inputs.shape[1] for st in self.stacks)
        w = min(st.inputs.shape[2] for st in self.stacks)
        self.patch = (min(int(patch_size), h), min(int(patch_size), w))

    def map_inputs(self, fn: Callable[[np.ndarray], np.ndarray]) -> None:
        """Replace every stack's inputs ``(K, H, W)`` by ``fn(inputs)`` (same shape).

        Used to train the SSR network on what the trained SAA network makes of the
        aliased inputs, i.e. on what it will see when applied.
        """
        for st in self.stacks:
            new = np.asarray(fn(st.inputs), np.float32)
            if new.shape != st.inputs.shape:
                raise ValueError(f"map_inputs changed the stack shape {st.inputs.shape} -> "
                                 f"{new.shape}")
            st.inputs = np.ascontiguousarray(new)

    def sample(self, rng: np.random.Generator, batch: int, *, return_meta: bool = False
               ) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, list[dict]]:
        """``(inputs, targets)`` float32 ``(batch, 1, h, w)`` (plus per-patch metadata)."""
        ph, pw = self.patch
        xs = np.empty((batch, 1, ph, pw), np.float32)
        ys = np.empty_like(xs)
        meta = []
        for b in range(batch):
            s = self._pick(rng, b)
            st = self.stacks[s]
            k_n, h, w = st.inputs.shape
            if st.centres is not None and rng.random() < self.fg_fraction:
                flat = int(st.centres[int(rng.integers(st.centres.size))])
                k, ci, cj = np.unravel_index(flat, (k_n, h, w))
                i = int(np.clip(ci - ph // 2, 0, h - ph))
                j = int(np.clip(cj - pw // 2, 0, w - pw))
            else:
                k = int(rng.integers(k_n))
                i = int(rng.integers(h - ph + 1))
                j = int(rng.integers(w - pw + 1))
            x = st.inputs[k, i:i + ph, j:j + pw]
            y = st.targets[k, i:i + ph, j:j + pw]
            fh = fw = False
            if self.flips:
                fh, fw = bool(rng.random() < 0.5), bool(rng.random() < 0.5)
                if fh:
                    x, y = x[::-1], y[::-1]
                if fw:
                    x, y = x[:, ::-1], y[:, ::-1]
            xs[b, 0], ys[b, 0] = x, y
            if return_meta:
                meta.append({"stack": s, "slice": int(k), "i": i, "j": j, "flip_h": fh,
                             "flip_w": fw})
        return (xs, ys, meta) if return_meta else (xs, ys)


    def _pick(self, rng: np.random.Generator, b: int) -> int:
        """The stack of patch ``b``: a random one (of group ``b mod G`` with G groups)."""
        if len(self.groups) == 1:
            return int(rng.integers(len(self.stacks)))
        group = self.groups[b % len(self.groups)]
        return group[int(rng.integers(len(group)))]


def _rotate_slices(arr: np.ndarray, angle: float, through: int, order: int) -> np.ndarray:
    from scipy import ndimage

    moved = np.moveaxis(arr, through, 0)
    out = np.stack([ndimage.rotate(s, angle, reshape=False, order=order, mode="mirror")
                    for s in moved])
    return np.moveaxis(out, 0, through).astype(arr.dtype, copy=False)


def _layout(arr: np.ndarray, order: tuple[int, int, int]) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(arr, order, (0, 1, 2)))


def _foreground(hr: np.ndarray) -> np.ndarray | None:
    from volsr.errors import InputError
    from volsr.metrics import foreground_mask

    try:
        return foreground_mask(hr)
    except (InputError, ValueError) as exc:
        log.info("no foreground mask (%s): patches are drawn uniformly", exc)
        return None


def build_sampler(hr: np.ndarray, acq: Acquisition,
                  profile: SliceProfile | Sequence[SliceProfile], task: str, *,
                  patch_size: int = 48, angles: Sequence[float] = (0.0,),
                  fg_fraction: float = 0.8, flips: bool = True) -> PairSampler:
    """Precompute the pair stacks of ``task`` from a normalised scan.

    Args:
        hr: the (normalised) scan, 3D ``(X, Y, Z)``, on its own grid.
        acq: its thick-slice geometry (:func:`volsr.ssr.header.analyze_header`).
        profile: the slice profile, or several: pairs of each (one group of stacks per
            profile, an equal share of every batch; see :class:`PairSampler`).
        task: ``"aliased_to_blurred"``, ``"blurred_to_sharp"`` or ``"aliased_to_sharp"``
            (see the module docstring; the older names are accepted).
        patch_size: patch side in pixels.
        angles: in-plane rotations in degrees applied to the slices before degrading
            (0 keeps the slices exact; others resample them with a cubic B-spline).
        fg_fraction: share of patches centred in the Otsu foreground.
        flips: random horizontal/vertical flips.
    """
    task = task_name(task)
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if hr.ndim != 3:
        raise ValueError(f"expected a 3D array, got shape {hr.shape}")
    hr = np.asarray(hr, dtype=np.float32)
    mask0 = _foreground(hr) if fg_fraction > 0 else None
    profiles = [profile] if isinstance(profile, SliceProfile) else list(profile)
    if not profiles:
        raise ValueError("build_sampler needs at least one slice profile")
    stacks, info, groups = [], [], []
    for g, prof in enumerate(profiles):
        st, inf = _stacks(hr, mask0, acq, prof, task, angles)
        stacks += st
        info += [{**i, "profile": prof.to_dict()} if len(profiles) > 1 else i for i in inf]
        groups += [g] * len(st)
    log.debug("%s pairs: %d stacks of %s", task, len(stacks), stacks[0].inputs.shape)
    return PairSampler(stacks, patch_size=patch_size, fg_fraction=fg_fraction, flips=flips,
                       info=info, groups=groups)


def _stacks(hr: np.ndarray, mask0: np.ndarray | None, acq: Acquisition, profile: SliceProfile,
            task: str, angles: Sequence[float]) -> tuple[list[_Stack], list[dict]]:
    """The pair stacks of one profile: per angle, per degraded in-plane axis."""
    t = acq.axis
    stacks, info = [], []
    for angle in angles:
        src, mask = hr, mask0
        if angle % 360.0:
            src = _rotate_slices(hr, float(angle), t, order=3)
            if mask is not None:
                mask = _rotate_slices(mask.astype(np.uint8), float(angle), t, order=0) > 0
        for a in acq.inplane_axes:
            other = acq.inplane_axes[0] if a == acq.inplane_axes[1] else acq.inplane_axes[1]
            pixel = float(acq.spacing[a])
            factor = acq.slice_spacing / pixel
            if task == "blurred_to_sharp":
                inp, tgt = blur_along(src, a, profile=profile, pixel_mm=pixel), src
            else:
                lr = thick_slice_along(src, a, factor=factor, profile=profile, pixel_mm=pixel)
                inp = upsample_along(lr, a, factor=factor, n_out=src.shape[a])
                tgt = src if task == "aliased_to_sharp" else blur_along(src, a, profile=profile,
                                                           pixel_mm=pixel)
            order = (t, other, a)  # (slices, H, W = the degraded axis)
            centres = None
            if mask is not None and mask.any():
                centres = np.flatnonzero(_layout(mask, order)).astype(np.int64)
            stacks.append(_Stack(_layout(inp, order), _layout(tgt, order), centres))
            info.append({"angle_deg": float(angle), "degraded_axis": int(a),
                         "factor": float(factor)})
    return stacks, info
