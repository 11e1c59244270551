"""The training loop: fit/evaluate/predict, train/test_on_batch, inference mode, metrics from the training
forward pass, reproducibility, bad input, and the course's 3-layer network on 60000 MNIST-shaped samples."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from le4nn import optimizers
from le4nn.callbacks import EarlyStopping
from le4nn.layers import BatchNormalization, Dense, Dropout, Flatten
from le4nn.models import Sequential
from le4nn.utils import set_random_seed, to_categorical


def _mlp(hidden=16, inputs=(8, 8, 1), classes=3, dropout=0.0) -> Sequential:
    layers = [Flatten(input_shape=inputs), Dense(hidden, activation="relu")]
    if dropout:
        layers.append(Dropout(dropout))
    return Sequential([*layers, Dense(classes, activation="softmax")])


# --- fit / evaluate / predict -----------------------------------------------------------------------


def test_fit_returns_history_with_every_metric_per_epoch(small_images):
    x, y = small_images
    set_random_seed(0)
    model = _mlp()
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy", "mse"])
    history = model.fit(x[:150], y[:150], batch_size=16, epochs=4, verbose=0, validation_data=(x[150:], y[150:]))
    assert history is model.history
    assert set(history.history) == {"loss", "accuracy", "mse", "val_loss", "val_accuracy", "val_mse", "lr"}
    assert all(len(v) == 4 for v in history.history.values())
    assert history.history["loss"][-1] < history.history["loss"][0]
    # The last epoch's validation numbers are evaluate() on the final weights.
    logs = model.evaluate(x[150:], y[150:], batch_size=16, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(history.history["val_loss"][-1], rel=1e-12)
    assert logs["accuracy"] == history.history["val_accuracy"][-1]
    loss, accuracy, mse = model.evaluate(x[150:], y[150:], verbose=0)
    assert accuracy == logs["accuracy"] and loss == pytest.approx(logs["loss"], rel=1e-6)


def test_validation_split_takes_the_last_samples_before_shuffling(small_images):
    x, y = small_images
    set_random_seed(1)
    model = _mlp()
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=2, verbose=0, validation_split=0.2)
    logs = model.evaluate(x[160:], y[160:], batch_size=32, verbose=0, return_dict=True)
    assert logs["loss"] == history.history["val_loss"][-1]
    assert logs["accuracy"] == history.history["val_accuracy"][-1]


def test_integer_labels_and_sparse_loss(small_images):
    x, y = small_images
    labels = np.argmax(y, axis=1)
    set_random_seed(2)
    model = _mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, labels, batch_size=20, epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.evaluate(x, labels, verbose=0, return_dict=True)["accuracy"] > 0.6


def test_predict_is_batched_and_matches_one_big_batch(small_images):
    x, _ = small_images
    set_random_seed(3)
    model = _mlp(dropout=0.5)
    whole = model.predict(x, batch_size=len(x))
    assert whole.shape == (200, 3) and whole.dtype == np.float32
    np.testing.assert_allclose(model.predict(x, batch_size=7), whole, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(model(x), whole, rtol=1e-6, atol=1e-7)


def test_train_and_test_on_batch(small_images):
    x, y = small_images
    set_random_seed(4)
    model = _mlp()
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    before = model.test_on_batch(x, y, return_dict=True)
    assert set(before) == {"loss", "accuracy"}
    for _ in range(20):
        loss, accuracy = model.train_on_batch(x, y)
        assert np.isfinite(loss) and 0 <= accuracy <= 1
    after = model.test_on_batch(x, y, return_dict=True)
    assert after["loss"] < before["loss"]
    assert model.optimizer.iterations == 20


def test_class_weight_scales_each_samples_loss(small_images):
    x, y = small_images
    set_random_seed(5)
    model = _mlp()
    model.compile(optimizer=optimizers.SGD(learning_rate=0.0), loss="categorical_crossentropy")
    plain = model.test_on_batch(x, y)
    labels = np.argmax(y, axis=1)
    weights = np.where(labels == 0, 3.0, 1.0)
    loss = model.train_on_batch(x, y, class_weight={0: 3.0})
    assert loss == pytest.approx(model.train_on_batch(x, y, sample_weight=weights), rel=1e-12)
    assert model.train_on_batch(x, y, class_weight={0: 0.0, 1: 0.0, 2: 0.0}) == 0.0
    assert loss > plain


# --- inference mode ---------------------------------------------------------------------------------


def test_predict_and_evaluate_run_dropout_in_inference_mode():
    model = Sequential([Dropout(0.5, input_shape=(10,))])  # handout dropout: × (1 − rate) at test time
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).random((40, 10), dtype=np.float32)
    np.testing.assert_array_equal(model.predict(x), x * np.float32(0.5))
    np.testing.assert_array_equal(model.predict(x), model.predict(x))
    assert model.evaluate(x, x * np.float32(0.5), verbose=0) == 0.0
    trained = model(x, training=True)
    assert np.mean(trained == 0) == pytest.approx(0.5)  # training drops half of each sample


def test_predict_and_evaluate_use_batchnorm_moving_statistics(rng):
    set_random_seed(6)
    model = Sequential([BatchNormalization(input_shape=(4,), momentum=0.5)])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.0), loss="mse")
    x = (rng.standard_normal((64, 4)) * 3 + 5).astype(np.float32)
    model.fit(x, np.zeros_like(x), batch_size=16, epochs=3, verbose=0, shuffle=False)
    layer = model.layers[0]
    gamma, beta, mean, var = layer.get_weights()
    assert not np.allclose(mean, 0) and not np.allclose(var, 1)  # the moving averages moved
    expected = gamma * (x - mean) / np.sqrt(var + np.float32(layer.epsilon)) + beta
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5, atol=1e-5)
    # Inference does not depend on the rest of the batch, training mode does.
    np.testing.assert_allclose(model.predict(x[:1]), model.predict(x)[:1], rtol=1e-6)
    assert not np.allclose(model(x[:8], training=True), model.predict(x[:8]), atol=1e-2)
    before = layer.get_weights()
    model.evaluate(x, np.zeros_like(x), verbose=0)
    model.predict(x)
    assert all(np.array_equal(a, b) for a, b in zip(before, layer.get_weights(), strict=True))


# --- metrics come from the training forward pass ----------------------------------------------------


def test_fit_runs_one_forward_pass_per_batch(small_images):
    x, y = small_images
    model = _mlp()
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy", "mse"])
    first = model.layers[0]
    calls = {"training": 0, "inference": 0}
    original = first.forward

    def counting_forward(inputs, training=False):
        calls["training" if training else "inference"] += 1
        return original(inputs, training=training)

    first.forward = counting_forward
    model.fit(x[:100], y[:100], batch_size=25, epochs=2, verbose=0, validation_data=(x[100:150], y[100:150]))
    assert calls == {"training": 2 * 4, "inference": 2 * 2}  # 4 training and 2 validation batches per epoch


# --- reproducibility --------------------------------------------------------------------------------


def _seeded_run(seed, x, y):
    set_random_seed(seed)
    model = Sequential([Flatten(input_shape=(8, 8, 1)), Dense(16, activation="relu"), Dropout(0.3),
                        BatchNormalization(), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=True, validation_split=0.1)
    return model.get_weights(), history.history


def test_set_random_seed_makes_runs_bitwise_identical(small_images):
    x, y = small_images
    weights_a, history_a = _seeded_run(123, x, y)
    weights_b, history_b = _seeded_run(123, x, y)
    assert len(weights_a) == len(weights_b) == 8
    for a, b in zip(weights_a, weights_b, strict=True):
        assert a.tobytes() == b.tobytes()
    assert history_a == history_b
    weights_c, _ = _seeded_run(124, x, y)
    assert not np.array_equal(weights_a[0], weights_c[0])


# --- bad input --------------------------------------------------------------------------------------


def test_fit_before_compile_is_refused(small_images):
    x, y = small_images
    model = _mlp()
    for call in (lambda: model.fit(x, y, verbose=0), lambda: model.evaluate(x, y, verbose=0),
                 lambda: model.train_on_batch(x, y)):
        with pytest.raises(RuntimeError, match=r"must be compiled.*model\.compile"):
            call()
    assert model.predict(x).shape == (200, 3)  # predict needs no compile


def test_wrong_input_shape_names_both_shapes(small_images):
    x, y = small_images
    model = _mlp()
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    bad = np.zeros((10, 8, 9, 1), np.float32)
    with pytest.raises(ValueError, match=r"\(None, 8, 8, 1\).*\(None, 8, 9, 1\)"):
        model.fit(bad, y[:10], verbose=0)
    with pytest.raises(ValueError, match=r"\(None, 8, 8, 1\).*\(None, 8, 9, 1\)"):
        model.predict(bad)
    with pytest.raises(ValueError, match=r"\(None, 8, 8, 1\).*\(None, 64\)"):
        model.predict(x.reshape(200, 64))


def test_mismatched_lengths_and_targets(small_images):
    x, y = small_images
    model = _mlp()
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    with pytest.raises(ValueError, match=r"same number of samples.*\(200, 8, 8, 1\).*\(199, 3\)"):
        model.fit(x, y[:199], verbose=0)
    with pytest.raises(ValueError, match="same number of samples"):
        model.evaluate(x[:10], y[:11], verbose=0)
    with pytest.raises(ValueError, match=r"\(32, 5\).*\(32, 3\)|\(32, 3\).*\(32, 5\)"):
        model.fit(x, np.zeros((200, 5), np.float32), verbose=0)
    with pytest.raises(ValueError, match="sample_weight has 3 entries for 200 samples"):
        model.fit(x, y, sample_weight=np.ones(3), verbose=0)


def test_other_bad_arguments(small_images):
    x, y = small_images
    model = _mlp()
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        model.fit(x, y, batch_size=0, verbose=0)
    with pytest.raises(TypeError, match="must be numeric"):
        model.predict(np.array([["a"] * 64] * 2).reshape(2, 8, 8, 1))
    with pytest.raises(ValueError, match=r"validation_split must be a number in \[0, 1\)"):
        model.fit(x, y, validation_split=1.5, verbose=0)
    with pytest.raises(ValueError, match="validation_data must be"):
        model.fit(x, y, validation_data=(x,), verbose=0)
    with pytest.raises(ValueError, match=r"fit needs targets: call model\.fit\(x, y"):
        model.fit(x, verbose=0)
    with pytest.raises(ValueError, match="evaluate needs targets"):
        model.evaluate(x, verbose=0)
    with pytest.raises(ValueError, match="same number of samples"):
        model.test_on_batch(x, y[:5])


def test_metrics_may_be_a_single_name(small_images):
    x, y = small_images
    model = _mlp()
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics="accuracy")
    assert set(model.evaluate(x, y, verbose=0, return_dict=True)) == {"loss", "accuracy"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"loss": "categorical_crossentropi"}, "unknown loss 'categorical_crossentropi'"),
        ({"loss": "mse", "optimizer": "adamm"}, "adamm"),
        ({"loss": "mse", "metrics": ["acuracy"]}, "unknown metric 'acuracy'"),
        ({"optimizer": "sgd"}, "compile needs a loss"),
    ],
)
def test_unknown_names_in_compile(kwargs, message):
    model = _mlp()
    with pytest.raises(ValueError, match=message):
        model.compile(**kwargs)


# --- the course network on 60000 MNIST-shaped samples -----------------------------------------------


def _read_idx(path: Path) -> np.ndarray:
    """An idx file (gzipped): magic 0x0000 08 <ndim>, big-endian int32 sizes, then uint8 data."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">i4", count=ndim, offset=4)
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(tuple(int(d) for d in dims))


def _mnist_folder() -> Path | None:
    candidates = []
    if os.environ.get("LE4NN_DATA"):
        root = Path(os.environ["LE4NN_DATA"])
        candidates += [root / "mnist", root]
    candidates.append(Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist")
    for folder in candidates:
        if (folder / "train-images-idx3-ubyte.gz").is_file() and (folder / "train-labels-idx1-ubyte.gz").is_file():
            return folder
    return None


def _mnist_or_synthetic():
    """60000 training samples as (x (60000, 784) float32 in [0, 1], y one-hot, source)."""
    folder = _mnist_folder()
    if folder is not None:
        images = _read_idx(folder / "train-images-idx3-ubyte.gz")
        labels = _read_idx(folder / "train-labels-idx1-ubyte.gz")
        x = images.reshape(60000, 784).astype(np.float32) / 255
        return x, to_categorical(labels, 10), f"MNIST from {folder}"
    rng = np.random.default_rng(0)  # a learnable stand-in: class prototypes plus noise
    prototypes = rng.random((10, 784), dtype=np.float32)
    labels = rng.integers(0, 10, 60000)
    x = np.clip(prototypes[labels] + 0.5 * rng.standard_normal((60000, 784), dtype=np.float32), 0, 1)
    return x, to_categorical(labels, 10), "synthetic MNIST-shaped data"


def test_course_network_loss_falls_epoch_by_epoch():
    """The handout's 784-100-10 network: sigmoid hidden layer, softmax output, SGD lr 0.01, batch 100."""
    x, y, source = _mnist_or_synthetic()
    assert x.shape == (60000, 784)
    set_random_seed(0)
    model = Sequential([Dense(100, activation="sigmoid", input_shape=(784,)), Dense(10, activation="softmax")])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.01), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, batch_size=100, epochs=3, verbose=0)
    losses = history.history["loss"]
    assert len(losses) == 3
    assert losses[0] > losses[1] > losses[2], (source, losses)
    assert history.history["accuracy"][-1] > history.history["accuracy"][0], source


# --- issue 15: every bad argument of fit/evaluate/predict is one clear ValueError naming it ----------


def _compiled_mlp():
    model = _mlp()
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    return model


def _with_value(array, value, index=(3, 0, 0, 0)):
    bad = array.copy()
    bad[index] = value
    return bad


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m, x, y: m.fit(x[:0], y[:0], verbose=0), r"fit: x has 0 samples"),
        (lambda m, x, y: m.evaluate(x[:0], y[:0], verbose=0), r"evaluate: x has 0 samples"),
        (lambda m, x, y: m.predict(x[:0]), r"predict: x has 0 samples"),
        (lambda m, x, y: m.train_on_batch(x[:0], y[:0]), r"train_on_batch: x has 0 samples"),
        (lambda m, x, y: m.fit(x, y, epochs=-1, verbose=0), r"fit: epochs must be a positive integer, got -1"),
        (lambda m, x, y: m.fit(x, y, epochs=0, verbose=0), r"fit: epochs must be a positive integer, got 0"),
        (lambda m, x, y: m.fit(x, y, epochs=2.5, verbose=0), r"fit: epochs must be a positive integer, got 2.5"),
        (lambda m, x, y: m.fit(x, y, epochs=True, verbose=0), r"fit: epochs must be a positive integer, got True"),
        (lambda m, x, y: m.fit(x, y, epochs=2, initial_epoch=2, verbose=0), r"initial_epoch=2 leaves no epoch"),
        (lambda m, x, y: m.fit(x, y, initial_epoch=-1, verbose=0), r"initial_epoch must be a non-negative"),
        (lambda m, x, y: m.fit(x, y[:150], verbose=0),
         r"fit: .*same number of samples.*x \(200, 8, 8, 1\).*y \(150, 3\)"),
        (lambda m, x, y: m.evaluate(x[:3], y, verbose=0), r"evaluate: .*same number of samples"),
        (lambda m, x, y: m.fit(x, y, batch_size=0, verbose=0), r"batch_size must be a positive integer, got 0"),
        (lambda m, x, y: m.fit(x, y, batch_size=-4, verbose=0), r"batch_size must be a positive integer, got -4"),
        (lambda m, x, y: m.fit(x, y, batch_size=16.0, verbose=0), r"batch_size must be a positive integer, got 16.0"),
        (lambda m, x, y: m.fit(x, y, batch_size="16", verbose=0), r"batch_size must be a positive integer, got '16'"),
        (lambda m, x, y: m.predict(x, batch_size=0), r"batch_size must be a positive integer, got 0"),
        (lambda m, x, y: m.evaluate(x, y, batch_size=-1, verbose=0), r"batch_size must be a positive integer"),
        (lambda m, x, y: m.fit(x, y, validation_split=-0.1, verbose=0), r"validation_split must be .* \[0, 1\)"),
        (lambda m, x, y: m.fit(x, y, validation_split=1.0, verbose=0), r"validation_split must be .* \[0, 1\)"),
        (lambda m, x, y: m.fit(x, y, validation_split=float("nan"), verbose=0), r"validation_split must be .*nan"),
        (lambda m, x, y: m.fit(x, y, validation_split="0.2", verbose=0), r"validation_split must be a number"),
        (lambda m, x, y: m.fit(x[:1], y[:1], validation_split=0.5, verbose=0),
         r"fit: validation_split=0.5 leaves no training or no validation samples of 1"),
        (lambda m, x, y: m.fit(x[:3], y[:3], validation_split=0.9, verbose=0),
         r"validation_split=0.9 leaves no training or no validation samples of 3 \(0 would train\)"),
        (lambda m, x, y: m.fit(_with_value(x, np.nan), y, verbose=0), r"fit: x holds NaN or inf \(sample 3\)"),
        (lambda m, x, y: m.fit(_with_value(x, np.inf), y, verbose=0), r"fit: x holds NaN or inf \(sample 3\)"),
        (lambda m, x, y: m.fit(x, _with_value(y, -np.inf, (7, 1)), verbose=0),
         r"fit: y holds NaN or inf \(sample 7\)"),
        (lambda m, x, y: m.evaluate(x, _with_value(y, np.nan, (0, 0)), verbose=0), r"evaluate: y holds NaN"),
        (lambda m, x, y: m.predict(_with_value(x, np.nan, (199, 7, 7, 0))),
         r"predict: x holds NaN or inf \(sample 199\)"),
        (lambda m, x, y: m.fit(x, y, verbose="loud"), r"fit: verbose must be 0, 1, 2 or 'auto', got 'loud'"),
        (lambda m, x, y: m.evaluate(x, y, verbose=3), r"evaluate: verbose must be .* got 3"),
        (lambda m, x, y: m.predict(x, verbose=True), r"predict: verbose must be .* got True"),
    ],
)
def test_bad_fit_arguments_are_one_clear_error(small_images, call, message):
    x, y = small_images
    model = _compiled_mlp()
    weights = model.get_weights() if model.built else None
    with pytest.raises(ValueError, match=message):
        call(model, x, y)
    if weights is not None:  # refused before any step
        for before, after in zip(weights, model.get_weights(), strict=True):
            np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda m, x, y: m.predict([[0.0, 1.0], [2.0]]), ValueError, r"inputs\[0\] is not a regular array"),
        (lambda m, x, y: m.fit(x, y, callbacks=EarlyStopping(), verbose=0), TypeError,
         r"callbacks must be a list of le4nn.callbacks.Callback"),
        (lambda m, x, y: m.fit(x, y, class_weight="balanced", verbose=0), TypeError,
         r"class_weight must be a dict .*got str"),
        (lambda m, x, y: m.fit(x, y, class_weight={-1: 2.0}, verbose=0), ValueError,
         r"class_weight: keys must be class indices .*got -1"),
        (lambda m, x, y: m.fit(x, y, class_weight={0: float("nan")}, verbose=0), ValueError,
         r"class_weight: the weight of class 0 must be a finite number"),
        (lambda m, x, y: m.set_weights(3), TypeError, r"set_weights takes a list of arrays .*got int"),
    ],
    ids=["ragged-predict", "callbacks-not-a-list", "class-weight-str", "class-weight-negative-key",
         "class-weight-nan", "set-weights-int"],
)
def test_arguments_of_the_wrong_type_are_one_clear_error(small_images, call, error, message):
    x, y = small_images
    with pytest.raises(error, match=message):
        call(_compiled_mlp(), x, y)


def test_class_weights_of_classes_absent_from_y_allocate_nothing(small_images):
    x, y = small_images
    model = _compiled_mlp()
    model.fit(x, y, class_weight={0: 1.0, 10**15: 2.0}, epochs=1, verbose=0)  # a table of 10**15 before


def test_the_first_non_finite_sample_is_named_for_every_input_and_target():
    from le4nn.models import data

    x = np.zeros((3000, 1000), np.float32)
    x[2999, 999] = np.nan
    with pytest.raises(ValueError, match=r"fit: x holds NaN or inf \(sample 2999\)"):
        data.check_samples("fit", [x])
    with pytest.raises(ValueError, match=r"fit: y\[1\] holds NaN or inf \(sample 0\)"):
        data.check_samples("fit", [x[:2, :1] * 0], [np.zeros((2, 1)), np.array([[np.inf], [0.0]])])
