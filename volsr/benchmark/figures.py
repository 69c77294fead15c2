"""Comparison figures (matplotlib, Agg backend, headless).

:func:`comparison_figure` draws one PNG for a list of volumes: per volume a row with the
three orthogonal slices through one point, a zoomed crop around an edge, and (when the
first volume is the truth) the absolute-error map against it; below, a line profile of
every volume across that edge. Volumes on other grids than the first one are resampled
onto the first one's grid in world coordinates (through both affines; nearest
neighbour by default, so a thick-slice input shows its real slices).

The point is the strongest edge along ``axis`` (usually the thick-slice axis) in the
central half of the first volume, found on its lightly smoothed intensity gradient.

matplotlib is an optional dependency (``pip install volsr[report]``); it is imported
only here, inside the functions.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from volsr.errors import ConfigError, InputError
from volsr.io.volume import Volume

__all__ = ["comparison_figure", "find_edge", "on_grid", "require_matplotlib"]

log = logging.getLogger(__name__)


def require_matplotlib() -> Any:
    """Import matplotlib with the headless Agg backend, or raise a clear error."""
    try:
        import matplotlib
    except ImportError:
        raise ConfigError("figures need matplotlib, a volsr dependency that is missing here: "
                          "pip install matplotlib") from None
    if matplotlib.get_backend().lower() != "agg":
        try:
            matplotlib.use("Agg", force=True)
        except Exception:  # noqa: BLE001 - an interactive session may refuse; drawing still works
            pass
    import matplotlib.pyplot as plt

    return plt


def on_grid(vol: Volume, ref: Volume, *, order: int = 0) -> np.ndarray:
    """Channel 0 of ``vol`` sampled on ``ref``'s grid through both affines (world
    coordinates); outside ``vol``'s field of view: NaN."""
    from scipy import ndimage

    data = np.asarray(vol.data[0], dtype=np.float32)
    if vol.grid.same_as(ref.grid, atol=1e-6):
        return data
    try:
        m = np.linalg.inv(vol.affine) @ ref.affine
    except np.linalg.LinAlgError:
        raise InputError("singular affine; cannot place the volume in world space") from None
    out = ndimage.affine_transform(data, m[:3, :3], offset=m[:3, 3],
                                   output_shape=ref.spatial_shape, order=order,
                                   mode="nearest")
    idx = np.indices(ref.spatial_shape, dtype=np.float64).reshape(3, -1)
    src = m[:3, :3] @ idx + m[:3, 3:4]
    inside = np.all((src >= -0.5) & (src <= np.asarray(data.shape)[:, None] - 0.5), axis=0)
    out = out.astype(np.float32)
    out.reshape(-1)[~inside] = np.nan
    if not inside.any():
        raise InputError(f"{vol.describe()} does not overlap {ref.describe()} in world space")
    return out


def find_edge(arr: np.ndarray, axis: int) -> tuple[int, int, int]:
    """Voxel index of the strongest edge along ``axis`` in the central half of ``arr``."""
    from scipy import ndimage

    a = np.nan_to_num(np.asarray(arr, dtype=np.float32))
    g = np.abs(np.gradient(ndimage.gaussian_filter(a, 1.0), axis=axis))
    sl = tuple(slice(n // 4, max(n // 4 + 1, 3 * n // 4)) for n in a.shape)
    sub = g[sl]
    if not np.any(sub > 0):
        return tuple(n // 2 for n in a.shape)  # type: ignore[return-value]
    k = np.unravel_index(int(np.argmax(sub)), sub.shape)
    return tuple(int(k[i] + sl[i].start) for i in range(3))  # type: ignore[return-value]


def _window(arr: np.ndarray) -> tuple[float, float]:
    finite = arr[np.isfinite(arr)]
    lo, hi = (np.percentile(finite, [0.5, 99.5]) if finite.size else (0.0, 1.0))
    return float(lo), float(hi if hi > lo else lo + 1.0)


def _plane(arr: np.ndarray, fixed: int, point: Sequence[int]) -> np.ndarray:
    idx: list[Any] = [slice(None)] * 3
    idx[fixed] = point[fixed]
    return arr[tuple(idx)]


def comparison_figure(
    volumes: Sequence[tuple[str, Volume]],
    path: str | Path,
    *,
    truth: bool = False,
    axis: int = 2,
    point: Sequence[int] | None = None,
    order: int = 0,
    title: str | None = None,
    dpi: int = 80,
    window: str = "shared",
) -> Path:
    """Write the comparison PNG of ``volumes`` (``[(label, volume), ...]``).

    Args:
        volumes: the first one sets the grid (and is the truth when ``truth``).
        path: PNG to write (parent folders are created).
        truth: the first volume is the ground truth: add |volume - truth| maps.
        axis: voxel axis of the line profile and of the zoomed plane (the degraded one).
        point: voxel index (on the first grid) the slices go through; default: the
            strongest edge along ``axis`` (:func:`find_edge`).
        order: spline order of the resampling onto the first grid (0: nearest).
        title: figure title.
        dpi: resolution.
        window: ``"shared"``: every row uses the first volume's 0.5-99.5 percentile
            intensity window (right for SR comparisons); ``"each"``: each row its own
            (for different contrasts). Outside a volume's field of view: blank.

    Returns:
        The path written.
    """
    if not volumes:
        raise ConfigError("no volumes to draw")
    if axis not in (0, 1, 2):
        raise ConfigError(f"axis must be 0, 1 or 2, got {axis}")
    if window not in ("shared", "each"):
        raise ConfigError(f"window must be shared or each, got {window!r}")
    plt = require_matplotlib()
    from matplotlib.patches import Rectangle

    ref = volumes[0][1]
    arrays = [(label, on_grid(v, ref, order=order)) for label, v in volumes]
    base = arrays[0][1]
    shape = base.shape
    pt = tuple(int(np.clip(p, 0, n - 1)) for p, n in zip(point, shape)) if point is not None \
        else find_edge(base, axis)
    windows = [_window(base)] * len(arrays) if window == "shared" else \
        [_window(arr) for _, arr in arrays]
    sp = ref.spacing
    other = [i for i in range(3) if i != axis]
    zoom_fixed = other[-1]  # the plane holding ``axis`` and the first other axis
    shown = [i for i in range(3) if i != zoom_fixed]
    half = [max(6, shape[i] // 8) for i in range(3)]
    box = {i: (max(0, pt[i] - half[i]), min(shape[i], pt[i] + half[i] + 1)) for i in shown}

    errs: dict[str, np.ndarray] = {}
    if truth:
        for label, arr in arrays[1:]:
            errs[label] = np.abs(_plane(arr, zoom_fixed, pt) - _plane(base, zoom_fixed, pt))
        vals = np.concatenate([e[np.isfinite(e)].ravel() for e in errs.values()]) \
            if errs else np.zeros(1)
        emax = float(np.percentile(vals, 99.5)) if vals.size else 1.0
        emax = emax if emax > 0 else 1.0
    ncol = 5 if truth else 4
    nrow = len(arrays)
    fig = plt.figure(figsize=(3.0 * ncol, 2.6 * nrow + 2.6), dpi=dpi)
    gs = fig.add_gridspec(nrow + 1, ncol, height_ratios=[1.0] * nrow + [1.1])
    names = {0: "i", 1: "j", 2: "k"}
    for r, (label, arr) in enumerate(arrays):
        lo, hi = windows[r]
        for c, fixed in enumerate((2, 1, 0)):
            ax = fig.add_subplot(gs[r, c])
            pl = _plane(arr, fixed, pt)
            a, b = [i for i in range(3) if i != fixed]
            ax.imshow(pl.T, cmap="gray", origin="lower", vmin=lo, vmax=hi,
                      aspect=float(sp[b] / sp[a]), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"{names[fixed]} = {pt[fixed]}", fontsize=9)
            if c == 0:
                ax.set_ylabel(label, fontsize=10)
            if fixed == zoom_fixed:
                (a0, a1), (b0, b1) = box[a], box[b]
                ax.add_patch(Rectangle((a0 - 0.5, b0 - 0.5), a1 - a0, b1 - b0, fill=False,
                                       edgecolor="yellow", linewidth=0.8))
                ax.plot([pt[a]], [pt[b]], marker="+", color="cyan", markersize=6)
        ax = fig.add_subplot(gs[r, 3])
        pl = _plane(arr, zoom_fixed, pt)
        a, b = shown
        crop = pl[box[a][0]:box[a][1], box[b][0]:box[b][1]]
        ax.imshow(crop.T, cmap="gray", origin="lower", vmin=lo, vmax=hi,
                  aspect=float(sp[b] / sp[a]), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        if r == 0:
            ax.set_title("zoom", fontsize=9)
        if truth:
            ax = fig.add_subplot(gs[r, 4])
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"|x - {arrays[0][0]}|  (0..{emax:.3g})", fontsize=9)
                ax.axis("off")
            else:
                ax.imshow(errs[label].T, cmap="inferno", origin="lower", vmin=0, vmax=emax,
                          aspect=float(sp[b] / sp[a]), interpolation="nearest")
    ax = fig.add_subplot(gs[nrow, :])
    n = shape[axis]
    length = max(16, n // 3)
    s0, s1 = max(0, pt[axis] - length // 2), min(n, pt[axis] + length // 2 + 1)
    mm = (np.arange(s0, s1) - pt[axis]) * float(sp[axis])
    for label, arr in arrays:
        idx: list[Any] = list(pt)
        idx[axis] = slice(s0, s1)
        style = {"color": "black", "linewidth": 2.0} if (truth and label == arrays[0][0]) \
            else {"linewidth": 1.2}
        ax.plot(mm, arr[tuple(idx)], label=label, **style)
    ax.set_xlabel(f"mm along voxel axis {names[axis]} through {pt} (0 = edge)")
    ax.set_ylabel("intensity")
    ax.set_title("line profile across the edge", fontsize=9)
    ax.legend(fontsize=8, ncol=min(6, len(arrays)))
    ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=11)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", bbox_inches="tight")
    plt.close(fig)
    log.info("wrote %s", out)
    return out
