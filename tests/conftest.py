"""Shared fixtures: small synthetic volumes with anisotropic and oblique affines."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

# tests/fixtures holds fixtures (and the script that made them with older code): never collected,
# also not by --doctest-modules.
collect_ignore = ["fixtures"]

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def oblique_affine(spacing=(0.9, 1.1, 3.0), angles=(0.3, -0.2, 0.15),
                   origin=(-40.0, 25.0, 12.5)) -> np.ndarray:
    """A rotated (oblique), anisotropic, shear-free voxel-to-world matrix."""
    ax, ay, az = angles
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    a = np.eye(4)
    a[:3, :3] = rz @ ry @ rx @ np.diag(spacing)
    a[:3, 3] = origin
    return a


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def small_volume(rng):
    """A (1, 20, 18, 12) float32 Volume with an oblique anisotropic affine."""
    from volsr.io import Volume

    data = rng.normal(100.0, 20.0, size=(1, 20, 18, 12)).astype(np.float32)
    return Volume(data, oblique_affine())


@pytest.fixture
def phantom_path(tmp_path):
    """A small head phantom (48x52x40 at 2.5 mm) written as NIfTI."""
    from volsr.io import save_volume
    from volsr.phantom import phantom_volume

    p = tmp_path / "phantom.nii.gz"
    save_volume(phantom_volume((48, 52, 40), (4.0, 4.0, 4.0), supersample=1), p)
    return p


@pytest.fixture(autouse=True)
def _reset_volsr_logging():
    """CLI tests install a stderr handler on the 'volsr' logger; remove it after each test."""
    yield
    logger = logging.getLogger("volsr")
    for h in list(logger.handlers):
        logger.removeHandler(h)
    logger.propagate = True
    logger.setLevel(logging.NOTSET)


def write_nifti(path: Path, data: np.ndarray, affine: np.ndarray, **header) -> Path:
    """Write raw data with nibabel (bypassing volsr) and optional header fields."""
    import nibabel as nib

    img = nib.Nifti1Image(data, affine)
    for key, value in header.items():
        img.header[key] = value
    nib.save(img, str(path))
    return path


def write_phantom_manifest(folder: Path, shape=(32, 32, 32), spacing: float = 6.0) -> Path:
    """Three head phantoms in ``folder`` and a manifest: two for training, one for validation."""
    import json

    from volsr.io import save_volume
    from volsr.phantom import phantom_volume

    for i in range(3):
        save_volume(phantom_volume(shape, (spacing,) * 3, supersample=1, seed=i),
                    folder / f"head{i}.nii.gz")
    m = {"volsr_manifest": 1,
         "training": [{"id": "a", "hr": "head0.nii.gz"}, {"id": "b", "hr": "head1.nii.gz"}],
         "validation": [{"id": "c", "hr": "head2.nii.gz"}]}
    (folder / "manifest.json").write_text(json.dumps(m))
    return folder / "manifest.json"


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Tiny test tensors run fastest on one thread (and do not fight other processes)."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def one_thread():
    """Run a test with one torch thread: tiny tensors are faster single-threaded and
    immune to a busy machine (modules opt in with ``pytestmark``)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def torchrun_volsr(args: list[str], *, cwd: Path, timeout: float):
    """``torchrun --standalone --nproc_per_node 2 -m volsr ARGS`` in a clean environment
    (no inherited rank variables, one thread per process); the completed process."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env["OMP_NUM_THREADS"] = "1"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", "-m", "volsr", *args]
    return subprocess.run(cmd, check=False, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="session")
def lraxis_weights(tmp_path_factory) -> Path:
    """A tiny untrained ``lraxis_2d`` weights folder (8 features, 1 block, x4 nominal):
    starts close to B-spline, so a short adaptation has something to learn."""
    import torch

    from volsr.checkpoint import save_weights
    from volsr.models import create_model

    torch.manual_seed(0)
    net = create_model("lraxis_2d", scale=[4.0, 1.0], features=8, num_blocks=1, subpixel=4)
    folder = tmp_path_factory.mktemp("lraxis") / "weights"
    save_weights(net, folder, model_name="lraxis_2d", scale=[1.0, 1.0, 4.0],
                 normalization={"name": "percentile", "lower": 0.5, "upper": 99.5},
                 inference={"overlap": 0.0})
    return folder


def thick_phantom(shape=(64, 64, 64), spacing=1.5, factor=4, profile="gaussian"):
    """A head phantom on an isotropic grid and its thick-slice version along z:
    ``(truth, lr)`` Volumes."""
    from volsr.degrade import ThickSlice
    from volsr.phantom import phantom_volume

    truth = phantom_volume(shape, (spacing,) * 3, supersample=1)
    return truth, ThickSlice(axis=2, factor=factor, profile=profile)(truth)
