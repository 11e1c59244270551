"""Winograd F(2×2, 3×3) and F(4×4, 3×3) transforms (``tile`` 2: ops.winograd_*, 4: ops.winograd4_*):
native against the reference over many shapes and paddings, and the whole pipeline (transforms + n²
products) against the convolution's definition, forward, ∂E/∂x and ∂E/∂W; thread counts.

Tolerances: native against reference 1e-5 (float32) of the largest value, the same sums in another
rounding (FMA).  The pipeline against a float64 convolution: F(2×2, 3×3) 1e-5; F(4×4, 3×3) 1e-4 of the
largest value: its float32 error measured up to 5.7e-5 of the output's rms at C = 256 (see
le4nn/ops/reference_winograd.py), and the largest value is ≥ 2× the rms on these sizes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import le4nn
from le4nn import ops
from le4nn.ops.reference import (
    WINOGRAD4_AT,
    WINOGRAD4_BT,
    WINOGRAD4_G,
    WINOGRAD_AT,
    WINOGRAD_BT,
    WINOGRAD_G,
)
from tests.ops.helpers import hypothesis_settings, num_threads, pads4

SETTINGS = hypothesis_settings(150)
TILES = [2, 4]
#: tile → (input, output, gradient transform op names), the number of planes and G.
NAMES = {2: ("winograd_input_transform", "winograd_output_transform", "winograd_gradient_transform"),
         4: ("winograd4_input_transform", "winograd4_output_transform", "winograd4_gradient_transform")}
PLANES = {2: 16, 4: 36}
G = {2: WINOGRAD_G, 4: WINOGRAD4_G}


def out_size(size: int, tile: int) -> int:
    return -(-size // tile)


@st.composite
def cases(draw):
    pad = draw(st.one_of(st.integers(0, 2), st.tuples(*[st.integers(0, 2)] * 4)))
    pt, pb, pl, pr = pads4(pad)
    H = draw(st.integers(max(1, 3 - pt - pb), 13))
    W = draw(st.integers(max(1, 3 - pl - pr), 13))
    B = draw(st.integers(1, 5))
    C, K = [draw(st.one_of(st.integers(1, 20), st.sampled_from([64]))) for _ in range(2)]
    dtype = np.dtype(draw(st.sampled_from([np.float32, np.float64])))
    return (B, H, W, C), K, pad, dtype, draw(st.integers(0, 2**32 - 1))


def close(a, b, dtype, scale=1.0, rtol=None):
    rtol = rtol or (1e-12 if dtype == np.float64 else 1e-5)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * max(scale, float(np.abs(b).max(initial=0))))


@pytest.mark.parametrize("tile", TILES)
@SETTINGS
@given(case=cases())
def test_transforms_match_reference(run_both, tile, case):
    shape, K, pad, dtype, seed = case
    names = NAMES[tile]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    v_n, v_r = run_both(names[0], x, pad)
    close(v_n, v_r, dtype)
    pt, pb, pl, pr = pads4(pad)
    out_shape = (shape[0], shape[1] + pt + pb - 2, shape[2] + pl + pr - 2, K)
    assert v_r.shape == (PLANES[tile], shape[0] * out_size(out_shape[1], tile) * out_size(out_shape[2], tile),
                         shape[3])
    m = rng.standard_normal((PLANES[tile], v_r.shape[1], K)).astype(dtype)
    bias = rng.standard_normal(K).astype(dtype)
    m_padded = padded(m, draw_pad=int(rng.integers(1, 40)))
    for b, relu in [(None, False), (bias, True), (bias, False)]:
        y_n, y_r = run_both(names[1], m, out_shape, b, relu)
        close(y_n, y_r, dtype, 4.0)
        yp_n, yp_r = run_both(names[1], m_padded, out_shape, b, relu)
        assert yp_n.tobytes() == y_n.tobytes() and yp_r.tobytes() == y_r.tobytes()
    g = rng.standard_normal(out_shape).astype(dtype)
    q_n, q_r = run_both(names[2], g)
    close(q_n, q_r, dtype)


def padded(m: np.ndarray, draw_pad: int) -> np.ndarray:
    """A copy of m (n², T, K) whose planes lie ``draw_pad`` elements further apart than their size."""
    n2, T, K = m.shape
    buffer = np.full((n2, T * K + draw_pad), np.nan, m.dtype)
    view = buffer[:, : T * K].reshape(n2, T, K)
    view[...] = m
    assert not view.flags.c_contiguous or T * K == 0
    return view


@st.composite
def wide_cases(draw):
    """The native loops' branches: channel counts below, at and beyond the 8-wide vectors (a ragged
    end), rows wide enough for interior tiles between the border ones, one-sided padding."""
    pt, pb, pl, pr = draw(st.tuples(*[st.integers(0, 2)] * 4))
    H = draw(st.integers(max(1, 3 - pt - pb), 12))
    W = draw(st.integers(max(1, 3 - pl - pr), 21))
    B, C = draw(st.integers(1, 2)), draw(st.sampled_from([1, 3, 4, 8, 9, 16, 17, 32, 64]))
    dtype = np.dtype(draw(st.sampled_from([np.float32, np.float64])))
    return (B, H, W, C), (pt, pb, pl, pr), dtype, draw(st.integers(0, 2**32 - 1))


@pytest.mark.parametrize("tile", TILES)
@SETTINGS
@given(case=wide_cases())
def test_input_and_gradient_transforms_per_branch(run_both, tile, case):
    shape, pad, dtype, seed = case
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    v_n, v_r = run_both(NAMES[tile][0], x, pad)
    close(v_n, v_r, dtype)
    q_n, q_r = run_both(NAMES[tile][2], x)
    close(q_n, q_r, dtype)


@pytest.mark.parametrize("tile", TILES)
@pytest.mark.parametrize("shape", [(6, 32, 32, 16), (12, 16, 16, 32), (24, 8, 8, 64), (10, 32, 32, 16)])
def test_resnet_chunk_shapes(run_both, tile, shape):
    """Planes 4 KiB apart (the shapes the native loops write 4 or 6 planes per pass for)."""
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    for pad in (1, (0, 2, 2, 0)):
        v_n, v_r = run_both(NAMES[tile][0], x, pad)
        close(v_n, v_r, np.float32)
    q_n, q_r = run_both(NAMES[tile][2], x)
    close(q_n, q_r, np.float32)


@pytest.mark.parametrize("tile", TILES)
@pytest.mark.parametrize("shape", [(6, 32, 32, 16), (12, 16, 16, 32), (24, 8, 8, 64), (2, 7, 9, 12)])
def test_output_transform_reads_padded_planes(run_both, tile, shape):
    """m with planes C-contiguous but further apart (Conv2D's padded M: a plane stride off the
    multiples of 4 KiB) gives the bits of the contiguous m, on both backends."""
    B, OH, OW, K = shape
    rng = np.random.default_rng(2)
    tiles = B * out_size(OH, tile) * out_size(OW, tile)
    m = rng.standard_normal((PLANES[tile], tiles, K)).astype(np.float32)
    bias = rng.standard_normal(K).astype(np.float32)
    for pad in (16, 48):
        y_n, y_r = run_both(NAMES[tile][1], padded(m, pad), shape, bias, True)
        c_n, c_r = run_both(NAMES[tile][1], m, shape, bias, True)
        assert y_n.tobytes() == c_n.tobytes() and y_r.tobytes() == c_r.tobytes()
        close(y_n, y_r, np.float32, 4.0)


@pytest.mark.parametrize("tile", TILES)
@pytest.mark.parametrize("make", [
    lambda m: m[:, ::2],                                  # tiles not adjacent
    lambda m: m[:, :, ::2],                               # channels not adjacent
    lambda m: np.ascontiguousarray(m.transpose(1, 0, 2)).transpose(1, 0, 2),  # planes overlap
])
def test_output_transform_rejects_other_strides(tile, make):
    m = make(np.zeros((PLANES[tile], 8, 8), np.float32))
    T, K = m.shape[1], m.shape[2]
    with pytest.raises(ValueError, match=f"{NAMES[tile][1]}: m must be C-contiguous"):
        getattr(ops, NAMES[tile][1])(m, (T, 1, tile, K))


def conv64(x, kernel, pad):
    pt, pb, pl, pr = pads4(pad)
    xp = np.pad(x.astype(np.float64), ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    OH, OW = xp.shape[1] - 2, xp.shape[2] - 2
    return sum(xp[:, i : i + OH, j : j + OW] @ kernel[i, j].astype(np.float64) for i in range(3) for j in range(3))


@pytest.mark.parametrize("tile", TILES)
@SETTINGS
@given(case=cases())
def test_pipeline_is_the_convolution(tile, case):
    """The data and kernel transforms + the n² products give the convolution, its ∂E/∂x and its ∂E/∂W."""
    shape, K, pad, dtype, seed = case
    input_transform, output_transform, gradient_transform = (getattr(ops, name) for name in NAMES[tile])
    rtol = 1e-4 if tile == 4 and dtype == np.float32 else None  # see the module docstring
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    kernel = rng.standard_normal((3, 3, shape[3], K)).astype(dtype)
    U = ops.winograd_kernel_transform(kernel, tile)
    V = input_transform(x, pad)
    y_expected = conv64(x, kernel, pad)
    y = output_transform(np.matmul(V, U), y_expected.shape)
    close(y, y_expected, dtype, 10.0, rtol)

    dz = rng.standard_normal(y.shape).astype(dtype)
    pt, pb, pl, pr = pads4(pad)
    U_back = ops.winograd_kernel_transform(kernel, tile, flip=True)  # (n², K, C)
    Vd = input_transform(dz, (2 - pt, 2 - pb, 2 - pl, 2 - pr))
    dx = output_transform(np.matmul(Vd, U_back), shape)
    cols = ops.reference.im2col_nhwc(np.zeros(shape), 3, 3, 1, pad).shape
    dx_expected = ops.reference.col2im_nhwc(
        dz.reshape(-1, K).astype(np.float64) @ kernel.reshape(-1, K).T.astype(np.float64), shape, 3, 3, 1, pad)
    assert dx_expected.shape == shape and cols[1] == 9 * shape[3]
    close(dx, dx_expected, dtype, 10.0, rtol)

    Q = gradient_transform(dz)
    half = V.shape[1] // 2  # ∂E/∂W from two parts of the tiles, as Conv2D sums its chunks
    P = np.stack([np.matmul(V[:, :half].transpose(0, 2, 1), Q[:, :half]),
                  np.matmul(V[:, half:].transpose(0, 2, 1), Q[:, half:])])
    dW = ops.winograd_filter_gradient(P, tile)
    cols = ops.reference.im2col_nhwc(x.astype(np.float64), 3, 3, 1, pad)
    dW_expected = (cols.T @ dz.reshape(-1, K).astype(np.float64)).reshape(kernel.shape)
    close(dW, dW_expected, dtype, 10.0 * np.sqrt(dz.size), rtol)


def test_the_matrices_are_lavin_grays():
    """F(2, 3) in 1-D: Aᵀ[(G g) ⊙ (Bᵀ d)] is the correlation of d (4) with g (3)."""
    rng = np.random.default_rng(0)
    d, g = rng.standard_normal(4), rng.standard_normal(3)
    np.testing.assert_allclose(WINOGRAD_AT @ ((WINOGRAD_G @ g) * (WINOGRAD_BT @ d)),
                               [d[0:3] @ g, d[1:4] @ g], rtol=1e-14)


def test_the_matrices_of_f4_interpolate_at_0_1_m1_half_m2():
    """F(4, 3) in 1-D: Aᵀ[(G g) ⊙ (Bᵀ d)] is the correlation of d (6) with g (3); Aᵀ's columns are the
    powers of the points 0, 1, −1, 1/2, −2 (and ∞)."""
    rng = np.random.default_rng(0)
    for _ in range(5):
        d, g = rng.standard_normal(6), rng.standard_normal(3)
        np.testing.assert_allclose(WINOGRAD4_AT @ ((WINOGRAD4_G @ g) * (WINOGRAD4_BT @ d)),
                                   [d[i : i + 3] @ g for i in range(4)], rtol=1e-13)
    points = np.array([0, 1, -1, 0.5, -2])
    np.testing.assert_array_equal(WINOGRAD4_AT[:, :5], points ** np.arange(4)[:, None])
    np.testing.assert_array_equal(WINOGRAD4_AT[:, 5], [0, 0, 0, 1])


@pytest.mark.parametrize("tile", TILES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_results_do_not_depend_on_the_thread_count(native, rng, tile, dtype):
    x = rng.standard_normal((12, 14, 14, 32)).astype(dtype)
    tiles = 12 * out_size(14, tile) ** 2
    m = rng.standard_normal((PLANES[tile], tiles, 64)).astype(dtype)
    bias = rng.standard_normal(64).astype(dtype)
    input_transform, output_transform, gradient_transform = (getattr(ops, name) for name in NAMES[tile])
    results = []
    for n in (1, 2, 3):
        with le4nn.backend("native"), num_threads(n):
            results.append([input_transform(x, 1).tobytes(),
                            output_transform(m, (12, 14, 14, 64), bias, True).tobytes(),
                            gradient_transform(x).tobytes()])
    assert results[0] == results[1] == results[2]


@pytest.mark.parametrize("tile", TILES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_lets_nan_through(tile, dtype):
    m = np.zeros((PLANES[tile], 1, 2), dtype)
    m[0, 0, 0] = np.nan
    y = getattr(ops, NAMES[tile][1])(m, (1, tile, tile, 2), relu=True)
    assert np.isnan(y[..., 0]).any() and not np.isnan(y[..., 1]).any()
