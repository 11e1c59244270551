"""``le4nn.schedules``: the values of each schedule, composition with a warm-up, and the callback."""

from __future__ import annotations

import math

import numpy as np
import pytest

from le4nn import schedules as S
from le4nn.callbacks import LearningRateScheduler
from le4nn.layers import Dense
from le4nn.models import Sequential


def test_constant_and_step():
    assert S.Constant(0.1)(0) == S.Constant(0.1)(17.5) == 0.1
    step = S.StepDecay(1.0, step_size=5, factor=0.5)
    assert [step(t) for t in (0, 4, 4.99, 5, 9, 10, 15)] == [1, 1, 1, 0.5, 0.5, 0.25, 0.125]


def test_piecewise_constant():
    schedule = S.PiecewiseConstant([10, 20], [1e-2, 1e-3, 1e-4])
    assert [schedule(t) for t in (0, 9.9, 10, 19, 20, 100)] == [1e-2, 1e-2, 1e-3, 1e-3, 1e-4, 1e-4]
    with pytest.raises(ValueError, match="one more value"):
        S.PiecewiseConstant([10], [1.0])


def test_exponential_matches_keras_formula():
    smooth = S.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    stairs = S.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)
    assert smooth(0) == 0.1 and math.isclose(smooth(10), 0.05) and math.isclose(smooth(5), 0.1 * 0.5 ** 0.5)
    assert stairs(9) == 0.1 and math.isclose(stairs(10), 0.05) and math.isclose(stairs(25), 0.025)


def test_cosine_decay_values():
    cosine = S.CosineDecay(1.0, decay_steps=10, alpha=0.1)
    assert cosine(0) == 1.0
    assert math.isclose(cosine(5), 0.1 + 0.9 * 0.5)
    assert math.isclose(cosine(10), 0.1) and math.isclose(cosine(50), 0.1)
    values = [cosine(t) for t in np.linspace(0, 10, 21)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))
    for t in (1, 2.5, 7):
        assert math.isclose(cosine(t), 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t / 10)))


def test_cosine_decay_with_keras_warmup():
    schedule = S.CosineDecay(0.0, decay_steps=10, warmup_target=1.0, warmup_steps=2)
    assert schedule(0) == 0 and math.isclose(schedule(1), 0.5) and schedule(2) == 1.0
    assert math.isclose(schedule(7), 0.5) and math.isclose(schedule(12), 0.0, abs_tol=1e-12)


def test_warmup_composes_with_any_schedule():
    schedule = S.Warmup(S.CosineDecay(1e-3, decay_steps=8), warmup_steps=2)
    assert schedule(0) == 0 and math.isclose(schedule(1), 5e-4) and math.isclose(schedule(2), 1e-3)
    assert math.isclose(schedule(6), 5e-4) and math.isclose(schedule(10), 0, abs_tol=1e-15)
    stepped = S.Warmup(S.StepDecay(0.1, 3, 0.1), warmup_steps=1, start=0.01)
    assert stepped(0) == 0.01 and math.isclose(stepped(0.5), 0.055) and stepped(1) == 0.1
    assert math.isclose(stepped(4), 0.01)
    assert S.Warmup(lambda t: 2.0, 4)(2) == 1.0  # plain functions too


def test_bad_arguments():
    with pytest.raises(ValueError, match="decay_steps"):
        S.CosineDecay(1e-3, decay_steps=0)
    with pytest.raises(ValueError, match="alpha"):
        S.CosineDecay(1e-3, 10, alpha=2)
    with pytest.raises(ValueError, match="time"):
        S.Constant(1.0)(-1)
    with pytest.raises(ValueError, match="unit"):
        S.ScheduleCallback(S.Constant(1.0), unit="hour")


def _model():
    model = Sequential([Dense(3, activation="softmax", input_shape=(4,))])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


class _RecordLR(S.Callback):
    def __init__(self):
        super().__init__()
        self.lrs = []

    def on_train_batch_begin(self, batch, logs=None):
        # runs after the schedule callback (given later in the list)
        self.lrs.append(self.model.optimizer.learning_rate)


def _fit(callback, epochs=3, n=40, batch_size=10):
    model = _model()
    record = _RecordLR()
    x = np.random.default_rng(0).random((n, 4)).astype(np.float32)
    y = np.arange(n) % 3
    history = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=[callback, record])
    return record.lrs, history


def test_callback_per_epoch():
    lrs, history = _fit(S.ScheduleCallback(S.StepDecay(0.1, 1, 0.5)))
    assert lrs == [0.1] * 4 + [0.05] * 4 + [0.025] * 4
    assert history.history["lr"] == [0.1, 0.05, 0.025]


def test_callback_per_batch_in_fractional_epochs():
    lrs, _ = _fit(S.ScheduleCallback(S.Warmup(S.Constant(0.1), 1), per_batch=True), epochs=2)
    np.testing.assert_allclose(lrs, [0, 0.025, 0.05, 0.075, 0.1, 0.1, 0.1, 0.1])


def test_callback_in_steps():
    lrs, _ = _fit(S.ScheduleCallback(lambda step: 0.01 * (step + 1), unit="step"), epochs=2)
    np.testing.assert_allclose(lrs, 0.01 * np.arange(1, 9))


def test_schedules_plug_into_keras_learning_rate_scheduler():
    lrs, _ = _fit(LearningRateScheduler(S.ExponentialDecay(0.1, 1, 0.5)), epochs=2)
    np.testing.assert_allclose(lrs, [0.1] * 4 + [0.05] * 4)
