"""Metrics: per-batch values, running means over an epoch, names, and lookup by name."""

from __future__ import annotations

import numpy as np
import pytest

from le4nn import metrics

PROBS = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.5, 0.4, 0.1]], np.float32)
LABELS = np.array([0, 1, 1, 1])  # correct, correct, wrong, wrong


def _onehot(labels, k=3):
    return np.eye(k, dtype=np.float32)[labels]


def test_accuracy_accepts_one_hot_and_integer_targets():
    for target in (_onehot(LABELS), LABELS, LABELS.reshape(-1, 1), LABELS.astype(np.float32)):
        metric = metrics.get("accuracy")
        assert metric.update(target, PROBS) == 0.5
        assert metric.result() == 0.5


def test_categorical_and_sparse_accuracy():
    assert metrics.CategoricalAccuracy().update(_onehot(LABELS), PROBS) == 0.5
    assert metrics.SparseCategoricalAccuracy().update(LABELS, PROBS) == 0.5


def test_binary_accuracy_with_a_threshold():
    y_true = np.array([[1], [0], [1], [0]], np.float32)
    y_pred = np.array([[0.9], [0.4], [0.3], [0.6]], np.float32)
    assert metrics.BinaryAccuracy().update(y_true, y_pred) == 0.5
    assert metrics.BinaryAccuracy(threshold=0.35).update(y_true, y_pred) == 0.25
    assert metrics.get("accuracy").update(y_true, y_pred) == 0.5  # a single sigmoid output: binary


def test_running_mean_over_batches_weights_each_sample_once():
    metric = metrics.Accuracy()
    metric.update(LABELS[:1], PROBS[:1])  # 1 of 1
    metric.update(LABELS[1:], PROBS[1:])  # 1 of 3
    assert metric.result() == 0.5  # 2 of 4 samples, not the mean of the batch means (0.67)
    metric.reset()
    assert metric.result() == 0.0
    metric.update(LABELS[:2], PROBS[:2])
    assert metric.result() == 1.0


def test_mean_squared_and_absolute_error():
    y_true = np.array([[0.0, 1.0], [2.0, 2.0]])
    y_pred = np.array([[1.0, 1.0], [0.0, 2.0]])
    mse, mae = metrics.get("mse"), metrics.get("mae")
    assert mse.update(y_true, y_pred) == pytest.approx((0.5 + 2.0) / 2)
    assert mae.update(y_true, y_pred) == pytest.approx((0.5 + 1.0) / 2)
    assert mse.name == "mse" and mae.name == "mae"
    assert metrics.get("mean_squared_error").name == "mean_squared_error"


def test_lookup_by_name_instance_and_errors():
    assert metrics.get("acc").name == "acc"
    assert metrics.get("Accuracy").name == "accuracy"
    custom = metrics.CategoricalAccuracy(name="top1")
    assert metrics.get(custom) is custom and custom.get_config() == {"name": "top1"}
    with pytest.raises(ValueError, match="unknown metric 'f1'.*accuracy"):
        metrics.get("f1")
    with pytest.raises(TypeError, match="a metric must be a name"):
        metrics.get(3)


def test_float32_predictions_accumulate_in_float64():
    metric = metrics.MeanSquaredError()
    y = np.full((1000, 1), 0.1, np.float32)
    for _ in range(100):
        metric.update(np.zeros_like(y), y)
    assert metric.result() == pytest.approx(float(np.float32(0.1)) ** 2, rel=1e-12)
