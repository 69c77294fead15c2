"""Compare two :class:`~volsr.io.Volume` objects in world coordinates.

A super-resolved volume is only as good as where its voxels are. :func:`evaluate`
therefore never compares arrays index by index unless both volumes share the same grid
(shape and affine); otherwise the candidate is resampled onto the truth grid through
the world (RAS+ mm) coordinates given by both affines, so a candidate on a finer grid
or another orientation is scored fairly and a candidate with a wrong affine is not.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from scipy import ndimage

from volsr.errors import ConfigError, InputError
from volsr.io.volume import Volume
from volsr.metrics.core import hfen, nrmse, psnr, ssim
from volsr.metrics.mask import foreground_mask

logger = logging.getLogger(__name__)

METRICS = ("psnr", "ssim", "nrmse", "hfen")
GRID_ATOL_MM = 1e-6
FOV_TOL = 1e-6
"""Slack (in candidate voxels) on the half-voxel field-of-view boundary."""


@dataclass
class EvalResult:
    """Metrics of one candidate against one truth volume.

    Attributes:
        psnr: dB (``inf`` when identical on the mask), or None when not requested.
        ssim: mean 3D SSIM over the mask, or None.
        nrmse: RMSE / data_range over the mask, or None.
        hfen: high-frequency error norm over the mask, or None.
        data_range: the intensity range used by PSNR, SSIM and NRMSE.
        mask_voxels: number of truth voxels the metrics were averaged over (after
            removing those outside the candidate's field of view).
        resampled: True when the candidate was resampled onto the truth grid.
        outside_fov_voxels: truth voxels more than half a candidate voxel outside the
            candidate's field of view (excluded from every metric).
    """

    psnr: float | None
    ssim: float | None
    nrmse: float | None
    hfen: float | None
    data_range: float
    mask_voxels: int
    resampled: bool
    outside_fov_voxels: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict: non-finite floats become the strings ``"inf"``,
        ``"-inf"`` or ``"nan"`` (JSON has no infinity; an identical candidate has
        ``psnr == "inf"``)."""
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if isinstance(value, float) and not math.isfinite(value):
                value = "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
            out[key] = value
        return out


def _voxel_map(truth: Volume, candidate: Volume) -> np.ndarray:
    """4x4 map from truth voxel indices to candidate voxel indices (through world mm)."""
    try:
        inv = np.linalg.inv(candidate.affine)
    except np.linalg.LinAlgError:
        raise InputError("candidate affine is singular; cannot map it to world space") from None
    return inv @ truth.affine


def _inside_fov(m: np.ndarray, truth_shape: Sequence[int], cand_shape: Sequence[int]) -> np.ndarray:
    """Truth voxels whose centre maps within half a voxel of the candidate grid."""
    idx = [np.arange(n, dtype=np.float64) for n in truth_shape]
    inside = np.ones(tuple(truth_shape), dtype=bool)
    for i, n in enumerate(cand_shape):
        coord = (
            m[i, 0] * idx[0][:, None, None]
            + m[i, 1] * idx[1][None, :, None]
            + m[i, 2] * idx[2][None, None, :]
            + m[i, 3]
        )
        inside &= (coord >= -0.5 - FOV_TOL) & (coord <= n - 0.5 + FOV_TOL)
    return inside


def _resample(
    data: np.ndarray, m: np.ndarray, shape: Sequence[int], *, order: int, mode: str
) -> np.ndarray:
    return ndimage.affine_transform(
        data, m[:3, :3], offset=m[:3, 3], output_shape=tuple(shape),
        order=order, mode=mode, cval=0.0,
    )


def _channel(vol: Volume, channel: int, name: str) -> np.ndarray:
    if not -vol.channels <= channel < vol.channels:
        raise InputError(f"{name} has {vol.channels} channel(s); channel {channel} does not exist")
    return np.asarray(vol.data[channel], dtype=np.float64)


def _resolve_mask(
    mask: np.ndarray | Volume | str | None, truth: Volume, t: np.ndarray
) -> np.ndarray:
    shape = t.shape
    if mask is None:
        return np.ones(shape, dtype=bool)
    if isinstance(mask, str):
        if mask != "auto":
            raise ConfigError(f"mask must be an array, a Volume, 'auto' or None, got {mask!r}")
        return foreground_mask(t)
    if isinstance(mask, Volume):
        mdata = np.asarray(mask.data[0])
        if mask.grid.same_as(truth.grid, atol=GRID_ATOL_MM):
            return mdata != 0
        logger.info("mask resampled (nearest neighbour) onto the truth grid")
        m = _voxel_map(truth, mask)
        out = _resample((mdata != 0).astype(np.float32), m, shape, order=0, mode="constant")
        return out > 0.5
    arr = np.asarray(mask)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.shape != shape:
        raise InputError(f"mask shape {arr.shape} differs from the truth grid {shape}")
    return arr.astype(bool)


def evaluate(
    truth: Volume,
    candidate: Volume,
    *,
    data_range: float | None = None,
    mask: np.ndarray | Volume | Literal["auto"] | None = None,
    metrics: Sequence[str] = METRICS,
    order: int = 3,
    channel: int = 0,
) -> EvalResult:
    """Score ``candidate`` against ``truth`` on the truth grid, in world coordinates.

    When the grids differ (shape, or any affine entry by more than 1e-6 mm) the
    candidate is resampled onto the truth grid with the voxel map
    ``inv(candidate.affine) @ truth.affine`` (:func:`scipy.ndimage.affine_transform`,
    spline ``order`` 3 by default, mode ``"nearest"``) and a warning is logged. Truth
    voxels whose centres lie more than half a candidate voxel outside the candidate's
    field of view are excluded from every metric (counted in ``outside_fov_voxels``);
    SSIM and HFEN filters still run on the whole resampled array.

    Args:
        truth: reference volume; its grid is the evaluation grid.
        candidate: volume to score, on any grid that overlaps the truth in world space.
        data_range: intensity range for PSNR/SSIM/NRMSE. Default: ``truth.max() -
            truth.min()`` over the whole truth volume (the evaluated channel), not just
            the mask.
        mask: voxels to evaluate: a boolean array of the truth's spatial shape, a
            Volume (non-zero = inside; resampled nearest-neighbour in world
            coordinates when not on the truth grid), ``"auto"`` for
            :func:`~volsr.metrics.mask.foreground_mask` of the truth, or None (all).
        metrics: any of ``"psnr"``, ``"ssim"``, ``"nrmse"``, ``"hfen"``; the others
            are None in the result.
        order: spline order used to resample the candidate (0-5).
        channel: which channel of multi-channel volumes to evaluate.

    Returns:
        An :class:`EvalResult`.

    Raises:
        InputError: NaN/inf voxels, no overlap in world space, an empty mask or a
            constant truth without ``data_range``.
        ConfigError: unknown metric name or bad ``order``.
    """
    wanted = tuple(metrics)
    unknown = [name for name in wanted if name not in METRICS]
    if unknown:
        raise ConfigError(f"unknown metric(s) {unknown}; choose from {list(METRICS)}")
    if not isinstance(order, int) or not 0 <= order <= 5:
        raise ConfigError(f"order must be an integer spline order 0-5, got {order!r}")
    t = _channel(truth, channel, "truth")
    c = _channel(candidate, channel, "candidate")
    if not np.all(np.isfinite(t)):
        raise InputError("truth contains NaN or infinite voxels")
    if not np.all(np.isfinite(c)):
        raise InputError("candidate contains NaN or infinite voxels")

    resampled = not candidate.grid.same_as(truth.grid, atol=GRID_ATOL_MM)
    inside = np.ones(t.shape, dtype=bool)
    if resampled:
        m = _voxel_map(truth, candidate)
        inside = _inside_fov(m, t.shape, c.shape)
        if not inside.any():
            raise InputError(
                f"candidate ({candidate.describe()}) and truth ({truth.describe()}) do not "
                "overlap in world space; check both affines"
            )
        logger.warning("candidate resampled onto the truth grid (spline order %d)", order)
        c = _resample(c, m, t.shape, order=order, mode="nearest")
    outside = int(inside.size - np.count_nonzero(inside))
    if outside:
        logger.warning("%d truth voxels lie outside the candidate's field of view "
                       "and are excluded", outside)

    if data_range is None:
        data_range = float(t.max() - t.min())
        if data_range <= 0:
            raise InputError("truth volume is constant; pass data_range explicitly")
    elif not math.isfinite(float(data_range)) or float(data_range) <= 0:
        raise ConfigError(f"data_range must be a positive number, got {data_range!r}")
    data_range = float(data_range)

    sel = _resolve_mask(mask, truth, t) & inside
    n_sel = int(np.count_nonzero(sel))
    if n_sel == 0:
        raise InputError("the evaluation mask is empty (after removing voxels outside "
                         "the candidate's field of view)")

    values: dict[str, float | None] = dict.fromkeys(METRICS)
    if "psnr" in wanted:
        values["psnr"] = psnr(t, c, data_range=data_range, mask=sel)
    if "ssim" in wanted:
        values["ssim"] = ssim(t, c, data_range=data_range, mask=sel)
    if "nrmse" in wanted:
        values["nrmse"] = nrmse(t, c, mask=sel, normalization="range", data_range=data_range)
    if "hfen" in wanted:
        values["hfen"] = hfen(t, c, mask=sel)
    return EvalResult(
        psnr=values["psnr"], ssim=values["ssim"], nrmse=values["nrmse"], hfen=values["hfen"],
        data_range=data_range, mask_voxels=n_sel, resampled=resampled,
        outside_fov_voxels=outside,
    )
