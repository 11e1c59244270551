"""Conv2D's Winograd paths (le4nn.layers._conv_winograd), F(2×2, 3×3) and F(4×4, 3×3): the padded plane
stride of M and its bits, the choice of tile, the results against the im2col + GEMM path and central
differences, and the same bits at any thread count.

Float32 tolerances against the im2col path (relative to the largest |value|): F(2×2, 3×3) 1e-5,
F(4×4, 3×3) 1e-4.  Measured (le4nn/ops/reference_winograd.py): F(4×4, 3×3)'s largest float32 error
is up to 5.7e-5 of the output's rms at C = 256, 1–4e-6 of the largest value on these sizes (C ≤ 17,
3×3 kernels); F(2×2, 3×3)'s ~5× less."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import le4nn
from le4nn import _threads, gradcheck
from le4nn.layers import Conv2D, _conv_winograd
from le4nn.layers._conv_winograd import WinogradCache, best_tile, plane_stride
from tests.ops.helpers import hypothesis_settings

TILES = [2, 4]


@hypothesis_settings(200)
@given(elements=st.integers(0, 1 << 22), itemsize=st.sampled_from([4, 8]))
def test_plane_stride_puts_the_16_planes_in_different_cache_sets(elements, itemsize):
    stride = plane_stride(elements, itemsize)
    line = 64 // itemsize
    assert stride >= elements and stride % line == 0
    assert stride - elements < 2 * line  # rounded up to a line, then one more line at most
    sets = {(i * stride * itemsize // 64) % 64 for i in range(16)}
    assert len(sets) == 16
    sets36 = [(i * stride * itemsize // 64) % 64 for i in range(36)]  # F(4×4, 3×3): ≤ 3 per set
    assert max(sets36.count(s) for s in sets36) <= 3


@pytest.mark.parametrize("tile", TILES)
@pytest.mark.parametrize("batch, side, channels", [(6, 32, 16), (3, 9, 16), (5, 7, 24)])
def test_padded_planes_give_the_bits_of_contiguous_ones(rng, monkeypatch, batch, side, channels, tile):
    """Forward and backward with M's planes padded apart equal those with M contiguous, bit for bit."""
    monkeypatch.setattr(Conv2D, "WINOGRAD_TILE", tile)
    x = rng.standard_normal((batch, side, side, channels)).astype(np.float32)
    dout = rng.standard_normal((batch, side, side, channels)).astype(np.float32)
    results = []
    for padded in (True, False):
        if not padded:
            monkeypatch.setattr(_conv_winograd, "plane_stride", lambda elements, itemsize: elements)
        layer = Conv2D(channels, 3, padding="same", activation="relu", kernel_initializer="glorot_uniform")
        layer.build((None, *x.shape[1:]))
        layer.set_weights([np.linspace(-1, 1, w.size, dtype=np.float32).reshape(w.shape)
                           for w in layer.get_weights()])
        y = layer.forward(x, training=True)
        assert isinstance(layer._cache, WinogradCache) and layer._cache.tile == tile
        dx = layer.backward(dout)
        results.append([a.tobytes() for a in (y, dx, layer.grads["kernel"], layer.grads["bias"])])
    assert results[0] == results[1]


def test_f4_where_its_tiles_hold_fewer_transformed_values():
    """36 values per 4×4 tile against 16 per 2×2 tile: F(2×2, 3×3) at 1, 2, 5, 6 outputs a side."""
    for side in range(1, 40):
        f4, f2 = 36 * (-(-side // 4)) ** 2, 16 * (-(-side // 2)) ** 2
        assert best_tile(4, side, side) == (4 if f4 < f2 else 2)
        assert best_tile(2, side, side) == 2
    assert [side for side in range(1, 40) if best_tile(4, side, side) == 2] == [1, 2, 5, 6]
    assert best_tile(4, 6, 32) == 4 and best_tile(4, 32, 5) == 4  # long maps: few tiles wasted


def conv_pair(rng, tile, shape, filters, padding, activation, dtype, use_bias=True):
    """A Conv2D on the Winograd path with ``tile`` and its twin on im2col + GEMM, same weights."""
    layer = Conv2D(filters, 3, padding=padding, activation=activation, use_bias=use_bias, dtype=dtype)
    layer.WINOGRAD_TILE = tile
    twin = Conv2D(filters, 3, padding=padding, activation=activation, use_bias=use_bias, dtype=dtype)
    twin.WINOGRAD_MIN_CHANNELS = 1 << 30
    for conv in (layer, twin):
        conv.build((None, *shape[1:]))
    weights = [rng.standard_normal(w.shape) * (np.sqrt(2 / (9 * shape[3])) if w.ndim == 4 else 0.1)
               for w in layer.get_weights()]
    layer.set_weights(weights)
    twin.set_weights(weights)
    return layer, twin


@st.composite
def layer_cases(draw):
    padding = draw(st.sampled_from(["same", "valid", 1, (0, 2), (2, 0, 1, 2), (0, 1, 2, 0)]))
    H, W = draw(st.integers(3, 17)), draw(st.integers(3, 17))
    C, K = draw(st.sampled_from([8, 9, 16, 17])), draw(st.sampled_from([1, 5, 8, 16, 17]))
    return ((draw(st.integers(1, 4)), H, W, C), K, padding, draw(st.sampled_from(["relu", "linear"])),
            draw(st.sampled_from(["float32", "float64"])), draw(st.booleans()), draw(st.integers(0, 2**32 - 1)))


@pytest.mark.parametrize("tile", TILES)
@hypothesis_settings(60)
@given(case=layer_cases())
def test_winograd_equals_im2col(tile, case):
    """Forward, ∂E/∂x, ∂E/∂W and ∂E/∂b on the Winograd path equal the im2col + GEMM path's."""
    shape, filters, padding, activation, dtype, use_bias, seed = case
    rng = np.random.default_rng(seed)
    layer, twin = conv_pair(rng, tile, shape, filters, padding, activation, dtype, use_bias)
    x = rng.standard_normal(shape).astype(dtype)
    y, y_ref = layer.forward(x, training=True), twin.forward(x, training=True)
    cache = layer._cache
    assert isinstance(cache, WinogradCache) and cache.tile == best_tile(tile, *y.shape[1:3])
    dout = rng.standard_normal(y.shape).astype(dtype)
    rtol = 1e-10 if dtype == "float64" else (1e-4 if cache.tile == 4 else 1e-5)
    pairs = [(y, y_ref), (layer.backward(dout), twin.backward(dout))]
    pairs += [(layer.grads[name], twin.grads[name]) for name in layer.grads]
    for actual, expected in pairs:
        np.testing.assert_allclose(actual, expected, rtol=0, atol=rtol * np.abs(expected).max())


@pytest.mark.parametrize("tile", TILES)
@pytest.mark.parametrize("shape, padding", [((2, 9, 7, 8), "same"), ((1, 10, 11, 9), (0, 2, 1, 0))])
def test_winograd_gradients_match_central_differences(rng, tile, shape, padding):
    layer, _ = conv_pair(rng, tile, shape, 5, padding, "linear", "float64")
    x = rng.standard_normal(shape)
    layer.forward(x, training=True)
    assert layer._cache.tile == tile
    errors = gradcheck.check_layer(layer, x)
    assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("tile", TILES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_winograd_bits_do_not_depend_on_the_thread_count(rng, monkeypatch, tile, dtype):
    """Several chunks shared out among 1, 2 and 3 threads: the same bits."""
    monkeypatch.setattr(_threads, "_adaptive", False)
    monkeypatch.setattr(Conv2D, "WINOGRAD_CHUNK_BYTES", 60_000)
    monkeypatch.setattr(_conv_winograd, "MIN_TILES_PER_CHUNK", 1)
    monkeypatch.setattr(Conv2D, "WINOGRAD_TILE", tile)
    x = rng.standard_normal((9, 12, 11, 16)).astype(dtype)
    dout = rng.standard_normal((9, 12, 11, 12)).astype(dtype)
    saved = le4nn.get_num_threads()
    results = []
    try:
        for n in (1, 2, 3):
            le4nn.set_num_threads(n)
            layer = Conv2D(12, 3, padding="same", activation="relu", dtype=dtype)
            layer.build((None, *x.shape[1:]))
            layer.set_weights([np.linspace(-1, 1, w.size).reshape(w.shape) for w in layer.get_weights()])
            y = layer.forward(x, training=True)
            assert layer._cache.tile == tile and len(layer._cache.chunks) > 2
            dx = layer.backward(dout)
            results.append([a.tobytes() for a in (y, dx, layer.grads["kernel"], layer.grads["bias"])])
    finally:
        le4nn.set_num_threads(saved)
    assert results[0] == results[1] == results[2]
