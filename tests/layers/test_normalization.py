"""BatchNormalization fused with the ReLU that alone reads its output (the fused pair protocol): the
fused passes against PyTorch's relu(batch_norm(x)) and against the layers run apart, in both axis
layouts, and a model's training step with and without the fusion."""

from __future__ import annotations

import numpy as np
import pytest

import le4nn
from le4nn import layers, optimizers
from le4nn.layers.normalization import BatchNormalization
from le4nn.models import Sequential

CASES = [((16, 5), -1), ((4, 5, 6, 3), -1), ((4, 3, 5, 6), 1)]


def bn_layer(shape, axis, rng):
    layer = layers.BatchNormalization(axis=axis, momentum=0.9, dtype="float64")
    layer.build((None, *shape[1:]))
    C = shape[axis]
    layer.set_weights([rng.standard_normal(C) + 1, rng.standard_normal(C) * 0.5, rng.standard_normal(C),
                       rng.uniform(0.5, 2, C)])
    return layer


@pytest.mark.parametrize("shape, axis", CASES, ids=["dense", "channels_last", "channels_first"])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("consumer", [layers.ReLU, lambda **kw: layers.Activation("relu", **kw)], ids=["ReLU", "act"])
def test_fused_relu_matches_torch(torch, rng, shape, axis, training, consumer):
    layer, relu = bn_layer(shape, axis, rng), consumer(dtype="float64")
    x, grad_y = rng.standard_normal(shape) * 2 + 0.5, rng.standard_normal(shape)
    gamma = torch.tensor(layer.params["gamma"], requires_grad=True)
    beta = torch.tensor(layer.params["beta"], requires_grad=True)
    mean, var = torch.tensor(layer.state["moving_mean"]), torch.tensor(layer.state["moving_variance"])
    tx = torch.tensor(x, requires_grad=True)
    moved = tx.movedim(axis, 1) if axis != 1 else tx
    out = torch.relu(torch.nn.functional.batch_norm(moved, mean, var, gamma, beta, training=training,
                                                    momentum=0.1, eps=1e-3))
    out = out.movedim(1, axis) if axis != 1 else out
    out.backward(torch.tensor(grad_y))

    y = layer._forward_through(relu, x, training)
    assert y is not NotImplemented
    np.testing.assert_allclose(y, out.detach().numpy(), rtol=1e-10, atol=1e-12)
    dx = layer._backward_through(relu, grad_y, True)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(layer.grads["gamma"], gamma.grad.numpy(), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(layer.grads["beta"], beta.grad.numpy(), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(layer.state["moving_mean"], mean.numpy(), rtol=1e-12)


@pytest.mark.parametrize("shape, axis", CASES, ids=["dense", "channels_last", "channels_first"])
def test_fused_backward_is_the_numerical_gradient(rng, shape, axis):
    layer, relu = bn_layer(shape, axis, rng), layers.ReLU(dtype="float64")
    x, w = rng.standard_normal(shape), rng.standard_normal(shape)
    layer._forward_through(relu, x, True)
    dx = layer._backward_through(relu, w, True)
    numeric = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        saved = x[i]
        values = []
        for step in (1e-6, -1e-6):
            x[i] = saved + step
            values.append(float(np.sum(w * layer._forward_through(relu, x, True))))
        x[i] = saved
        numeric[i] = (values[0] - values[1]) / 2e-6
    np.testing.assert_allclose(dx, numeric, rtol=1e-5, atol=1e-7)


def test_not_fused_with_other_consumers(rng):
    layer = bn_layer((6, 4), -1, rng)
    for consumer in (layers.LeakyReLU(dtype="float64"), layers.Activation("sigmoid", dtype="float64"),
                     layers.Dense(3, activation="relu", dtype="float64")):
        assert layer._forward_through(consumer, rng.standard_normal((6, 4)), True) is NotImplemented
    layer.forward(rng.standard_normal((6, 4)), training=True)  # run apart: no fused backward either
    assert layer._backward_through(layers.ReLU(dtype="float64"), np.ones((6, 4)), True) is NotImplemented


def _model(data_format_axis):
    rng = np.random.default_rng(0)
    model = Sequential([
        layers.Input((6, 6, 3)),
        layers.Conv2D(4, 3, padding="same", use_bias=False, kernel_initializer="he_normal"),
        layers.BatchNormalization(axis=data_format_axis),
        layers.ReLU(),
        layers.Flatten(),
        layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer=optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    # conv kernel, γ, β, moving mean, moving variance (> 0), dense kernel and bias
    model.set_weights([rng.standard_normal(w.shape).astype(w.dtype) * 0.5 + (1 if i == 1 else 0)
                       if i != 4 else rng.uniform(0.5, 2, w.shape).astype(w.dtype)
                       for i, w in enumerate(model.get_weights())])
    return model


@pytest.mark.parametrize("backend", ["native", "numpy"])
def test_training_step_is_the_same_with_and_without_the_fusion(monkeypatch, backend):
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((8, 6, 6, 3)).astype("float32"), rng.integers(0, 3, 8)
    results = []
    with le4nn.backend(backend):
        for fused in (True, False):
            if not fused:
                monkeypatch.setattr(BatchNormalization, "_forward_through", lambda *args: NotImplemented)
            model = _model(-1)
            losses = [model.train_on_batch(x, y) for _ in range(3)]
            results.append((losses, model.get_weights(), model.predict(x, verbose=0)))
    (loss_f, w_f, p_f), (loss_u, w_u, p_u) = results
    np.testing.assert_allclose(loss_f, loss_u, rtol=1e-6)
    for a, b in zip(w_f, w_u, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(p_f, p_u, rtol=1e-5, atol=1e-6)
