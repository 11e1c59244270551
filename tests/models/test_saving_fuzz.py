"""A bounded fuzz of model files (hypothesis, derandomized so that CI runs the same cases): byte flips,
truncations and header JSON mutations of a valid file.  Each load either succeeds with a model that
predicts finite values, or ends in a ModelFileError naming the file; nothing else may escape.
``LE4NN_FUZZ_EXAMPLES=N`` runs N random cases per test instead of the fixed 120."""

from __future__ import annotations

import copy
import functools
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from le4nn.layers import BatchNormalization, Conv2D, Dense, Flatten, Input, MaxPooling2D
from le4nn.models import Model, ModelFileError, Sequential, load_model
from le4nn.utils import set_random_seed

#: LE4NN_FUZZ_EXAMPLES=5000 runs a deeper (randomized) fuzz locally.
_DEEP = int(os.environ.get("LE4NN_FUZZ_EXAMPLES", "0"))
FUZZ = settings(max_examples=_DEEP or 120, deadline=None, derandomize=not _DEEP, database=None,
                suppress_health_check=[HealthCheck.too_slow])
_FOLDER = tempfile.TemporaryDirectory(prefix="le4nn-fuzz-")
_X = np.random.default_rng(0).random((3, 6, 6, 1), dtype=np.float32)


def _models() -> dict:
    set_random_seed(5)
    sequential = Sequential([Conv2D(2, 3, padding="same", activation="relu", input_shape=(6, 6, 1)),
                             BatchNormalization(), MaxPooling2D(2), Flatten(), Dense(3, activation="softmax")])
    inputs = Input(shape=(6, 6, 1), name="image")
    hidden = Dense(4, activation="tanh", name="hidden")(Flatten(name="flat")(inputs))
    functional = Model(inputs=inputs, outputs=Dense(2, activation="softmax", name="out")(hidden))
    return {"sequential": sequential, "functional": functional}


@functools.cache
def _valid_bytes(kind: str) -> bytes:
    """A compiled, once-trained model's file (Adam, so both array and integer optimizer slots)."""
    model = _models()[kind]
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    targets = np.eye(3 if kind == "sequential" else 2)[[0, 1, 0]]
    model.train_on_batch(_X, targets)
    path = Path(_FOLDER.name) / f"valid-{kind}.npz"
    model.save(path)
    return path.read_bytes()


def _load_or_refuse(data: bytes) -> None:
    path = Path(_FOLDER.name) / "fuzzed.npz"
    path.write_bytes(data)
    try:
        model = load_model(path)
    except ModelFileError as exc:
        assert str(path) in str(exc)
        return
    predictions = model.predict(_X)
    for out in predictions if isinstance(predictions, list) else [predictions]:
        assert np.isfinite(out).all()


KINDS = pytest.mark.parametrize("kind", ["sequential", "functional"])


@KINDS
@FUZZ
@given(flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), min_size=1, max_size=6))
def test_byte_flips(kind, flips):
    data = bytearray(_valid_bytes(kind))
    for where, mask in flips:
        data[int(where * len(data))] ^= mask
    _load_or_refuse(bytes(data))


@KINDS
@FUZZ
@given(fraction=st.floats(0, 1, exclude_max=True))
def test_truncations(kind, fraction):
    data = _valid_bytes(kind)
    _load_or_refuse(data[: int(fraction * len(data))])


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=8,
)


def _mutated_header(header: dict, data) -> dict:
    """``header`` with one value, somewhere inside it, replaced (or a key deleted or added)."""
    header = copy.deepcopy(header)
    parent, key = None, None
    node = header
    while isinstance(node, (dict, list)) and node and data.draw(st.booleans()):
        parent = node
        key = data.draw(st.sampled_from(sorted(node) if isinstance(node, dict) else range(len(node))))
        node = node[key]
    if parent is None:
        parent, key = header, data.draw(st.sampled_from(sorted(header)))
    action = data.draw(st.sampled_from(["replace", "delete", "add"]))
    if action == "delete" and isinstance(parent, dict):
        del parent[key]
    elif action == "add" and isinstance(parent, dict):
        parent[data.draw(st.text(max_size=8))] = data.draw(JSON_VALUES)
    else:
        parent[key] = data.draw(JSON_VALUES)
    return header


@KINDS
@FUZZ
@given(data=st.data())
def test_header_mutations(kind, data, model_files):
    path = Path(_FOLDER.name) / f"valid-{kind}.npz"
    _valid_bytes(kind)
    header = _mutated_header(model_files.header(path), data)
    entries = model_files.entries(path)
    entries["__le4nn__"] = model_files.header_npy(json.dumps(header))
    out = Path(_FOLDER.name) / "mutated.npz"
    model_files.write(out, entries)
    _load_or_refuse(out.read_bytes())
