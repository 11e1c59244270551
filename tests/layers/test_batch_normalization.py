"""BatchNormalization: batch statistics while training (eq. 28–31), moving statistics at inference
(eq. 38), per feature after Dense and per channel after Conv2D."""

from __future__ import annotations

import numpy as np
import pytest

from le4nn import layers


def test_training_normalizes_each_feature(rng):
    layer = layers.BatchNormalization(dtype="float64")
    x = rng.standard_normal((64, 3)) * [1, 5, 0.1] + [0, 3, -2]
    y = layer(x, training=True)
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=0), x.var(axis=0) / (x.var(axis=0) + 1e-3), rtol=1e-12)


def test_gamma_beta_and_moving_statistics_follow_keras(rng):
    layer = layers.BatchNormalization(momentum=0.8, epsilon=1e-2, dtype="float64")
    x = rng.standard_normal((10, 4)) * 2 + 1
    layer.build((None, 4))
    gamma, beta = rng.standard_normal(4), rng.standard_normal(4)
    layer.set_weights([gamma, beta, np.zeros(4), np.ones(4)])
    y = layer(x, training=True)
    mean, var = x.mean(axis=0), x.var(axis=0)
    np.testing.assert_allclose(y, gamma * (x - mean) / np.sqrt(var + 1e-2) + beta, rtol=1e-12)
    np.testing.assert_allclose(layer.state["moving_mean"], 0.2 * mean, rtol=1e-12)
    np.testing.assert_allclose(layer.state["moving_variance"], 0.8 + 0.2 * var, rtol=1e-12)

    # Inference: eq. 38 with the moving estimates; the estimates do not move.
    moving_mean, moving_var = layer.state["moving_mean"].copy(), layer.state["moving_variance"].copy()
    y_test = layer(x)
    expected = gamma * (x - moving_mean) / np.sqrt(moving_var + 1e-2) + beta
    np.testing.assert_allclose(y_test, expected, rtol=1e-12)
    np.testing.assert_array_equal(layer.state["moving_mean"], moving_mean)


def test_moving_statistics_converge_to_the_data_statistics(rng):
    layer = layers.BatchNormalization(momentum=0.9)
    for _ in range(200):
        layer(rng.standard_normal((100, 2)).astype(np.float32) * [2, 0.5] + [1, -1], training=True)
    np.testing.assert_allclose(layer.state["moving_mean"], [1, -1], atol=0.1)
    np.testing.assert_allclose(layer.state["moving_variance"], [4, 0.25], rtol=0.1)


def test_per_channel_after_conv_in_both_data_formats(rng):
    x_last = rng.standard_normal((4, 5, 6, 3)) * [1, 2, 3] + [0, 1, 2]
    last = layers.BatchNormalization(dtype="float64")
    first = layers.BatchNormalization(axis=1, dtype="float64")
    y_last = last(x_last, training=True)
    y_first = first(np.ascontiguousarray(x_last.transpose(0, 3, 1, 2)), training=True)
    np.testing.assert_allclose(y_first.transpose(0, 2, 3, 1), y_last, rtol=1e-12)
    np.testing.assert_allclose(first.state["moving_mean"], last.state["moving_mean"], rtol=1e-12)
    assert last.params["gamma"].shape == (3,)
    np.testing.assert_allclose(y_last.mean(axis=(0, 1, 2)), 0, atol=1e-12)

    g = rng.standard_normal(y_last.shape)
    grad_last = last.backward(g)
    grad_first = first.backward(np.ascontiguousarray(g.transpose(0, 3, 1, 2)))
    np.testing.assert_allclose(grad_first.transpose(0, 2, 3, 1), grad_last, rtol=1e-10)
    np.testing.assert_allclose(first.grads["gamma"], last.grads["gamma"], rtol=1e-10)


def test_frozen_layer_runs_in_inference_mode(rng):
    layer = layers.BatchNormalization(trainable=False)
    x = rng.standard_normal((8, 3)).astype(np.float32) + 5
    y = layer(x, training=True)
    np.testing.assert_allclose(y, x / np.sqrt(1 + 1e-3), rtol=1e-6)
    np.testing.assert_array_equal(layer.state["moving_mean"], 0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_is_preserved(dtype, rng):
    layer = layers.BatchNormalization(dtype=dtype)
    y = layer(rng.standard_normal((4, 2, 2, 3)), training=True)
    assert y.dtype == dtype and layer.state["moving_variance"].dtype == dtype
    assert layer.backward(np.ones_like(y)).dtype == dtype
