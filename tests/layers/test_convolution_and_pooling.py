"""Conv2D and the pooling layers against direct (loop) definitions, and data-format consistency."""

from __future__ import annotations

import numpy as np
import pytest

from le4nn import layers


def naive_conv(x_nhwc, kernel, bias, strides, pads):
    """y[b, i, j, k] = Σ_{di, dj, c} xpad[b, i·sh + di, j·sw + dj, c] kernel[di, dj, c, k] + bias[k]."""
    top, bottom, left, right = pads
    x = np.pad(x_nhwc, ((0, 0), (top, bottom), (left, right), (0, 0)))
    kh, kw, _, filters = kernel.shape
    sh, sw = strides
    out_h = (x.shape[1] - kh) // sh + 1
    out_w = (x.shape[2] - kw) // sw + 1
    y = np.zeros((x.shape[0], out_h, out_w, filters))
    for i in range(out_h):
        for j in range(out_w):
            window = x[:, i * sh : i * sh + kh, j * sw : j * sw + kw, :]
            y[:, i, j, :] = np.tensordot(window, kernel, axes=([1, 2, 3], [0, 1, 2])) + bias
    return y


@pytest.mark.parametrize(
    "kernel_size, strides, padding, pads",
    [
        ((3, 3), (1, 1), "valid", (0, 0, 0, 0)),
        ((3, 3), (1, 1), "same", (1, 1, 1, 1)),
        ((2, 2), (1, 1), "same", (0, 1, 0, 1)),  # Keras: the extra row/column goes bottom/right
        ((4, 4), (1, 1), "same", (1, 2, 1, 2)),
        ((3, 3), (2, 2), "same", (0, 1, 1, 1)),  # 6x7 input: total padding 1 and 2
        ((2, 3), (1, 2), 1, (1, 1, 1, 1)),
        ((3, 2), (1, 1), (1, 2), (1, 1, 2, 2)),
    ],
)
def test_conv2d_matches_the_definition(kernel_size, strides, padding, pads, rng):
    x = rng.standard_normal((2, 6, 7, 3))
    layer = layers.Conv2D(4, kernel_size, strides=strides, padding=padding, dtype="float64")
    layer.build((None, 6, 7, 3))
    layer.set_weights([rng.standard_normal((*kernel_size, 3, 4)), rng.standard_normal(4)])
    expected = naive_conv(x, layer.params["kernel"], layer.params["bias"], strides, pads)
    np.testing.assert_allclose(layer(x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("padding", ["valid", "same", 1])
def test_conv2d_channels_first_equals_channels_last(padding, rng):
    x = rng.standard_normal((2, 5, 6, 3)).astype(np.float32)
    last = layers.Conv2D(4, (3, 2), strides=(2, 1), padding=padding, activation="relu")
    first = layers.Conv2D(4, (3, 2), strides=(2, 1), padding=padding, activation="relu",
                          data_format="channels_first")
    y_last = last(x)
    first.build((None, 3, 5, 6))
    first.set_weights(last.get_weights())
    x_first = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    y_first = first(x_first)
    assert y_first.dtype == np.float32
    np.testing.assert_allclose(y_first.transpose(0, 2, 3, 1), y_last, rtol=1e-5, atol=1e-6)
    g = rng.standard_normal(y_last.shape).astype(np.float32)
    gx_last = last.backward(g)
    gx_first = first.backward(np.ascontiguousarray(g.transpose(0, 3, 1, 2)))
    np.testing.assert_allclose(gx_first.transpose(0, 2, 3, 1), gx_last, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(first.grads["kernel"], last.grads["kernel"], rtol=1e-4, atol=1e-5)


def test_conv2d_float32_end_to_end(rng):
    layer = layers.Conv2D(8, 3, padding="same", activation="relu", input_shape=(28, 28, 1))
    x = rng.uniform(0, 1, (4, 28, 28, 1)).astype(np.float32)
    y = layer(x)
    assert y.shape == (4, 28, 28, 8) and y.dtype == np.float32
    gx = layer.backward(np.ones_like(y))
    assert gx.dtype == np.float32 and layer.grads["kernel"].dtype == np.float32
    # A second, smaller batch reuses nothing stale.
    y2 = layer(x[:1])
    np.testing.assert_allclose(y2, y[:1], rtol=1e-6)


def test_max_pooling_definition_and_gradient_routing():
    x = np.array([[1, 2, 0, 5], [3, 4, 6, 1], [0, 0, 1, 1], [7, 0, 1, 2]], dtype=np.float32)
    layer = layers.MaxPooling2D(2, data_format="channels_first")
    y = layer(x[None, None])
    np.testing.assert_array_equal(y[0, 0], [[4, 6], [7, 2]])
    g = layer.backward(np.array([[[[10, 20], [30, 40]]]], dtype=np.float32))
    expected = np.zeros((4, 4), np.float32)
    expected[1, 1], expected[1, 2], expected[3, 0], expected[3, 3] = 10, 20, 30, 40
    np.testing.assert_array_equal(g[0, 0], expected)  # eq. 64: the gradient goes to the winner


def test_average_pooling_same_excludes_padding():
    x = np.ones((1, 3, 3, 1), dtype=np.float32)
    y = layers.AveragePooling2D(2, padding="same")(x)
    np.testing.assert_array_equal(y[0, :, :, 0], np.ones((2, 2)))  # Keras: padding is not averaged in
    y = layers.AveragePooling2D(2, padding="same", count_include_pad=True)(x)
    np.testing.assert_array_equal(y[0, :, :, 0], [[1, 0.5], [0.5, 0.25]])


def test_pooling_channels_first_equals_channels_last(rng):
    x = rng.standard_normal((2, 5, 7, 3)).astype(np.float32)
    for cls in (layers.MaxPooling2D, layers.AveragePooling2D, layers.GlobalAveragePooling2D):
        pool = {"pool_size": 3, "strides": 2, "padding": "same"}
        kwargs = {} if cls is layers.GlobalAveragePooling2D else pool
        y_last = cls(**kwargs)(x)
        y_first = cls(data_format="channels_first", **kwargs)(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        if y_first.ndim == 4:
            y_first = y_first.transpose(0, 2, 3, 1)
        np.testing.assert_allclose(y_first, y_last, rtol=1e-6)
