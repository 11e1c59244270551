"""Fused bias + ReLU (bias_relu_forward) and the ReLU and sigmoid backward with the bias gradient
(relu_backward_bias, sigmoid_backward_bias): native against the reference over many shapes, NaN,
in-place use and thread counts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import le4nn
from le4nn import ops
from tests.ops.helpers import hypothesis_settings, normal_data, num_threads

SETTINGS = hypothesis_settings(200)


@st.composite
def cases(draw):
    shape = draw(st.sampled_from([(0, 3), (1, 1), (5, 7), (300, 37), (100, 128), (3, 4, 5, 32),
                                  (2, 28, 28, 9), (70000, 1), (1, 20000)]))
    dtype = np.dtype(draw(st.sampled_from([np.float32, np.float64])))
    return shape, dtype, draw(st.booleans()), draw(st.integers(0, 2**32 - 1))


@SETTINGS
@given(case=cases())
def test_bias_relu_forward_matches_reference_exactly(run_both, case):
    shape, dtype, specials, seed = case
    rng = np.random.default_rng(seed)
    x = normal_data(rng, shape, dtype, specials)
    bias = rng.standard_normal(shape[-1]).astype(dtype)
    with np.errstate(invalid="ignore"):
        native, reference = run_both("bias_relu_forward", x, bias)
        expected = np.where(x + bias <= 0, 0, x + bias)
    np.testing.assert_array_equal(native, reference)
    np.testing.assert_array_equal(native, expected)


@SETTINGS
@given(case=cases())
def test_relu_backward_bias_matches_reference(run_both, case):
    shape, dtype, specials, seed = case
    rng = np.random.default_rng(seed)
    y = normal_data(rng, shape, dtype, specials)
    dout = rng.standard_normal(shape).astype(dtype)
    (dx_n, db_n), (dx_r, db_r) = run_both("relu_backward_bias", dout, y)
    np.testing.assert_array_equal(dx_n, dx_r)
    np.testing.assert_array_equal(dx_n, np.where(y <= 0, 0, dout))  # NaN in y passes the gradient
    expected = np.where(y <= 0, 0, dout).astype(np.float64).reshape(-1, shape[-1]).sum(axis=0)
    rows = max(int(np.prod(shape[:-1])), 1)
    rtol = 1e-12 if dtype == np.float64 else 1e-6 * rows**0.5 * 4
    np.testing.assert_allclose(db_n, expected, rtol=rtol, atol=rtol * max(np.abs(expected).max(initial=0), 1))
    np.testing.assert_allclose(db_r, expected, rtol=rtol, atol=rtol * max(np.abs(expected).max(initial=0), 1))


@SETTINGS
@given(case=cases())
def test_sigmoid_backward_bias_matches_reference(run_both, case):
    """dx has the bits of sigmoid_backward (both backends); the bias gradient is dx summed over rows."""
    shape, dtype, specials, seed = case
    rng = np.random.default_rng(seed)
    y = 1 / (1 + np.exp(-normal_data(rng, shape, dtype, specials)))
    dout = rng.standard_normal(shape).astype(dtype)
    (dx_n, db_n), (dx_r, db_r) = run_both("sigmoid_backward_bias", dout, y)
    with le4nn.backend("native"):
        separate = ops.sigmoid_backward(dout, y)
    np.testing.assert_array_equal(dx_n, separate)
    np.testing.assert_array_equal(dx_n, dx_r)
    expected = dx_r.astype(np.float64).reshape(-1, shape[-1]).sum(axis=0)
    rows = max(int(np.prod(shape[:-1])), 1)
    rtol = 1e-12 if dtype == np.float64 else 1e-6 * rows**0.5 * 4
    scale = max(np.nanmax(np.abs(expected), initial=0), 1)
    np.testing.assert_allclose(db_n, expected, rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(db_r, expected, rtol=rtol, atol=rtol * scale)


def test_in_place(rng):
    x = rng.standard_normal((50, 30)).astype(np.float32)
    bias = rng.standard_normal(30).astype(np.float32)
    expected = np.maximum(x + bias, 0)
    assert ops.bias_relu_forward(x, bias, out=x) is x
    np.testing.assert_array_equal(x, expected)
    dout = rng.standard_normal(x.shape).astype(np.float32)
    expected_dx = np.where(x > 0, dout, 0)
    dx, db = ops.relu_backward_bias(dout, x, out=dout)
    assert dx is dout
    np.testing.assert_array_equal(dx, expected_dx)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bias_gradient_does_not_depend_on_the_thread_count(native, rng, dtype):
    y = rng.standard_normal((100, 28, 28, 32)).astype(dtype)
    dout = rng.standard_normal(y.shape).astype(dtype)
    results = []
    for n in (1, 2, 3):
        with le4nn.backend("native"), num_threads(n):
            dx, db = ops.relu_backward_bias(dout, y)
            sx, sb = ops.sigmoid_backward_bias(dout, y)
            results.append((dx.tobytes(), db.tobytes(), ops.bias_relu_forward(y, db).tobytes(),
                            sx.tobytes(), sb.tobytes()))
    assert results[0] == results[1] == results[2]
