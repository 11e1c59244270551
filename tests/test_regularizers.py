"""Regularizers: penalty and gradient values (Keras semantics), gradient vs central differences."""

from __future__ import annotations

import json

import numpy as np
import pytest

from le4nn import regularizers
from le4nn.regularizers import L1, L1L2, L2


def test_values():
    w = np.array([[1.0, -2.0], [0.0, 0.5]])
    assert L1(0.1)(w) == pytest.approx(0.1 * 3.5)
    assert L2(0.1)(w) == pytest.approx(0.1 * 5.25)
    assert L1L2(l1=0.1, l2=0.2)(w) == pytest.approx(0.35 + 0.2 * 5.25)
    np.testing.assert_allclose(L1(0.1).gradient(w), 0.1 * np.array([[1, -1], [0, 1]]))
    np.testing.assert_allclose(L2(0.1).gradient(w), 0.2 * w)
    np.testing.assert_allclose(L1L2(0.1, 0.2).gradient(w), 0.1 * np.sign(w) + 0.4 * w)
    assert isinstance(L2()(w), float)


def test_keras_defaults():
    assert L1().l1 == 0.01 and L2().l2 == 0.01
    assert L1L2().get_config() == {"l1": 0.0, "l2": 0.0}
    assert L1L2()(np.ones(3)) == 0.0


@pytest.mark.parametrize("reg", [L1(0.3), L2(0.7), L1L2(0.2, 0.4)])
def test_gradient_matches_central_differences(reg, rng):
    w = rng.normal(size=(4, 3))
    w[np.abs(w) < 0.05] = 0.1  # keep away from the kink of |w|
    h = 1e-6
    numeric = np.zeros_like(w)
    for i in np.ndindex(w.shape):
        plus, minus = w.copy(), w.copy()
        plus[i] += h
        minus[i] -= h
        numeric[i] = (reg(plus) - reg(minus)) / (2 * h)
    np.testing.assert_allclose(reg.gradient(w), numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("reg", [L1(0.3), L2(0.7), L1L2(0.2, 0.4)])
def test_gradient_keeps_dtype_and_shape(reg, rng):
    w = rng.normal(size=(3, 3, 2, 4)).astype(np.float32)
    g = reg.gradient(w)
    assert g.dtype == np.float32 and g.shape == w.shape


@pytest.mark.parametrize("reg", [L1(0.3), L2(0.7), L1L2(0.2, 0.4)])
def test_serialize_round_trip(reg):
    config = json.loads(json.dumps(regularizers.serialize(reg)))
    restored = regularizers.get(config)
    assert type(restored) is type(reg) and restored.get_config() == reg.get_config()


def test_get():
    assert isinstance(regularizers.get("l2"), L2)
    assert isinstance(regularizers.get("L1"), L1)
    assert isinstance(regularizers.get("l1_l2"), L1L2)
    assert regularizers.get(None) is None
    reg = L2(0.5)
    assert regularizers.get(reg) is reg
    with pytest.raises(ValueError, match="unknown regularizer 'l3'.*l1.*l2"):
        regularizers.get("l3")


@pytest.mark.parametrize("make, name", [(lambda: L1(-0.1), "l1"), (lambda: L2(-1), "l2"),
                                        (lambda: L1L2(0.1, -0.1), "l2")])  # fmt: skip
def test_negative_factor_names_the_argument(make, name):
    with pytest.raises(ValueError, match=rf"\b{name}\b must be"):
        make()


def test_get_accepts_a_class():
    assert isinstance(regularizers.get(L2), L2)
