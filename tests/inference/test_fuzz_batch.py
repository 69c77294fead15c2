"""Folder-level fuzzing in the default suite: a few seeded random folders (good, broken,
colliding and user-owned files; reruns; leftovers of killed runs) through ``volsr infer``,
with no output lost or mislabelled (``benchmarks/fuzz_batch.py`` runs more, with real
kills)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

_SPEC = importlib.util.spec_from_file_location(
    "volsr_bench_fuzz_batch", Path(__file__).resolve().parents[2] / "benchmarks" / "fuzz_batch.py")
F = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = F
_SPEC.loader.exec_module(F)


@pytest.mark.parametrize("seed", range(6))
def test_random_folders_lose_and_mislabel_nothing(tmp_path, seed):
    total = F.fuzz_case(np.random.default_rng(seed), tmp_path / f"case{seed}")
    breaches = {k: total[k] for k in F.BREACHES if total[k]}
    assert not breaches, breaches
    assert total["steps"] >= 3


def test_the_fuzzer_sees_a_user_file_replaced(tmp_path):
    """The check itself: a user file at an output name that changes without --overwrite
    is counted (so a zero above means something)."""
    case = F.make_case(np.random.default_rng(3), tmp_path / "c")
    o = case.output_of(case.good[0])
    case.foreign[o] = b"the user's bytes"
    o.write_bytes(b"something else")
    bad = F.check(case, {}, rc=0, err="", killed=False, overwrite=False, final=False)
    assert bad["foreign"] == 1
