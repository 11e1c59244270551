"""Add fused with the ReLU that alone reads its output (layers/_add_relu.py, through the model graph's
fused pair protocol): the same bits as the two layers run apart, forward and backward, at 1 and 2
threads; gradients against central differences; the pairs that must not fuse."""

from __future__ import annotations

import numpy as np
import pytest

from le4nn import optimizers
from le4nn.layers import Activation, Add, Conv2D, Dense, Flatten, Input, ReLU, _add_relu
from le4nn.models import Model
from le4nn.utils import set_random_seed, to_categorical
from tests.helpers import model_gradient_errors
from tests.ops.helpers import num_threads


def residual_model(dtype="float32", relu=ReLU, branches=2, extra_output=False) -> Model:
    """conv -> (conv, conv, ...) branches -> Add -> ReLU -> conv -> Add(shortcut) -> ReLU -> Dense."""
    inputs = Input(shape=(6, 6, 3), dtype=dtype)
    stem = Conv2D(4, 3, padding="same", dtype=dtype)(inputs)
    parts = [stem] + [Conv2D(4, 3, padding="same", dtype=dtype)(stem) for _ in range(branches - 1)]
    summed = Add(dtype=dtype)(parts)
    block = relu(dtype=dtype)(summed) if relu is ReLU else Activation("relu", dtype=dtype)(summed)
    inner = Conv2D(4, 1, dtype=dtype)(block)
    out = ReLU(dtype=dtype)(Add(dtype=dtype)([block, inner]))
    classes = Dense(3, activation="softmax", dtype=dtype)(Flatten(dtype=dtype)(out))
    model = Model(inputs=inputs, outputs=[classes, summed] if extra_output else classes)
    rng = np.random.default_rng(1)
    for layer in model.layers:  # biases off zero: no pre-activation sits exactly on ReLU's kink
        if "bias" in layer.params:
            layer.params["bias"][...] = rng.uniform(-0.5, 0.5, layer.params["bias"].shape)
    return model


def data(dtype, n=8, seed=3):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 6, 6, 3)).astype(dtype), to_categorical(rng.integers(0, 3, n), 3)


@pytest.fixture
def fused_calls(monkeypatch):
    """Counts the fused forwards that happen (the calls that do not return NotImplemented)."""
    calls = []
    original = _add_relu.forward

    def spy(add, relu, inputs):
        out = original(add, relu, inputs)
        if out is not NotImplemented:
            calls.append(add.name)
        return out

    monkeypatch.setattr(_add_relu, "forward", spy)
    return calls


def train_and_predict(model, x, y, steps=3):
    model.compile(optimizer=optimizers.SGD(learning_rate=0.05, momentum=0.9), loss="categorical_crossentropy")
    losses = [model.train_on_batch(x, y) for _ in range(steps)]
    return losses, model.get_weights(), model.predict(x, batch_size=4)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("relu, branches", [(ReLU, 2), (Activation, 2), (ReLU, 3)])
def test_fused_model_trains_to_the_bits_of_the_unfused_one(dtype, relu, branches, fused_calls, monkeypatch):
    x, y = data(dtype)
    set_random_seed(5)
    fused = train_and_predict(residual_model(dtype, relu, branches), x, y)
    assert len(fused_calls) >= 2 * 3  # two Add + ReLU pairs at each training step (and in predict)
    monkeypatch.setattr(_add_relu, "forward", lambda add, relu, inputs: NotImplemented)
    set_random_seed(5)
    apart = train_and_predict(residual_model(dtype, relu, branches), x, y)
    assert fused[0] == apart[0]
    for a, b in zip(fused[1], apart[1], strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(fused[2], apart[2])


def test_same_bits_at_one_and_two_threads(native, fused_calls):
    x, y = data("float32", n=16)
    results = []
    for n in (1, 2):
        with num_threads(n):
            set_random_seed(7)
            losses, weights, predicted = train_and_predict(residual_model(), x, y)
            results.append((losses, [w.tobytes() for w in weights], predicted.tobytes()))
    assert fused_calls and results[0] == results[1]


@pytest.mark.parametrize("branches", [2, 3])
def test_gradients_through_the_fused_pair_match_central_differences(branches, fused_calls):
    set_random_seed(11)
    x, y = data("float64", n=5)
    model = residual_model("float64", branches=branches)
    errors = model_gradient_errors(model, x, y, "categorical_crossentropy")
    assert fused_calls and len(errors) == 2 * (branches + 2)
    assert max(errors.values()) < 1e-6, errors


def test_an_add_the_model_returns_is_not_fused(fused_calls):
    set_random_seed(2)
    x, y = data("float64", n=4)
    model = residual_model("float64", extra_output=True)
    classes, summed = model.predict(x)
    assert fused_calls == [model.layers[-4].name]  # only the second Add + ReLU
    errors = model_gradient_errors(model, x, [y, np.zeros_like(summed)], ["categorical_crossentropy", "mse"])
    assert max(errors.values()) < 1e-6, errors


def test_an_add_read_by_two_layers_is_not_fused(fused_calls):
    set_random_seed(4)
    inputs = Input(shape=(5,), dtype="float64")
    a, b = Dense(4, dtype="float64")(inputs), Dense(4, dtype="float64")(inputs)
    summed = Add(dtype="float64")([a, b])
    out = Dense(2, activation="softmax", dtype="float64")(Add(dtype="float64")([ReLU(dtype="float64")(summed),
                                                                               summed]))
    model = Model(inputs=inputs, outputs=out)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 5)), to_categorical(rng.integers(0, 2, 6), 2)
    errors = model_gradient_errors(model, x, y, "categorical_crossentropy")
    assert not fused_calls and max(errors.values()) < 1e-6, errors


def test_other_consumers_and_dtypes_are_not_fused():
    add = Add()
    assert add._forward_through(Activation("tanh"), [np.ones((2, 3), "f4")] * 2, False) is NotImplemented
    assert add._forward_through(ReLU(dtype="float64"), [np.ones((2, 3), "f4")] * 2, False) is NotImplemented
    assert add._backward_through(ReLU(), np.ones((2, 3), "f4"), True) is NotImplemented  # no fused forward


def test_inputs_of_different_shapes_are_refused_as_add_refuses_them():
    add, relu = Add(name="res_add"), ReLU()
    with pytest.raises(ValueError, match="res_add.*same shape"):
        add._forward_through(relu, [np.ones((2, 3), "f4"), np.ones((2, 4), "f4")], False)
    with pytest.raises(TypeError, match="list of inputs"):
        add._forward_through(relu, np.ones((2, 3), "f4"), False)


def test_fused_pair_outside_a_model_returns_fresh_arrays():
    add, relu = Add(), ReLU()
    a, b = np.array([[1.0, -2.0, np.nan]], "f4"), np.array([[-3.0, 1.0, 0.0]], "f4")
    with np.errstate(invalid="ignore"):
        y = add._forward_through(relu, [a, b], False)
    np.testing.assert_array_equal(y, [[0.0, 0.0, np.nan]])
    grads = add._backward_through(relu, np.array([[5.0, 6.0, 7.0]], "f4"), True)
    assert len(grads) == 2
    for g in grads:
        np.testing.assert_array_equal(g, [[0.0, 0.0, 7.0]])  # a NaN output passes the gradient, as ReLU
    assert add._backward_through(relu, np.ones((1, 3), "f4"), True) is NotImplemented  # one per forward
