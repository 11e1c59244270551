"""Channels-last ops: im2col_nhwc / col2im_nhwc, NHWC max pooling and the direct convolution
(conv2d_nhwc_forward, conv2d_nhwc_filter_grad).  The native kernels against the NumPy reference over
many geometries, the NHWC ops against their NCHW twins and PyTorch, thread counts, and NaN handling.

Tests that compare the two backends use ``run_both``; the others run on the backend in force."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import le4nn
from le4nn import ops
from tests.ops.helpers import (
    assert_close_to_scale,
    hypothesis_settings,
    make_data,
    num_threads,
    pads4,
    pairs,
    window_cases,
)

SETTINGS = hypothesis_settings(200)


def nchw(x):
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def nhwc(x):
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def nhwc_window_cases(max_channels=5):
    """Batch 1–4, channels 1–max, H and W 1–15, kernels 1–5, stride 1–3, padding 0–2 (any form)."""
    return window_cases(max_batch=4, max_channels=max_channels, max_side=15, long_side=7, channels_last=True)


@st.composite
def pool_cases(draw):
    B, C = draw(st.integers(1, 4)), draw(st.integers(1, 40))
    form = draw(st.sampled_from(["2x2", "any", "any"]))
    if form == "2x2":
        kh = kw = 2
        stride, pad = draw(st.sampled_from([None, 2, (2, 2)])), 0
    else:
        kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        stride = draw(st.one_of(st.none(), st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))))
        pad = tuple(draw(st.integers(0, min(2, k - 1))) for k in (kh, kh, kw, kw))
    pt, pb, pl, pr = pads4(pad)
    H = draw(st.integers(max(1, kh - pt - pb), 13) | st.integers(8, 13))
    W = draw(st.integers(max(1, kw - pl - pr), 13) | st.integers(8, 13))
    dtype = np.dtype(draw(st.sampled_from([np.float32, np.float64])))
    return (B, H, W, C), kh, kw, stride, pad, dtype, draw(st.integers(0, 2**32 - 1))


# --- im2col / col2im ------------------------------------------------------------------------------


@SETTINGS
@given(case=nhwc_window_cases(), kind=st.sampled_from(["normal", "extreme"]))
def test_im2col_nhwc_matches_reference_exactly(run_both, case, kind):
    shape, kh, kw, stride, pad, dtype, seed = case
    x = make_data(np.random.default_rng(seed), shape, dtype, kind)
    native, reference = run_both("im2col_nhwc", x, kh, kw, stride, pad)
    assert native.dtype == dtype
    np.testing.assert_array_equal(native, reference)


@SETTINGS
@given(case=nhwc_window_cases())
def test_col2im_nhwc_matches_reference_exactly(run_both, case):
    shape, kh, kw, stride, pad, dtype, seed = case
    rng = np.random.default_rng(seed)
    rows = ops.reference.im2col_nhwc(np.zeros(shape, dtype), kh, kw, stride, pad).shape
    cols = rng.standard_normal(rows).astype(dtype)
    native, reference = run_both("col2im_nhwc", cols, shape, kh, kw, stride, pad)
    assert native.shape == shape
    np.testing.assert_array_equal(native, reference)  # same order of additions


@hypothesis_settings(60)
@given(case=window_cases(max_batch=2, max_side=12, long_side=6, channels_last=True,
                         channel_choices=(1, 3, 4, 16, 17, 20, 32, 64)),
       kind=st.sampled_from(["normal", "extreme"]))
def test_col2im_nhwc_wide_channels_match_reference_exactly(run_both, case, kind):
    """The gather's channel blocks (16, 4, then single channels) against the reference."""
    shape, kh, kw, stride, pad, dtype, seed = case
    rows = ops.reference.im2col_nhwc(np.zeros(shape, dtype), kh, kw, stride, pad).shape
    cols = make_data(np.random.default_rng(seed), rows, dtype, kind)
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: NaN in both
        native, reference = run_both("col2im_nhwc", cols, shape, kh, kw, stride, pad)
    np.testing.assert_array_equal(native, reference)  # same order of additions


@pytest.mark.parametrize("shape", [(3, 8, 8, 5), (2, 7, 9, 16), (1, 1, 1, 1), (2, 32, 32, 3), (2, 5, 18, 17)])
@pytest.mark.parametrize("stride", [1, 2, 3, (2, 1), (1, 2)])
@pytest.mark.parametrize("pad", [0, (0, 1, 0, 1), (1, 0, 0, 0)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pointwise_windows_nhwc_match_reference_exactly(run_both, rng, shape, stride, pad, dtype):
    """1×1 windows (ResNet projections): the subsampling rows (no padding read, the next row
    prefetched) and the general rows (padding on the top) copy the reference's bits."""
    x = make_data(rng, shape, dtype, "extreme")
    native, reference = run_both("im2col_nhwc", x, 1, 1, stride, pad)
    np.testing.assert_array_equal(native, reference)


@pytest.mark.parametrize("kh, kw", [(17, 1), (1, 17), (17, 17)])
def test_col2im_nhwc_windows_beyond_the_gather_tables(run_both, rng, kh, kw):
    """Windows with a side over 16 take the scatter; same sums as the reference."""
    shape = (2, 18, 19, 3)
    rows = ops.reference.im2col_nhwc(np.zeros(shape, np.float32), kh, kw, 1, (1, 2, 0, 1)).shape
    cols = rng.standard_normal(rows).astype(np.float32)
    native, reference = run_both("col2im_nhwc", cols, shape, kh, kw, 1, (1, 2, 0, 1))
    np.testing.assert_array_equal(native, reference)


@SETTINGS
@given(case=nhwc_window_cases())
def test_nhwc_columns_are_the_nchw_columns_rearranged(case):
    """Row b·L + l of im2col_nhwc is column b·L + l of im2col, with (c, i, j) -> (i, j, c)."""
    shape, kh, kw, stride, pad, dtype, seed = case
    x = make_data(np.random.default_rng(seed), shape, dtype)
    B, H, W, C = shape
    rows = ops.im2col_nhwc(x, kh, kw, stride, pad)
    cols = ops.im2col(nchw(x), kh, kw, stride, pad)
    rearranged = cols.reshape(C, kh, kw, -1).transpose(3, 1, 2, 0).reshape(rows.shape)
    np.testing.assert_array_equal(rows, rearranged)
    grad = np.random.default_rng(seed + 1).standard_normal(rows.shape).astype(dtype)
    back = ops.col2im_nhwc(grad, shape, kh, kw, stride, pad)
    back_nchw = ops.col2im(np.ascontiguousarray(grad.reshape(-1, kh, kw, C).transpose(3, 1, 2, 0))
                           .reshape(cols.shape), nchw(x).shape, kh, kw, stride, pad)
    assert_close_to_scale(back, nhwc(back_nchw), rtol=1e-12 if dtype == np.float64 else 1e-5)


def test_im2col_nhwc_adjoint(rng):
    x = rng.standard_normal((3, 9, 8, 4))
    c = rng.standard_normal(ops.im2col_nhwc(x, 3, 2, (2, 1), (1, 0, 2, 1)).shape)
    lhs = np.vdot(ops.im2col_nhwc(x, 3, 2, (2, 1), (1, 0, 2, 1)), c)
    rhs = np.vdot(x, ops.col2im_nhwc(c, x.shape, 3, 2, (2, 1), (1, 0, 2, 1)))
    assert lhs == pytest.approx(rhs, rel=1e-12)


# --- max pooling ------------------------------------------------------------------------------------


@SETTINGS
@given(case=pool_cases(), kind=st.sampled_from(["normal", "ties", "extreme", "neginf"]))
def test_maxpool_nhwc_matches_reference_exactly(run_both, case, kind):
    shape, kh, kw, stride, pad, dtype, seed = case
    x = make_data(np.random.default_rng(seed), shape, dtype, kind)
    (out_n, arg_n), (out_r, arg_r) = run_both("maxpool2d_nhwc_forward", x, kh, kw, stride, pad)
    np.testing.assert_array_equal(out_n, out_r)
    np.testing.assert_array_equal(arg_n, arg_r)
    dout = np.random.default_rng(seed + 1).standard_normal(out_r.shape).astype(dtype)
    dx_n, dx_r = run_both("maxpool2d_nhwc_backward", dout, arg_r, shape)
    assert_close_to_scale(dx_n, dx_r)


@SETTINGS
@given(case=pool_cases(), kind=st.sampled_from(["normal", "ties", "extreme"]))
def test_maxpool_nhwc_is_maxpool_on_the_transpose(case, kind):
    shape, kh, kw, stride, pad, dtype, seed = case
    x = make_data(np.random.default_rng(seed), shape, dtype, kind)
    out, arg = ops.maxpool2d_nhwc_forward(x, kh, kw, stride, pad)
    out_c, arg_c = ops.maxpool2d_forward(nchw(x), kh, kw, stride, pad)
    np.testing.assert_array_equal(out, nhwc(out_c))
    np.testing.assert_array_equal(arg, nhwc(arg_c))
    dout = np.random.default_rng(seed + 1).standard_normal(out.shape).astype(dtype)
    assert_close_to_scale(ops.maxpool2d_nhwc_backward(dout, arg, shape),
                 nhwc(ops.maxpool2d_backward(nchw(dout), np.ascontiguousarray(arg_c), nchw(x).shape)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 28, 28, 32), (2, 14, 14, 64), (4, 28, 28, 9), (2, 7, 9, 3)])
def test_2x2_pooling_of_the_networks_shapes(run_both, rng, dtype, shape):
    x = rng.standard_normal(shape).astype(dtype)
    (out_n, arg_n), (out_r, arg_r) = run_both("maxpool2d_nhwc_forward", x, 2, 2)
    np.testing.assert_array_equal(out_n, out_r)
    np.testing.assert_array_equal(arg_n, arg_r)
    dout = rng.standard_normal(out_r.shape).astype(dtype)
    dx_n, dx_r = run_both("maxpool2d_nhwc_backward", dout, arg_r, shape)
    np.testing.assert_array_equal(dx_n, dx_r)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels", [5, 16, 19])
def test_maxpool_nhwc_backward_with_foreign_argmax(run_both, rng, dtype, channels):
    """Indices that do not lie in their 2×2 block (another geometry's argmax) still land where
    they point: the native kernel notices and falls back to the scatter-add."""
    shape = (2, 8, 8, channels)
    x = rng.standard_normal(shape).astype(dtype)
    _, arg = ops.reference.maxpool2d_nhwc_forward(x, 3, 3, 2, 1)  # (2, 4, 4, 5), overlapping
    dout = rng.standard_normal(arg.shape).astype(dtype)
    dx_n, dx_r = run_both("maxpool2d_nhwc_backward", dout, arg, shape)
    assert_close_to_scale(dx_n, dx_r)
    scrambled = rng.integers(0, 64, arg.shape).astype(np.int32)
    dx_n, dx_r = run_both("maxpool2d_nhwc_backward", dout, scrambled, shape)
    assert_close_to_scale(dx_n, dx_r)
    _, arg2 = ops.reference.maxpool2d_nhwc_forward(x, 2, 2)
    arg2[1, 3, 2, -1] += 1  # one index just outside its block
    dx_n, dx_r = run_both("maxpool2d_nhwc_backward", dout, arg2, shape)
    assert_close_to_scale(dx_n, dx_r)


@pytest.mark.parametrize("bad", [-1, 64])
def test_maxpool_nhwc_backward_rejects_bad_argmax_before_writing(rng, bad):
    arg = np.zeros((2, 4, 4, 3), np.int32)
    arg[1, 2, 3, 1] = bad
    dx = np.full((2, 8, 8, 3), 7.0, np.float32)
    with pytest.raises(ValueError, match="outside"):
        ops.maxpool2d_nhwc_backward(np.ones((2, 4, 4, 3), np.float32), arg, dx.shape, out=dx)
    assert np.all(dx == 7.0)


def test_maxpool_nhwc_matches_torch(torch, rng):
    x = rng.standard_normal((3, 11, 10, 6)).astype(np.float32)
    out, _ = ops.maxpool2d_nhwc_forward(x, 3, 2, (2, 1), (1, 1, 0, 1))
    xt = torch.nn.functional.pad(torch.from_numpy(nchw(x)), (0, 1, 1, 1), value=-float("inf"))
    expected = torch.nn.functional.max_pool2d(xt, (3, 2), (2, 1))
    np.testing.assert_array_equal(out, nhwc(expected.numpy()))


# --- direct convolution -----------------------------------------------------------------------------


def conv_reference64(x, kernel, bias, stride, pad, relu):
    """The convolution in float64 from the definition (independent of both backends)."""
    kh, kw, C, F = kernel.shape
    pt, pb, pl, pr = pads4(pad)
    sh, sw = pairs(stride)
    xp = np.pad(x.astype(np.float64), ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    OH = (xp.shape[1] - kh) // sh + 1
    OW = (xp.shape[2] - kw) // sw + 1
    y = np.zeros((x.shape[0], OH, OW, F))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, i : i + sh * (OH - 1) + 1 : sh, j : j + sw * (OW - 1) + 1 : sw, :]
            y += patch @ kernel[i, j].astype(np.float64)
    if bias is not None:
        y += bias
    return np.maximum(y, 0) if relu else y


@st.composite
def conv_cases(draw):
    (B, H, W, C), kh, kw, stride, pad, dtype, seed = draw(nhwc_window_cases(max_channels=4))
    F = draw(st.sampled_from([1, 3, 8, 9, 16, 17, 32, 40, 64]))
    return (B, H, W, C), F, kh, kw, stride, pad, dtype, seed, draw(st.booleans()), draw(st.booleans())


def tolerance(dtype, terms):
    return 1e-12 if dtype == np.float64 else 2e-6 * max(terms, 1) ** 0.5 * 4


@SETTINGS
@given(case=conv_cases())
def test_conv2d_nhwc_forward_matches_reference(run_both, case):
    shape, F, kh, kw, stride, pad, dtype, seed, relu, with_bias = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    kernel = rng.standard_normal((kh, kw, shape[3], F)).astype(dtype)
    bias = rng.standard_normal(F).astype(dtype) if with_bias else None
    native, reference = run_both("conv2d_nhwc_forward", x, kernel, bias, stride, pad, relu)
    exact = conv_reference64(x, kernel, bias, stride, pad, relu)
    rtol = tolerance(dtype, kh * kw * shape[3])
    assert_close_to_scale(native, exact, rtol)
    assert_close_to_scale(reference, exact, rtol)
    if relu:
        assert np.all(native >= 0)


@SETTINGS
@given(case=conv_cases())
def test_conv2d_nhwc_filter_grad_matches_reference(run_both, case):
    shape, F, kh, kw, stride, pad, dtype, seed, relu, _ = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    kernel = rng.standard_normal((kh, kw, shape[3], F)).astype(dtype)
    y = ops.reference.conv2d_nhwc_forward(x, kernel, None, stride, pad, True) if relu else None
    out_shape = ops.reference.conv2d_nhwc_forward(x, kernel, None, stride, pad).shape
    dout = rng.standard_normal(out_shape).astype(dtype)
    (kg_n, bg_n), (kg_r, bg_r) = run_both("conv2d_nhwc_filter_grad", x, dout, kh, kw, stride, pad, y)
    # from the definition, in float64
    g = dout.astype(np.float64) if y is None else np.where(y <= 0, 0, dout).astype(np.float64)
    cols = ops.reference.im2col_nhwc(x.astype(np.float64), kh, kw, stride, pad)
    expected_k = (cols.T @ g.reshape(-1, F)).reshape(kg_r.shape)
    expected_b = g.reshape(-1, F).sum(axis=0)
    rtol = tolerance(dtype, g.size // F)
    for got in (kg_n, kg_r):
        assert_close_to_scale(got, expected_k, rtol)
    for got in (bg_n, bg_r):
        assert_close_to_scale(got, expected_b, rtol)


def test_conv2d_nhwc_matches_torch(torch, rng):
    x = rng.standard_normal((4, 12, 11, 3)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 3, 20)).astype(np.float32)
    bias = rng.standard_normal(20).astype(np.float32)
    xt = torch.from_numpy(nchw(x)).requires_grad_(True)
    wt = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))).requires_grad_(True)
    bt = torch.from_numpy(bias).requires_grad_(True)
    yt = torch.relu(torch.nn.functional.conv2d(xt, wt, bt, stride=1, padding=1))
    y = ops.conv2d_nhwc_forward(x, kernel, bias, 1, 1, relu=True)
    np.testing.assert_allclose(y, nhwc(yt.detach().numpy()), rtol=1e-5, atol=1e-5)
    dout = rng.standard_normal(y.shape).astype(np.float32)
    yt.backward(torch.from_numpy(nchw(dout)))
    kg, bg = ops.conv2d_nhwc_filter_grad(x, dout, 3, 3, 1, 1, y)
    np.testing.assert_allclose(kg, wt.grad.numpy().transpose(2, 3, 1, 0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(bg, bt.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_conv2d_nhwc_relu_lets_nan_through(rng):
    x = rng.standard_normal((1, 5, 5, 1)).astype(np.float32)
    x[0, 2, 2, 0] = np.nan
    y = ops.conv2d_nhwc_forward(x, np.ones((3, 3, 1, 8), np.float32), None, 1, 1, relu=True)
    assert np.isnan(y[0, 1:4, 1:4]).all()
    assert not np.isnan(y[0, 0, 0]).any()


def test_out_arrays_are_filled_and_returned(rng):
    x = rng.standard_normal((2, 6, 6, 1)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 1, 8)).astype(np.float32)
    out = np.empty((2, 6, 6, 8), np.float32)
    assert ops.conv2d_nhwc_forward(x, kernel, None, 1, 1, out=out) is out
    kg, bg = np.empty_like(kernel), np.empty(8, np.float32)
    got = ops.conv2d_nhwc_filter_grad(x, out, 3, 3, 1, 1, out=kg, bias_grad_out=bg)
    assert got[0] is kg and got[1] is bg


# --- threads -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_results_do_not_depend_on_the_thread_count(native, rng, dtype):
    x = rng.standard_normal((16, 20, 20, 3)).astype(dtype)
    kernel = rng.standard_normal((3, 3, 3, 40)).astype(dtype)
    bias = rng.standard_normal(40).astype(dtype)
    wide = rng.standard_normal((8, 12, 13, 17)).astype(dtype)  # the gather's 16- and 1-channel blocks
    calls = [
        ("im2col_nhwc", (x, 3, 3, 1, 1)),
        ("col2im_nhwc", (ops.reference.im2col_nhwc(x, 3, 3, 1, 1), x.shape, 3, 3, 1, 1)),
        ("col2im_nhwc", (ops.reference.im2col_nhwc(wide, 3, 3, 2, (0, 1, 0, 1)), wide.shape, 3, 3, 2,
                         (0, 1, 0, 1))),
        ("col2im_nhwc", (ops.reference.im2col_nhwc(wide, 1, 1, 2, 0), wide.shape, 1, 1, 2, 0)),
        ("maxpool2d_nhwc_forward", (x, 2, 2)),
        ("maxpool2d_nhwc_forward", (x, 3, 3, 2, 1)),
        ("conv2d_nhwc_forward", (x, kernel, bias, 1, 1, True)),
        ("conv2d_nhwc_filter_grad", (x, rng.standard_normal((16, 20, 20, 40)).astype(dtype), 3, 3, 1, 1,
                                     ops.reference.conv2d_nhwc_forward(x, kernel, bias, 1, 1, True))),
    ]
    results = {}
    with le4nn.backend("native"):
        for n in (1, 2, 3):
            with num_threads(n):
                results[n] = [getattr(ops, name)(*args) for name, args in calls]
    for k, (name, _) in enumerate(calls):
        for n in (2, 3):
            one = results[1][k] if isinstance(results[1][k], tuple) else (results[1][k],)
            other = results[n][k] if isinstance(results[n][k], tuple) else (results[n][k],)
            for a, b in zip(one, other, strict=True):
                assert a.tobytes() == b.tobytes(), f"{name}: 1 and {n} threads differ"


@SETTINGS
@given(case=conv_cases(), pool=st.sampled_from([(2, None, 0), (2, 1, 0), (3, 2, 1), (2, 2, 1)]))
def test_conv2d_nhwc_filter_grad_pooled_is_the_composition(run_both, case, pool):
    """From the pooled gradient: the pooling's backward, the ReLU mask (pooled <= 0), the filter
    gradient — on both backends, against the composition of the separate reference ops."""
    shape, F, kh, kw, stride, pad, dtype, seed, relu, _ = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    kernel = rng.standard_normal((kh, kw, shape[3], F)).astype(dtype)
    y = ops.reference.conv2d_nhwc_forward(x, kernel, None, stride, pad, relu)
    k, s, p = pool
    if y.shape[1] + 2 * p < k or y.shape[2] + 2 * p < k or p >= k:
        return
    pooled, argmax = ops.reference.maxpool2d_nhwc_forward(y, k, k, s, p)
    dout = rng.standard_normal(pooled.shape).astype(dtype)
    (kg_n, bg_n), (kg_r, bg_r) = run_both("conv2d_nhwc_filter_grad_pooled", x, dout, argmax,
                                          pooled if relu else None, kh, kw, stride, pad)
    grad_z = ops.reference.maxpool2d_nhwc_backward(dout, argmax, y.shape)
    kg_e, bg_e = ops.reference.conv2d_nhwc_filter_grad(x, grad_z, kh, kw, stride, pad, y if relu else None)
    rtol = tolerance(dtype, y.size // F)
    for got, expected in ((kg_n, kg_e), (kg_r, kg_e), (bg_n, bg_e), (bg_r, bg_e)):
        assert_close_to_scale(got, expected, rtol)


@SETTINGS
@given(case=conv_cases(), pool=st.sampled_from([(2, None, 0), (2, 1, 0), (3, 2, 1), (2, 2, 1)]))
def test_conv2d_nhwc_pool_forward_is_the_composition(run_both, case, pool):
    shape, F, kh, kw, stride, pad, dtype, seed, relu, with_bias = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    kernel = rng.standard_normal((kh, kw, shape[3], F)).astype(dtype)
    bias = rng.standard_normal(F).astype(dtype) if with_bias else None
    k, s, p = pool
    y = ops.conv2d_nhwc_forward(x, kernel, bias, stride, pad, relu)
    if y.shape[1] + 2 * p < k or y.shape[2] + 2 * p < k or p >= k:
        return
    # on one backend, bitwise the composition of the two ops (the same convolution code)
    pooled, argmax = ops.conv2d_nhwc_pool_forward(x, kernel, bias, stride, pad, relu, k, k, s, p)
    expected, expected_arg = ops.maxpool2d_nhwc_forward(y, k, k, s, p)
    np.testing.assert_array_equal(pooled, expected)
    np.testing.assert_array_equal(argmax, expected_arg)
    # across backends, up to rounding (a near tie may pick another winner: compare the values)
    (p_n, _), (p_r, _) = run_both("conv2d_nhwc_pool_forward", x, kernel, bias, stride, pad, relu, k, k, s, p)
    assert_close_to_scale(p_n, p_r, tolerance(dtype, kh * kw * shape[3]))
