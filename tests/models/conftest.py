"""Fixtures shared by the model tests: small data sets and tiny networks that train in a blink."""

from __future__ import annotations

import copy
import io
import json
import warnings
import zipfile

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


class ModelFileKit:
    """Writing hostile model files: a model file's raw zip entries, edited and written back as a zip
    (duplicates, odd names and pickles included), without going through le4nn's own writer."""

    @staticmethod
    def npy(array) -> bytes:
        """The ``.npy`` bytes of ``array`` (object arrays are pickled, as a hostile file would hold)."""
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=True)
        return buffer.getvalue()

    @staticmethod
    def header_npy(header) -> bytes:
        """The header entry's bytes for a dict (dumped as JSON) or a ready JSON text."""
        return ModelFileKit.npy(np.array(header if isinstance(header, str) else json.dumps(header)))

    @staticmethod
    def entries(path) -> dict[str, bytes]:
        """{entry name without .npy: raw .npy bytes} of a model file."""
        with zipfile.ZipFile(path) as archive:
            return {name[: -len(".npy")]: archive.read(name) for name in archive.namelist()}

    @staticmethod
    def header(path) -> dict:
        with np.load(path, allow_pickle=False) as archive:
            return json.loads(str(archive["__le4nn__"]))

    @staticmethod
    def write(path, entries, compression=zipfile.ZIP_STORED):
        """Write ``entries`` ({key: bytes} or [(key, bytes)], duplicates allowed) as a zip of .npy files."""
        items = entries.items() if isinstance(entries, dict) else entries
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zipfile warns about duplicated names
            with zipfile.ZipFile(path, "w", compression=compression) as archive:
                for key, data in items:
                    archive.writestr(key if key.endswith((".npy", "/")) or "." in key else f"{key}.npy", data)
        return path

    @classmethod
    def rewrite(cls, source, target, header=None, arrays=None, drop=()):
        """A copy of model file ``source`` at ``target`` with ``header`` (a dict, a JSON text or a
        function editing the dict in place) and ``arrays`` ({key: array or raw bytes}) replaced and the
        keys in ``drop`` removed."""
        entries = cls.entries(source)
        if callable(header):
            edited = copy.deepcopy(cls.header(source))
            header(edited)
            header = edited
        if header is not None:
            entries["__le4nn__"] = cls.header_npy(header)
        for key, value in (arrays or {}).items():
            entries[key] = value if isinstance(value, bytes) else cls.npy(value)
        for key in drop:
            del entries[key]
        return cls.write(target, entries)


@pytest.fixture(scope="session")
def model_files():
    """The :class:`ModelFileKit` helpers."""
    return ModelFileKit
