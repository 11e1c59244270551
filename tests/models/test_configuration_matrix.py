"""Every configuration trains: each layer type of le4nn.layers first, in the middle and last in a
model, in both data formats where it has one, in float32 and float64, on both backends.

Each configuration runs one ``train_on_batch`` and one short ``fit`` (2 epochs of 2 batches, no
shuffling) and then ``predict``.  With the same starting weights, the two data formats must give the
same losses and predictions up to the transpose, and the two backends must agree, both within
:data:`TOLERANCE` (the backends sum in different orders; float32 rounding after a few steps).  The
last test states how many combinations ran.  The helpers are in conftest.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import le4nn
from le4nn.utils import set_random_seed

BACKENDS = ("native", "numpy") if le4nn.native_available() else ("numpy",)
#: (rtol, atol) between backends and between data formats.
TOLERANCE = {"float32": (2e-4, 2e-5), "float64": (1e-9, 1e-11)}
#: Every (layer, position, dtype, data format, backend) that ran to the end.
RAN: set[tuple] = set()


def _train_and_predict(matrix, spec, position, dtype, data_format, backend, weights):
    """Losses of one train_on_batch and one fit, and the predictions after them (channels_last)."""
    set_random_seed(0)
    with le4nn.backend(backend):
        model = matrix.model(spec, position, data_format, dtype)
        if weights is not None:
            model.set_weights(weights)
        x, labels = matrix.inputs(spec.context, data_format, dtype)
        if position == "last":  # the layer's own output is the model's: regress onto a fixed target
            shape = matrix.from_format(np.empty((0, *model.output_shape[1:])), data_format).shape
            target = np.random.default_rng(1).random((len(x), *shape[1:]))
            y = matrix.to_format(target.astype(dtype), data_format)
            model.compile(optimizer="sgd", loss="mse")
        else:
            y = labels
            model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        first = model.train_on_batch(x, y)
        history = model.fit(x, y, batch_size=2, epochs=2, shuffle=False, verbose=0)
        prediction = model.predict(x, batch_size=3)
    losses = np.array([first, *history.history["loss"]])
    assert np.all(np.isfinite(losses)), f"{spec.name} {position} {data_format} {backend}: losses {losses}"
    assert np.all(np.isfinite(prediction))
    assert prediction.dtype == np.dtype(dtype)
    RAN.add((spec.name, position, dtype, data_format, backend))
    return losses, matrix.from_format(prediction, data_format), model


def _assert_close(a, b, dtype, what):
    rtol, atol = TOLERANCE[dtype]
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=what)


def test_configuration_trains_and_agrees(matrix, matrix_case):
    spec, position, dtype = matrix_case
    initial = None
    results = {}
    for data_format in spec.formats:
        for backend in BACKENDS:
            losses, prediction, model = _train_and_predict(matrix, spec, position, dtype, data_format, backend,
                                                        initial)
            if initial is None:  # every later run starts from the first run's weights
                set_random_seed(0)
                initial = matrix.model(spec, position, data_format, dtype).get_weights()
                losses, prediction, model = _train_and_predict(matrix, spec, position, dtype, data_format,
                                                               backend, initial)
            results[data_format, backend] = (losses, prediction)
    reference_key = (spec.formats[0], BACKENDS[0])
    reference = results[reference_key]
    for key, (losses, prediction) in results.items():
        what = f"{spec.name} {position} {dtype}: {key} against {reference_key}"
        _assert_close(losses, reference[0], dtype, f"losses of {what}")
        _assert_close(prediction, reference[1], dtype, f"predictions of {what}")


def test_training_changes_the_weights(matrix):
    """The matrix compares trained models: make sure training moves them (a Conv2D first, channels_first)."""
    spec = next(s for s in matrix.specs() if s.name == "Conv2D/3x3-winograd")
    set_random_seed(0)
    before = matrix.model(spec, "first", "channels_first", "float32").get_weights()
    _, _, model = _train_and_predict(matrix, spec, "first", "float32", "channels_first", BACKENDS[0], before)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))


def test_every_layer_type_is_in_the_matrix(matrix):
    from le4nn.layers import LAYER_CLASSES

    covered = {name.split("/")[0] for name in (spec.name for spec in matrix.specs())}
    # in every model / tested in test_functional.py and tests/layers/test_merging.py
    structural = {"InputLayer", "Add", "Average", "Concatenate"}
    primary = {cls.__name__ for cls in LAYER_CLASSES.values()}
    assert primary - structural <= covered, sorted(primary - structural - covered)


def test_the_formats_match_up_to_the_transpose(matrix):
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    moved = matrix.to_format(x, "channels_first")
    assert moved.shape == (2, 5, 3, 4)
    assert np.array_equal(matrix.from_format(moved, "channels_first"), x)


def test_zz_count_of_combinations(matrix, request, capsys):
    """How many combinations ran (the whole file: every case of the matrix, each in its formats and
    on each backend)."""
    specs = matrix.specs()
    dtypes = ("float32", "float64")
    expected = {
        (spec.name, position, dtype, data_format, backend)
        for spec in specs
        for position in spec.positions
        for dtype in dtypes
        for data_format in spec.formats
        for backend in BACKENDS
    }
    cases = sum(len(spec.positions) * len(dtypes) for spec in specs)
    selected = [item for item in request.session.items if item.originalname == "test_configuration_trains_and_agrees"]
    if len(selected) < cases:
        pytest.skip("only part of the matrix was selected")
    assert RAN == expected
    with capsys.disabled():
        print(f"\nconfiguration matrix: {len(RAN)} combinations ran ({len(specs)} layer configurations × "
              f"{'/'.join(matrix.positions)} × {'/'.join(dtypes)} × their data formats × "
              f"backends {'/'.join(BACKENDS)})")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("activation", [None, "relu", "sigmoid", "tanh"])
def test_a_channels_first_cnn_trains_sequential_and_functional(backend, activation):
    """Issue 15, bug 1: a channels_first Conv2D as the first trainable layer failed on its first
    training step ("The truth value of an array ... is ambiguous")."""
    from le4nn.layers import Conv2D, Dense, Flatten, Input
    from le4nn.models import Model, Sequential

    x = np.random.default_rng(0).random((6, 3, 7, 7), dtype=np.float32)
    y = np.array([0, 1, 2, 0, 1, 2])
    with le4nn.backend(backend):
        sequential = Sequential([Conv2D(4, 3, data_format="channels_first", activation=activation,
                                        input_shape=(3, 7, 7)), Flatten(), Dense(3, activation="softmax")])
        inputs = Input((3, 7, 7))
        hidden = Flatten()(Conv2D(4, 3, data_format="channels_first", activation=activation)(inputs))
        functional = Model(inputs, Dense(3, activation="softmax")(hidden))
        for model in (sequential, functional):
            model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
            before = model.layers[-1].get_weights()[0].copy()
            assert np.isfinite(model.train_on_batch(x, y))
            history = model.fit(x, y, epochs=2, batch_size=3, verbose=0)
            assert len(history.history["loss"]) == 2
            assert not np.array_equal(before, model.layers[-1].get_weights()[0])
