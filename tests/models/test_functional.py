"""Functional models over a DAG: branches merged with Add and Concatenate, several inputs and outputs,
training, and the model's back-propagation checked against central differences."""

from __future__ import annotations

import numpy as np
import pytest

from le4nn import gradcheck, optimizers
from le4nn.layers import Add, Concatenate, Conv2D, Dense, Flatten, Input, MaxPooling2D
from le4nn.models import Model
from le4nn.utils import set_random_seed, to_categorical

F64 = "float64"


def _two_in_two_out(dtype=None) -> Model:
    """Two inputs, two outputs; a tensor feeding two layers (fan-out) on each side, Add and Concatenate."""
    in_a = Input(shape=(4,), dtype=dtype, name="a")
    in_b = Input(shape=(3,), dtype=dtype, name="b")
    h1 = Dense(5, activation="tanh", dtype=dtype)(in_a)
    h2 = Dense(5, activation="sigmoid", dtype=dtype)(in_a)
    summed = Add(dtype=dtype)([h1, h2])
    hb = Dense(4, activation="tanh", dtype=dtype, kernel_regularizer="l2")(in_b)
    joined = Concatenate(dtype=dtype)([summed, hb])
    shared = Dense(6, activation="tanh", dtype=dtype)(joined)
    classes = Dense(3, activation="softmax", dtype=dtype, name="classes")(shared)
    value = Dense(1, dtype=dtype, name="value")(Concatenate(dtype=dtype)([shared, hb]))
    return Model(inputs=[in_a, in_b], outputs=[classes, value])


def _two_in_two_out_data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, 4))
    b = rng.standard_normal((n, 3))
    labels = np.argmax(a[:, :3] + 0.5 * b, axis=1)
    value = (a[:, 3:] * b[:, :1] + b.sum(axis=1, keepdims=True)) / 2
    return [a, b], [to_categorical(labels, 3), value]


def _model_loss(model, xs, ys) -> float:
    """The training objective (losses + regularization), from a forward pass only."""
    return model.evaluate(xs, ys, batch_size=len(xs[0]), verbose=0, return_dict=True)["loss"]


def _check_model_gradients(model, xs, ys, loss, loss_weights=None):
    """The gradients the model's training step computes vs central differences of its loss."""
    model.compile(optimizer=optimizers.SGD(learning_rate=0.0), loss=loss, loss_weights=loss_weights)
    before = model.get_weights()
    model.train_on_batch(xs, ys)  # lr = 0: fills layer.grads, changes nothing
    assert all(np.array_equal(w0, w1) for w0, w1 in zip(before, model.get_weights(), strict=True))
    errors = {}
    for layer in model.layers:
        for name, param in layer.params.items():
            numeric = gradcheck.numerical_gradient(lambda: _model_loss(model, xs, ys), param)
            errors[f"{layer.name}/{name}"] = gradcheck.relative_error(layer.grads[name], numeric)
    assert errors and max(errors.values()) < 1e-6, errors
    return errors


def test_two_input_two_output_model_gradients_match_central_differences():
    set_random_seed(0)
    model = _two_in_two_out(F64)
    xs, ys = _two_in_two_out_data(7)
    errors = _check_model_gradients(model, xs, ys, ["categorical_crossentropy", "mse"], [1.0, 0.5])
    assert len(errors) == 2 * 6  # six Dense layers, kernel and bias each


def test_conv_branches_gradients_match_central_differences():
    set_random_seed(1)
    inputs = Input(shape=(5, 5, 2), dtype=F64)
    left = Conv2D(3, (3, 3), padding="same", activation="tanh", dtype=F64)(inputs)
    right = Conv2D(3, (1, 1), activation="sigmoid", dtype=F64)(inputs)
    merged = Concatenate(dtype=F64)([Add(dtype=F64)([left, right]), right])  # `right` feeds two layers
    pooled = MaxPooling2D((2, 2), dtype=F64)(merged)
    outputs = Dense(3, activation="softmax", dtype=F64)(Flatten(dtype=F64)(pooled))
    model = Model(inputs=inputs, outputs=outputs)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 5, 5, 2))
    y = to_categorical(rng.integers(0, 3, 4), 3)
    _check_model_gradients(model, [x], [y], "categorical_crossentropy")


def test_two_input_two_output_model_trains():
    set_random_seed(2)
    model = _two_in_two_out()
    model.compile(optimizer=optimizers.Adam(learning_rate=0.01), loss=["categorical_crossentropy", "mse"],
                  metrics=["accuracy"])
    xs, ys = _two_in_two_out_data(400, seed=3)
    history = model.fit(xs, ys, batch_size=32, epochs=8, verbose=0, validation_split=0.25)
    losses = history.history["loss"]
    assert losses[-1] < 0.7 * losses[0], losses
    assert {"classes_accuracy", "value_accuracy", "val_classes_accuracy", "val_loss"} <= set(history.history)
    assert history.history["classes_accuracy"][-1] > 0.6
    classes, value = model.predict(xs)
    assert classes.shape == (400, 3) and value.shape == (400, 1)
    assert classes.dtype == np.float32
    logs = model.evaluate(xs, ys, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "classes_accuracy", "value_accuracy"}


def test_branching_image_model_with_add_and_concatenate_trains(small_images):
    x, y = small_images
    set_random_seed(4)
    inputs = Input(shape=(8, 8, 1))
    a = Conv2D(4, (3, 3), padding="same", activation="relu")(inputs)
    b = Conv2D(4, (1, 1), activation="relu")(inputs)
    c = Conv2D(2, (3, 3), padding="same", activation="relu")(inputs)
    merged = Concatenate()([Add()([a, b]), c])
    outputs = Dense(3, activation="softmax")(Flatten()(MaxPooling2D((2, 2))(merged)))
    model = Model(inputs=inputs, outputs=outputs)
    assert [layer.output_shape for layer in model.layers if isinstance(layer, (Add, Concatenate))] == [
        (None, 8, 8, 4), (None, 8, 8, 6)]
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=20, epochs=6, verbose=0)
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0], history.history["loss"]
    assert history.history["accuracy"][-1] > 0.7


def test_multi_input_models_check_their_inputs():
    model = _two_in_two_out()
    model.compile(optimizer="sgd", loss=["categorical_crossentropy", "mse"])
    xs, ys = _two_in_two_out_data(5)
    with pytest.raises(ValueError, match="2 inputs, but 1"):
        model.predict(xs[0])
    with pytest.raises(ValueError, match=r"2 losses|2 outputs, but 3"):
        model.compile(optimizer="sgd", loss=["mse"] * 3)
    with pytest.raises(ValueError, match=r"expected input shape \(None, 3\), got \(None, 4\)"):
        model.predict([xs[0], xs[0]])
    with pytest.raises(ValueError, match="same number of samples"):
        model.fit([xs[0], xs[1][:4]], ys, verbose=0)


def test_a_layer_cannot_be_used_twice():
    inputs = Input(shape=(3,))
    dense = Dense(3)
    dense(inputs)
    with pytest.raises(ValueError, match="already part of a graph"):
        dense(inputs)


def test_input_and_output_shapes_as_keras_gives_them():
    a, b = Input((3,)), Input((4, 2))
    single = Model(a, Dense(2)(a))
    assert single.input_shape == (None, 3) and single.output_shape == (None, 2)
    double = Model([a, b], [Dense(5)(a), Flatten()(b)])
    assert double.input_shape == [(None, 3), (None, 4, 2)]
    assert double.output_shape == [(None, 5), (None, 8)]
    assert Model().input_shape is None and Model().output_shape is None
