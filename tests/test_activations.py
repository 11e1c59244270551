"""le4nn.activations: the forward/backward pairs and the lookup by name."""

from __future__ import annotations

import numpy as np
import pytest

from le4nn import activations

DEFINITIONS = {
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "relu": lambda x: np.maximum(x, 0),
    "tanh": np.tanh,
    "softmax": lambda x: np.exp(x) / np.exp(x).sum(axis=-1, keepdims=True),
    "linear": lambda x: x,
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
    "elu": lambda x: np.where(x > 0, x, np.exp(np.minimum(x, 0)) - 1),
}


@pytest.mark.parametrize("name", activations.NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_matches_the_definition_and_keeps_dtype(name, dtype, rng):
    x = (rng.standard_normal((4, 6)) * 3).astype(dtype)
    f = activations.get(name)
    y = f(x)
    assert y.dtype == dtype and y.shape == x.shape
    rtol, atol = (1e-6, 1e-7) if dtype == np.float32 else (1e-13, 1e-15)
    np.testing.assert_allclose(y, DEFINITIONS[name](x.astype(np.float64)), rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", activations.NAMES)
def test_backward_is_the_vector_jacobian_product(name, rng):
    f = activations.get(name)
    x = rng.standard_normal((3, 5)) * 2
    y = f.forward(x)
    g = rng.standard_normal(y.shape)
    analytic = f.backward(g, x, y)
    eps = 1e-6
    numeric = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[i] += eps
        minus[i] -= eps
        numeric[i] = (np.sum(g * f.forward(plus)) - np.sum(g * f.forward(minus))) / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_extreme_inputs_do_not_overflow():
    x = np.array([[-1e4, -800.0, 0.0, 800.0, 1e4]], dtype=np.float64)
    for name in activations.NAMES:  # RuntimeWarnings are errors in this test suite
        y = activations.get(name)(x)
        assert np.all(np.isfinite(y)), name
    np.testing.assert_array_equal(activations.sigmoid(x)[0, [0, 2, 4]], [0.0, 0.5, 1.0])
    np.testing.assert_allclose(activations.softmax(x)[0], [0, 0, 0, 0, 1])


def test_derivatives_at_zero():
    x = np.zeros((1, 3))
    g = np.ones((1, 3))
    relu = activations.get("relu")
    np.testing.assert_array_equal(relu.backward(g, x, relu(x)), 0)  # docs/design.md §3 "The handout's semantics"
    leaky = activations.get("leaky_relu")
    np.testing.assert_allclose(leaky.backward(g, x, leaky(x)), 0.2)


def test_parameters():
    leaky = activations.get("leaky_relu", negative_slope=0.1)
    np.testing.assert_allclose(leaky(np.array([-2.0, 3.0])), [-0.2, 3.0])
    assert leaky.config == {"negative_slope": 0.1}
    elu = activations.get("elu", alpha=2.0)
    np.testing.assert_allclose(elu(np.array([-np.inf, 1.0])), [-2.0, 1.0])
    with pytest.raises(TypeError, match="'relu' has no parameter"):
        activations.get("relu", alpha=1.0)


def test_get_and_serialize():
    assert activations.get(None).name == "linear"
    assert activations.get("ReLU").name == "relu"
    relu = activations.get("relu")
    assert activations.get(relu) is relu
    assert activations.serialize(relu) == "relu"
    leaky = activations.get("leaky_relu", negative_slope=0.1)
    config = activations.serialize(leaky)
    assert config == {"class_name": "leaky_relu", "config": {"negative_slope": 0.1}}
    assert activations.get(config).config == {"negative_slope": 0.1}
    assert activations.serialize(activations.get("leaky_relu")) == "leaky_relu"


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown activation 'swish'; valid names: sigmoid, relu, tanh"):
        activations.get("swish")
    with pytest.raises(TypeError, match="activation must be a name"):
        activations.get(42)
