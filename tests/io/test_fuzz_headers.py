"""Property-based header fuzzing: random legal and illegal NIfTI headers through the CLI.

Each generated file (``benchmarks/robustness.py``: pixdim 0/negative/NaN/1e30, qform and
sform disagreeing or unset, sheared/singular affines, 1-voxel axes, 2D/4D/5D, scl_slope
0/NaN/inf/negative, NaN intercepts, int8 ... float64 and RGB voxels, headers declaring
more data than the file holds, bad dim[0]/qfac) must end in exactly one of:

* exit 0 and an output on the volsr grid convention (shape, affine, codes, float32, finite);
* one ``volsr: error:`` line naming the input, no traceback, nothing left in the output folder;

and the input file is never modified.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

_SPEC = importlib.util.spec_from_file_location(
    "volsr_bench_robustness", Path(__file__).resolve().parents[2] / "benchmarks" / "robustness.py")
R = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = R
_SPEC.loader.exec_module(R)

FUZZ = settings(max_examples=200, deadline=5000, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def cases(draw, **kw):
    return R.build_case(lambda name, opts: draw(st.sampled_from(list(opts)), label=name), **kw)


def _run(case: dict, command: str = "infer") -> tuple[str, str]:
    with tempfile.TemporaryDirectory(prefix="volsr-fuzz-") as tmp:
        return R.run_case(case, Path(tmp) / "c", command=command)


@pytest.fixture(scope="module", autouse=True)
def _warm_imports():
    """Import the CLI (torch, monai) once, so the first example is not timed with it."""
    import volsr.cli  # noqa: F401
    import volsr.inference.runner  # noqa: F401


@FUZZ
@given(case=cases())
def test_infer_on_fuzzed_headers_is_correct_or_a_clean_error(case):
    kind, why = _run(case)
    event(kind)
    assert kind in ("correct", "error"), f"{why}\nreproduce: {case}"


SSR_SHAPES = ((24, 24, 6), (16, 16, 4), (20, 20, 5), (12, 10, 4), (16, 20, 5))
SSR_SPACINGS = ((1.0, 1.0, 3.0), (0.5, 0.5, 5.0), (0.8, 0.8, 2.4))


@settings(FUZZ, max_examples=12, deadline=20000)
@given(case=cases(shapes=SSR_SHAPES, spacings=SSR_SPACINGS))
def test_ssr_on_fuzzed_anisotropic_headers_is_correct_or_a_clean_error(case):
    kind, why = _run(case, "ssr")
    event(kind)
    assert kind in ("correct", "error"), f"{why}\nreproduce: {case}"


BASE = {"shape": (8, 9, 6), "dtype": "int16", "spacing": (0.9, 1.1, 2.5), "affine": "oblique",
        "sform_code": 2, "qform_code": 1, "qform_disagrees": False, "pixdim_axis": 3,
        "pixdim_value": None, "scl_slope": None, "scl_inter": 0.0, "truncate": None,
        "gz": True, "seed": 0, "qfac": None, "dim0": None, "vox_offset": None}


@pytest.mark.parametrize("change, expected", [
    ({}, "correct"),
    ({"qform_disagrees": True}, "correct"),  # sform wins, output still on the sform grid
    ({"sform_code": 0, "qform_code": 0, "affine": "diag"}, "correct"),  # pixdim only
    ({"affine": "sheared", "dtype": "float64", "gz": False}, "correct"),
    ({"scl_slope": -2.0, "scl_inter": 10.0, "dtype": "uint8"}, "correct"),
    ({"scl_slope": 0.0}, "correct"),  # NIfTI: slope 0 means unscaled
    ({"shape": (8, 9, 6, 1, 1)}, "correct"),
    ({"scl_slope": 2.0, "scl_inter": float("nan")}, "error"),
    ({"pixdim_value": float("nan")}, "error"),
    ({"affine": "singular"}, "error"),
    ({"dtype": "rgb"}, "error"),
    ({"shape": (8, 9, 6, 3)}, "error"),
    ({"shape": (8, 1, 6)}, "error"),
    ({"truncate": "bytes", "gz": False}, "error"),
])
def test_known_headers_have_the_expected_outcome(change, expected):
    kind, why = _run({**BASE, **change})
    assert kind == expected, why


@pytest.mark.parametrize("gz", [True, False])
def test_header_declaring_gigabytes_in_a_tiny_file_fails_before_allocating(gz):
    """Regression: a 1024^3 int16 header on a 1 kB file used to allocate 2 GB (and ~10^13
    voxels was reported as 'too many to load' instead of 'truncated')."""
    import tracemalloc

    tracemalloc.start()
    t0 = time.perf_counter()
    kind, why = _run({**BASE, "truncate": "large", "gz": gz})
    secs = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert kind == "error", why
    assert peak < 200 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    assert secs < 5
    assert "truncated" in why and "declares 1024x1024x1024 int16" in why
    kind, why = _run({**BASE, "truncate": "huge", "gz": gz})
    assert kind == "error" and "truncated" in why, why


def test_ssr_unequal_inplane_spacing_error_names_the_file():
    kind, why = _run({**BASE, "shape": (24, 24, 6), "affine": "diag"}, "ssr")
    assert kind == "error", why


@pytest.mark.parametrize("shape", [(12, 10, 4), (16, 20, 5)])
def test_ssr_nonsquare_inplane_is_a_clean_error_or_works(shape):
    kind, why = _run({**BASE, "shape": shape, "spacing": (1.0, 1.0, 3.0), "affine": "diag"},
                     "ssr")
    assert kind in ("correct", "error"), why


def test_generator_is_deterministic_and_covers_both_outcomes():
    """The benchmark's RNG generator: same seed, same cases; mixes legal and illegal headers."""
    ra, rb = np.random.default_rng(7), np.random.default_rng(7)
    a = [R.random_case(ra) for _ in range(5)]
    b = [R.random_case(rb) for _ in range(5)]
    assert repr(a) == repr(b) and len({repr(c) for c in a}) > 1
    rng = np.random.default_rng(0)
    seen = {_run(R.random_case(rng))[0] for _ in range(30)}
    assert seen == {"correct", "error"}
