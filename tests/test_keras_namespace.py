"""Keras 3's top-level namespace on ``import le4nn as keras`` (issue 20): keras.io-style examples with only
the import line changed, each shortened to one epoch on a few hundred images of the bundled sample; and
``import le4nn`` stays light (the names are imported on first use, PEP 562)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import le4nn
from le4nn.datasets import SampleDataWarning, locate

SRC = str(Path(le4nn.__file__).resolve().parents[1])
#: The test images each example trains on ("1 epoch on a few hundred images").
N_TRAIN = 600


@pytest.fixture(autouse=True)
def only_the_bundled_sample(tmp_path, monkeypatch):
    """A fresh machine: no MNIST anywhere, no network; ``keras.datasets.mnist.load_data()`` gives the sample."""
    monkeypatch.setenv("LE4NN_OFFLINE", "1")
    monkeypatch.setenv("LE4NN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LE4NN_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(locate, "SYSTEM_DIRS", [])
    monkeypatch.chdir(tmp_path)
    le4nn.utils.set_random_seed(0)  # keras.utils.set_random_seed: the same weights and batches every run


def test_import_le4nn_loads_neither_models_nor_datasets_nor_matplotlib():
    code = ("import sys, le4nn\n"
            "heavy = [m for m in ('le4nn.models', 'le4nn.layers', 'le4nn.datasets', 'le4nn.callbacks', "
            "'matplotlib') if m in sys.modules]\n"
            "assert not heavy, heavy\n"
            "assert le4nn.Sequential.__module__ == 'le4nn.models.sequential'\n"
            "assert 'le4nn.models' in sys.modules and 'matplotlib' not in sys.modules\n")
    env = {**os.environ, "PYTHONPATH": SRC}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr


def test_the_namespace_holds_keras_names_and_rejects_others():
    import le4nn as keras

    assert keras.Sequential is keras.models.Sequential and keras.Model is keras.models.Model
    assert keras.Input is keras.layers.Input and keras.Layer is keras.layers.Layer
    assert keras.utils.to_categorical([1], 3).tolist() == [[0, 1, 0]]
    assert keras.datasets.mnist.load_data is le4nn.datasets.mnist.load_data
    for name in ("layers", "models", "datasets", "utils", "callbacks", "optimizers", "losses", "metrics",
                 "activations", "initializers", "regularizers", "applications", "Sequential", "Input"):
        assert name in dir(keras)
    assert keras.version() == keras.__version__
    with pytest.raises(AttributeError, match="module 'le4nn' has no attribute 'Sequentail'"):
        keras.Sequentail  # noqa: B018


def _mnist_images(keras, num_classes=10, one_hot=True):
    """keras.io's preparation of MNIST (as the examples write it), cut to N_TRAIN training images; labels
    one-hot (``to_categorical``) or, with ``one_hot=False``, the digits."""
    with pytest.warns(SampleDataWarning):
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    x_train = np.expand_dims(x_train[:N_TRAIN].astype("float32") / 255, -1)
    x_test = np.expand_dims(x_test.astype("float32") / 255, -1)
    if not one_hot:
        return x_train, y_train[:N_TRAIN], x_test, y_test
    y_train = keras.utils.to_categorical(y_train[:N_TRAIN], num_classes)
    y_test = keras.utils.to_categorical(y_test, num_classes)
    return x_train, y_train, x_test, y_test


def test_simple_mnist_convnet(capsys):
    """keras.io's "Simple MNIST convnet" (fchollet), only ``import keras`` / ``from keras import layers``
    changed, 1 epoch on N_TRAIN images instead of 15 on 60000."""
    import le4nn as keras
    from le4nn import layers

    num_classes, input_shape = 10, (28, 28, 1)
    x_train, y_train, x_test, y_test = _mnist_images(keras, num_classes)
    model = keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(num_classes, activation="softmax"),
        ]
    )
    model.summary()
    assert "Total params: 34,826" in capsys.readouterr().out
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=128, epochs=1, validation_split=0.1, verbose=0)
    score = model.evaluate(x_test, y_test, verbose=0)
    assert len(history.history["loss"]) == 1 and np.isfinite(score[0])
    assert score[1] > 0.2  # 5 steps already learn: twice chance (0.1) on the 1000 test digits


def test_functional_api_example(tmp_path):
    """keras.io's functional-API guide: an Input, Dense layers called on tensors, ``keras.Model(inputs,
    outputs)``, then ``keras.utils.plot_model`` (or, without Graphviz, its one-line error)."""
    import le4nn as keras
    from le4nn import layers

    inputs = keras.Input(shape=(784,))
    x = layers.Dense(64, activation="relu")(inputs)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(10)(x)
    model = keras.Model(inputs=inputs, outputs=outputs, name="mnist_model")
    assert model.count_params() == 55050  # as in the guide
    x_train, y_train, x_test, y_test = _mnist_images(keras, one_hot=False)
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  optimizer=keras.optimizers.RMSprop(), metrics=["accuracy"])
    history = model.fit(x_train.reshape(-1, 784), y_train, batch_size=64, epochs=1,
                        validation_split=0.2, verbose=0)
    loss, accuracy = model.evaluate(x_test.reshape(-1, 784), y_test, verbose=0)
    assert set(history.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"} and 0.1 < accuracy <= 1
    assert "mnist_model" in model.name and "dense" in keras.utils.model_to_dot(model)
    try:
        drawn = keras.utils.plot_model(model, tmp_path / "my_first_model.png")
    except RuntimeError as exc:  # no Graphviz here: le4nn says so in one line
        assert "Graphviz" in str(exc)
    else:
        assert drawn.is_file()


def test_callbacks_example(tmp_path):
    """keras.io's callbacks guide: EarlyStopping, ModelCheckpoint, CSVLogger, a LearningRateScheduler."""
    import le4nn as keras
    from le4nn import layers

    x_train, y_train, _, _ = _mnist_images(keras)
    model = keras.Sequential([keras.Input(shape=(28, 28, 1)), layers.Flatten(),
                              layers.Dense(32, activation="relu"), layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="categorical_crossentropy",
                  metrics=[keras.metrics.CategoricalAccuracy()])
    callbacks = [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=1),
        keras.callbacks.ModelCheckpoint(str(tmp_path / "model_{epoch}.npz")),
        keras.callbacks.CSVLogger(str(tmp_path / "log.csv")),
        keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5),
    ]
    history = model.fit(x_train, y_train, epochs=2, batch_size=64, validation_split=0.2, callbacks=callbacks,
                        verbose=0)
    assert len(history.history["loss"]) == 2
    assert (tmp_path / "model_1.npz").is_file() and (tmp_path / "model_2.npz").is_file()
    assert len((tmp_path / "log.csv").read_text().splitlines()) == 3  # header and two epochs
    assert model.optimizer.learning_rate == pytest.approx(1e-3 * 0.25)
