"""The contract every layer follows: names, shapes, weights, configs, dtypes, the functional API and the
softmax fusion hooks (docs/architecture.md)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from le4nn import layers
from le4nn.layers import SymbolicTensor


def all_layers():
    """(factory, input shape without batch) for one instance of every layer class."""
    return [
        (lambda: layers.Dense(3, activation="relu", kernel_regularizer="l2"), (4,)),
        (lambda: layers.Activation("tanh"), (4,)),
        (lambda: layers.ReLU(), (4,)),
        (lambda: layers.Sigmoid(), (4,)),
        (lambda: layers.Tanh(), (4,)),
        (lambda: layers.Softmax(axis=-1), (4,)),
        (lambda: layers.LeakyReLU(negative_slope=0.1), (4,)),
        (lambda: layers.ELU(alpha=0.5), (4,)),
        (lambda: layers.Conv2D(2, (3, 2), strides=(2, 1), padding="same", activation="sigmoid"), (6, 5, 3)),
        (lambda: layers.Conv2D(2, 3, padding=(1, 0, 2, 1), data_format="channels_first"), (3, 6, 5)),
        (lambda: layers.MaxPooling2D(3, 2, padding="same"), (6, 5, 3)),
        (lambda: layers.AveragePooling2D(2, data_format="channels_first"), (3, 6, 4)),
        (lambda: layers.GlobalAveragePooling2D(keepdims=True), (6, 5, 3)),
        (lambda: layers.Flatten(), (6, 5, 3)),
        (lambda: layers.Reshape((-1, 5)), (6, 5, 3)),
        (lambda: layers.Dropout(0.5, mode="inverted", seed=3), (4,)),
        (lambda: layers.BatchNormalization(axis=1, momentum=0.9), (3, 4, 4)),
        (lambda: layers.Conv2DTranspose(2, 4, strides=2, padding="same", activation="relu"), (3, 4, 3)),
        (lambda: layers.Conv2DTranspose(2, (3, 2), strides=(2, 1), output_padding=(1, 0),
                                        data_format="channels_first", kernel_regularizer="l2"), (3, 3, 4)),
        (lambda: layers.UpSampling2D((2, 3), interpolation="bilinear"), (3, 4, 2)),
        (lambda: layers.UpSampling2D(data_format="channels_first"), (2, 3, 4)),
    ]


LAYER_IDS = ["dense", "activation", "relu", "sigmoid", "tanh", "softmax", "leaky_relu", "elu", "conv2d",
             "conv2d-cf", "maxpool", "avgpool-cf", "gap", "flatten", "reshape", "dropout", "batchnorm",
             "conv2d_transpose", "conv2d_transpose-cf", "upsampling-bilinear", "upsampling-cf"]


@pytest.fixture(autouse=True)
def fresh_names():
    layers.reset_names()


# --- names ---------------------------------------------------------------------------------------------

def test_automatic_names_are_unique_like_keras():
    assert [layers.Dense(2).name for _ in range(3)] == ["dense", "dense_1", "dense_2"]
    assert layers.Conv2D(1, 1).name == "conv2d"
    assert layers.MaxPooling2D().name == "max_pooling2d"
    assert layers.BatchNormalization().name == "batch_normalization"
    assert layers.GlobalAveragePooling2D().name == "global_average_pooling2d"
    assert layers.ReLU().name == "re_lu"
    assert layers.Dense(2, name="output").name == "output"
    assert layers.Dense(2).name == "dense_3"


# --- shapes --------------------------------------------------------------------------------------------

def test_input_shape_keyword_and_compute_output_shape():
    dense = layers.Dense(10, input_shape=(784,))
    assert dense.batch_input_shape == (None, 784)
    assert dense.input_shape == (None, 784)
    assert dense.compute_output_shape((None, 784)) == (None, 10)
    assert dense.output_shape == (None, 10)
    assert not dense.built
    dense.build((None, 784))
    assert dense.params["kernel"].shape == (784, 10)
    with pytest.raises(ValueError, match=r"dense.*\(None, 784\).*\(None, 100\)"):
        layers.Dense(10, input_shape=(784,)).build((None, 100))


@pytest.mark.parametrize("factory, shape", all_layers(), ids=LAYER_IDS)
def test_forward_shape_matches_compute_output_shape(factory, shape, rng):
    layer = factory()
    x = rng.standard_normal((2, *shape)).astype(np.float32)
    y = layer(x)
    expected = layer.compute_output_shape((None, *shape))
    assert y.shape == (2, *expected[1:])
    assert y.dtype == np.float32
    assert layer.built and layer.input_shape == (None, *shape)
    grad = layer.backward(np.ones_like(y))
    assert grad.shape == x.shape and grad.dtype == np.float32
    for name, g in layer.grads.items():
        assert g.shape == layer.params[name].shape and g.dtype == np.float32


def test_built_layer_rejects_another_shape(rng):
    dense = layers.Dense(3)
    dense(rng.standard_normal((2, 5)))
    dense(rng.standard_normal((7, 5)))  # any batch size
    with pytest.raises(ValueError, match=r"Dense layer 'dense'.*\(None, 5\).*\(None, 6\)"):
        dense(rng.standard_normal((2, 6)))
    conv = layers.Conv2D(2, 3)
    conv(rng.standard_normal((1, 5, 5, 3)))
    with pytest.raises(ValueError, match=r"Conv2D layer 'conv2d'.*\(None, 5, 5, 3\).*\(None, 5, 5, 4\)"):
        conv(rng.standard_normal((1, 5, 5, 4)))


def test_keras_same_padding_output_sizes():
    for n, k, s in [(28, 3, 1), (28, 2, 1), (7, 3, 2), (6, 3, 2), (5, 4, 3), (1, 3, 1)]:
        conv = layers.Conv2D(1, k, strides=s, padding="same")
        assert conv.compute_output_shape((None, n, n, 1)) == (None, -(-n // s), -(-n // s), 1)
    assert layers.MaxPooling2D(2, padding="same").compute_output_shape((None, 7, 5, 2)) == (None, 4, 3, 2)
    assert layers.MaxPooling2D(2).compute_output_shape((None, 7, 5, 2)) == (None, 3, 2, 2)


# --- weights -------------------------------------------------------------------------------------------

def test_weights_in_keras_order_and_count_params(rng):
    dense = layers.Dense(3)
    dense.build((None, 4))
    assert dense.weight_names == ["kernel", "bias"] and dense.count_params() == 15
    bn = layers.BatchNormalization()
    bn.build((None, 5))
    assert bn.weight_names == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert list(bn.params) == ["gamma", "beta"] and list(bn.state) == ["moving_mean", "moving_variance"]
    assert bn.count_params() == 20
    conv = layers.Conv2D(4, 3, use_bias=False)
    conv.build((None, 8, 8, 2))
    assert conv.weight_names == ["kernel"] and conv.params["kernel"].shape == (3, 3, 2, 4)
    flatten = layers.Flatten()
    flatten.build((None, 2, 3))
    assert flatten.count_params() == 0 and flatten.get_weights() == []
    with pytest.raises(ValueError, match="count_params needs a built layer"):
        layers.Dense(2).count_params()


def test_set_weights_copies_into_the_same_arrays(rng):
    dense = layers.Dense(3)
    dense.build((None, 4))
    kernel = dense.params["kernel"]
    new = [rng.standard_normal((4, 3)), rng.standard_normal(3)]
    dense.set_weights(new)
    assert dense.params["kernel"] is kernel and kernel.dtype == np.float32
    np.testing.assert_allclose(dense.get_weights()[0], new[0].astype(np.float32))
    got = dense.get_weights()
    got[0][...] = 0  # copies
    assert np.any(dense.params["kernel"] != 0)


def test_set_weights_errors_name_layer_parameter_and_shapes():
    dense = layers.Dense(3, name="hidden")
    with pytest.raises(ValueError, match="hidden.*built"):
        dense.set_weights([np.zeros((4, 3)), np.zeros(3)])
    dense.build((None, 4))
    with pytest.raises(ValueError, match=r"hidden.*expects 2 arrays \(kernel, bias\), got 1"):
        dense.set_weights([np.zeros((4, 3))])
    with pytest.raises(ValueError, match=r"hidden.*'kernel' has shape \(4, 3\).*shape \(3, 4\)"):
        dense.set_weights([np.zeros((3, 4)), np.zeros(3)])


def test_initializers_and_default_handout_normal():
    from le4nn import initializers, utils

    utils.set_random_seed(0)
    dense = layers.Dense(500)
    dense.build((None, 400))
    assert isinstance(dense.kernel_initializer, initializers.HandoutNormal)
    assert dense.params["kernel"].std() == pytest.approx(np.sqrt(1 / 400), rel=0.02)
    assert np.all(dense.params["bias"] == 0)
    conv = layers.Conv2D(64, 3, kernel_initializer="he_uniform", bias_initializer="ones")
    conv.build((None, 8, 8, 16))
    assert np.abs(conv.params["kernel"]).max() <= np.sqrt(6 / (9 * 16))
    assert np.all(conv.params["bias"] == 1)


# --- trainable and dtype -------------------------------------------------------------------------------

def test_frozen_layer_keeps_grads_but_returns_input_gradient(rng):
    dense = layers.Dense(3, trainable=False)
    x = rng.standard_normal((2, 4)).astype(np.float32)
    y = dense(x)
    grad = dense.backward(np.ones_like(y))
    assert np.all(dense.grads["kernel"] == 0)
    np.testing.assert_allclose(grad, np.ones_like(y) @ dense.params["kernel"].T, rtol=1e-6)
    assert dense.trainable_weights == [] and len(dense.non_trainable_weights) == 2


def test_dtype_cast_at_the_boundary(rng):
    dense = layers.Dense(3)
    y = dense(rng.standard_normal((2, 4)))  # float64 input to a float32 layer
    assert y.dtype == np.float32 and dense.params["kernel"].dtype == np.float32
    dense64 = layers.Dense(3, dtype="float64")
    assert dense64(rng.standard_normal((2, 4)).astype(np.float32)).dtype == np.float64
    assert dense64.params["kernel"].dtype == np.float64


# --- configs -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("factory, shape", all_layers(), ids=LAYER_IDS)
def test_config_round_trip_through_json(factory, shape, rng):
    layer = factory()
    x = rng.standard_normal((2, *shape)).astype(np.float32)
    y = layer(x)
    config = json.loads(json.dumps(layers.serialize(layer)))
    clone = layers.deserialize(config)
    assert type(clone) is type(layer) and clone.get_config() == layer.get_config()
    clone.build((None, *shape))
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(x), y, rtol=1e-6)


def test_get_and_input_shape_in_config():
    dense = layers.Dense(2, input_shape=(3,))
    config = dense.get_config()
    assert config["batch_input_shape"] == [None, 3]
    assert layers.get(layers.serialize(dense)).batch_input_shape == (None, 3)
    assert layers.get(dense) is dense
    assert isinstance(layers.get("Flatten"), layers.Flatten)
    with pytest.raises(ValueError, match="unknown layer class 'Nope'"):
        layers.get({"class_name": "Nope", "config": {}})


# --- functional API ------------------------------------------------------------------------------------

def test_input_and_symbolic_calls_record_the_graph():
    inputs = layers.Input(shape=(28, 28, 1))
    assert isinstance(inputs, SymbolicTensor) and inputs.shape == (None, 28, 28, 1)
    assert isinstance(inputs.layer, layers.InputLayer) and inputs.inputs == ()
    conv = layers.Conv2D(4, 3, padding="same", activation="relu")
    h = conv(inputs)
    assert h.shape == (None, 28, 28, 4) and h.layer is conv and h.inputs == (inputs,)
    assert conv.built and conv.input is inputs and conv.output is h
    flat = layers.Flatten()(layers.MaxPooling2D()(h))
    a = layers.Dense(8)(flat)
    b = layers.Dense(8)(flat)
    added = layers.Add()([a, b])
    assert added.shape == (None, 8) and added.inputs == (a, b)
    joined = layers.Concatenate()([added, a])
    assert joined.shape == (None, 16)
    out = layers.Dense(10, activation="softmax")(joined)
    assert out.shape == (None, 10) and out.layer.output_softmax


def test_symbolic_shape_mismatch_and_sharing_are_errors():
    inputs = layers.Input(shape=(5,))
    with pytest.raises(ValueError, match=r"Conv2D layer 'conv2d'.*4-D.*\(None, 5\)"):
        layers.Conv2D(2, 3)(inputs)
    dense = layers.Dense(3)
    dense(inputs)
    with pytest.raises(ValueError, match="sharing"):
        dense(inputs)
    with pytest.raises(ValueError, match=r"Add layer.*same shape"):
        layers.Add()([layers.Input(shape=(3,)), layers.Input(shape=(4,))])


def test_input_layer_passes_data_through(rng):
    inputs = layers.Input(shape=(3,), name="pixels")
    assert inputs.layer.name == "pixels"
    x = rng.standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_array_equal(inputs.layer(x), x)
    with pytest.raises(ValueError, match=r"pixels.*\(None, 3\).*\(None, 4\)"):
        inputs.layer(rng.standard_normal((2, 4)))


# --- softmax fusion hooks ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "factory",
    [lambda: layers.Dense(4, activation="softmax", dtype="float64"),
     lambda: layers.Activation("softmax", dtype="float64"),
     lambda: layers.Softmax(dtype="float64")],
    ids=["dense", "activation", "softmax"],
)
def test_backward_from_logits_skips_the_softmax(factory, rng):
    layer = factory()
    x = rng.standard_normal((3, 4))
    y = layer(x, training=True)
    assert layer.output_softmax
    logits = layer.logits
    np.testing.assert_allclose(y, np.exp(logits) / np.exp(logits).sum(1, keepdims=True), rtol=1e-12)
    t = np.eye(4)[[0, 2, 3]]
    # E = mean cross-entropy: dE/dy = -t / (B y) through the softmax equals (y - t) / B (eq. 12).
    through_softmax = layer.backward(-t / (3 * y))
    grads_softmax = {k: g.copy() for k, g in layer.grads.items()}
    fused = layer.backward_from_logits((y - t) / 3)
    np.testing.assert_allclose(fused, through_softmax, rtol=1e-10, atol=1e-14)
    for name, g in layer.grads.items():
        np.testing.assert_allclose(g, grads_softmax[name], rtol=1e-10, atol=1e-14)


def test_output_softmax_only_for_softmax_outputs():
    assert not layers.Dense(3, activation="sigmoid").output_softmax
    assert not layers.Softmax(axis=1).output_softmax
    assert not layers.Flatten().output_softmax
    with pytest.raises(NotImplementedError, match="does not end in a softmax"):
        layers.Dense(3).backward_from_logits(np.zeros((1, 3)))
