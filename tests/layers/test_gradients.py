"""Every layer in every mode passes the numerical gradient check (float64 central differences).

The layers are created in float64, so the check runs on them directly; see tests/test_gradcheck.py
for the checker itself and for float32 layers.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from le4nn import gradcheck, layers

F64 = {"dtype": "float64"}


def image(rng, data_format, batch=2, channels=3, height=5, width=6):
    if data_format == "channels_last":
        return rng.standard_normal((batch, height, width, channels))
    return rng.standard_normal((batch, channels, height, width))


def randomize(layer, rng, scale=0.5):
    """Non-trivial weights (e.g. a nonzero bias, gamma != 1) so that every gradient term shows."""
    layer.set_weights([rng.standard_normal(w.shape) * scale + (1.0 if n == "gamma" else 0.0)
                       for n, w in zip(layer.weight_names, layer.weights, strict=True)])


# --- Conv2D -----------------------------------------------------------------------------------------

CONV_CASES = [
    {"kernel_size": k, "strides": s, "padding": p, "data_format": f}
    for k, s, p, f in itertools.product(
        [(3, 3), (2, 3)],
        [1, 2, (1, 2)],
        ["valid", "same", 1, (1, 0, 2, 1)],
        ["channels_last", "channels_first"],
    )
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "-".join(map(str, c.values())).replace(" ", ""))
def test_conv2d(case, rng):
    index = CONV_CASES.index(case)
    activation = [None, "relu", "tanh", "sigmoid"][index % 4]
    use_bias = index % 3 != 0
    layer = layers.Conv2D(2, activation=activation, use_bias=use_bias, **case, **F64)
    x = image(rng, case["data_format"])
    layer.build((None, *x.shape[1:]))
    randomize(layer, rng)
    errors = gradcheck.assert_gradients_close(layer, x)
    assert set(errors) == {"input", "kernel"} | ({"bias"} if use_bias else set())


@pytest.mark.parametrize("case", [c for c in CONV_CASES if c["data_format"] == "channels_first"][::5],
                         ids=lambda c: "-".join(map(str, c.values())).replace(" ", ""))
def test_conv2d_channels_first_handout_path(case, rng, monkeypatch):
    """channels_first layers take the channels_last paths between transposes; the handout's own NCHW
    path (eq. 59–62 as written, ``CHANNELS_FIRST_VIA_NHWC`` off) checked as well."""
    monkeypatch.setattr(layers.Conv2D, "CHANNELS_FIRST_VIA_NHWC", False)
    layer = layers.Conv2D(2, activation="tanh", **case, **F64)
    x = image(rng, case["data_format"])
    layer.build((None, *x.shape[1:]))
    randomize(layer, rng)
    assert set(gradcheck.assert_gradients_close(layer, x)) == {"input", "kernel", "bias"}


def test_conv2d_pointwise_and_large_stride(rng):
    gradcheck.assert_gradients_close(layers.Conv2D(3, 1, **F64), image(rng, "channels_last"))
    gradcheck.assert_gradients_close(layers.Conv2D(2, (2, 2), strides=3, padding="same", **F64),
                                     image(rng, "channels_last", height=7, width=7))


# --- pooling ----------------------------------------------------------------------------------------

POOL_CASES = [
    {"pool_size": k, "strides": s, "padding": p, "data_format": f}
    for k, s, p, f in itertools.product(
        [(2, 2), (3, 2)],
        [None, 1, 2],
        ["valid", "same", 1],
        ["channels_last", "channels_first"],
    )
]


@pytest.mark.parametrize("cls", [layers.MaxPooling2D, layers.AveragePooling2D])
@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: "-".join(map(str, c.values())).replace(" ", ""))
def test_pooling(cls, case, rng):
    layer = cls(**case, **F64)
    gradcheck.assert_gradients_close(layer, image(rng, case["data_format"], channels=2))


@pytest.mark.parametrize("count_include_pad", [False, True])
def test_average_pooling_padding_counts(count_include_pad, rng):
    layer = layers.AveragePooling2D(3, strides=2, padding=1, count_include_pad=count_include_pad, **F64)
    gradcheck.assert_gradients_close(layer, image(rng, "channels_last"))


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_average_pooling(data_format, keepdims, rng):
    layer = layers.GlobalAveragePooling2D(data_format=data_format, keepdims=keepdims, **F64)
    gradcheck.assert_gradients_close(layer, image(rng, data_format))


# --- Dense and activations --------------------------------------------------------------------------

@pytest.mark.parametrize("activation", [None, "sigmoid", "relu", "tanh", "softmax", "leaky_relu", "elu"])
@pytest.mark.parametrize("use_bias", [True, False])
def test_dense(activation, use_bias, rng):
    layer = layers.Dense(4, activation=activation, use_bias=use_bias, **F64)
    layer.build((None, 5))
    randomize(layer, rng)
    gradcheck.assert_gradients_close(layer, rng.standard_normal((3, 5)))


@pytest.mark.parametrize(
    "cls, kwargs",
    [
        *((layers.Activation, {"activation": name})
          for name in ["sigmoid", "relu", "tanh", "softmax", "linear", "leaky_relu", "elu"]),
        (layers.ReLU, {}),
        (layers.Sigmoid, {}),
        (layers.Tanh, {}),
        (layers.Softmax, {}),
        (layers.Softmax, {"axis": 1}),
        (layers.LeakyReLU, {}),
        (layers.LeakyReLU, {"negative_slope": 0.05}),
        (layers.ELU, {"alpha": 0.7}),
    ],
)
def test_activation_layers(cls, kwargs, rng):
    gradcheck.assert_gradients_close(cls(**kwargs, **F64), rng.standard_normal((3, 4, 5)) * 2)


# --- Dropout ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["handout", "inverted"])
@pytest.mark.parametrize("training", [True, False])
def test_dropout_with_fixed_mask(mode, training, rng):
    layer = layers.Dropout(0.4, mode=mode, seed=1, **F64)
    gradcheck.assert_gradients_close(layer, rng.standard_normal((3, 4, 5)), training=training)


# --- BatchNormalization -----------------------------------------------------------------------------

@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize(
    "shape, axis",
    [((6, 4), -1), ((3, 4, 5, 2), -1), ((3, 2, 4, 5), 1), ((4, 3, 5), 1)],
    ids=["dense", "conv-channels_last", "conv-channels_first", "3d-axis1"],
)
def test_batch_normalization(shape, axis, training, rng):
    layer = layers.BatchNormalization(axis=axis, **F64)
    x = rng.standard_normal(shape) * 2 + 1
    layer.build((None, *shape[1:]))
    randomize(layer, rng)
    layer.state["moving_variance"][...] = np.abs(layer.state["moving_variance"]) + 0.5
    gradcheck.assert_gradients_close(layer, x, training=training)


@pytest.mark.parametrize("center, scale", [(False, True), (True, False), (False, False)])
def test_batch_normalization_without_center_or_scale(center, scale, rng):
    layer = layers.BatchNormalization(center=center, scale=scale, **F64)
    gradcheck.assert_gradients_close(layer, rng.standard_normal((5, 3)))


# --- regularizers -----------------------------------------------------------------------------------

def test_regularizers_on(rng):
    l1 = {"class_name": "L1", "config": {"l1": 0.3}}
    dense = layers.Dense(3, kernel_regularizer="l2", bias_regularizer=l1, **F64)
    dense.build((None, 4))
    randomize(dense, rng)
    errors = gradcheck.assert_gradients_close(dense, rng.standard_normal((2, 4)))
    assert set(errors) == {"input", "kernel", "bias"}

    conv = layers.Conv2D(2, 3, padding="same", kernel_regularizer="l1_l2", **F64)
    gradcheck.assert_gradients_close(conv, image(rng, "channels_last"))

    bn = layers.BatchNormalization(gamma_regularizer="l2", beta_regularizer="l1", **F64)
    bn.build((None, 3))
    randomize(bn, rng)
    gradcheck.assert_gradients_close(bn, rng.standard_normal((4, 3)))


def test_regularizer_gradient_is_in_grads(rng):
    from le4nn import regularizers

    dense = layers.Dense(3, kernel_regularizer=regularizers.L2(0.5), **F64)
    x = rng.standard_normal((2, 4))
    y = dense(x)
    dense.backward(np.zeros_like(y))
    np.testing.assert_allclose(dense.grads["kernel"], 2 * 0.5 * dense.params["kernel"])
    assert dense.regularization_loss() == pytest.approx(0.5 * np.sum(dense.params["kernel"] ** 2))


# --- merging and reshaping --------------------------------------------------------------------------

def test_add(rng):
    xs = [rng.standard_normal((2, 3, 4)) for _ in range(3)]
    errors = gradcheck.assert_gradients_close(layers.Add(**F64), xs)
    assert set(errors) == {"input_0", "input_1", "input_2"}


@pytest.mark.parametrize("axis", [-1, 1, 2])
def test_concatenate(axis, rng):
    shapes = [[2, 3, 4], [2, 3, 4]]
    shapes[1][axis] = 2
    xs = [rng.standard_normal(s) for s in shapes]
    gradcheck.assert_gradients_close(layers.Concatenate(axis=axis, **F64), xs)


def test_flatten_and_reshape(rng):
    gradcheck.assert_gradients_close(layers.Flatten(**F64), rng.standard_normal((2, 3, 4)))
    gradcheck.assert_gradients_close(layers.Reshape((4, -1), **F64), rng.standard_normal((2, 3, 4)))


# --- small models -----------------------------------------------------------------------------------

@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_small_cnn(data_format, rng):
    axis = -1 if data_format == "channels_last" else 1
    model = [
        layers.Conv2D(3, 3, padding="same", data_format=data_format, **F64),
        layers.BatchNormalization(axis=axis, **F64),
        layers.ReLU(**F64),
        layers.MaxPooling2D(data_format=data_format, **F64),
        layers.Dropout(0.25, seed=0, **F64),
        layers.Flatten(**F64),
        layers.Dense(4, activation="softmax", **F64),
    ]
    x = image(rng, data_format, channels=2, height=6, width=6)
    y = np.array([0, 3])
    from le4nn import losses

    gradcheck.assert_gradients_close(model, x, y, loss=losses.SparseCategoricalCrossentropy())
    gradcheck.assert_gradients_close(model, x)
