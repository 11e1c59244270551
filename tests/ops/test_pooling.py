"""Max pooling (handout eq. 63–64) and average pooling: the native kernels against the NumPy
reference, numerical gradients, PyTorch, ties, NaN/inf, overlapping windows, ``out=`` handling,
thread counts and validation.

Tests that compare the two backends use ``run_both``; the others run on the backend in force
(``LE4NN_BACKEND``), so the whole file is meaningful under both."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import le4nn
from le4nn import ops
from tests.ops import helpers
from tests.ops.helpers import (
    assert_close_to_scale,
    assert_same_bits,
    hypothesis_settings,
    num_threads,
    numerical_gradient,
    pads4,
    pairs,
)

SETTINGS = hypothesis_settings(300)


def make_data(rng, shape, dtype, kind="normal"):
    """``normal``; ``ties`` (few distinct values); ``extreme`` (±1e4, ±inf, NaN); ``neginf`` (planes
    of −inf with a few NaN and real values)."""
    kind = "extreme+neginf" if kind == "neginf" else kind
    return helpers.make_data(rng, shape, dtype, kind, ties=(-1, 2), neginf=0.9)


@st.composite
def pool_cases(draw):
    """Random pooling geometry: batch 1–8, channels 1–5, H and W 1–17, pools 1–5 (non-square),
    stride None (= pool) or 1–3 (int or pair), padding 0–2 (int, pair or asymmetric 4-tuple),
    kept smaller than the pool on each side as pooling requires."""
    B, C = draw(st.integers(1, 8)), draw(st.integers(1, 5))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    stride = draw(
        st.one_of(st.none(), st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3)))
    )
    form = draw(st.sampled_from(["int", "pair", "four", "2x2"]))
    if form == "2x2":  # the common pool, which has its own fast paths in the native kernels
        kh = kw = 2
        stride = draw(st.sampled_from([None, 2, (2, 2)]))
        pad = 0
    elif form == "int":
        pad = draw(st.integers(0, min(2, kh - 1, kw - 1)))
    elif form == "pair":
        pad = (draw(st.integers(0, min(2, kh - 1))), draw(st.integers(0, min(2, kw - 1))))
    else:
        pad = tuple(draw(st.integers(0, min(2, k - 1))) for k in (kh, kh, kw, kw))
    pt, pb, pl, pr = pads4(pad)
    # sizes up to 17, half of the time at least 8 (vector loops with ragged ends)
    H = draw(st.integers(max(1, kh - pt - pb), 17) | st.integers(8, 17))
    W = draw(st.integers(max(1, kw - pl - pr), 17) | st.integers(8, 17))
    dtype = np.dtype(draw(st.sampled_from([np.float32, np.float64])))
    seed = draw(st.integers(0, 2**32 - 1))
    return (B, C, H, W), kh, kw, stride, pad, dtype, seed


def overlapping(kh, kw, stride):
    sh, sw = pairs(stride) if stride is not None else (kh, kw)
    return sh < kh or sw < kw


# --- native == reference ------------------------------------------------------------------------


@SETTINGS
@given(case=pool_cases(), kind=st.sampled_from(["normal", "ties", "extreme", "neginf"]))
def test_maxpool_forward_matches_reference_exactly(run_both, case, kind):
    shape, kh, kw, stride, pad, dtype, seed = case
    x = make_data(np.random.default_rng(seed), shape, dtype, kind)
    (out_n, arg_n), (out_r, arg_r) = run_both("maxpool2d_forward", x, kh, kw, stride, pad)
    assert out_n.dtype == dtype and arg_n.dtype == np.int32
    np.testing.assert_array_equal(out_n, out_r)  # values, NaN positions included
    np.testing.assert_array_equal(arg_n, arg_r)


@SETTINGS
@given(case=pool_cases(), kind=st.sampled_from(["normal", "ties", "extreme"]))
def test_maxpool_backward_matches_reference(run_both, case, kind):
    shape, kh, kw, stride, pad, dtype, seed = case
    rng = np.random.default_rng(seed)
    x = make_data(rng, shape, dtype, kind)
    _, argmax = ops.reference.maxpool2d_forward(x, kh, kw, stride, pad)
    dout = rng.standard_normal(argmax.shape).astype(dtype)
    native, reference = run_both("maxpool2d_backward", dout, argmax, shape)
    if overlapping(kh, kw, stride):
        assert_close_to_scale(native, reference)  # windows sharing a winner add up
    else:
        np.testing.assert_array_equal(native, reference)


@SETTINGS
@given(case=pool_cases(), count_include_pad=st.booleans())
def test_avgpool_matches_reference(run_both, case, count_include_pad):
    shape, kh, kw, stride, pad, dtype, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    native, reference = run_both("avgpool2d_forward", x, kh, kw, stride, pad, count_include_pad)
    assert native.dtype == dtype
    assert_close_to_scale(native, reference)
    dout = rng.standard_normal(reference.shape).astype(dtype)
    native, reference = run_both("avgpool2d_backward", dout, shape, kh, kw, stride, pad, count_include_pad)
    assert_close_to_scale(native, reference)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("hw", [(28, 28), (30, 30), (6, 6), (7, 9), (2, 2), (3, 17), (17, 3), (10, 26)])
def test_2x2_fast_paths_match_reference(run_both, rng, dtype, hw):
    """The 2×2 stride-2 fast paths, with even and odd sizes and rows that are not a multiple of
    the vector width, including NaN, ±inf and ties."""
    x = make_data(rng, (3, 2, *hw), dtype, "extreme")
    x[0, 0] = 1  # all-equal windows
    (out_n, arg_n), (out_r, arg_r) = run_both("maxpool2d_forward", x, 2, 2)
    np.testing.assert_array_equal(out_n, out_r)
    np.testing.assert_array_equal(arg_n, arg_r)
    dout = rng.standard_normal(out_r.shape).astype(dtype)
    np.testing.assert_array_equal(*run_both("maxpool2d_backward", dout, arg_r, x.shape))
    x = rng.standard_normal(x.shape).astype(dtype)
    for count_include_pad in (True, False):
        assert_close_to_scale(*run_both("avgpool2d_forward", x, 2, 2, None, 0, count_include_pad))
        assert_close_to_scale(*run_both("avgpool2d_backward", dout, x.shape, 2, 2, None, 0, count_include_pad))


@pytest.mark.parametrize(
    "shape",
    [(1, 1, 8, 8), (1, 3, 6, 8), (5, 3, 8, 8), (3, 7, 8, 8), (1, 17, 8, 8), (2, 5, 16, 16), (2, 3, 17, 16),
     (1, 2, 16, 33), (2, 3, 32, 32), (3, 1, 9, 8)],
)
@pytest.mark.parametrize("kind", ["extreme", "ties", "neginf"])
def test_small_plane_groups_match_reference_exactly(run_both, rng, shape, kind):
    """The 8-wide float32 2×2 path over groups of planes: output rows of 4 (8×8 planes, two rows per
    vector across plane boundaries, an odd row count's last row scalar) and of multiples of 8 (16×16,
    32×32, with unused rows and columns), plane counts below, at and beyond a group; the backward
    also with −0 gradients (+0 in dx) and with an argmax from another geometry (the scatter-add)."""
    x = make_data(rng, shape, np.float32, kind)
    (out_n, arg_n), (out_r, arg_r) = run_both("maxpool2d_forward", x, 2, 2)
    np.testing.assert_array_equal(out_n, out_r)
    np.testing.assert_array_equal(arg_n, arg_r)
    dout = make_data(rng, out_r.shape, np.float32, "extreme")
    dout.flat[::5] = -0.0
    native, reference = run_both("maxpool2d_backward", dout, arg_r, shape)
    assert_same_bits(native, reference)
    foreign = arg_r.copy()
    foreign.flat[-1] = 0  # the last plane's last window points at its first element
    native, reference = run_both("maxpool2d_backward", dout, foreign, shape)
    assert_same_bits(native, reference)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_maxpool_backward_with_foreign_argmax(run_both, rng, dtype):
    """An argmax from another geometry (3×3 stride 2 pad 1) whose output still fits 2×2 blocks:
    the direct-write fast path must notice and fall back to the scatter-add."""
    x = rng.standard_normal((2, 3, 9, 12)).astype(dtype)
    _, argmax = ops.reference.maxpool2d_forward(x, 3, 3, 2, 1)  # (5, 6) outputs; 2·5 > 9 though
    x_shape = (2, 3, 10, 12)  # a plane in which (5, 6) outputs do fit 2×2 blocks
    dout = rng.standard_normal(argmax.shape).astype(dtype)
    native, reference = run_both("maxpool2d_backward", dout, argmax, x_shape)
    np.testing.assert_array_equal(native, reference)


# --- gradients (current backend, float64 central differences) -----------------------------------


@pytest.mark.parametrize(
    "kh, kw, stride, pad",
    [(2, 2, None, 0), (3, 3, 2, 1), (3, 3, 1, 1), (3, 2, (1, 2), (1, 0, 0, 1)), (2, 3, 1, (0, 1))],
)
def test_maxpool_gradient(rng, kh, kw, stride, pad):
    shape = (2, 2, 7, 6)
    # distinct values at least 0.01 apart, so that ±eps never changes a window's winner
    x = rng.permutation(np.prod(shape)).reshape(shape) * 0.01 + rng.uniform(0, 0.001, shape)
    out, argmax = ops.maxpool2d_forward(x, kh, kw, stride, pad)
    weights = rng.standard_normal(out.shape)
    analytic = ops.maxpool2d_backward(weights, argmax, shape)
    numeric = numerical_gradient(lambda v: np.vdot(ops.maxpool2d_forward(v, kh, kw, stride, pad)[0], weights), x)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize(
    "kh, kw, stride, pad", [(2, 2, None, 0), (3, 3, 2, 1), (3, 3, 1, 1), (3, 2, (1, 2), (2, 0, 1, 1))]
)
def test_avgpool_gradient(rng, kh, kw, stride, pad, count_include_pad):
    shape = (2, 2, 7, 6)
    x = rng.standard_normal(shape)
    out = ops.avgpool2d_forward(x, kh, kw, stride, pad, count_include_pad)
    weights = rng.standard_normal(out.shape)
    analytic = ops.avgpool2d_backward(weights, shape, kh, kw, stride, pad, count_include_pad)

    def loss(v):
        return np.vdot(ops.avgpool2d_forward(v, kh, kw, stride, pad, count_include_pad), weights)

    np.testing.assert_allclose(analytic, numerical_gradient(loss, x), rtol=1e-6, atol=1e-8)


# --- ties, NaN, inf, overlaps (current backend) ------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ties_go_to_the_first_element(dtype):
    x = np.full((1, 1, 4, 6), 3.0, dtype=dtype)
    out, argmax = ops.maxpool2d_forward(x, 2, 2)
    np.testing.assert_array_equal(out, 3.0)
    np.testing.assert_array_equal(argmax[0, 0], [[0, 2, 4], [12, 14, 16]])
    # overlapping windows with padding: the first real element of each window
    out, argmax = ops.maxpool2d_forward(x, 3, 3, 1, 1)
    oh, ow = np.meshgrid(np.arange(4), np.arange(6), indexing="ij")
    np.testing.assert_array_equal(argmax[0, 0], np.maximum(oh - 1, 0) * 6 + np.maximum(ow - 1, 0))
    # ties between two maxima inside one window (row-major order decides)
    x = np.array([[[[1, 5], [5, 5]]]], dtype=dtype)
    assert ops.maxpool2d_forward(x, 2, 2)[1].item() == 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kh, kw, stride, pad", [(2, 2, None, 0), (3, 3, 1, 1), (2, 3, (2, 1), (1, 1))])
def test_all_minus_inf_plane_never_picks_padding(dtype, kh, kw, stride, pad):
    x = np.full((2, 1, 5, 4), -np.inf, dtype=dtype)
    out, argmax = ops.maxpool2d_forward(x, kh, kw, stride, pad)
    assert np.all(out == -np.inf)
    pt, _, pl, _ = pads4(pad)
    sh, sw = pairs(stride) if stride is not None else (kh, kw)
    oh, ow = np.meshgrid(np.arange(out.shape[2]), np.arange(out.shape[3]), indexing="ij")
    first_real = np.maximum(oh * sh - pt, 0) * 4 + np.maximum(ow * sw - pl, 0)
    np.testing.assert_array_equal(argmax, np.broadcast_to(first_real, argmax.shape))
    dx = ops.maxpool2d_backward(np.ones_like(out), argmax, x.shape)
    assert dx.sum() == out.size  # every gradient lands on a real element


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kh, kw, stride, pad", [(2, 2, None, 0), (3, 3, 1, 1)])
def test_nan_propagates_and_the_first_nan_wins(dtype, kh, kw, stride, pad):
    x = np.zeros((1, 1, 4, 8), dtype=dtype)
    x[0, 0, 0, :4] = [5, np.nan, 7, np.nan]
    x[0, 0, 1, :4] = [np.inf, 1e4, np.nan, -np.inf]
    out, argmax = ops.maxpool2d_forward(x, kh, kw, stride, pad)
    if kh == 2:  # windows {0,1,8,9} and {2,3,10,11}: first NaN at 1 and at 3
        assert np.isnan(out[0, 0, 0, 0]) and argmax[0, 0, 0, 0] == 1
        assert np.isnan(out[0, 0, 0, 1]) and argmax[0, 0, 0, 1] == 3
        assert out[0, 0, 1, 0] == 0 and not np.isnan(out[0, 0, 1:]).any()
    else:  # window centred on (0, 0) covers (0,0),(0,1),(1,0),(1,1): the NaN at 1 comes first
        assert np.isnan(out[0, 0, 0, 0]) and argmax[0, 0, 0, 0] == 1
        assert np.isnan(out[0, 0, 1, 1]) and argmax[0, 0, 1, 1] == 1  # before the NaN at 10
        assert np.isnan(out[0, 0, 2, 2]) and argmax[0, 0, 2, 2] == 10
    assert np.isnan(out).sum() == np.isnan(ops.reference.maxpool2d_forward(x, kh, kw, stride, pad)[0]).sum()


def test_extreme_values_in_pooling():
    x = np.array([1e4, -1e4, np.inf, 3], dtype=np.float32).reshape(1, 1, 2, 2)
    out, argmax = ops.maxpool2d_forward(x, 2, 2)
    assert out.item() == np.inf and argmax.item() == 2
    x = np.array([1e4, -1e4, 1e4, 1e4], dtype=np.float32).reshape(1, 1, 2, 2)
    assert ops.avgpool2d_forward(x, 2, 2).item() == pytest.approx(5000.0)
    with np.errstate(invalid="ignore"):
        y = ops.avgpool2d_forward(np.array([np.inf, -np.inf, 0, 0], np.float32).reshape(1, 1, 2, 2), 2, 2)
    assert np.isnan(y.item())


def test_overlapping_windows_add_their_gradients():
    """One maximum shared by all nine 3×3 windows of a 5×5 plane (stride 1): it gets all of dout."""
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 2] = 1
    out, argmax = ops.maxpool2d_forward(x, 3, 3, 1)
    assert np.all(argmax == 12)
    dout = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    dx = ops.maxpool2d_backward(dout, argmax, x.shape)
    assert dx[0, 0, 2, 2] == 45 and dx.sum() == 45


def test_avgpool_count_include_pad():
    x = np.ones((1, 1, 3, 3))
    np.testing.assert_array_equal(ops.avgpool2d_forward(x, 3, 3, 1, 1, count_include_pad=False), 1)
    inc = ops.avgpool2d_forward(x, 3, 3, 1, 1, count_include_pad=True)[0, 0]
    np.testing.assert_allclose(inc, [[4 / 9, 6 / 9, 4 / 9], [6 / 9, 1, 6 / 9], [4 / 9, 6 / 9, 4 / 9]])


# --- PyTorch ---------------------------------------------------------------------------------------


TORCH_CASES = [((2, 3, 8, 8), 2, 2, None, 0), ((2, 2, 9, 7), 3, 3, 2, 1), ((1, 3, 7, 10), 3, 2, (1, 2), (1, 1)),
               ((3, 1, 11, 6), 4, 3, 1, (2, 1)), ((2, 2, 13, 13), 3, 3, 1, 0)]


@pytest.mark.parametrize("shape, kh, kw, stride, pad", TORCH_CASES)
def test_maxpool_matches_torch(torch, rng, shape, kh, kw, stride, pad):
    x = (rng.permutation(np.prod(shape)).reshape(shape) * 0.5 - 10).astype(np.float32)  # no ties
    F = torch.nn.functional
    xt = torch.from_numpy(x).requires_grad_(True)
    out_t, idx_t = F.max_pool2d(xt, (kh, kw), stride=stride if stride is not None else (kh, kw),
                                padding=pairs(pad), return_indices=True)
    out, argmax = ops.maxpool2d_forward(x, kh, kw, stride, pad)
    np.testing.assert_array_equal(out, out_t.detach().numpy())
    np.testing.assert_array_equal(argmax, idx_t.numpy())
    dout = rng.standard_normal(out.shape).astype(np.float32)
    out_t.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(ops.maxpool2d_backward(dout, argmax, shape), xt.grad.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("shape, kh, kw, stride, pad", TORCH_CASES)
def test_avgpool_matches_torch(torch, rng, shape, kh, kw, stride, pad, count_include_pad):
    x = rng.standard_normal(shape).astype(np.float32)
    F = torch.nn.functional
    xt = torch.from_numpy(x).requires_grad_(True)
    out_t = F.avg_pool2d(xt, (kh, kw), stride=stride if stride is not None else (kh, kw), padding=pairs(pad),
                         count_include_pad=count_include_pad)
    out = ops.avgpool2d_forward(x, kh, kw, stride, pad, count_include_pad)
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=1e-5, atol=1e-6)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    out_t.backward(torch.from_numpy(dout))
    dx = ops.avgpool2d_backward(dout, shape, kh, kw, stride, pad, count_include_pad)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-5, atol=1e-6)


# --- out= -----------------------------------------------------------------------------------------


def test_out_arrays_are_returned_and_filled(rng):
    x = rng.standard_normal((2, 3, 8, 6)).astype(np.float32)
    out = np.full((2, 3, 4, 3), np.nan, np.float32)
    arg = np.full((2, 3, 4, 3), -5, np.int32)
    res, res_arg = ops.maxpool2d_forward(x, 2, 2, out=out, argmax_out=arg)
    assert res is out and res_arg is arg
    expected, expected_arg = ops.maxpool2d_forward(x, 2, 2)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(arg, expected_arg)
    dx = np.full(x.shape, np.nan, np.float32)
    assert ops.maxpool2d_backward(out, arg, x.shape, out=dx) is dx
    np.testing.assert_array_equal(dx, ops.maxpool2d_backward(out, arg, x.shape))
    assert ops.avgpool2d_forward(x, 2, 2, out=out) is out
    assert ops.avgpool2d_backward(out, x.shape, 2, 2, out=dx) is dx
    assert not np.isnan(dx).any()


def test_bad_out_arrays_are_rejected():
    x = np.zeros((2, 3, 8, 6), np.float32)
    shape = (2, 3, 4, 3)
    with pytest.raises(ValueError, match="out has shape"):
        ops.maxpool2d_forward(x, 2, 2, out=np.empty((2, 3, 4, 4), np.float32))
    with pytest.raises(TypeError, match="out has dtype"):
        ops.maxpool2d_forward(x, 2, 2, out=np.empty(shape, np.float64))
    with pytest.raises(TypeError, match="argmax_out has dtype"):
        ops.maxpool2d_forward(x, 2, 2, argmax_out=np.empty(shape, np.int64))
    with pytest.raises(ValueError, match="argmax_out must be a writeable C-contiguous"):
        ops.maxpool2d_forward(x, 2, 2, argmax_out=np.empty((2, 3, 4, 6), np.int32)[..., ::2])
    with pytest.raises(ValueError, match="out must be a writeable C-contiguous"):
        ops.avgpool2d_forward(x, 2, 2, out=np.empty((2, 3, 4, 6), np.float32)[..., ::2])
    with pytest.raises(ValueError, match="out has shape"):
        ops.avgpool2d_backward(np.zeros(shape, np.float32), x.shape, 2, 2, out=np.empty((2, 3, 8, 5), np.float32))
    _, argmax = ops.maxpool2d_forward(x, 2, 2)
    with pytest.raises(TypeError, match="out has dtype"):
        ops.maxpool2d_backward(np.zeros(shape, np.float32), argmax, x.shape, out=np.empty(x.shape, np.float64))


@pytest.mark.parametrize("bad_index", [-1, 48, 10**6])
def test_maxpool_backward_rejects_bad_argmax_before_writing(rng, bad_index):
    x = rng.standard_normal((2, 3, 8, 6)).astype(np.float32)
    out, argmax = ops.maxpool2d_forward(x, 2, 2)
    argmax[1, 2, 3, 2] = bad_index
    dx = np.full(x.shape, 7.0, np.float32)
    with pytest.raises(ValueError, match="argmax holds indices outside"):
        ops.maxpool2d_backward(out, argmax, x.shape, out=dx)
    assert np.all(dx == 7.0)  # nothing was written
    with pytest.raises(TypeError, match="argmax must be the int32"):
        ops.maxpool2d_backward(out, argmax.astype(np.int64), x.shape)


# --- threads --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kh, kw, stride, pad", [(2, 2, None, 0), (3, 3, 1, 1), (3, 2, (2, 1), (1, 0, 1, 1))])
def test_threads_give_identical_results(native, rng, kh, kw, stride, pad):
    x = make_data(rng, (6, 5, 17, 15), np.float32, "extreme")
    results = []
    for n in (1, 2):
        with le4nn.backend("native"), num_threads(n):
            out, argmax = ops.maxpool2d_forward(x, kh, kw, stride, pad)
            dout = np.linspace(-1, 1, out.size, dtype=np.float32).reshape(out.shape)
            dx = ops.maxpool2d_backward(dout, argmax, x.shape)
            with np.errstate(invalid="ignore"):
                avg = ops.avgpool2d_forward(x, kh, kw, stride, pad, count_include_pad=False)
            davg = ops.avgpool2d_backward(dout, x.shape, kh, kw, stride, pad, count_include_pad=False)
            results.append([a.tobytes() for a in (out, argmax, dx, avg, davg)])
    assert results[0] == results[1]  # bitwise


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, error, pattern",
    [
        (lambda: ops.maxpool2d_forward(np.zeros((3, 4, 4), np.float32), 2, 2), ValueError, r"\bx must be 4-D"),
        (lambda: ops.maxpool2d_forward(np.zeros((1, 1, 4, 8), np.float32)[..., ::2], 2, 2), ValueError,
         r"\bx must be C-contiguous"),
        (lambda: ops.avgpool2d_forward(np.zeros((1, 1, 4, 4), np.int64), 2, 2), TypeError,
         r"\bx must be float32"),
        (lambda: ops.maxpool2d_forward(np.zeros((1, 1, 3, 3), np.float32), 4, 2), ValueError,
         r"kernel .* larger"),
        (lambda: ops.maxpool2d_forward(np.zeros((1, 1, 4, 4), np.float32), 2, 2, stride=0), ValueError,
         "stride"),
        (lambda: ops.avgpool2d_forward(np.zeros((1, 1, 4, 4), np.float32), 2, 2, pad=(0, -1)), ValueError,
         "padding"),
        (lambda: ops.maxpool2d_forward(np.zeros((1, 1, 4, 4), np.float32), 2, 2, pad=2), ValueError,
         r"padding .* smaller than the pool"),
        (lambda: ops.avgpool2d_forward(np.zeros((1, 1, 4, 4), np.float32), 3, 3, pad=(0, 0, 3, 0)),
         ValueError, r"padding .* smaller than the pool"),
        (lambda: ops.avgpool2d_backward(np.zeros((1, 1, 2, 3), np.float32), (1, 1, 4, 4), 2, 2), ValueError,
         r"dout has shape"),
        (lambda: ops.maxpool2d_backward(np.zeros((1, 1, 2, 2), np.float32), np.zeros((1, 1, 2, 3), np.int32),
                                        (1, 1, 4, 4)), ValueError, "shapes must match"),
        (lambda: ops.maxpool2d_backward(np.zeros((1, 1, 2, 2), np.float32), np.zeros((1, 1, 2, 2), np.int32),
                                        (1, 2, 4, 4)), ValueError, "x_shape"),
        (lambda: ops.maxpool2d_backward(np.zeros((1, 1, 2, 2), np.int32), np.zeros((1, 1, 2, 2), np.int32),
                                        (1, 1, 4, 4)), TypeError, r"dout must be float32"),
    ],
)
def test_validation_errors_name_the_argument(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_read_only_inputs_are_accepted(rng):
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    x.setflags(write=False)
    out, argmax = ops.maxpool2d_forward(x, 2, 2)
    for a in (out, argmax):
        a.setflags(write=False)
    assert ops.maxpool2d_backward(out, argmax, x.shape).shape == x.shape
    assert ops.avgpool2d_backward(ops.avgpool2d_forward(x, 3, 3, 1, 1), x.shape, 3, 3, 1, 1).shape == x.shape
