"""Sequential and functional models: the lecture snippets, structure, and both APIs agreeing."""

from __future__ import annotations

import numpy as np
import pytest

from le4nn.layers import (
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Input,
    MaxPooling2D,
)
from le4nn.models import Model, Sequential
from le4nn.utils import set_random_seed


def test_lecture_sequential_snippet_runs_as_written(images, capsys):
    x_train, y_train, x_test, y_test = images
    set_random_seed(0)
    # --- the lecture code, only the imports changed ---
    model = Sequential()
    model.add(Conv2D(9, (3, 3), padding="same", activation="relu", input_shape=(28, 28, 1)))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Flatten())
    model.add(Dense(64, activation="relu"))
    model.add(Dense(10, activation="softmax"))
    model.summary()
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=100, epochs=3, validation_data=(x_test, y_test))
    pred = np.argmax(model.predict(x_test), axis=1)
    # ---
    printed = capsys.readouterr().out
    assert "Total params: 113,700" in printed
    assert model.count_params() == 9 * 9 + 9 + 14 * 14 * 9 * 64 + 64 + 64 * 10 + 10 == 113_700
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert len(history.history[key]) == 3, key
        assert all(np.isfinite(history.history[key]))
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert pred.shape == (100,) and pred.dtype.kind == "i"
    assert history.epoch == [0, 1, 2]

    matplotlib = pytest.importorskip("matplotlib", reason="matplotlib is not installed")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.plot(history.history["loss"])
    plt.plot(history.history["val_loss"])
    plt.close("all")


def test_lecture_functional_snippet_has_the_same_parameter_count(capsys):
    inputs = Input(shape=(28, 28, 1))
    x = Conv2D(9, (3, 3), padding="same")(inputs)
    x = MaxPooling2D(pool_size=(2, 2))(x)
    x = Flatten()(x)
    x = Dense(64, activation="relu")(x)
    outputs = Dense(10, activation="softmax")(x)
    model = Model(inputs=inputs, outputs=outputs)
    model.summary()
    assert "Total params: 113,700" in capsys.readouterr().out
    assert model.count_params() == 113_700
    assert model.predict(np.zeros((3, 28, 28, 1), np.float32)).shape == (3, 10)


def _functional_twin():
    inputs = Input(shape=(8, 8, 1))
    x = Conv2D(4, (3, 3), padding="same", activation="relu")(inputs)
    x = BatchNormalization()(x)
    x = MaxPooling2D((2, 2))(x)
    x = Flatten()(x)
    x = Dropout(0.3)(x)
    x = Dense(16, activation="relu")(x)
    outputs = Dense(3, activation="softmax")(x)
    return Model(inputs=inputs, outputs=outputs)


def test_sequential_and_functional_twins_give_identical_outputs(small_images, make_small_cnn):
    x, y = small_images
    sequential = make_small_cnn()
    sequential.compile(optimizer="adam", loss="categorical_crossentropy")
    sequential.fit(x, y, batch_size=50, epochs=1, verbose=0)  # non-trivial moving statistics
    functional = _functional_twin()
    functional.set_weights(sequential.get_weights())
    assert np.array_equal(sequential.predict(x), functional.predict(x))
    assert np.array_equal(sequential(x[:7]), functional(x[:7]))


def test_sequential_from_a_list_equals_add_and_accepts_input_first():
    set_random_seed(3)
    a = Sequential([Dense(5, activation="tanh", input_shape=(4,)), Dense(2)])
    b = Sequential()
    b.add(Input(shape=(4,)))
    b.add(Dense(5, activation="tanh"))
    b.add(Dense(2))
    b.set_weights(a.get_weights())
    x = np.random.default_rng(0).random((6, 4), dtype=np.float32)
    assert np.array_equal(a.predict(x), b.predict(x))
    assert a.input_shape == b.input_shape == (None, 4)
    assert a.output_shape == (None, 2)


def test_sequential_without_input_shape_builds_on_first_data():
    model = Sequential([Dense(3), Dense(2)])
    assert not model.built
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((5, 4), np.float32)
    model.fit(x, np.zeros((5, 2), np.float32), epochs=1, verbose=0)
    assert model.built and model.count_params() == 4 * 3 + 3 + 3 * 2 + 2
    with pytest.raises(ValueError, match=r"\(None, 4\).*\(None, 5\)"):
        model.predict(np.ones((2, 5), np.float32))


def test_sequential_pop_and_layer_access():
    model = Sequential([Dense(4, input_shape=(3,), name="hidden"), Dense(2, name="out")])
    assert model.get_layer("hidden") is model.layers[0]
    assert model.get_layer(index=1).name == "out"
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        model.get_layer("nope")
    popped = model.pop()
    assert popped.name == "out" and [layer.name for layer in model.layers] == ["hidden"]
    assert model.output_shape == (None, 4)


def test_sequential_rejects_duplicate_names_and_non_layers():
    model = Sequential([Dense(2, name="d", input_shape=(3,))])
    with pytest.raises(ValueError, match="already has a layer named 'd'"):
        model.add(Dense(2, name="d"))
    with pytest.raises(TypeError, match="expects a layer"):
        model.add("dense")


def test_set_weights_checks_the_count():
    model = Sequential([Dense(2, input_shape=(3,))])
    with pytest.raises(ValueError, match="2 weight arrays, got 1"):
        model.set_weights([np.zeros((3, 2))])


def test_functional_model_rejects_inputs_that_are_not_from_input():
    inputs = Input(shape=(3,))
    hidden = Dense(4)(inputs)
    out = Dense(2)(hidden)
    with pytest.raises(ValueError, match="Input"):
        Model(inputs=hidden, outputs=out)
    other = Input(shape=(3,))
    with pytest.raises(ValueError, match="not in the model's inputs"):
        Model(inputs=other, outputs=out)
    with pytest.raises(ValueError, match=r"do not depend on input\(s\) 'unused'"):
        Model(inputs=[inputs, Input(shape=(2,), name="unused")], outputs=out)
