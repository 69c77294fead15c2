"""2D networks on 3D volumes (slice by slice) and on 2D images.

A 2D network sees planes. Which planes of the volume it runs on follows from the
requested factor per voxel axis (``plan.scale``; "changed" means a factor other than 1):

* **in-plane SR** (two changed axes, e.g. ``(2, 2, 1)``): every slice across the
  unchanged axis, the setting 2D networks are trained for (``data.mode: 2d``);
* **through-plane SR** (one changed axis ``a``, e.g. thick slices ``(1, 1, 4)``): the
  two families of planes that contain ``a`` (for ``a = z``: the xz slices and the yz
  slices); the two estimates are fused with ``fusion`` (``"average"``, default, or
  ``"fba"``, Fourier burst accumulation, :mod:`volsr.inference.fusion`);
* **all axes changed** (e.g. isotropic x2): ``"pre"`` networks refine the slices of all
  three orientations and fuse them;
* **no axis changed**: ``"pre"`` networks refine the axial (across-z) slices.

``"pre"`` networks: the volume is first interpolated onto the output grid (B-spline,
volsr grid convention), then each orientation refines it; any per-axis factor works.

``"post"``/``"progressive"`` networks upsample both plane axes by their integer factors
``(s0, s1)``:

* in-plane: the factors must be those of the request exactly (as for 3D post networks);
* through-plane: the network upsamples the plane, then the axis that was not asked for
  is brought back with an area (box) average of each run of ``s`` fine pixels. Under the
  volsr grid convention the ``s`` sub-pixels of input voxel ``i`` are fine voxels
  ``s*i .. s*i + s - 1``, whose centre is input voxel ``i`` again, so the result lands
  exactly on the planned grid. The factor along ``a`` must equal the network's;
* all axes changed: refused (run an in-plane and a through-plane pass, or use a ``"pre"``
  network).

Test-time augmentation (``tta``) uses the 8 symmetries of the square (4 flips x
transpose) in planes whose two axes have the same scale, the 4 flips otherwise.

2D images run as ``(C, H, W, 1)`` volumes with factor ``(s_rows, s_cols, 1)``: the
in-plane case with one slice (:func:`predict_image2d`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from volsr.errors import ConfigError, InputError
from volsr.inference.grid import GridPlan
from volsr.inference.lr_axis import predict_lr_axis
from volsr.inference.protocol import Network
from volsr.inference.settings import FUSIONS, WindowSettings

__all__ = ["FUSIONS", "SlicePlan", "area_downsample", "image_factor", "plan_slices",
           "predict_image2d", "predict_slicewise"]

log = logging.getLogger(__name__)

_TOL = 1e-6


@dataclass(frozen=True)
class SlicePlan:
    """Which slice orientations a 2D network runs on.

    Attributes:
        mode: ``"in_plane"``, ``"through_plane"``, ``"all_axes"`` or ``"identity"``.
        slice_axes: the voxel axes the slices are cut across, one network pass each
            (the plane of a pass is the two other axes, in increasing order).
        target_axis: the upsampled axis of through-plane SR, else None.
    """

    mode: str
    slice_axes: tuple[int, ...]
    target_axis: int | None = None


def plan_slices(scale: Sequence[float]) -> SlicePlan:
    """The orientations for a requested factor per voxel axis (see the module docstring).

    Example:
        >>> plan_slices([2, 2, 1]), plan_slices([1, 1, 3]).slice_axes
        (SlicePlan(mode='in_plane', slice_axes=(2,), target_axis=None), (0, 1))
    """
    s = [float(v) for v in scale]
    if len(s) != 3:
        raise ValueError(f"need 3 factors, got {s}")
    changed = [i for i in range(3) if abs(s[i] - 1.0) > _TOL]
    if len(changed) == 3:
        return SlicePlan("all_axes", (0, 1, 2))
    if len(changed) == 2:
        return SlicePlan("in_plane", (next(i for i in range(3) if i not in changed),))
    if len(changed) == 1:
        a = changed[0]
        return SlicePlan("through_plane", tuple(i for i in range(3) if i != a), a)
    return SlicePlan("identity", (2,))


def area_downsample(arr: np.ndarray, axis: int, factor: int) -> np.ndarray:
    """Mean of each run of ``factor`` samples along ``axis`` (size must be a multiple).

    Example:
        >>> area_downsample(np.arange(6.0)[None], 1, 2).tolist()
        [[0.5, 2.5, 4.5]]
    """
    n = arr.shape[axis]
    if factor < 1 or n % factor:
        raise ValueError(f"size {n} along axis {axis} is not a multiple of {factor}")
    shape = (*arr.shape[:axis], n // factor, factor, *arr.shape[axis + 1:])
    return arr.reshape(shape).mean(axis=axis + 1, dtype=np.float64).astype(np.float32)


def _plane(k: int) -> tuple[int, int]:
    p0, p1 = (i for i in range(3) if i != k)
    return p0, p1


def predict_slicewise(
    model: Network | Sequence[Network],
    arr: np.ndarray,
    plan: GridPlan,
    window: WindowSettings | None = None,
    *,
    name: str | None = None,
    buffer: np.ndarray | None = None,
    thickness: int | None = None,
    flips: bool = False,
    target_last: bool = False,
    fba_p: float = 11.0,
) -> np.ndarray:
    """Apply a 2D network to a normalised volume, slice by slice, onto ``plan.grid``.

    Args:
        model: a 2D :class:`~volsr.models.networks.SRNet` in eval mode on its device, or
            a chain (sequence) of ``"pre"`` ones applied in turn, each refining the fused
            result of the one before (self-SR's anti-aliasing then super-resolution).
        arr: ``(C, X, Y, Z)`` float32 input on the input grid (normalised).
        plan: the output grid (:func:`volsr.inference.plan_output_grid`).
        window: the settings (:class:`~volsr.inference.settings.WindowSettings`):
            ``patch_size`` is the window size in output voxels per volume axis (None:
            whole slices at once), ``fusion`` combines several orientations; the rest as
            for :func:`volsr.inference.sliding.sliding_window_predict`.
        name: the model's name, for messages.
        buffer: for ``"pre"`` networks, a float32 ``(C, *plan.grid.shape)`` array (e.g. a
            memmap) to interpolate into and, with average fusion, to refine in place slab
            by slab; default: a new array.
        thickness: slab thickness (voxels along X) of that; default:
            :func:`~volsr.inference.slabs.model_slab_thickness` (thinner for a memmap).
        flips: ``"pre"`` networks: also run every orientation with its first plane axis
            reversed, as one more estimate to fuse (self-SR's four orientations).
        target_last: through-plane ``"pre"`` runs: make the upsampled axis the second
            axis of every plane (the way self-SR networks are trained) instead of
            keeping the plane's axes in increasing order.
        fba_p: the magnitude exponent of ``"fba"`` fusion.

    Returns:
        ``(C_out, *plan.grid.shape)`` float32 array (still normalised).

    Raises:
        ConfigError: not a 2D network, a chain of non-``"pre"`` networks, a post network
            asked for factors it cannot produce.
        InputError: planes smaller than the network's minimum input size.
    """
    w = window if window is not None else WindowSettings()
    chain = list(model) if isinstance(model, Sequence) else [model]
    first = chain[0]
    name = name or type(first).__name__
    for m in chain:
        if m.spatial_dims != 2:
            raise ConfigError(f"{name} is not a 2D network")
    sp = plan_slices(plan.scale)
    kind = first.upsampling
    if len(chain) > 1 and any(m.upsampling != "pre" for m in chain):
        raise ConfigError(f"{name}: only 'pre' 2D networks can be chained")
    if getattr(first, "any_factor", False) and len(chain) == 1:  # takes the grid itself
        return predict_lr_axis(first, arr, plan, w, name)
    if kind == "pre":
        return _pre_slicewise(chain, arr, plan, sp, w, name, buffer, thickness, flips,
                              target_last, fba_p)
    s = tuple(int(v) for v in first.integer_scale())
    if sp.mode in ("all_axes", "identity"):
        raise ConfigError(
            f"model {name} is a 2D post-upsampling network (x{s[0]}, x{s[1]} in its plane); "
            f"it cannot produce the requested factor {_req(plan)} on every axis (use a 'pre' "
            "2D network, a 3D network, or run in-plane and through-plane passes separately)")
    if sp.mode == "in_plane":
        k = sp.slice_axes[0]
        p0, p1 = _plane(k)
        f3 = [1, 1, 1]
        f3[p0], f3[p1] = s
        _check_post(plan, arr.shape[1:], f3, name, s)
        return _run_plane(first, arr, (p0, p1, k), (1, 1), s[0] == s[1], name, w)
    a = int(sp.target_axis)  # type: ignore[arg-type]
    ests = []
    for k in sp.slice_axes:
        p0, p1 = _plane(k)
        fa = s[0] if a == p0 else s[1]
        f3 = [1, 1, 1]
        f3[a] = fa
        _check_post(plan, arr.shape[1:], f3, name, s)
        other = p1 if a == p0 else p0
        extra = (s[0], 1) if other == p0 else (1, s[1])
        y = _run_plane(first, arr, (p0, p1, k), extra, s[0] == s[1], name, w)
        ests.append(area_downsample(y, 1 + other, s[0] if other == p0 else s[1]))
    log.debug("%s: through-plane along axis %d from planes across %s, box-averaged back",
              name, a, sp.slice_axes)
    return _fuse(ests, w.fusion, fba_p)


def _pre_slicewise(chain: list[Network], arr: np.ndarray, plan: GridPlan, sp: SlicePlan,
                   w: WindowSettings, name: str, buffer: np.ndarray | None,
                   thickness: int | None, flips: bool, target_last: bool,
                   fba_p: float) -> np.ndarray:
    """``"pre"`` networks: B-spline onto ``plan.grid``, then each network of ``chain``
    on the planned orientations, fused (slab by slab in place when that is exact)."""
    from volsr.inference.slabs import (
        interpolate_in_slabs,
        model_slab_thickness,
        receptive_radius,
        refine_in_slabs,
        slab_budget,
    )

    shape = (arr.shape[0], *plan.grid.shape)
    if buffer is not None and tuple(buffer.shape) != shape:
        raise ValueError(f"buffer has shape {buffer.shape}, expected {shape}")
    src = buffer if buffer is not None else np.empty(shape, np.float32)
    if thickness is None:
        thickness = max(model_slab_thickness(m, shape, max_bytes=slab_budget(src))
                        for m in chain)
    interpolate_in_slabs(arr, plan.step, plan.offset, src, thickness=thickness)
    planes = {}
    for k in sp.slice_axes:
        p0, p1 = _plane(k)
        if target_last and sp.target_axis == p0:
            p0, p1 = p1, p0
        same = abs(plan.scale[p0] - plan.scale[p1]) <= _TOL * max(plan.scale[p0], 1.0)
        planes[k] = (p0, p1, k), same
    variants = (False, True) if flips else (False,)

    def refine(vol: np.ndarray) -> np.ndarray:
        for net in chain:
            ests = [_run_plane(net, vol, planes[k][0], (1, 1), planes[k][1], name, w, flip=f)
                    for k in sp.slice_axes for f in variants]
            vol = _fuse(ests, w.fusion, fba_p)
        return vol

    log.debug("%s: %s slice-wise over axes %s", name, sp.mode, sp.slice_axes)
    c_out = int(chain[-1].out_channels)
    several = len(sp.slice_axes) * len(variants) > 1
    if w.fusion == "fba" and several or c_out != src.shape[0]:
        return refine(src)  # FBA weighs global 3D frequencies: one pass
    # averaged planes are a local operator: slab by slab along X, in place
    radius = sum(receptive_radius(m) for m in chain)
    return refine_in_slabs(refine, src, radius=radius, axis=1, thickness=thickness)


def _req(plan: GridPlan) -> tuple[float, ...]:
    return tuple(float(f"{v:.4g}") for v in plan.scale)


def _check_post(plan: GridPlan, shape: Sequence[int], f3: Sequence[int], name: str,
                s: tuple[int, ...]) -> None:
    f = np.asarray(f3, dtype=float)
    want = tuple(int(n * v) for n, v in zip(shape, f3))
    ok = (np.allclose(plan.step * f, 1.0, atol=1e-6)
          and np.allclose(plan.offset, (1.0 / f - 1.0) / 2.0, atol=1e-6)
          and want == tuple(plan.grid.shape))
    if not ok:
        raise ConfigError(
            f"model {name} is a 2D network that upsamples its plane by {tuple(s)}; the "
            f"requested factor is {_req(plan)}: it produces {tuple(int(v) for v in f3)} on "
            "the input grid scaled by the volsr convention (scale/model mismatch; use --scale "
            "with the model's factor or a 'pre' model)")


def _run_plane(model: Network, vol: np.ndarray, axes: tuple[int, int, int],
               extra: tuple[int, int], transpose: bool, name: str, w: WindowSettings, *,
               flip: bool = False) -> np.ndarray:
    """The network on every slice across axis ``axes[2]`` of ``vol`` ``(C, X, Y, Z)``,
    its planes' rows along ``axes[0]`` and columns along ``axes[1]``.

    ``extra`` multiplies the window size along the two plane axes (output voxels that
    are averaged away afterwards); ``flip`` reverses the rows before the network and
    its output after it.
    """
    import torch

    from volsr.inference.sliding import sliding_window_predict

    p0, p1, k = axes
    need = tuple(int(v) for v in model.min_input_size())
    have = (vol.shape[1 + p0], vol.shape[1 + p1])
    if have[0] < need[0] or have[1] < need[1]:
        raise InputError(f"slices are smaller than the model's receptive field: {name} needs "
                         f"at least {list(need)} pixels, the slices across axis {k} have "
                         f"{list(have)}")
    order = (0, 1 + p0, 1 + p1, 1 + k)
    view = vol.transpose(order)
    x = torch.from_numpy(np.ascontiguousarray(view[:, ::-1] if flip else view))[None]
    patch = w.patch_size
    if patch is not None:
        patch = (patch[p0] * extra[0], patch[p1] * extra[1], patch[k])
    y = sliding_window_predict(model, x, replace(w, patch_size=patch), transpose=transpose)
    del x
    res = y[0].numpy()
    if flip:
        res = res[:, ::-1]
    back = np.argsort(order)
    return np.ascontiguousarray(res.transpose(back), dtype=np.float32)


def _fuse(estimates: list[np.ndarray], fusion: str, p: float = 11.0) -> np.ndarray:
    if len(estimates) == 1:
        return estimates[0]
    from volsr.inference.fusion import average_fusion, fourier_burst_fusion

    if fusion == "average":
        return average_fusion(estimates)
    return np.stack([fourier_burst_fusion([e[c] for e in estimates], p)
                     for c in range(estimates[0].shape[0])])


def predict_image2d(predictor: Any, image: Any, *,
                    scale: float | Sequence[float] | None = None,
                    max_memory: int | None = None) -> Any:
    """Super-resolve an :class:`~volsr.io.image2d.Image2D` with a volume predictor.

    Args:
        predictor: a :class:`~volsr.inference.protocol.VolumePredictor` of a 2D network
            or an interpolation baseline (``spatial_dims`` None). 3D networks are refused.
        image: the image.
        scale: one factor (both axes) or ``(rows, columns)``; default: the 2D network's
            own factor.
        max_memory: bytes of RAM the run may use (see the predictor's ``run``).

    Returns:
        A new Image2D (spacing divided and DPI multiplied by the factor, same metadata).

    Raises:
        ConfigError: a model for volumes (a 3D network, or a thick-slice model whose
            ``model.json`` says ``trained_range.kind: through_plane``), no factor for an
            interpolation baseline, bad factors.
    """
    from volsr.inference.trained_range import refuse_image_for_volume_model

    name = predictor.model_name
    refuse_image_for_volume_model(predictor, name)
    if scale is None:
        if predictor.native_scale is None:
            raise ConfigError("give the factor (--scale S) to super-resolve a 2D image with "
                              "an interpolation baseline")
        scale = tuple(float(v) for v in predictor.native_scale)[:2]
    s = np.atleast_1d(np.asarray(scale, dtype=float))
    s = np.repeat(s, 2) if s.size == 1 else s
    if s.shape != (2,) or not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ConfigError(f"a 2D image needs one factor or two (rows, columns), got "
                          f"{np.atleast_1d(scale).tolist()}")
    out = predictor.run(image.to_volume(), scale=(float(s[0]), float(s[1]), 1.0),
                        max_memory=max_memory)
    return image.with_volume(out)


def image_factor(image: Any, *, scale: Sequence[float] | None = None,
                 target_spacing: Sequence[float] | None = None, isotropic: bool = False,
                 reference: Any = None) -> tuple[float, float] | None:
    """The ``(rows, columns)`` factor of a 2D image from ``volsr infer``'s grid options.

    ``scale``: ``(S,)``, ``(S, S, S)`` (what ``--scale S`` gives) or ``(S_rows, S_cols[,
    1])``; ``target_spacing`` likewise in mm (needs a known pixel size); ``isotropic``
    makes the pixels square; ``reference`` does not apply to images. None: no option
    (the model's own factor).

    Example:
        >>> from volsr.io.image2d import Image2D
        >>> img = Image2D(np.zeros((1, 4, 4), np.float32), spacing=(0.2, 0.1))
        >>> image_factor(img, scale=(2, 2, 2)), image_factor(img, isotropic=True)
        ((2.0, 2.0), (2.0, 1.0))
    """
    if reference is not None:
        raise ConfigError("--reference applies to volumes, not 2D images; use --scale")
    vals = scale if scale is not None else target_spacing
    if vals is not None:
        what = "--scale" if scale is not None else "--target-spacing"
        v = [float(x) for x in np.atleast_1d(np.asarray(vals, dtype=float))]
        if len(v) == 3 and (abs(v[2] - 1.0) < 1e-9 or v[0] == v[1] == v[2]):
            v = v[:2]
        v = v * 2 if len(v) == 1 else v
        if len(v) != 2 or min(v) <= 0 or not all(np.isfinite(v)):
            raise ConfigError(f"a 2D image takes {what} S (both axes) or {what} S_rows S_cols 1"
                              f", got {np.atleast_1d(np.asarray(vals)).tolist()}")
        if scale is not None:
            return v[0], v[1]
        if not image.spacing_known:
            raise ConfigError("the image has no pixel size (no DPI or DICOM pixel spacing); "
                              "use --scale instead of --target-spacing")
        return float(image.spacing[0] / v[0]), float(image.spacing[1] / v[1])
    if isotropic:
        sp = np.asarray(image.spacing, dtype=float)
        return float(sp[0] / sp.min()), float(sp[1] / sp.min())
    return None
