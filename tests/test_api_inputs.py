"""``volsr.super_resolve`` accepts a Volume, a path, or an array with its geometry, and
says what to pass otherwise (issue 17 item 12)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import volsr
from volsr.errors import ConfigError
from volsr.io import load_volume


def test_path_array_and_tensor_give_the_volume_result(phantom_path):
    ref = volsr.super_resolve(load_volume(phantom_path), "linear", scale=(1, 1, 2))
    by_path = volsr.super_resolve(phantom_path, "linear", scale=(1, 1, 2))
    by_str = volsr.super_resolve(str(phantom_path), "linear", scale=(1, 1, 2))
    v = load_volume(phantom_path)
    by_array = volsr.super_resolve(v.data[0], "linear", scale=(1, 1, 2), affine=v.affine)
    by_tensor = volsr.super_resolve(torch.from_numpy(v.data), "linear", scale=(1, 1, 2),
                                    affine=v.affine)
    for out in (by_path, by_str, by_array, by_tensor):
        np.testing.assert_array_equal(out.data, ref.data)
        np.testing.assert_allclose(out.affine, ref.affine)


def test_array_with_spacing_is_an_axis_aligned_grid():
    arr = np.random.default_rng(0).random((6, 7, 4)).astype(np.float32)
    out = volsr.super_resolve(arr, "nearest", spacing=(1.0, 1.0, 2.0), isotropic=True)
    assert out.spatial_shape == (6, 7, 8)
    np.testing.assert_allclose(out.spacing, [1.0, 1.0, 1.0])


@pytest.mark.parametrize("obj, kw, match", [
    (np.zeros((6, 6, 6), np.float32), {}, "give exactly one of spacing= or affine="),
    (np.zeros((6, 6, 6), np.float32), {"spacing": 1, "affine": np.eye(4)}, "exactly one"),
    ([[1, 2], [3, 4]], {}, "cannot super-resolve a list"),
    (np.zeros((6, 6), np.float32), {"spacing": 1}, r"shape \(6, 6\)"),
    (np.zeros((6, 6, 6), np.complex64), {"spacing": 1}, "complex64"),
])
def test_wrong_inputs_raise_a_type_error_saying_what_to_pass(obj, kw, match):
    with pytest.raises(TypeError, match=match):
        volsr.super_resolve(obj, "linear", isotropic=True, **kw)


@pytest.mark.parametrize("index", [1.5, True, "0", -1])
def test_volume_index_must_be_a_whole_number(phantom_path, index):
    with pytest.raises(ConfigError, match="volume index must be"):
        volsr.super_resolve(phantom_path, "linear", isotropic=True, volume_index=index)
    with pytest.raises(ConfigError, match="volume index must be"):
        load_volume(phantom_path, volume_index=index)
