"""le4nn.gradcheck: the checker itself (it must pass correct code, catch wrong code, and leave the
checked layers as it found them)."""

from __future__ import annotations

import numpy as np
import pytest

from le4nn import gradcheck, layers, losses


def test_relative_error():
    assert gradcheck.relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert gradcheck.relative_error([1.0, 2.0], [1.0, 2.2]) == pytest.approx(0.2 / 2.2)
    assert gradcheck.relative_error([1e-12], [0.0]) == 1.0
    assert gradcheck.relative_error([1e-12], [0.0], floor=1e-3) == pytest.approx(1e-9)
    assert gradcheck.relative_error([], []) == 0.0


def test_numerical_gradient_of_a_quadratic():
    a = np.array([[1.0, -2.0], [0.5, 3.0]])
    v = np.array([0.3, -0.7])
    grad = gradcheck.numerical_gradient(lambda: float(v @ a @ v), v)
    np.testing.assert_allclose(grad, (a + a.T) @ v, rtol=1e-9)
    np.testing.assert_array_equal(v, [0.3, -0.7])  # restored
    partial = gradcheck.numerical_gradient(lambda: float(v @ a @ v), v, indices=[1])
    assert np.isnan(partial[0]) and partial[1] == pytest.approx(grad[1])


class LeakyKernelGradient(layers.Dense):
    """A Dense layer with a subtle bug: the kernel gradient is off by 0.1 %."""

    def _pre_activation_backward(self, grad_z, need_input_grad, bias_done):
        grad_x = super()._pre_activation_backward(grad_z, need_input_grad, bias_done)
        self.grads["kernel"] *= 1.001
        return grad_x


class WrongInputGradient(layers.ReLU):
    def backward(self, grad_out):
        return super().backward(grad_out) + 1e-4


def test_wrong_gradients_are_caught(rng):
    x = rng.standard_normal((3, 4))
    with pytest.raises(AssertionError, match=r"gradient check failed for kernel \(tolerance 1e-06\)"):
        gradcheck.assert_gradients_close(LeakyKernelGradient(2, activation="tanh", dtype="float64"), x)
    with pytest.raises(AssertionError, match="gradient check failed for input"):
        gradcheck.assert_gradients_close(WrongInputGradient(dtype="float64"), x)
    with pytest.raises(AssertionError, match="failed for input"):  # in a model, upstream layers see it too
        model = [layers.Dense(3, dtype="float64"), WrongInputGradient(dtype="float64")]
        gradcheck.assert_gradients_close(model, x)


def test_float32_layers_are_checked_in_float64(rng):
    dense = layers.Dense(3, activation="sigmoid")
    x = rng.standard_normal((2, 4)).astype(np.float32)
    dense(x)
    kernel = dense.get_weights()[0]
    errors = gradcheck.check_layer(dense, x)
    assert errors.max_error < 1e-7
    assert dense.dtype == np.float32 and dense.params["kernel"].dtype == np.float32
    np.testing.assert_array_equal(dense.params["kernel"], kernel)
    assert errors.analytic["kernel"].dtype == np.float64


def test_state_and_masks_are_restored(rng):
    bn = layers.BatchNormalization(dtype="float64")
    x = rng.standard_normal((5, 3))
    bn.build((None, 3))
    moving = [w.copy() for w in bn.get_weights()]
    gradcheck.assert_gradients_close(bn, x, training=True)
    for before, after in zip(moving, bn.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)

    dropout = layers.Dropout(0.5, dtype="float64")
    gradcheck.assert_gradients_close(dropout, x, training=True)
    assert dropout.fixed_mask is False


def test_max_entries_samples_big_tensors(rng):
    x = rng.standard_normal((4, 5))
    result = gradcheck.check_layer(layers.Dense(6, dtype="float64"), x, max_entries=7)
    assert np.sum(~np.isnan(result.numeric["kernel"])) == 7
    assert np.sum(~np.isnan(result.numeric["bias"])) == 6  # small tensors are checked in full
    assert result.max_error < 1e-6


def test_model_check_keys_and_losses(rng):
    hidden = layers.Dense(5, activation="relu", name="hidden", dtype="float64")
    output = layers.Dense(3, activation="softmax", name="output", dtype="float64")
    x = rng.standard_normal((4, 6))
    labels = np.array([0, 2, 1, 2])
    result = gradcheck.assert_gradients_close([hidden, output], x, labels,
                                              loss=losses.SparseCategoricalCrossentropy())
    assert list(result) == ["input", "hidden/kernel", "hidden/bias", "output/kernel", "output/bias"]
    # The same model with a loss that has no fused path.
    onehot = np.eye(3)[labels]
    gradcheck.assert_gradients_close([hidden, output], x, onehot, loss=losses.MeanSquaredError())
    assert "hidden/kernel" in result.report()


def test_argument_errors(rng):
    with pytest.raises(TypeError, match="check_layer expects a Layer"):
        gradcheck.check_layer([layers.Dense(2)], np.ones((1, 2)))
    with pytest.raises(ValueError, match="give both y and loss"):
        gradcheck.check_model([layers.Dense(2)], np.ones((1, 2)), y=np.zeros(1))
    with pytest.raises(TypeError, match="non-empty list of layers"):
        gradcheck.check_model([], np.ones((1, 2)))
