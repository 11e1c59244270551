"""Metrics that accumulate over an epoch: accuracy (categorical, sparse, binary) and mean errors.

A metric sees each mini-batch's targets and the predictions the training forward pass already made
(no second forward pass), keeps running sums, and reports their mean over the samples seen so far.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from le4nn._typing import Array


class Metric:
    """Base class: ``update(y_true, y_pred)`` per batch, ``result()`` for the epoch, ``reset()``."""

    name = "metric"

    def __init__(self, name: str | None = None) -> None:
        if name is not None:
            self.name = name
        self.reset()

    def reset(self) -> None:
        self._total = 0.0
        self._count = 0

    def batch_values(self, y_true: Array, y_pred: Array) -> np.ndarray:
        """One value per sample; the metric is their mean."""
        raise NotImplementedError

    def update(self, y_true: Array, y_pred: Array) -> float:
        """Add a batch; return the metric of this batch alone."""
        values = self.batch_values(np.asarray(y_true), np.asarray(y_pred))
        self._total += float(values.sum(dtype=np.float64))
        self._count += values.size
        return float(values.mean()) if values.size else 0.0

    def result(self) -> float:
        return self._total / self._count if self._count else 0.0

    def get_config(self) -> dict:
        return {"name": self.name}


def _class_indices(y_true: Array, y_pred: Array) -> np.ndarray:
    """Targets as class indices, whether given as indices (B,) / (B, 1) or one-hot like ``y_pred``."""
    if y_true.shape == y_pred.shape:
        return np.argmax(y_true, axis=-1)
    return y_true.reshape(y_pred.shape[:-1]).astype(np.intp)


class CategoricalAccuracy(Metric):
    """Fraction of samples whose arg-max prediction is the arg-max of the one-hot target."""

    name = "categorical_accuracy"

    def batch_values(self, y_true: Array, y_pred: Array) -> np.ndarray:
        return (np.argmax(y_pred, axis=-1) == np.argmax(y_true, axis=-1)).astype(np.float64)


class SparseCategoricalAccuracy(Metric):
    """Fraction of samples whose arg-max prediction equals the integer target."""

    name = "sparse_categorical_accuracy"

    def batch_values(self, y_true: Array, y_pred: Array) -> np.ndarray:
        labels = y_true.reshape(y_pred.shape[:-1]).astype(np.intp)
        return (np.argmax(y_pred, axis=-1) == labels).astype(np.float64)


class Accuracy(Metric):
    """Keras's ``"accuracy"``: categorical for one-hot targets, sparse for class indices, binary for a
    single sigmoid output (threshold 0.5)."""

    name = "accuracy"

    def batch_values(self, y_true: Array, y_pred: Array) -> np.ndarray:
        if y_pred.ndim >= 2 and y_pred.shape[-1] > 1:
            return (np.argmax(y_pred, axis=-1) == _class_indices(y_true, y_pred)).astype(np.float64)
        return BinaryAccuracy.batch_values(cast(BinaryAccuracy, self), y_true, y_pred)  # its rule, on this metric


class BinaryAccuracy(Metric):
    """Fraction of predictions on the same side of ``threshold`` as their 0/1 targets."""

    name = "binary_accuracy"

    def __init__(self, name: str | None = None, threshold: float = 0.5) -> None:
        self.threshold = threshold
        super().__init__(name)

    def batch_values(self, y_true: Array, y_pred: Array) -> np.ndarray:
        threshold = getattr(self, "threshold", 0.5)
        hits = (y_pred.reshape(y_true.shape) > threshold) == (y_true > 0.5)
        return hits.reshape(hits.shape[0], -1).mean(axis=1)


class MeanSquaredError(Metric):
    name = "mean_squared_error"

    def batch_values(self, y_true: Array, y_pred: Array) -> np.ndarray:
        diff = (y_pred - y_true.reshape(y_pred.shape)).reshape(y_pred.shape[0], -1)
        return np.mean(diff.astype(np.float64) ** 2, axis=1)


class MeanAbsoluteError(Metric):
    name = "mean_absolute_error"

    def batch_values(self, y_true: Array, y_pred: Array) -> np.ndarray:
        diff = (y_pred - y_true.reshape(y_pred.shape)).reshape(y_pred.shape[0], -1)
        return np.mean(np.abs(diff.astype(np.float64)), axis=1)


_BY_NAME = {
    "accuracy": Accuracy,
    "acc": Accuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "binary_accuracy": BinaryAccuracy,
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
}


def get(identifier: Any) -> Metric:
    """A metric from a name (``"accuracy"``, ``"mse"``, …) or a :class:`Metric` instance."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        try:
            metric = _BY_NAME[identifier.lower()]()
        except KeyError:
            raise ValueError(
                f"unknown metric {identifier!r}; choose one of {', '.join(sorted(_BY_NAME))}"
            ) from None
        if identifier.lower() in ("acc", "mse", "mae"):
            metric.name = identifier.lower()
        return metric
    raise TypeError(f"a metric must be a name or a le4nn.metrics.Metric, got {type(identifier).__name__}")
