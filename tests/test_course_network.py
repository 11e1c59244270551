"""The course's 3-layer network (handout 4.2), built from Dense layers directly:

    x (784) → Dense(M, sigmoid) → y1 → Dense(10, softmax) → y2,   E = cross-entropy averaged over the batch

Forward agrees with the handout's formulas and across backends; backward, with softmax + cross-entropy
fused (eq. 12: ∂E/∂a = (y2 − t)/B, through ops.softmax_cross_entropy_*), agrees with hand-written
back-propagation and with the numerical gradient check.
"""

from __future__ import annotations

import numpy as np
import pytest

import le4nn
from le4nn import gradcheck, layers, losses, ops

M = 16  # hidden nodes
B = 8  # mini-batch


def course_network(rng, dtype="float32"):
    hidden = layers.Dense(M, activation="sigmoid", input_shape=(784,), dtype=dtype)
    output = layers.Dense(10, activation="softmax", dtype=dtype)
    hidden.build((None, 784))
    output.build((None, M))
    # handout 4.2.2: weights normal(0, 1/N) with N the number of inputs of the layer
    hidden.set_weights([rng.normal(0, np.sqrt(1 / 784), (784, M)), rng.normal(0, np.sqrt(1 / 784), M)])
    output.set_weights([rng.normal(0, np.sqrt(1 / M), (M, 10)), rng.normal(0, np.sqrt(1 / M), 10)])
    return hidden, output


def mini_batch(rng):
    images = rng.integers(0, 256, (B, 784)).astype(np.float32) / 255
    labels = rng.integers(0, 10, B)
    return images, labels


class FusedOpsCrossEntropy:
    """Cross-entropy straight from le4nn.ops: the fused kernels for training, the plain formula (eq. 8)
    on probabilities for the numerical side of the check."""

    def __call__(self, labels, probs):
        return float(-np.mean(np.log(probs[np.arange(len(labels)), labels])))

    def softmax_fused(self, labels, logits):
        return ops.softmax_cross_entropy_forward(logits, labels)

    def softmax_fused_gradient(self, labels, probs):
        return ops.softmax_cross_entropy_backward(probs, labels)


def forward_backward(hidden, output, x, labels):
    """One training step's forward and fused backward, as a model does it."""
    y1 = hidden.forward(x, training=True)
    output.forward(y1, training=True)
    loss, probs = ops.softmax_cross_entropy_forward(output.logits, labels)
    grad_x = hidden.backward(output.backward_from_logits(ops.softmax_cross_entropy_backward(probs, labels)))
    return loss, probs, grad_x


def test_forward_is_the_handout_network(rng):
    hidden, output = course_network(rng, "float64")
    x, _ = mini_batch(rng)
    w1, b1 = hidden.get_weights()
    w2, b2 = output.get_weights()
    y1 = 1 / (1 + np.exp(-(x @ w1 + b1)))
    a = y1 @ w2 + b2
    y2 = np.exp(a - a.max(axis=1, keepdims=True))  # eq. 5–6
    y2 /= y2.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(output(hidden(x)), y2, rtol=1e-12)


def test_fused_backward_is_the_handout_backpropagation(rng):
    hidden, output = course_network(rng, "float64")
    x, labels = mini_batch(rng)
    loss, probs, grad_x = forward_backward(hidden, output, x.astype(np.float64), labels)

    w1, b1 = hidden.get_weights()
    w2, _ = output.get_weights()
    t = np.eye(10)[labels]
    y1 = 1 / (1 + np.exp(-(x @ w1 + b1)))
    assert loss == pytest.approx(-np.sum(t * np.log(probs)) / B, rel=1e-12)  # eq. 8
    grad_a = (probs - t) / B  # eq. 12
    grad_y1 = grad_a @ w2.T
    grad_z1 = grad_y1 * y1 * (1 - y1)
    np.testing.assert_allclose(output.grads["kernel"], y1.T @ grad_a, rtol=1e-10)
    np.testing.assert_allclose(output.grads["bias"], grad_a.sum(axis=0), rtol=1e-10)
    np.testing.assert_allclose(hidden.grads["kernel"], x.T @ grad_z1, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(hidden.grads["bias"], grad_z1.sum(axis=0), rtol=1e-10)
    np.testing.assert_allclose(grad_x, grad_z1 @ w1.T, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("loss", [FusedOpsCrossEntropy(), losses.SparseCategoricalCrossentropy()],
                         ids=["ops", "losses"])
def test_backward_matches_the_gradient_check(loss, rng):
    hidden, output = course_network(rng)  # float32 layers: gradcheck runs float64 copies
    x, labels = mini_batch(rng)
    result = gradcheck.assert_gradients_close([hidden, output], x, labels, loss=loss, max_entries=600)
    assert set(result) == {"input", f"{hidden.name}/kernel", f"{hidden.name}/bias",
                           f"{output.name}/kernel", f"{output.name}/bias"}


def test_same_results_with_either_backend(native, rng):
    hidden, output = course_network(rng)
    x, labels = mini_batch(rng)
    results = {}
    for name in ("numpy", "native"):
        with le4nn.backend(name):
            assert le4nn.get_backend() == name
            probs = output(hidden(x))
            loss, _, grad_x = forward_backward(hidden, output, x, labels)
            grads = (hidden.grads["kernel"].copy(), output.grads["kernel"].copy())
            results[name] = (probs, loss, grad_x, *grads)
    (p_np, l_np, gx_np, gw1_np, gw2_np), (p_nat, l_nat, gx_nat, gw1_nat, gw2_nat) = results.values()
    assert p_nat.dtype == np.float32
    np.testing.assert_allclose(p_nat, p_np, rtol=1e-6, atol=1e-7)
    assert l_nat == pytest.approx(l_np, rel=1e-6)
    np.testing.assert_allclose(gx_nat, gx_np, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(gw1_nat, gw1_np, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(gw2_nat, gw2_np, rtol=1e-5, atol=1e-8)
