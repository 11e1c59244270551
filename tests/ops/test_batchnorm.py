"""Batch normalization (batchnorm_forward, batchnorm_backward, handout eq. 28–38), optionally fused with a
ReLU: the native kernels against the NumPy twins over many shapes in both layouts (features last,
features on axis 1), data with a large mean against the standard deviation, NaN, and thread counts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import le4nn
from le4nn import ops
from tests.ops.helpers import hypothesis_settings, num_threads

SETTINGS = hypothesis_settings(150)
#: Tolerance of the native results against the twins relative to each result's largest entry: the
#: statistics are summed in another order (float64 in the kernel, NumPy's float32/float64 in the twin).
TOL = {np.dtype(np.float32): 2e-4, np.dtype(np.float64): 1e-10}


@st.composite
def cases(draw):
    """(shape, axis, dtype, relu, seed, offset): features last ((M, C) and images) or on axis 1."""
    C = draw(st.sampled_from([1, 3, 16, 17, 64]))
    layout = draw(st.sampled_from(["rows", "planes", "image_last"]))
    if layout == "rows":
        shape, axis = (draw(st.sampled_from([1, 2, 5, 700, 20000])), C), -1
    elif layout == "planes":
        S = draw(st.sampled_from([1, 7, 49, 1024]))
        shape, axis = (draw(st.integers(1, 4)), C, S), 1
    else:
        side = draw(st.sampled_from([1, 3, 7]))
        shape, axis = (draw(st.integers(1, 5)), side, side, C), -1
    dtype = np.dtype(draw(st.sampled_from([np.float32, np.float64])))
    offset = draw(st.sampled_from([0.0, 1e3]))  # a large mean against a standard deviation of ~1
    return shape, axis, dtype, draw(st.booleans()), draw(st.integers(0, 2**32 - 1)), offset


def operands(shape, axis, dtype, seed, offset):
    rng = np.random.default_rng(seed)
    C = shape[axis]
    x = (rng.standard_normal(shape) + offset + rng.standard_normal(C).reshape(
        [C if a == axis % len(shape) else 1 for a in range(len(shape))])).astype(dtype)
    gamma, beta = (rng.standard_normal(C) + 1).astype(dtype), rng.standard_normal(C).astype(dtype)
    return x, gamma, beta, rng.standard_normal(shape).astype(dtype)


def close(native, reference, dtype):
    scale = max(1.0, float(np.max(np.abs(reference)))) if reference.size else 1.0
    np.testing.assert_allclose(native, reference, rtol=0, atol=TOL[dtype] * scale)


def exact_statistics(x, axis):
    """The mean and biased variance in float64 from float64 data (two passes): the ground truth."""
    reduce = tuple(a for a in range(x.ndim) if a != axis % x.ndim)
    x64 = x.astype(np.float64)
    return x64.mean(axis=reduce), x64.var(axis=reduce)


@SETTINGS
@given(case=cases())
@example(case=((2, 17), -1, np.dtype(np.float32), True, 2065681, 1000.0))  # two close samples at mean 1000
def test_training_forward_matches_the_twin(run_both, case):
    shape, axis, dtype, relu, seed, offset = case
    x, gamma, beta, _ = operands(shape, axis, dtype, seed, offset)
    native, reference = run_both("batchnorm_forward", x, gamma, beta, 1e-3, axis, relu)
    for a, b in zip(native, reference, strict=True):
        assert a.dtype == dtype and a.shape == b.shape
        if offset == 0:  # (NumPy's float32 mean is itself off by ~1e-5 σ at a mean of 1000 σ)
            close(a, b, dtype)
    mean, var = exact_statistics(x, axis)
    inv_std = 1 / np.sqrt(var + 1e-3)
    shape_c = [x.shape[axis] if a == axis % x.ndim else 1 for a in range(x.ndim)]
    y = (x - mean.reshape(shape_c)) * (gamma * inv_std).reshape(shape_c) + beta.reshape(shape_c)
    # y is computed from μ rounded to the dtype: up to half an ulp of μ, times γ·inv_std, on top
    # (at a mean of 1000 and two samples whose spread is small, that is ~1e-3 in float32)
    rounding = 0.5 * np.spacing(np.abs(mean).astype(dtype)).astype(np.float64) * np.abs(gamma * inv_std)
    scale = max(1.0, float(np.max(np.abs(y)))) if y.size else 1.0
    np.testing.assert_allclose(native[0], np.maximum(y, 0) if relu else y, rtol=0,
                               atol=TOL[dtype] * scale + 2 * float(np.max(rounding, initial=0)))
    close(native[3], inv_std, dtype)
    # one pass from the first value in float64: as accurate as two passes, even with the mean at 1000 σ
    # (a float32 sum of squares at offset 1000 would be off by about 0.06)
    eps = 1e-12 if dtype == np.float64 else 4 * np.finfo(dtype).eps  # (float64: the sums' order)
    np.testing.assert_allclose(native[1], mean, rtol=0, atol=eps * (1 + float(np.max(np.abs(mean)))))
    tol = 1e-10 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(native[2], var, rtol=tol, atol=tol)


@SETTINGS
@given(case=cases())
def test_inference_forward_equals_the_twin_bit_for_bit(run_both, case):
    shape, axis, dtype, relu, seed, offset = case
    x, gamma, beta, _ = operands(shape, axis, dtype, seed, offset)
    mean, var = (s.astype(dtype) for s in exact_statistics(x, axis))
    native, reference = run_both("batchnorm_forward", x, gamma, beta, 1e-3, axis, relu, mean, var)
    for a, b in zip(native, reference, strict=True):
        np.testing.assert_array_equal(a, b)  # the same operations on the same statistics
    if relu:
        assert np.all(native[0] >= 0)


@SETTINGS
@given(case=cases(), training=st.booleans())
def test_backward_matches_the_twin(run_both, case, training):
    shape, axis, dtype, relu, seed, offset = case
    x, gamma, beta, dout = operands(shape, axis, dtype, seed, offset)
    _, mean, _, inv_std = ops.reference.batchnorm_forward(x, gamma, beta, 1e-3, axis)
    native, reference = run_both("batchnorm_backward", dout, x, gamma, beta, mean, inv_std, axis, relu, training)
    for a, b in zip(native, reference, strict=True):
        assert a.dtype == dtype
        close(a, b, dtype)


@SETTINGS
@given(S=st.sampled_from([1, 3, 8, 13, 16, 29, 64]), dtype=st.sampled_from([np.float32, np.float64]),
       axis=st.sampled_from([1, -1]), training=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_relu_backward_is_the_backward_of_the_masked_gradient(S, dtype, axis, training, seed):
    """The fused ReLU's mask (v = (x − mean) γ σ⁻¹ + β ≤ 0 stops the gradient, a NaN v passes it)
    applied inside the native kernels gives the values of masking ∂E/∂y first (features on axis 1: the
    plane loops' 4-wide lanes and their scalar tail; features last: the row loops)."""
    rng = np.random.default_rng(seed)
    shape = (3, 4, S) if axis == 1 else (3, S, 4)
    x, gamma, beta, dout = operands(shape, axis, dtype, seed, 0.0)
    x.flat[rng.integers(0, x.size, 2)] = np.nan
    _, mean, _, inv_std = ops.reference.batchnorm_forward(x, gamma, beta, 1e-3, axis)
    per = [4 if a == axis % 3 else 1 for a in range(3)]
    v = (x - mean.reshape(per)) * (gamma * inv_std).reshape(per) + beta.reshape(per)
    masked = np.where(v <= 0, dtype(0), dout)
    with le4nn.backend("native"):
        fused = ops.batchnorm_backward(dout, x, gamma, beta, mean, inv_std, axis, True, training)
        plain = ops.batchnorm_backward(masked, x, gamma, beta, mean, inv_std, axis, False, training)
    for a, b in zip(fused, plain, strict=True):
        np.testing.assert_array_equal(a, b)  # the same values (inference may differ in the sign of 0)


def test_backward_is_the_gradient_of_the_forward_in_float64():
    """Central differences of E = Σ w·y through the native forward, with and without the ReLU."""
    rng = np.random.default_rng(3)
    for shape, axis in [((6, 5), -1), ((3, 4, 5), 1), ((2, 3, 3, 4), -1)]:
        x = rng.standard_normal(shape)
        C = shape[axis]
        gamma, beta, w = rng.standard_normal(C), rng.standard_normal(C) * 0.3, rng.standard_normal(shape)
        for relu in (False, True):
            def loss(x_, gamma_=gamma, beta_=beta, relu_=relu, axis_=axis, w_=w):
                return float(np.sum(w_ * ops.batchnorm_forward(x_, gamma_, beta_, 1e-3, axis_, relu_)[0]))

            _, mean, _, inv_std = ops.batchnorm_forward(x, gamma, beta, 1e-3, axis, relu)
            dx, dgamma, dbeta = ops.batchnorm_backward(w, x, gamma, beta, mean, inv_std, axis, relu)
            for value, grad, f in ((x, dx, loss), (gamma, dgamma, lambda g, x_=x: loss(x_, g)),
                                   (beta, dbeta, lambda b, x_=x, g_=gamma: loss(x_, g_, b))):
                numeric = np.zeros_like(value)
                for i in np.ndindex(value.shape):
                    saved = value[i]
                    value[i] = saved + 1e-6
                    up = f(value)
                    value[i] = saved - 1e-6
                    down = f(value)
                    value[i] = saved
                    numeric[i] = (up - down) / 2e-6
                np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape, axis", [((128, 8, 8, 64), -1), ((64, 16, 16, 16), 1), ((40000, 3), -1),
                                         ((2, 64, 1024), 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_bits_at_one_and_two_threads(native, shape, axis, dtype):
    x, gamma, beta, dout = operands(shape, axis, np.dtype(dtype), 7, 10.0)
    results = []
    for n in (1, 2, 1):
        with le4nn.backend("native"), num_threads(n):
            fwd = ops.batchnorm_forward(x, gamma, beta, 1e-3, axis, True)
            bwd = ops.batchnorm_backward(dout, x, gamma, beta, fwd[1], fwd[3], axis, True)
        results.append([r.copy() for r in (*fwd, *bwd)])
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("shape, axis", [((50, 4), -1), ((3, 4, 20), 1)])
def test_nan_in_nan_out_like_numpy(run_both, shape, axis):
    """A NaN or inf in a feature's values makes that feature's statistics and outputs NaN on both
    backends; the other features are untouched."""
    x, gamma, beta, dout = operands(shape, axis, np.dtype(np.float32), 1, 0.0)
    index = (0, 2, 5)[: x.ndim] if axis == 1 else (3, 2)
    for bad in (np.nan, np.inf):
        x_bad = x.copy()
        x_bad[index] = bad
        with np.errstate(invalid="ignore"):
            native, reference = run_both("batchnorm_forward", x_bad, gamma, beta, 1e-3, axis, False)
        for a, b in zip(native, reference, strict=True):
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        assert np.isnan(native[1][2]) or np.isinf(native[1][2])
        assert np.all(np.isfinite(np.delete(native[1], 2)))


def test_other_axes_fall_back_to_the_twin(run_both):
    x, gamma, beta, dout = operands((3, 4, 5, 6), 2, np.dtype(np.float64), 2, 0.0)
    native, reference = run_both("batchnorm_forward", x, gamma, beta, 1e-3, 2, True)
    for a, b in zip(native, reference, strict=True):
        np.testing.assert_array_equal(a, b)
