"""Both backends give the same NaN and inf for inputs holding them (issue 15): every kernel that skips
work (zero pixels, zero coefficients of the Winograd transforms) or branches (ReLU, max pooling) must
still propagate a NaN or inf where the NumPy reference does."""

from __future__ import annotations

import numpy as np
import pytest

import le4nn
from le4nn import ops

DTYPES = [np.float32, np.float64]


def _poisoned(rng, shape, dtype, zeros=0.0):
    """A standard-normal array (``zeros``: that fraction set to 0) with a NaN, an inf and a −inf."""
    a = rng.standard_normal(shape).astype(dtype)
    if zeros:
        a[rng.random(shape) < zeros] = 0
    flat = a.reshape(-1)
    flat[1 % flat.size], flat[5 % flat.size], flat[9 % flat.size] = np.nan, np.inf, -np.inf
    return a


def _cases(rng, dtype):
    """(op name, args, kwargs): each op with a non-finite value in one of its operands."""
    p = lambda *shape, zeros=0.0: _poisoned(rng, shape, dtype, zeros)  # noqa: E731
    n = lambda *shape: rng.standard_normal(shape).astype(dtype)  # noqa: E731
    y = np.maximum(n(4, 7), 0)
    sparse = n(2, 20)
    sparse[np.abs(sparse) < 0.8] = 0
    images = n(2, 6, 6, 3)
    images[images < 0.5] = 0
    return [
        ("relu_forward", (p(4, 7),), {}),
        ("relu_backward", (p(4, 7), y), {}),
        ("relu_backward", (n(4, 7), p(4, 7)), {}),
        ("sigmoid_forward", (p(4, 7),), {}),
        ("sigmoid_backward", (p(4, 7), p(4, 7)), {}),
        ("bias_relu_forward", (p(4, 7), n(7)), {}),
        ("bias_relu_forward", (n(4, 7), p(7)), {}),
        ("relu_backward_bias", (p(4, 7), y), {}),
        ("sigmoid_backward_bias", (p(4, 7), p(4, 7)), {}),
        ("softmax_forward", (p(4, 7),), {}),
        ("softmax_cross_entropy", (p(4, 7), np.array([0, 1, 2, 3])), {}),
        ("maxpool2d_forward", (p(2, 3, 6, 6), 2, 2), {}),
        ("maxpool2d_nhwc_forward", (p(2, 6, 6, 3), 2, 2), {}),
        ("avgpool2d_forward", (p(2, 3, 6, 6), 2, 2), {}),
        ("im2col", (p(2, 3, 6, 6), 3, 3), {}),
        ("im2col_nhwc", (p(2, 6, 6, 3), 3, 3), {}),
        ("col2im", (p(27, 32), (2, 3, 6, 6), 3, 3), {}),
        ("conv2d_nhwc_forward", (p(2, 6, 6, 3, zeros=0.5), n(3, 3, 3, 4)), {}),
        ("conv2d_nhwc_forward", (images, p(3, 3, 3, 4)), {"relu": True}),
        ("conv2d_nhwc_filter_grad", (images, p(2, 4, 4, 4), 3, 3), {}),
        ("conv2d_nhwc_filter_grad", (p(2, 6, 6, 3), n(2, 4, 4, 4), 3, 3), {}),
        ("conv2d_nhwc_pool_forward", (images, p(3, 3, 3, 4), None, 1, 0, True, 2, 2), {}),
        ("winograd_input_transform", (p(2, 6, 6, 3), 1), {}),
        ("winograd_output_transform", (p(16, 2 * 9, 4), (2, 6, 6, 4)), {}),
        ("winograd_gradient_transform", (p(2, 6, 6, 4),), {}),
        ("winograd4_input_transform", (p(2, 7, 9, 3), (1, 2, 0, 1)), {}),
        ("winograd4_input_transform", (p(2, 10, 10, 9), 1), {}),
        ("winograd4_output_transform", (p(36, 2 * 6, 4), (2, 7, 9, 4), n(4), True), {}),
        ("winograd4_output_transform", (p(36, 2 * 4, 9), (2, 6, 6, 9)), {}),
        ("winograd4_gradient_transform", (p(2, 7, 9, 4),), {}),
        ("winograd4_gradient_transform", (p(2, 6, 6, 9),), {}),
        ("sparse_matmul", (sparse, p(20, 5)), {}),
        ("sparse_matmul", (sparse, p(20, 5)), {"bias": n(5), "activation": "relu"}),
        ("sparse_matmul_tn", (sparse, p(2, 5)), {}),
        ("sgd_update", (n(9), p(9), 0.1), {}),
    ]


CASE_IDS = [f"{c[0]}-{i}" for i, c in enumerate(_cases(np.random.default_rng(0), np.float32))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("index", range(len(CASE_IDS)), ids=CASE_IDS)
def test_both_backends_agree_on_nan_and_inf(native, dtype, index):
    op, args, kwargs = _cases(np.random.default_rng(index), dtype)[index]
    results = {}
    for backend in ("native", "numpy"):  # fresh copies: some ops work in place (sgd_update)
        copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        with le4nn.backend(backend), np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            results[backend] = getattr(ops, op)(*copies, **kwargs)
    native, reference = results["native"], results["numpy"]
    native = native if isinstance(native, tuple) else (native,)
    reference = reference if isinstance(reference, tuple) else (reference,)
    tolerance = 1e-4 if dtype == np.float32 else 1e-10
    for a, b in zip(native, reference, strict=True):
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype.kind != "f":
            np.testing.assert_array_equal(a, b, err_msg=op)
            continue
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=f"{op}: NaN positions")
        np.testing.assert_array_equal(np.isposinf(a), np.isposinf(b), err_msg=f"{op}: +inf positions")
        np.testing.assert_array_equal(np.isneginf(a), np.isneginf(b), err_msg=f"{op}: -inf positions")
        np.testing.assert_allclose(a, b, rtol=tolerance, atol=tolerance, err_msg=op)
