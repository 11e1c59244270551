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


# --------------------------------------------------------------------------------------------------
# The configuration matrix (test_configuration_matrix.py): every layer type, in every position, in
# both data formats where it has one, in both float dtypes, on both backends.
# --------------------------------------------------------------------------------------------------

MATRIX_BATCH = 4
MATRIX_IMAGE = (6, 6, 8)  # height, width, channels: 8 channels so that a 3×3 Conv2D takes Winograd
MATRIX_FEATURES = 5
MATRIX_VOCABULARY, MATRIX_SEQUENCE = 7, 3
MATRIX_POSITIONS = ("first", "middle", "last")


class LayerSpec:
    """One layer configuration of the matrix.

    ``make(data_format, dtype, **kwargs)`` builds the layer; ``context`` is the data it sits in
    ("image", "vector" or "indices"); ``formats`` the data formats it runs in (an image layer in
    both, unless it cannot give the same result up to the transpose, as Flatten cannot);
    ``positions`` where it may stand in a model.
    """

    def __init__(self, name, make, context="image", formats=("channels_last", "channels_first"),
                 positions=MATRIX_POSITIONS):
        self.name, self.make, self.context = name, make, context
        self.formats, self.positions = formats, positions

    def __repr__(self) -> str:
        return self.name


def _channel_axis(data_format: str) -> int:
    return -1 if data_format == "channels_last" else 1


def matrix_layer_specs() -> list[LayerSpec]:
    """Every layer type of le4nn.layers (several paths of Conv2D: Winograd, im2col + GEMM, direct)."""
    from le4nn import layers as L

    last_only = ("channels_last",)
    return [
        LayerSpec("Conv2D/3x3-winograd", lambda f, **k: L.Conv2D(4, 3, padding="same", data_format=f,
                                                                  activation="relu", **k)),
        LayerSpec("Conv2D/2x2-stride2-gemm", lambda f, **k: L.Conv2D(3, 2, strides=2, data_format=f, **k)),
        LayerSpec("Conv2D/1x1-direct-tanh", lambda f, **k: L.Conv2D(3, 1, data_format=f, activation="tanh",
                                                                     **k)),
        LayerSpec("Conv2D/5x5-sigmoid-gemm", lambda f, **k: L.Conv2D(2, 5, padding="same", data_format=f,
                                                                      activation="sigmoid", **k)),
        LayerSpec("Conv2D/no-bias-relu", lambda f, **k: L.Conv2D(3, 3, data_format=f, activation="relu",
                                                                  use_bias=False, **k)),
        LayerSpec("Conv2D/frozen", lambda f, **k: L.Conv2D(3, 1, data_format=f, activation="relu",
                                                            trainable=False, **k)),
        LayerSpec("Conv2D/softmax", lambda f, **k: L.Conv2D(3, 1, data_format=f, activation="softmax", **k),
                  formats=last_only),
        LayerSpec("Conv2DTranspose/valid-no-bias", lambda f, **k: L.Conv2DTranspose(
            2, 2, data_format=f, use_bias=False, activation="sigmoid", **k)),
        LayerSpec("Conv2DTranspose", lambda f, **k: L.Conv2DTranspose(3, 3, strides=2, padding="same",
                                                                      data_format=f, activation="relu", **k)),
        LayerSpec("MaxPooling2D", lambda f, **k: L.MaxPooling2D(2, data_format=f, **k)),
        LayerSpec("AveragePooling2D", lambda f, **k: L.AveragePooling2D(3, strides=2, padding="same",
                                                                        data_format=f, **k)),
        LayerSpec("GlobalAveragePooling2D", lambda f, **k: L.GlobalAveragePooling2D(data_format=f, **k)),
        LayerSpec("UpSampling2D", lambda f, **k: L.UpSampling2D(2, data_format=f, **k)),
        LayerSpec("UpSampling2D/bilinear", lambda f, **k: L.UpSampling2D(2, data_format=f,
                                                                         interpolation="bilinear", **k)),
        LayerSpec("BatchNormalization", lambda f, **k: L.BatchNormalization(axis=_channel_axis(f), **k)),
        LayerSpec("BatchNormalization/frozen", lambda f, **k: L.BatchNormalization(
            axis=_channel_axis(f), trainable=False, **k)),
        LayerSpec("Activation", lambda f, **k: L.Activation("tanh", **k)),
        LayerSpec("ReLU", lambda f, **k: L.ReLU(**k)),
        LayerSpec("Sigmoid", lambda f, **k: L.Sigmoid(**k)),
        LayerSpec("Tanh", lambda f, **k: L.Tanh(**k)),
        LayerSpec("LeakyReLU", lambda f, **k: L.LeakyReLU(0.1, **k)),
        LayerSpec("ELU", lambda f, **k: L.ELU(**k)),
        LayerSpec("Softmax", lambda f, **k: L.Softmax(axis=_channel_axis(f), **k)),
        LayerSpec("Flatten", lambda f, **k: L.Flatten(**k), formats=last_only),
        LayerSpec("Reshape", lambda f, **k: L.Reshape((-1, MATRIX_IMAGE[2]), **k), formats=last_only),
        LayerSpec("Dropout", lambda f, **k: L.Dropout(0.25, **k), formats=last_only),
        LayerSpec("Dropout/inverted", lambda f, **k: L.Dropout(0.25, mode="inverted", **k), formats=last_only),
        LayerSpec("Dense", lambda f, **k: L.Dense(4, activation="sigmoid", **k), context="vector",
                  formats=last_only),
        LayerSpec("Dense/relu", lambda f, **k: L.Dense(4, activation="relu", **k), context="vector",
                  formats=last_only),
        LayerSpec("Dense/frozen", lambda f, **k: L.Dense(4, trainable=False, **k), context="vector",
                  formats=last_only),
        LayerSpec("Dropout/vector", lambda f, **k: L.Dropout(0.5, **k), context="vector", formats=last_only),
        LayerSpec("BatchNormalization/vector", lambda f, **k: L.BatchNormalization(**k), context="vector",
                  formats=last_only),
        LayerSpec("Softmax/vector", lambda f, **k: L.Softmax(**k), context="vector", formats=last_only),
        LayerSpec("Embedding", lambda f, **k: L.Embedding(MATRIX_VOCABULARY, 2, **k), context="indices",
                  formats=last_only, positions=("first", "last")),
    ]


def matrix_inputs(context: str, data_format: str, dtype, seed: int = 0):
    """(x, integer labels) of the matrix's tiny data set, x laid out as ``data_format`` says."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, MATRIX_BATCH)
    if context == "indices":
        return rng.integers(0, MATRIX_VOCABULARY, (MATRIX_BATCH, MATRIX_SEQUENCE)).astype(dtype), labels
    if context == "vector":
        return rng.standard_normal((MATRIX_BATCH, MATRIX_FEATURES)).astype(dtype), labels
    x = rng.standard_normal((MATRIX_BATCH, *MATRIX_IMAGE)).astype(dtype)
    return to_format(x, data_format), labels


def to_format(x: np.ndarray, data_format: str) -> np.ndarray:
    """A channels_last image batch in ``data_format`` (anything else as it is)."""
    if x.ndim == 4 and data_format == "channels_first":
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    return x


def from_format(x: np.ndarray, data_format: str) -> np.ndarray:
    """Back to channels_last (the inverse of :func:`to_format`)."""
    if x.ndim == 4 and data_format == "channels_first":
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    return x


def matrix_model(spec: LayerSpec, position: str, data_format: str, dtype) -> Sequential:
    """A small Sequential model with ``spec``'s layer first, in the middle or last.

    Before it (middle, last): a layer of its context (a ReLU 1×1 Conv2D for images, so that a
    MaxPooling2D after it takes the fused convolution + pooling path; a Dense for vectors).  After
    it (first, middle): a head down to 3 softmax classes (GlobalAveragePooling2D for images, which
    does not depend on the data format; Flatten for sequences).
    """
    from le4nn.layers import Conv2D, Dense, GlobalAveragePooling2D

    dtype = np.dtype(dtype).name
    x, _ = matrix_inputs(spec.context, data_format, dtype)
    input_shape = x.shape[1:]
    if position == "first" or spec.context == "indices":  # an Embedding takes the model's input
        chain = [spec.make(data_format, dtype=dtype, input_shape=input_shape)]
    elif spec.context == "image":
        chain = [Conv2D(MATRIX_IMAGE[2], 1, activation="relu", data_format=data_format, dtype=dtype,
                        input_shape=input_shape), spec.make(data_format, dtype=dtype)]
    else:
        chain = [Dense(6, activation="tanh", dtype=dtype, input_shape=input_shape),
                 spec.make(data_format, dtype=dtype)]
    if position != "last":
        shape = (None, *input_shape)
        for layer in chain:
            shape = layer.compute_output_shape(shape)
        if len(shape) == 4:
            chain.append(GlobalAveragePooling2D(data_format=data_format, dtype=dtype))
        elif len(shape) == 3:
            from le4nn.layers import Flatten

            chain.append(Flatten(dtype=dtype))
        chain.append(Dense(3, activation="softmax", dtype=dtype))
    return Sequential(chain)


class _Matrix:
    """The matrix helpers, handed to tests by the ``matrix`` fixture."""

    positions = MATRIX_POSITIONS
    specs = staticmethod(matrix_layer_specs)
    inputs = staticmethod(matrix_inputs)
    model = staticmethod(matrix_model)
    to_format = staticmethod(to_format)
    from_format = staticmethod(from_format)


@pytest.fixture
def matrix():
    return _Matrix()


MATRIX_DTYPES = ("float32", "float64")


def matrix_cases() -> list:
    """(spec, position, dtype) of every matrix test, with readable ids."""
    return [
        pytest.param((spec, position, dtype), id=f"{spec.name}-{position}-{dtype}")
        for spec in matrix_layer_specs()
        for position in spec.positions
        for dtype in MATRIX_DTYPES
    ]


def pytest_generate_tests(metafunc):
    """A test that takes ``matrix_case`` runs once per layer configuration, position and dtype."""
    if "matrix_case" in metafunc.fixturenames:
        metafunc.parametrize("matrix_case", matrix_cases())


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
