"""``le4nn.callbacks.WeightAverage``: EMA and SWA arithmetic against a hand computation on a tiny
model, the swap at the end of training (in place, reversible bit for bit), save/load of the averaged
model, BatchNorm statistics, interrupted runs and argument checks."""

from __future__ import annotations

import numpy as np
import pytest

from le4nn.callbacks import Callback, WeightAverage
from le4nn.layers import BatchNormalization, Dense
from le4nn.models import Sequential, load_model
from le4nn.utils import set_random_seed


class Recorder(Callback):
    """Copies of the model's weights at the start, after every batch and at every epoch end."""

    def on_train_begin(self, logs=None):
        self.start = self.model.get_weights()
        self.batches, self.epochs = [], []

    def on_train_batch_end(self, batch, logs=None):
        self.batches.append(self.model.get_weights())

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(self.model.get_weights())


def tiny(batch_norm: bool = False) -> Sequential:
    set_random_seed(0)
    layers = [Dense(3, activation="relu", input_shape=(4,))]
    layers += [BatchNormalization()] if batch_norm else []
    model = Sequential([*layers, Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


def data():
    rng = np.random.default_rng(1)
    return rng.standard_normal((24, 4)).astype(np.float32), rng.integers(0, 2, 24)


def fit(model, average, epochs=3):
    recorder = Recorder()
    x, y = data()
    model.fit(x, y, batch_size=8, epochs=epochs, verbose=0, shuffle=False, callbacks=[recorder, average])
    return recorder


@pytest.mark.parametrize("warmup", [True, False])
def test_ema_is_the_hand_computed_average_and_is_swapped_in(warmup):
    model = tiny()
    average = WeightAverage("ema", decay=0.9, warmup=warmup)
    recorder = fit(model, average)
    expected = [w.astype(np.float64) for w in recorder.start]
    for t, weights in enumerate(recorder.batches):
        decay = min(0.9, (1 + t) / (10 + t)) if warmup else 0.9
        expected = [decay * e + (1 - decay) * w for e, w in zip(expected, weights, strict=True)]
    assert average.updates == len(recorder.batches) == 9
    for got, want in zip(model.get_weights(), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    average.swap()  # back to the trained weights, bit for bit
    for got, trained in zip(model.get_weights(), recorder.batches[-1], strict=True):
        np.testing.assert_array_equal(got, trained)


def test_swa_is_the_mean_of_the_epoch_end_weights_from_start_epoch():
    model = tiny()
    average = WeightAverage("swa", start_epoch=1)
    recorder = fit(model, average, epochs=4)
    for k, got in enumerate(model.get_weights()):
        np.testing.assert_allclose(got, np.mean([epoch[k] for epoch in recorder.epochs[1:]], axis=0), rtol=1e-5,
                                   atol=1e-7)


def test_swap_is_in_place_and_reversible():
    model = tiny()
    average = WeightAverage("ema", decay=0.5)
    fit(model, average)
    arrays = [w for layer in model.layers for w in layer.weights]
    averaged = model.get_weights()
    average.swap()
    trained = model.get_weights()
    assert any(not np.array_equal(a, t) for a, t in zip(averaged, trained, strict=True))
    average.swap()
    assert all(a is b for a, b in zip(arrays, [w for layer in model.layers for w in layer.weights], strict=True))
    for got, want in zip(model.get_weights(), averaged, strict=True):
        np.testing.assert_array_equal(got, want)


def test_the_averaged_model_survives_save_and_load(tmp_path):
    model = tiny(batch_norm=True)
    average = WeightAverage("ema", decay=0.8)
    recorder = fit(model, average)
    assert len(average.average) == len(model.get_weights()) == 8  # BatchNorm's moving statistics too
    moving_mean = model.layers[1].weights[2]
    assert not np.array_equal(moving_mean, recorder.batches[-1][2])  # averaged, not the last value
    model.save(tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz")
    for got, want in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    x, _ = data()
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_an_interrupted_run_or_swap_on_end_false_keeps_the_trained_weights():
    model = tiny()
    average = WeightAverage("ema", decay=0.5, swap_on_end=False)
    recorder = fit(model, average)
    for got, trained in zip(model.get_weights(), recorder.batches[-1], strict=True):
        np.testing.assert_array_equal(got, trained)
    interrupted = WeightAverage("ema", decay=0.5)
    interrupted.set_model(model)
    interrupted.on_train_begin()
    interrupted.on_epoch_begin(0)
    interrupted.on_train_batch_end(0)
    before = model.get_weights()
    interrupted.on_train_end({"interrupted": True})
    for got, want in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("kwargs, message", [
    ({"mode": "polyak"}, "mode"),
    ({"decay": 1.0}, "decay"),
    ({"decay": float("nan")}, "decay"),
    ({"decay": True}, "decay"),
    ({"start_epoch": -1}, "start_epoch"),
    ({"start_epoch": 1.5}, "start_epoch"),
])
def test_bad_arguments_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WeightAverage(**kwargs)


def test_swap_before_any_average_is_an_error():
    average = WeightAverage()
    average.set_model(tiny())
    with pytest.raises(RuntimeError, match="no average yet"):
        average.swap()
