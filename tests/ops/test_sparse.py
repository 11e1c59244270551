"""Products with a mostly-zero left operand (sparse_matmul, sparse_matmul_tn): native against the
reference and float64 products over many shapes (every tail of the four-row groups, the 8-column flag
blocks, the passes of whole vectors with an overlapping last one and the 8/4/1-column blocks below
one vector), densities, signed zeros, thread counts, the bias + activation epilogue, and errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import le4nn
from le4nn import ops

SETTINGS = settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@st.composite
def cases(draw):
    B = draw(st.integers(0, 13))
    N = draw(st.sampled_from([0, 1, 3, 7, 8, 9, 17, 64, 100]))
    K = draw(st.sampled_from([0, 1, 3, 4, 5, 8, 12, 16, 17, 31, 32, 33, 47, 63, 64, 100]))
    dtype = np.dtype(draw(st.sampled_from([np.float32, np.float64])))
    density = draw(st.sampled_from([0.0, 0.05, 0.2, 0.6, 1.0]))
    return B, N, K, dtype, density, draw(st.integers(0, 2**32 - 1))


def sparse_input(rng, B, N, dtype, density):
    x = rng.standard_normal((B, N)).astype(dtype)
    keep = rng.random((B, N)) < density
    zeros = np.where(rng.random((B, N)) < 0.5, 0.0, -0.0).astype(dtype)  # both signed zeros
    return np.where(keep, x, zeros)


def tolerance(dtype, inner):
    return (2e-6 if dtype == np.float32 else 1e-13) * max(inner, 1)


@pytest.mark.parametrize("op", ["sparse_matmul", "sparse_matmul_tn"])
@SETTINGS
@given(case=cases())
def test_sparse_products_match_reference(run_both, op, case):
    """z = x · w (B, K) and g = xᵀ · d (N, K), against the reference and a float64 product."""
    B, N, K, dtype, density, seed = case
    rng = np.random.default_rng(seed)
    x = sparse_input(rng, B, N, dtype, density)
    if op == "sparse_matmul":
        other = rng.standard_normal((N, K)).astype(dtype)
        exact, shape, inner = x.astype(np.float64) @ other.astype(np.float64), (B, K), N
    else:
        other = rng.standard_normal((B, K)).astype(dtype)
        exact, shape, inner = x.astype(np.float64).T @ other.astype(np.float64), (N, K), B
    native, reference = run_both(op, x, other)
    assert native.shape == reference.shape == shape and native.dtype == dtype
    np.testing.assert_allclose(native, exact, rtol=0, atol=tolerance(dtype, inner))
    np.testing.assert_allclose(reference, exact, rtol=0, atol=tolerance(dtype, inner))


@SETTINGS
@given(case=cases())
def test_the_portable_union_lists_give_the_avx512_bits(native, case):
    """The float32 forward product builds its union lists with AVX-512 where the CPU has it, else
    with byte flags: both paths give the same bits (on a CPU without AVX-512 both runs take the flags)."""
    from le4nn._kernels import sparse

    B, N, K, dtype, density, seed = case
    rng = np.random.default_rng(seed)
    x = sparse_input(rng, B, N, np.dtype(np.float32), density)
    w = rng.standard_normal((N, K)).astype(np.float32)
    results = []
    for avx512 in (True, False):
        before = sparse._use_avx512_unions(avx512)
        try:
            z = np.empty((B, K), np.float32)
            visited = sparse.sparse_matmul(x, w, z, 2)
        finally:
            sparse._use_avx512_unions(before)
        results.append((z, visited))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert results[0][1] == results[1][1]
    assert sparse._use_avx512_unions(True) == sparse._use_avx512_unions(True)  # restored, and it sticks


def test_integer_valued_products_are_exact(run_both, rng):
    """With small integers every partial sum is exact, so any summation order gives the same bits."""
    x = (rng.integers(-3, 4, (37, 130)) * (rng.random((37, 130)) < 0.2)).astype(np.float32)
    w = rng.integers(-3, 4, (130, 100)).astype(np.float32)
    d = rng.integers(-3, 4, (37, 100)).astype(np.float32)
    for name, args, expected in (("sparse_matmul", (x, w), x @ w), ("sparse_matmul_tn", (x, d), x.T @ d)):
        native, reference = run_both(name, *args)
        np.testing.assert_array_equal(native, expected)
        np.testing.assert_array_equal(reference, expected)


def test_mnist_like_batch_and_out_argument(run_both, rng):
    x = np.zeros((100, 784), np.float32)
    x[:, 200:560] = rng.random((100, 360)) * (rng.random((100, 360)) < 0.45)
    w = rng.standard_normal((784, 100)).astype(np.float32)
    z = np.full((100, 100), np.nan, np.float32)
    native, reference = run_both("sparse_matmul", x, w, out=z)
    assert native is z
    np.testing.assert_allclose(native, reference, rtol=1e-5, atol=1e-4)
    g = np.full((784, 100), np.nan, np.float32)
    d = rng.standard_normal((100, 100)).astype(np.float32)
    native, reference = run_both("sparse_matmul_tn", x, d, out=g)
    assert native is g
    np.testing.assert_array_equal(native[:200], 0)  # columns of x that are zero in every sample
    np.testing.assert_allclose(native, reference, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_results_do_not_depend_on_the_thread_count(native, rng, dtype):
    from le4nn._kernels import sparse

    x = sparse_input(rng, 1003, 301, np.dtype(dtype), 0.2)  # large enough for an OpenMP team
    w = rng.standard_normal((301, 70)).astype(dtype)
    d = rng.standard_normal((1003, 70)).astype(dtype)
    results = []
    for threads in (1, 2, 3):
        z = np.empty((1003, 70), dtype)
        g = np.empty((301, 70), dtype)
        visited = sparse.sparse_matmul(x, w, z, threads)
        sparse.sparse_matmul_tn(x, d, g, threads)
        results.append((z, g, visited))
    for z, g, visited in results[1:]:
        np.testing.assert_array_equal(z, results[0][0])
        np.testing.assert_array_equal(g, results[0][1])
        assert visited == results[0][2]
    assert 0.2 < results[0][2] < 1.0  # the unions of four rows: more than one row's nonzeros


def test_zero_pixels_are_skipped_by_the_native_kernel(native):
    """A huge finite weight under zero pixels changes nothing (Σ w² overflows there, so the native
    wrapper takes the dense product, which is right too, and warns about nothing)."""
    x = np.zeros((4, 16), np.float32)
    x[:, 0] = 1.0
    w = np.ones((16, 3), np.float32)
    w[5] = 3e38
    np.testing.assert_array_equal(ops.native.sparse_matmul(x, w), np.ones((4, 3), np.float32))


NON_FINITE = [np.nan, np.inf, -np.inf]


@pytest.mark.parametrize("value", NON_FINITE)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", [None, "relu", "sigmoid"])
def test_a_non_finite_weight_under_zero_pixels_gives_nan_on_both_backends(run_both, value, dtype, activation):
    """0 · inf and 0 · NaN are NaN (IEEE 754): the native kernel, which skips zero pixels, must not
    turn them into 0 (issue 15: the backends disagreed)."""
    rng = np.random.default_rng(0)
    x = sparse_input(rng, 9, 40, dtype, 0.2)
    x[:, 7] = 0.0  # the non-finite row is under zero pixels only
    w = rng.standard_normal((40, 6)).astype(dtype)
    w[7, 2] = value
    with np.errstate(invalid="ignore"):
        native, reference = run_both("sparse_matmul", x, w, activation=activation)
    assert np.isnan(reference[:, 2]).all()
    np.testing.assert_array_equal(np.isnan(native), np.isnan(reference))
    np.testing.assert_allclose(native, reference, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("value", NON_FINITE)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_non_finite_gradient_reaches_every_row_of_the_kernel_gradient(run_both, value, dtype):
    rng = np.random.default_rng(1)
    x = sparse_input(rng, 9, 40, dtype, 0.2)
    d = rng.standard_normal((9, 6)).astype(dtype)
    d[4, 3] = value
    with np.errstate(invalid="ignore"):
        native, reference = run_both("sparse_matmul_tn", x, d)
    assert np.isnan(reference[x[4] == 0, 3]).all()
    np.testing.assert_array_equal(np.isnan(native), np.isnan(reference))
    np.testing.assert_allclose(native, reference, rtol=1e-5, atol=1e-6)


def test_a_non_finite_input_pixel_agrees(run_both):
    rng = np.random.default_rng(2)
    x = sparse_input(rng, 5, 30, np.float32, 0.3)
    x[1, 4], x[2, 9] = np.inf, np.nan
    w = rng.standard_normal((30, 4)).astype(np.float32)
    w[4, 0] = 0.0  # inf · 0 = NaN on both
    with np.errstate(invalid="ignore"):
        native, reference = run_both("sparse_matmul", x, w)
    np.testing.assert_array_equal(np.isnan(native), np.isnan(reference))
    np.testing.assert_array_equal(np.isinf(native), np.isinf(reference))


def test_a_dense_layer_with_a_nan_weight_predicts_nan_on_both_backends(native):
    """The Dense layer takes the sparse product for mostly-zero inputs (MNIST-like)."""
    from le4nn.layers import Dense

    rng = np.random.default_rng(3)
    x = sparse_input(rng, 8, 50, np.float32, 0.1)
    x[:, 11] = 0.0
    outputs = {}
    for backend in ("native", "numpy"):
        with le4nn.backend(backend), np.errstate(invalid="ignore"):
            layer = Dense(4, input_shape=(50,))
            layer.build((None, 50))
            layer.params["kernel"][...] = np.linspace(-1, 1, 200, dtype=np.float32).reshape(50, 4)
            layer.params["kernel"][11, 1] = np.nan
            outputs[backend] = layer(x)
    assert np.isnan(outputs["numpy"][:, 1]).all()
    np.testing.assert_array_equal(np.isnan(outputs["native"]), np.isnan(outputs["numpy"]))


@pytest.mark.parametrize("activation", [None, "linear", "relu", "sigmoid"])
@SETTINGS
@given(case=cases(), with_bias=st.booleans())
def test_the_epilogue_gives_the_bits_of_the_separate_kernels(run_both, activation, case, with_bias):
    """y = activation(x · w + bias) in one call: natively the same bits as the product followed by
    the bias addition and ops.relu_forward / ops.sigmoid_forward; close to the reference."""
    B, N, K, dtype, density, seed = case
    rng = np.random.default_rng(seed)
    x = sparse_input(rng, B, N, dtype, density)
    w = rng.standard_normal((N, K)).astype(dtype)
    bias = rng.standard_normal(K).astype(dtype) if with_bias else None
    native, reference = run_both("sparse_matmul", x, w, bias=bias, activation=activation)
    with le4nn.backend("native"):
        separate = ops.sparse_matmul(x, w)
        if bias is not None:
            separate += bias
        if activation == "relu":
            ops.relu_forward(separate, out=separate)
        elif activation == "sigmoid":
            ops.sigmoid_forward(separate, out=separate)
    np.testing.assert_array_equal(native, separate)
    np.testing.assert_allclose(native, reference, rtol=0, atol=tolerance(dtype, N) * 4)


def test_the_epilogue_handles_nan_and_an_empty_inner_size(run_both):
    x = np.zeros((3, 0), np.float32)
    w = np.zeros((0, 4), np.float32)
    bias = np.array([1.0, -1.0, np.nan, 0.0], np.float32)
    for activation in ("relu", "sigmoid"):
        native, reference = run_both("sparse_matmul", x, w, bias=bias, activation=activation)
        np.testing.assert_allclose(native, reference, rtol=1e-6)  # NaN where the bias is NaN, in both
        assert np.isnan(native[:, 2]).all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"activation": "tanh"}, "activation must be None or one of"),
        ({"activation": 3}, "activation must be None or one of"),
        ({"bias": np.zeros(4, np.float32)}, "bias has 4 entries, expected 5"),
        ({"bias": np.zeros(5, np.float64)}, "bias has dtype float64"),
    ],
)
def test_bad_epilogue_arguments_are_named(run_both, kwargs, message):
    x, w = np.zeros((2, 3), np.float32), np.zeros((3, 5), np.float32)
    for backend in ("native", "numpy"):
        with le4nn.backend(backend), pytest.raises((ValueError, TypeError), match=message) as info:
            ops.sparse_matmul(x, w, **kwargs)
        assert "sparse_matmul" in str(info.value)


@pytest.mark.parametrize(
    "op, args, message",
    [
        ("sparse_matmul", (np.zeros((2, 3), np.float32), np.zeros((4, 5), np.float32)), "inner sizes"),
        ("sparse_matmul", (np.zeros((2, 3), np.float32), np.zeros((3, 5), np.float64)), "one dtype"),
        ("sparse_matmul", (np.zeros((2, 3), np.int32), np.zeros((3, 5), np.int32)), "float32 or float64"),
        ("sparse_matmul", (np.zeros((2, 3, 1), np.float32), np.zeros((3, 5), np.float32)), "2-D"),
        ("sparse_matmul", (np.zeros((3, 2), np.float32).T, np.zeros((3, 5), np.float32)), "C-contiguous"),
        ("sparse_matmul_tn", (np.zeros((2, 3), np.float32), np.zeros((3, 5), np.float32)), "inner sizes"),
    ],
)
def test_bad_arguments_name_the_op_and_the_problem(op, args, message):
    with pytest.raises((ValueError, TypeError), match=message) as info:
        getattr(ops, op)(*args)
    assert op in str(info.value)


def test_out_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match="out has shape"):
        ops.sparse_matmul(np.zeros((2, 3), np.float32), np.zeros((3, 5), np.float32),
                          out=np.zeros((5, 2), np.float32))
