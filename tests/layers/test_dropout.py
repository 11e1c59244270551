"""Dropout: the handout's version (eq. 26–27) by default, inverted dropout as an option."""

from __future__ import annotations

import numpy as np
import pytest

from le4nn import layers, utils


@pytest.mark.parametrize(
    "rate, size, dropped", [(0.5, 10, 5), (0.5, 5, 3), (0.2, 12, 2), (0.3, 1, 0), (0.75, 4, 3)]
)
def test_handout_mode_drops_exactly_round_rate_times_m_per_sample(rate, size, dropped, rng):
    layer = layers.Dropout(rate, seed=0)
    x = rng.uniform(1, 2, (50, size)).astype(np.float32)
    y = layer(x, training=True)
    zeros = (y == 0).sum(axis=1)
    assert np.all(zeros == dropped)
    kept = y != 0
    np.testing.assert_array_equal(y[kept], x[kept])  # kept nodes pass unchanged (eq. 26)
    if 0 < dropped < size:  # different samples drop different nodes
        assert len({tuple(row) for row in kept}) > 1


def test_handout_mode_counts_all_non_batch_entries(rng):
    layer = layers.Dropout(0.25, seed=0)
    y = layer(rng.uniform(1, 2, (3, 4, 4, 2)), training=True)
    assert np.all((y == 0).reshape(3, -1).sum(axis=1) == 8)


def test_handout_mode_scales_by_one_minus_rate_at_test_time(rng):
    layer = layers.Dropout(0.4)
    x = rng.standard_normal((3, 5)).astype(np.float32)
    y = layer(x)  # training=False
    np.testing.assert_allclose(y, 0.6 * x, rtol=1e-6)  # eq. 27
    np.testing.assert_allclose(layer.backward(np.ones_like(y)), np.full_like(y, 0.6), rtol=1e-6)


def test_backward_uses_the_mask(rng):
    layer = layers.Dropout(0.5, seed=1)
    x = rng.standard_normal((4, 6))
    y = layer(x, training=True)
    g = rng.standard_normal(y.shape)
    np.testing.assert_array_equal(layer.backward(g), g.astype(np.float32) * (y != 0))


def test_inverted_mode(rng):
    layer = layers.Dropout(0.25, mode="inverted", seed=0)
    x = np.ones((200, 100), dtype=np.float32)
    y = layer(x, training=True)
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.01
    assert abs(y.mean() - 1) < 0.02  # the expectation is preserved while training
    np.testing.assert_array_equal(layer(x), x)  # identity at test time
    np.testing.assert_array_equal(layer.backward(x), x)


def test_rate_zero_is_the_identity(rng):
    x = rng.standard_normal((2, 3)).astype(np.float32)
    for mode in ("handout", "inverted"):
        layer = layers.Dropout(0.0, mode=mode)
        np.testing.assert_array_equal(layer(x, training=True), x)
        np.testing.assert_array_equal(layer(x), x)


def test_seeds_and_fixed_mask(rng):
    x = rng.uniform(1, 2, (4, 10))
    a, b = layers.Dropout(0.5, seed=7), layers.Dropout(0.5, seed=7)
    masks_a = [a(x, training=True) != 0 for _ in range(2)]
    masks_b = [b(x, training=True) != 0 for _ in range(2)]
    np.testing.assert_array_equal(masks_a, masks_b)  # same seed, same sequence
    assert np.any(masks_a[0] != masks_a[1])  # a new mask at every step

    utils.set_random_seed(3)
    first = layers.Dropout(0.5)(x, training=True)
    utils.set_random_seed(3)
    np.testing.assert_array_equal(layers.Dropout(0.5)(x, training=True), first)

    layer = layers.Dropout(0.5)
    layer.fixed_mask = True
    first = layer(x, training=True)
    np.testing.assert_array_equal(layer(x, training=True), first)
    assert layer(x[:2], training=True).shape == (2, 10)  # another shape draws a new mask
