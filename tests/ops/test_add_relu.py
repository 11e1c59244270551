"""The residual add fused with its ReLU (add_relu_forward): native against the reference and against
NumPy's own sum and ReLU over many shapes, two to four inputs, NaN and infinities, in-place use and
thread counts.  Bad arguments are in test_dispatch.py's BAD_CALLS."""

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
    shape = draw(st.sampled_from([(0,), (0, 3), (1,), (5, 7), (300, 37), (3, 4, 5, 32), (2, 16, 16, 16),
                                  (70001,), (4, 8, 8, 64), (1, 20000)]))
    dtype = np.dtype(draw(st.sampled_from([np.float32, np.float64])))
    count = draw(st.integers(2, 4))
    return shape, dtype, count, draw(st.booleans()), draw(st.integers(0, 2**32 - 1))


def numpy_add_relu(xs):
    """What Add followed by ReLU computes: the sum left to right, then np.where(s <= 0, 0, s)."""
    total = xs[0].copy()
    for x in xs[1:]:
        total += x
    return np.where(total <= 0, 0, total).astype(total.dtype)


@SETTINGS
@given(case=cases())
def test_add_relu_forward_matches_reference_exactly(run_both, case):
    shape, dtype, count, specials, seed = case
    rng = np.random.default_rng(seed)
    xs = [normal_data(rng, shape, dtype, specials) for _ in range(count)]
    with np.errstate(invalid="ignore", over="ignore"):
        native, reference = run_both("add_relu_forward", xs)
        expected = numpy_add_relu(xs)
    assert native.dtype == reference.dtype == dtype and native.shape == shape
    np.testing.assert_array_equal(native, reference)
    np.testing.assert_array_equal(native, expected)  # NaN (and inf − inf) propagate as in NumPy


def test_non_finite_values_propagate(run_both):
    a = np.array([np.nan, np.inf, -np.inf, np.inf, 1.0, -1.0], np.float32)
    b = np.array([1.0, -np.inf, 1.0, 1.0, np.nan, -np.inf], np.float32)
    with np.errstate(invalid="ignore"):
        for y in run_both("add_relu_forward", [a, b]):
            np.testing.assert_array_equal(y, [np.nan, np.nan, 0.0, np.inf, np.nan, 0.0])


@pytest.mark.parametrize("backend", ["numpy", "native"])
@pytest.mark.parametrize("which", [0, 1, 2])
def test_out_may_be_an_input(native, rng, backend, which):
    xs = [rng.standard_normal((6, 9, 9, 8)).astype(np.float32) for _ in range(3)]
    expected = numpy_add_relu(xs)
    with le4nn.backend(backend):
        y = ops.add_relu_forward(xs, out=xs[which])
    assert y is xs[which]
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_bits_at_any_thread_count(native, rng, dtype):
    xs = [rng.standard_normal((64, 16, 16, 32)).astype(dtype) for _ in range(3)]
    results = []
    for n in (1, 2, 3):
        with le4nn.backend("native"), num_threads(n):
            results.append((ops.add_relu_forward(xs[:2]).tobytes(), ops.add_relu_forward(xs).tobytes()))
    assert results[0] == results[1] == results[2]
