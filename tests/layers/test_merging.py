"""The Average merge layer (layers/merging.py): the mean by hand and against PyTorch, its numerical
gradient, hostile inputs, config and saving inside a functional model."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from le4nn import gradcheck, layers
from le4nn.models import Model, load_model

F64 = {"dtype": "float64"}


@settings(max_examples=40, deadline=None)
@given(count=st.integers(2, 5), shape=st.lists(st.integers(1, 6), min_size=1, max_size=4),
       seed=st.integers(0, 2**31 - 1), dtype=st.sampled_from(["float32", "float64"]))
def test_average_is_the_mean_of_its_inputs(count, shape, seed, dtype):
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal(shape).astype(dtype) for _ in range(count)]
    copies = [x.copy() for x in xs]
    layer = layers.Average(dtype=dtype)
    y = layer(xs)
    expected = np.sum(np.stack([x.astype(np.float64) for x in xs]), axis=0) / count
    assert y.dtype == np.dtype(dtype) and y.shape == tuple(shape)
    np.testing.assert_allclose(y, expected, rtol=1e-6 if dtype == "float32" else 1e-13, atol=1e-6)
    grad = rng.standard_normal(shape).astype(dtype)
    grads = layer.backward(grad)
    assert len(grads) == count and all(g.shape == tuple(shape) for g in grads)
    for g in grads:
        np.testing.assert_allclose(g, grad / count, rtol=1e-6)
    assert len({id(g) for g in grads}) == count  # one array per input: updating one leaves the others
    for x, copy in zip(xs, copies, strict=True):  # the inputs are not modified in place
        np.testing.assert_array_equal(x, copy)
    np.testing.assert_array_equal(layers.Average(dtype=dtype)(xs), y)


@pytest.mark.parametrize("count", [2, 3])
def test_average_gradient(count, rng):
    xs = [rng.standard_normal((2, 3, 4)) for _ in range(count)]
    errors = gradcheck.assert_gradients_close(layers.Average(**F64), xs)
    assert set(errors) == {f"input_{k}" for k in range(count)}


def test_average_against_torch(rng):
    torch = pytest.importorskip("torch")
    xs = [rng.standard_normal((3, 5)) for _ in range(3)]
    layer = layers.Average(**F64)
    y = layer(xs)
    projection = rng.standard_normal(y.shape)
    grads = layer.backward(projection)
    txs = [torch.tensor(x, requires_grad=True) for x in xs]
    ty = torch.stack(txs).mean(0)
    (ty * torch.tensor(projection)).sum().backward()
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12)
    for g, tx in zip(grads, txs, strict=True):
        np.testing.assert_allclose(g, tx.grad.numpy(), rtol=1e-12)


def test_average_hostile_inputs(rng):
    with pytest.raises(ValueError, match=r"Average layer.*same shape"):
        layers.Average()([rng.standard_normal((2, 3)), rng.standard_normal((2, 4))])
    with pytest.raises(ValueError, match=r"Average layer.*at least 2 inputs"):
        layers.Average()([rng.standard_normal((2, 3))])
    with pytest.raises(TypeError, match="takes a list of inputs"):
        layers.Average()(rng.standard_normal((2, 3)))
    with pytest.raises(ValueError, match=r"Average layer.*same shape"):
        layers.Average()([layers.Input(shape=(3,)), layers.Input(shape=(4,))])
    layer = layers.Average()
    with pytest.raises(RuntimeError, match="backward called before forward"):
        layer.backward(np.ones((2, 3)))
    layer([np.ones((2, 3)), np.ones((2, 3))])
    with pytest.raises(ValueError, match=r"grad_out has shape \(2, 4\)"):
        layer.backward(np.ones((2, 4)))


def test_average_config_and_saving_in_a_functional_model(tmp_path, rng):
    inputs = layers.Input(shape=(4,))
    branches = [layers.Dense(3, activation="softmax", name=f"branch_{k}")(inputs) for k in range(3)]
    mean = layers.Average(name="mean")(branches)
    assert mean.shape == (None, 3)
    model = Model(inputs=inputs, outputs=mean)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    expected = np.mean([layer(x) for layer in model.layers[1:4]], axis=0)
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-6)
    assert layers.serialize(model.get_layer("mean")) == {"class_name": "Average",
                                                          "config": model.get_layer("mean").get_config()}
    assert isinstance(layers.get(layers.serialize(model.get_layer("mean"))), layers.Average)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, np.arange(5) % 3, epochs=1, batch_size=5, verbose=0)  # trains through the mean
    model.save(tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz")
    assert isinstance(loaded.get_layer("mean"), layers.Average)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
