"""Synthetic anatomical phantoms with known ground truth, defined in world coordinates.

The head phantom mimics a T1-weighted brain: scalp, skull, cerebrospinal fluid, a folded
cortical ribbon (gyri and sulci), white matter, ventricles, deep grey nuclei and a few
small lesions. The body phantom mimics an abdominal CT in Hounsfield units. Both are
evaluated as continuous functions of position (mm) and averaged over sub-voxel samples,
so any grid (anisotropic, oblique) sees the same object without aliasing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from volsr.io.volume import Volume, VolumeMeta

PhantomKind = Literal["head", "body"]


def phantom_volume(
    shape: Sequence[int] = (128, 144, 128),
    spacing: Sequence[float] = (1.25, 1.25, 1.25),
    *,
    kind: PhantomKind = "head",
    affine: np.ndarray | None = None,
    supersample: int = 2,
    noise: float = 0.0,
    seed: int = 0,
) -> Volume:
    """Render a phantom on a grid.

    Args:
        shape: voxels per axis.
        spacing: voxel size in mm (ignored when ``affine`` is given).
        kind: ``"head"`` (T1-like, values about 0..1) or ``"body"`` (CT, HU).
        affine: voxel-to-world matrix; default is axis-aligned RAS centred on the origin.
        supersample: sub-samples per axis averaged into each voxel (anti-aliasing).
        noise: standard deviation of added Gaussian noise (head) as a fraction of the
            white-matter intensity, or in HU (body).
        seed: random seed for the folding pattern, lesions and noise.

    Returns:
        A float32 :class:`~volsr.io.Volume` of shape ``(1, *shape)``.

    Example:
        >>> v = phantom_volume((32, 36, 32), (5.0, 5.0, 5.0))
        >>> v.spatial_shape, float(v.data.max()) <= 1.0
        ((32, 36, 32), True)
    """
    shape = tuple(int(n) for n in shape)
    if len(shape) != 3 or min(shape) < 2:
        raise ValueError(f"shape must be 3 sizes >= 2, got {shape}")
    if affine is None:
        sp = np.asarray(spacing, dtype=np.float64)
        affine = np.diag([*sp, 1.0])
        affine[:3, 3] = -sp * (np.asarray(shape) - 1) / 2.0
    affine = np.asarray(affine, dtype=np.float64)
    rng = np.random.default_rng(seed)
    params = _head_params(rng) if kind == "head" else _body_params(rng)
    fn = _head if kind == "head" else _body
    out = np.zeros(shape, dtype=np.float64)
    k = max(1, int(supersample))
    offsets = (np.arange(k) + 0.5) / k - 0.5
    ii, jj = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    for z in range(shape[2]):  # slab by slab keeps memory small for big grids
        acc = np.zeros(shape[:2])
        for dx in offsets:
            for dy in offsets:
                for dz in offsets:
                    vox = np.stack([ii + dx, jj + dy, np.full_like(ii, z, dtype=float) + dz])
                    world = np.tensordot(affine[:3, :3], vox, axes=1) + affine[:3, 3, None, None]
                    acc += fn(world, params)
        out[..., z] = acc / k**3
    if noise > 0:
        scale = 1.0 if kind == "head" else 1.0
        out += rng.normal(0.0, noise * scale, size=shape)
    meta = VolumeMeta(format=None, source_dtype="float32")
    return Volume(out.astype(np.float32)[None], affine, meta)


def _head_params(rng: np.random.Generator) -> dict:
    folds = [(int(rng.integers(7, 17)), int(rng.integers(5, 13)), rng.uniform(0, 2 * np.pi),
              rng.uniform(0, 2 * np.pi)) for _ in range(8)]
    lesions = [(rng.uniform(-30, 30, 3) * [1, 1, 0.6] + [0, 5, 10], rng.uniform(2.0, 5.0))
               for _ in range(4)]
    return {"folds": folds, "lesions": lesions}


def _ellipsoid(world: np.ndarray, centre: Sequence[float], radii: Sequence[float]) -> np.ndarray:
    """Normalised radius r (r < 1 inside) of an axis-aligned ellipsoid."""
    d = [(world[i] - centre[i]) / radii[i] for i in range(3)]
    return np.sqrt(d[0] ** 2 + d[1] ** 2 + d[2] ** 2)


def _head(world: np.ndarray, p: dict) -> np.ndarray:
    x, y, z = world
    r_head = _ellipsoid(world, (0, 0, 0), (72, 90, 80))
    r_brain = _ellipsoid(world, (0, 5, 8), (62, 78, 64))
    theta = np.arctan2(y, x)
    phi = np.arctan2(z - 8, np.hypot(x, y))
    fold = sum(np.sin(a * theta + ph1) * np.sin(b * phi + ph2) for a, b, ph1, ph2 in p["folds"])
    fold = fold / np.sqrt(len(p["folds"]) / 4)
    val = np.zeros(x.shape)
    val = np.where(r_head < 1.0, 0.55, val)                # scalp / fat
    val = np.where(r_head < 0.93, 0.08, val)               # skull (dark on T1)
    val = np.where(r_brain < 1.02, 0.12, val)              # CSF
    cortex_outer = 1.0 + 0.03 * fold
    val = np.where(r_brain < cortex_outer, 0.52, val)      # grey matter
    sulcus = (fold < -0.45) & (r_brain > 0.86 + 0.03 * fold)
    val = np.where(sulcus & (r_brain < cortex_outer), 0.12, val)  # CSF in sulci
    wm_edge = 0.86 + 0.1 * fold
    val = np.where(r_brain < wm_edge, 0.85, val)           # white matter
    for sx in (-1, 1):                                     # lateral ventricles
        r_v = _ellipsoid(world, (sx * 9, 8, 14), (6, 24, 9))
        val = np.where(r_v < 1.0, 0.14, val)
        r_n = _ellipsoid(world, (sx * 20, 0, 2), (7, 11, 9))  # deep grey nuclei
        val = np.where(r_n < 1.0, 0.63, val)
    for centre, radius in p["lesions"]:                    # small hyperintense lesions
        r_l = _ellipsoid(world, centre, (radius, radius, radius))
        val = np.where((r_l < 1.0) & (r_brain < 0.85), 1.0, val)
    return val


def _body_params(rng: np.random.Generator) -> dict:
    vessels = [(rng.uniform(-60, 60, 2), rng.uniform(3, 8)) for _ in range(5)]
    return {"vessels": vessels}


def _body(world: np.ndarray, p: dict) -> np.ndarray:
    x, y, z = world
    val = np.full(x.shape, -1000.0)                        # air
    r_body = np.hypot(x / 160, y / 110)
    val = np.where(r_body < 1.0, -100.0, val)              # subcutaneous fat
    val = np.where(r_body < 0.9, 40.0, val)                # muscle / soft tissue
    for sx in (-1, 1):                                     # lungs (upper part of the FOV)
        r_l = np.hypot((x - sx * 70) / 55, (y + 10) / 60)
        val = np.where((r_l < 1.0) & (z > 20 + 10 * np.sin(x / 30)), -820.0, val)
    r_liver = _ellipsoid(world, (-55, 0, -10), (65, 55, 45))
    val = np.where(r_liver < 1.0, 60.0, val)               # liver
    r_kid = [_ellipsoid(world, (sx * 60, 55, -40), (20, 22, 35)) for sx in (-1, 1)]
    val = np.where((r_kid[0] < 1.0) | (r_kid[1] < 1.0), 150.0, val)  # enhancing kidneys
    r_spine = np.hypot(x / 18, (y - 65) / 18)
    val = np.where(r_spine < 1.0, 700.0, val)              # vertebral bone
    val = np.where(r_spine < 0.6, 250.0, val)              # marrow
    for (cx, cy), rad in p["vessels"]:                     # contrast-filled vessels
        val = np.where(np.hypot(x - cx, y - cy) < rad, 300.0, val)
    return val
