"""Fixtures shared by the model tests: small data sets and tiny networks that train in a blink."""

from __future__ import annotations

import numpy as np
import pytest

from le4nn.layers import BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from le4nn.models import Sequential
from le4nn.utils import to_categorical


def learnable_images(n: int, seed: int = 0, size: int = 28, classes: int = 10):
    """(x, y_onehot): images of shape (n, size, size, 1) in [0, 1) whose class is the brightest of
    ``classes`` horizontal bands — random enough to be noisy, easy enough to learn in a few epochs."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    x = rng.random((n, size, size, 1), dtype=np.float32) * 0.5
    bands = np.array_split(np.arange(size), classes)
    for k in range(classes):
        rows = bands[k]
        x[labels == k, rows[0] : rows[-1] + 1] += 0.5
    return x, to_categorical(labels, classes)


@pytest.fixture
def images():
    """300 training and 100 test samples (28×28×1 float32, one-hot over 10 classes)."""
    x, y = learnable_images(400, seed=0)
    return x[:300], y[:300], x[300:], y[300:]


@pytest.fixture
def small_images():
    """200 samples of 8×8×1 over 3 classes, for fast save/load and callback tests."""
    return learnable_images(200, seed=1, size=8, classes=3)


def small_cnn() -> Sequential:
    """A tiny CNN with BatchNormalization and Dropout (both behave differently in training)."""
    return Sequential([
        Conv2D(4, (3, 3), padding="same", activation="relu", input_shape=(8, 8, 1)),
        BatchNormalization(),
        MaxPooling2D((2, 2)),
        Flatten(),
        Dropout(0.3),
        Dense(16, activation="relu"),
        Dense(3, activation="softmax"),
    ])


@pytest.fixture
def make_small_cnn():
    return small_cnn
