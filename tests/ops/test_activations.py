"""Sigmoid and ReLU kernels (forward and backward): the native kernels against the NumPy reference,
extreme values, NaN, numerical gradients, PyTorch, in-place use and ``out=`` handling.

Tests that compare the two backends use ``run_both``; the others run on the backend in force
(``LE4NN_BACKEND``), so the whole file is meaningful under both."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from le4nn import ops
from tests.ops.helpers import DTYPES, RTOL, assert_close_elementwise, hypothesis_settings, numerical_gradient

SETTINGS = hypothesis_settings(150)
EXTREMES = [0.0, -0.0, 1e-30, -1e-30, 1.0, -1.0, 20.0, -20.0, 88.0, -88.0, 89.0, -89.0, 104.0, -104.0,
            200.0, -200.0, 709.0, -709.0, 746.0, -746.0, 1e4, -1e4, 1e30, -1e30, np.inf, -np.inf]


def make_data(rng, shape, dtype, scale=1.0, specials=False):
    x = np.asarray(rng.standard_normal(shape) * scale, dtype=dtype)
    if specials and x.size:
        mask = np.asarray(rng.random(shape) < 0.2)
        x[mask] = rng.choice(np.array(EXTREMES + [np.nan]), size=int(mask.sum())).astype(dtype)
    return x


@st.composite
def elementwise_cases(draw):
    """Any shape with 0–4 axes (empty ones too), either dtype, values at scales 1e-3 to 1e3, and half
    of the time sprinkled with ±1e4, ±inf, NaN and other extremes."""
    shape = tuple(draw(st.lists(st.integers(0, 9), min_size=0, max_size=4)))
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    scale = draw(st.sampled_from([1e-3, 1.0, 10.0, 1e3]))
    specials = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    return shape, dtype, scale, specials, seed


# --- native against the reference ----------------------------------------------------------------


@SETTINGS
@given(case=elementwise_cases())
def test_sigmoid_forward_matches_reference(run_both, case):
    shape, dtype, scale, specials, seed = case
    x = make_data(np.random.default_rng(seed), shape, dtype, scale, specials)
    native, reference = run_both("sigmoid_forward", x)
    assert_close_elementwise(native, reference)


@SETTINGS
@given(case=elementwise_cases())
def test_relu_forward_matches_reference_exactly(run_both, case):
    shape, dtype, scale, specials, seed = case
    x = make_data(np.random.default_rng(seed), shape, dtype, scale, specials)
    native, reference = run_both("relu_forward", x)
    np.testing.assert_array_equal(native, reference)
    assert native.dtype == dtype
    # +0.0, never -0.0, where the input is <= 0, as in the reference
    np.testing.assert_array_equal(np.signbit(native), np.signbit(reference))


@SETTINGS
@given(case=elementwise_cases())
def test_backward_kernels_match_reference(run_both, case):
    shape, dtype, scale, specials, seed = case
    rng = np.random.default_rng(seed)
    dout = make_data(rng, shape, dtype, scale, specials)
    y_sigmoid = ops.reference.sigmoid_forward(make_data(rng, shape, dtype, scale, specials))
    with np.errstate(invalid="ignore"):  # the reference warns about inf * 0 (the kernel does not)
        native, reference = run_both("sigmoid_backward", dout, y_sigmoid)
    assert_close_elementwise(native, reference)
    y_relu = ops.reference.relu_forward(make_data(rng, shape, dtype, scale, specials))
    y_relu.ravel()[::3] = 0  # exact zeros, where the derivative is 0
    native, reference = run_both("relu_backward", dout, y_relu)
    np.testing.assert_array_equal(native, reference)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [1, 7, 31_999, 32_768, 100_003, 250_000])
def test_large_arrays_match_reference(run_both, rng, dtype, size):
    """Sizes around the single-thread limit and above it, where the kernels split the work."""
    x = make_data(rng, (size,), dtype, scale=5.0, specials=True)
    dout = make_data(rng, (size,), dtype)
    assert_close_elementwise(*run_both("sigmoid_forward", x))
    np.testing.assert_array_equal(*run_both("relu_forward", x))
    y = ops.reference.sigmoid_forward(x)
    assert_close_elementwise(*run_both("sigmoid_backward", dout, y))
    np.testing.assert_array_equal(*run_both("relu_backward", dout, x))


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_is_accurate(rng, dtype):
    """Against the exact sigmoid computed in extended precision, over the whole useful range."""
    x = np.concatenate([np.linspace(-120, 120, 200_001), rng.standard_normal(10_000) * 30])
    if dtype == np.float64:
        x = np.concatenate([x, np.linspace(-745, 745, 100_001)])
    x = x.astype(dtype)
    xl = x.astype(np.longdouble)
    exact = np.where(xl >= 0, 1 / (1 + np.exp(-xl)), np.exp(xl) / (1 + np.exp(xl)))
    y = ops.sigmoid_forward(x).astype(np.longdouble)
    normal = exact >= np.finfo(dtype).tiny
    rel = np.abs(y[normal] - exact[normal]) / exact[normal]
    assert rel.max() <= {np.float32: 3e-7, np.float64: 1e-15}[dtype]
    # below the normal range: within a few units of the smallest subnormal spacing
    assert np.all(np.abs(y[~normal] - exact[~normal]) <= 2 * np.finfo(dtype).smallest_subnormal)


# --- extreme values and NaN -------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_extremes_give_0_and_1_without_warnings(dtype):
    x = np.array([1e4, -1e4, np.inf, -np.inf, 1e30, -1e30, np.finfo(dtype).max, -np.finfo(dtype).max],
                 dtype=dtype)
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        y = ops.sigmoid_forward(x)
        dx = ops.sigmoid_backward(np.ones_like(x), y)
    np.testing.assert_array_equal(y, np.array([1, 0, 1, 0, 1, 0, 1, 0], dtype=dtype))
    np.testing.assert_array_equal(dx, np.zeros_like(x))
    assert ops.sigmoid_forward(np.array([0.0, -0.0], dtype=dtype)).tolist() == [0.5, 0.5]


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_is_symmetric_and_monotone(dtype):
    half = np.linspace(0, 50, 5_001).astype(dtype)
    x = np.concatenate([-half[::-1], half])
    y = ops.sigmoid_forward(x)
    assert np.all(np.diff(y) >= 0)
    np.testing.assert_allclose(y + y[::-1], 1, rtol=0, atol=2 * np.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_propagates(dtype):
    x = np.array([np.nan, 1.0, -1.0, np.nan], dtype=dtype)
    nan_at = [True, False, False, True]
    np.testing.assert_array_equal(np.isnan(ops.sigmoid_forward(x)), nan_at)
    np.testing.assert_array_equal(np.isnan(ops.relu_forward(x)), nan_at)
    ones = np.ones_like(x)
    np.testing.assert_array_equal(np.isnan(ops.sigmoid_backward(x, ones * 0.5)), nan_at)
    np.testing.assert_array_equal(np.isnan(ops.sigmoid_backward(ones, x)), nan_at)
    np.testing.assert_array_equal(np.isnan(ops.relu_backward(x, ones)), nan_at)


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_derivative_at_zero_is_zero(dtype):
    x = np.array([0.0, -0.0, 1e-30, -1e-30, 2.0], dtype=dtype)
    y = ops.relu_forward(x)
    np.testing.assert_array_equal(y, np.array([0, 0, 1e-30, 0, 2], dtype))
    assert not np.signbit(y).any()
    dx = ops.relu_backward(np.full_like(x, 7.0), y)
    np.testing.assert_array_equal(dx, [0, 0, 7, 0, 7])
    # the input works in place of the output (y > 0 exactly where x > 0)
    np.testing.assert_array_equal(ops.relu_backward(np.full_like(x, 7.0), x), dx)


# --- numerical gradients (float64, central differences) ------------------------------------------


def test_sigmoid_gradient(rng):
    x = rng.standard_normal((3, 4, 5)) * 3
    w = rng.standard_normal(x.shape)  # E = sum(w * sigmoid(x))
    y = ops.sigmoid_forward(x)
    analytic = ops.sigmoid_backward(w, y)
    numeric = numerical_gradient(lambda v: float(np.sum(w * ops.sigmoid_forward(v))), x.copy())
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


def test_relu_gradient_away_from_zero(rng):
    x = rng.standard_normal((4, 6, 5))
    x[np.abs(x) < 1e-3] = 0.5  # central differences need |x| > eps
    w = rng.standard_normal(x.shape)
    analytic = ops.relu_backward(w, ops.relu_forward(x))
    numeric = numerical_gradient(lambda v: float(np.sum(w * ops.relu_forward(v))), x.copy())
    np.testing.assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-9)


# --- PyTorch as an oracle ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_against_torch(torch, rng, dtype):
    x = make_data(rng, (64, 3, 17, 5), dtype, scale=8.0)
    x.ravel()[:4] = [1e4, -1e4, 0.0, -0.0]
    dout = make_data(rng, x.shape, dtype)
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    yt = torch.sigmoid(xt)
    yt.backward(torch.from_numpy(dout))
    y = ops.sigmoid_forward(x)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=2 * RTOL[np.dtype(dtype)],
                               atol=np.finfo(dtype).tiny)
    np.testing.assert_allclose(ops.sigmoid_backward(dout, y), xt.grad.numpy(), rtol=1e-5,
                               atol=1e-6 * np.abs(dout).max())

    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    yt = torch.relu(xt)
    yt.backward(torch.from_numpy(dout))
    y = ops.relu_forward(x)
    np.testing.assert_array_equal(y, yt.detach().numpy())
    np.testing.assert_array_equal(ops.relu_backward(dout, y), xt.grad.numpy())


# --- in place, out=, read-only inputs ---------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [1000, 100_000])
def test_in_place(rng, dtype, size):
    x = make_data(rng, (size,), dtype, scale=5.0, specials=True)
    dout = make_data(rng, x.shape, dtype)
    for forward in (ops.sigmoid_forward, ops.relu_forward):
        expected = forward(x)
        z = x.copy()
        assert forward(z, out=z) is z
        np.testing.assert_array_equal(z, expected)
    y = ops.sigmoid_forward(x)
    for backward, y_in in ((ops.sigmoid_backward, y), (ops.relu_backward, x)):
        expected = backward(dout, y_in)
        d, yy = dout.copy(), y_in.copy()
        assert backward(d, yy, out=d) is d  # dx over dout
        np.testing.assert_array_equal(d, expected)
        d, yy = dout.copy(), y_in.copy()
        assert backward(d, yy, out=yy) is yy  # dx over y
        np.testing.assert_array_equal(yy, expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["sigmoid_forward", "relu_forward", "sigmoid_backward", "relu_backward"])
def test_out_argument(rng, dtype, name):
    x = make_data(rng, (4, 5, 6), dtype)
    args = (x,) if name.endswith("forward") else (make_data(rng, x.shape, dtype), x)
    op = getattr(ops, name)
    expected = op(*args)
    out = np.full_like(x, np.nan)
    assert op(*args, out=out) is out
    np.testing.assert_array_equal(out, expected)
    other = np.float64 if dtype == np.float32 else np.float32
    bad = {
        "shape": (np.empty((4, 5, 7), dtype), ValueError),
        "size": (np.empty(120, dtype), ValueError),
        "dtype": (np.empty(x.shape, other), TypeError),
        "contiguity": (np.empty((4, 5, 12), dtype)[..., ::2], ValueError),
        "read-only": (np.empty(x.shape, dtype), ValueError),
        "type": ([[0.0] * 6] * 20, TypeError),
    }
    bad["read-only"][0].flags.writeable = False
    for out, error in bad.values():
        with pytest.raises(error, match=f"{name}: out"):
            op(*args, out=out)


@pytest.mark.parametrize("dtype", DTYPES)
def test_read_only_and_empty_inputs(rng, dtype):
    x = make_data(rng, (3, 50), dtype)
    x.flags.writeable = False
    np.testing.assert_array_equal(ops.relu_forward(x), np.maximum(x, 0))
    assert ops.sigmoid_backward(x, ops.sigmoid_forward(x)).shape == x.shape
    for shape in [(0,), (3, 0), (0, 5, 7)]:
        e = np.empty(shape, dtype)
        for result in (ops.sigmoid_forward(e), ops.relu_forward(e), ops.sigmoid_backward(e, e),
                       ops.relu_backward(e, e)):
            assert result.shape == shape and result.dtype == dtype
    scalar = np.array(-3.0, dtype)  # 0-d arrays work too
    assert ops.relu_forward(scalar).shape == () and ops.relu_forward(scalar) == 0
