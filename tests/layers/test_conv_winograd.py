"""Conv2D's Winograd path (le4nn.layers._conv_winograd): the padded plane stride of M and its bits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from le4nn.layers import Conv2D, _conv_winograd
from le4nn.layers._conv_winograd import WinogradCache, plane_stride
from tests.ops.helpers import hypothesis_settings


@hypothesis_settings(200)
@given(elements=st.integers(0, 1 << 22), itemsize=st.sampled_from([4, 8]))
def test_plane_stride_puts_the_16_planes_in_different_cache_sets(elements, itemsize):
    stride = plane_stride(elements, itemsize)
    line = 64 // itemsize
    assert stride >= elements and stride % line == 0
    assert stride - elements < 2 * line  # rounded up to a line, then one more line at most
    sets = {(i * stride * itemsize // 64) % 64 for i in range(16)}
    assert len(sets) == 16


@pytest.mark.parametrize("batch, side, channels", [(6, 32, 16), (3, 9, 16), (5, 6, 24)])
def test_padded_planes_give_the_bits_of_contiguous_ones(rng, monkeypatch, batch, side, channels):
    """Forward and backward with M's planes padded apart equal those with M contiguous, bit for bit."""
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
        assert isinstance(layer._cache, WinogradCache)
        dx = layer.backward(dout)
        results.append([a.tobytes() for a in (y, dx, layer.grads["kernel"], layer.grads["bias"])])
    assert results[0] == results[1]
