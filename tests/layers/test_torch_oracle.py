"""PyTorch as an oracle: with identical weights, in float64, forward outputs and the gradients w.r.t. the
input and every parameter agree to <= 1e-6 relative.

The upstream gradient is a fixed random tensor R (E = Σ y·R), as in le4nn.gradcheck.  Keras layouts are
converted to PyTorch's at the boundary: Dense kernel (in, out) -> weight (out, in); Conv2D kernel
(kh, kw, in, out) -> weight (out, in, kh, kw); channels_last images -> NCHW.
"""

from __future__ import annotations

import numpy as np
import pytest

from le4nn import layers
from le4nn.layers import _windows
from le4nn.layers._conv_winograd import WinogradCache, best_tile

F64 = {"dtype": "float64"}
RTOL = 1e-6


def assert_close(actual, expected, what="", rtol=RTOL):
    expected = expected.detach().numpy() if hasattr(expected, "detach") else np.asarray(expected)
    scale = max(np.max(np.abs(expected)), 1e-300)
    error = np.max(np.abs(np.asarray(actual) - expected)) / scale
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert error <= rtol, f"{what}: relative error {error:.3e}"


def compare_with_torch(layer, x, torch_fn, rng, training=False, rtol=RTOL):
    """Forward and backward through ``layer`` and ``torch_fn`` (a function of the torch input tensor)."""
    import torch

    y = layer.forward(x, training=training)
    projection = rng.standard_normal(y.shape).astype(y.dtype)
    grad_x = layer.backward(projection)

    tx = torch.tensor(x, requires_grad=True)
    ty = torch_fn(tx)
    (ty * torch.tensor(projection)).sum().backward()
    assert_close(y, ty, "output", rtol)
    assert_close(grad_x, tx.grad, "input gradient", rtol)
    return ty


def case_id(value) -> str:
    return str(value).replace(" ", "")


def torch_param(array):
    import torch

    return torch.tensor(array, requires_grad=True)


# --- Dense --------------------------------------------------------------------------------------------

TORCH_ACTIVATIONS = {
    None: lambda t, z: z,
    "linear": lambda t, z: z,
    "sigmoid": lambda t, z: t.sigmoid(z),
    "relu": lambda t, z: t.relu(z),
    "tanh": lambda t, z: t.tanh(z),
    "softmax": lambda t, z: t.softmax(z, dim=-1),
    "leaky_relu": lambda t, z: t.nn.functional.leaky_relu(z, 0.2),
    "elu": lambda t, z: t.nn.functional.elu(z, 1.0),
}


@pytest.mark.parametrize("activation", list(TORCH_ACTIVATIONS))
def test_dense(activation, torch, rng):
    layer = layers.Dense(5, activation=activation, **F64)
    x = rng.standard_normal((4, 6))
    layer.build((None, 6))
    layer.set_weights([rng.standard_normal((6, 5)), rng.standard_normal(5)])
    kernel, bias = (torch_param(w) for w in layer.get_weights())
    act = TORCH_ACTIVATIONS[activation]
    compare_with_torch(layer, x, lambda tx: act(torch, tx @ kernel + bias), rng)
    assert_close(layer.grads["kernel"], kernel.grad, "kernel gradient")
    assert_close(layer.grads["bias"], bias.grad, "bias gradient")


# --- activations --------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "layer, reference",
    [
        (lambda: layers.ReLU(**F64), lambda t, x: t.relu(x)),
        (lambda: layers.Sigmoid(**F64), lambda t, x: t.sigmoid(x)),
        (lambda: layers.Tanh(**F64), lambda t, x: t.tanh(x)),
        (lambda: layers.Softmax(**F64), lambda t, x: t.softmax(x, dim=-1)),
        (lambda: layers.Softmax(axis=1, **F64), lambda t, x: t.softmax(x, dim=1)),
        (lambda: layers.LeakyReLU(**F64), lambda t, x: t.nn.functional.leaky_relu(x, 0.3)),
        (lambda: layers.ELU(alpha=0.5, **F64), lambda t, x: t.nn.functional.elu(x, 0.5)),
        (lambda: layers.Activation("elu", **F64), lambda t, x: t.nn.functional.elu(x)),
    ],
    ids=["relu", "sigmoid", "tanh", "softmax", "softmax-axis1", "leaky_relu", "elu", "activation-elu"],
)
def test_activation_layers(layer, reference, torch, rng):
    x = rng.standard_normal((3, 4, 5)) * 3
    x[0, 0, :2] = 0.0  # the derivative at 0: ReLU's is 0 (as PyTorch)
    compare_with_torch(layer(), x, lambda tx: reference(torch, tx), rng)


# --- Conv2D -------------------------------------------------------------------------------------------

CONV_CASES = [
    # kernel, strides, padding, input (H, W)
    ((3, 3), (1, 1), "valid", (7, 7)),
    ((3, 3), (1, 1), "same", (7, 6)),
    ((2, 2), (1, 1), "same", (6, 6)),  # even kernel: the extra padding goes bottom/right (Keras)
    ((4, 3), (2, 2), "same", (8, 7)),
    ((3, 2), (2, 1), 1, (7, 6)),
    ((5, 5), (2, 2), "valid", (9, 8)),
    ((2, 3), (1, 2), (1, 0, 2, 1), (6, 7)),
    ((1, 1), (1, 1), "valid", (4, 5)),
    ((3, 3), (3, 3), "same", (7, 8)),
]


def torch_conv(torch, tx, weight, bias, strides, pad, data_format):
    """PyTorch conv with asymmetric padding done by F.pad; tx in the layer's data format."""
    F = torch.nn.functional
    if data_format == "channels_last":
        tx = tx.permute(0, 3, 1, 2)
    top, bottom, left, right = pad
    out = F.conv2d(F.pad(tx, (left, right, top, bottom)), weight, bias, stride=strides)
    return out.permute(0, 2, 3, 1) if data_format == "channels_last" else out


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("kernel_size, strides, padding, hw", CONV_CASES, ids=case_id)
def test_conv2d(kernel_size, strides, padding, hw, data_format, torch, rng):
    channels, filters = 3, 4
    layer = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, data_format=data_format,
                          activation="relu", **F64)
    shape = (2, *hw, channels) if data_format == "channels_last" else (2, channels, *hw)
    x = rng.standard_normal(shape)
    layer.build((None, *shape[1:]))
    layer.set_weights([rng.standard_normal((*kernel_size, channels, filters)), rng.standard_normal(filters)])

    kernel, bias = (torch_param(w) for w in layer.get_weights())
    weight = kernel.permute(3, 2, 0, 1)  # (out, in, kh, kw)
    pad = _windows.resolve_padding(layer.padding, *hw, kernel_size, strides)
    ty = compare_with_torch(
        layer, x, lambda tx: torch.relu(torch_conv(torch, tx, weight, bias, strides, pad, data_format)), rng
    )
    assert_close(layer.grads["kernel"], kernel.grad, "kernel gradient")
    assert_close(layer.grads["bias"], bias.grad, "bias gradient")
    if padding == "same":  # Keras: output size ceil(n / stride)
        out_hw = ty.shape[1:3] if data_format == "channels_last" else ty.shape[2:]
        assert tuple(out_hw) == tuple(-(-n // s) for n, s in zip(hw, strides, strict=True))


WINOGRAD_CASES = [
    # channels, filters, padding, input (H, W): 3×3 stride 1 with 8+ channels in, the Winograd paths
    (8, 6, "same", (9, 10)),
    (16, 5, "valid", (7, 13)),
    (9, 17, (0, 2, 1, 0), (11, 8)),
    (17, 8, (2, 1), (4, 6)),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("tile", [2, 4])
@pytest.mark.parametrize("channels, filters, padding, hw", WINOGRAD_CASES, ids=case_id)
def test_conv2d_winograd(channels, filters, padding, hw, tile, dtype, torch, rng, monkeypatch):
    """F(2×2, 3×3) and F(4×4, 3×3) against PyTorch's convolution (no Winograd on its CPU path): float64
    to 1e-6 as above; float32 to 1e-4 of the largest value for F(4×4, 3×3) (its rounding error measured
    up to 5.7e-5 of the output's rms, see le4nn/ops/reference_winograd.py), 1e-5 for F(2×2, 3×3)."""
    monkeypatch.setattr(layers.Conv2D, "WINOGRAD_TILE", tile)
    rtol = RTOL if dtype == "float64" else (1e-4 if tile == 4 else 1e-5)
    layer = layers.Conv2D(filters, 3, padding=padding, activation="relu", dtype=dtype)
    x = rng.standard_normal((3, *hw, channels)).astype(dtype)
    layer.build((None, *x.shape[1:]))
    layer.set_weights([(rng.standard_normal((3, 3, channels, filters)) * np.sqrt(2 / (9 * channels))).astype(dtype),
                       rng.standard_normal(filters).astype(dtype) * 0.1])
    kernel, bias = (torch_param(w) for w in layer.get_weights())
    pad = _windows.resolve_padding(layer.padding, *hw, (3, 3), (1, 1))
    cache = []
    monkeypatch.setattr(layers.Conv2D, "backward", _keep_cache(layers.Conv2D.backward, cache))
    ty = compare_with_torch(layer, x, lambda tx: torch.relu(torch_conv(torch, tx, kernel.permute(3, 2, 0, 1), bias,
                                                                       (1, 1), pad, "channels_last")), rng,
                            rtol=rtol)
    assert isinstance(cache[0], WinogradCache) and cache[0].tile == best_tile(tile, *ty.shape[1:3])
    assert_close(layer.grads["kernel"], kernel.grad, "kernel gradient", rtol)
    assert_close(layer.grads["bias"], bias.grad, "bias gradient", rtol)


def _keep_cache(backward, kept: list):
    """Conv2D.backward that first notes the forward's record (which backward clears)."""

    def wrapped(self, *args, **kwargs):
        kept.append(self._cache)
        return backward(self, *args, **kwargs)

    return wrapped


# --- pooling ------------------------------------------------------------------------------------------

POOL_CASES = [
    # pool, strides, padding, input (H, W)
    ((2, 2), None, "valid", (6, 6)),
    ((2, 2), None, "valid", (7, 5)),
    ((3, 3), (2, 2), "valid", (7, 8)),
    ((2, 2), None, "same", (5, 7)),
    ((3, 3), (1, 1), "same", (5, 6)),
    ((3, 2), (2, 1), "same", (6, 5)),
    ((3, 3), (2, 2), 1, (6, 7)),
]


def _pads(layer, hw):
    return _windows.resolve_padding(layer.padding, *hw, layer.pool_size, layer.strides)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("pool_size, strides, padding, hw", POOL_CASES, ids=case_id)
def test_max_pooling(pool_size, strides, padding, hw, data_format, torch, rng):
    F = torch.nn.functional
    layer = layers.MaxPooling2D(pool_size, strides, padding, data_format, **F64)
    shape = (2, *hw, 3) if data_format == "channels_last" else (2, 3, *hw)
    top, bottom, left, right = _pads(layer, hw)

    def reference(tx):
        t = tx.permute(0, 3, 1, 2) if data_format == "channels_last" else tx
        t = F.pad(t, (left, right, top, bottom), value=-np.inf)
        out = F.max_pool2d(t, pool_size, layer.strides)
        return out.permute(0, 2, 3, 1) if data_format == "channels_last" else out

    compare_with_torch(layer, rng.standard_normal(shape), reference, rng)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("pool_size, strides, padding, hw", POOL_CASES, ids=case_id)
def test_average_pooling(pool_size, strides, padding, hw, data_format, torch, rng):
    """Keras semantics: padding is not counted in the average (count_include_pad=False)."""
    F = torch.nn.functional
    layer = layers.AveragePooling2D(pool_size, strides, padding, data_format, **F64)
    shape = (2, *hw, 3) if data_format == "channels_last" else (2, 3, *hw)
    top, bottom, left, right = _pads(layer, hw)

    def reference(tx):
        t = tx.permute(0, 3, 1, 2) if data_format == "channels_last" else tx
        padded = F.pad(t, (left, right, top, bottom))
        counts = F.avg_pool2d(F.pad(torch.ones_like(t), (left, right, top, bottom)), pool_size, layer.strides)
        out = F.avg_pool2d(padded, pool_size, layer.strides) / counts
        return out.permute(0, 2, 3, 1) if data_format == "channels_last" else out

    compare_with_torch(layer, rng.standard_normal(shape), reference, rng)


@pytest.mark.parametrize("count_include_pad", [True, False])
def test_average_pooling_explicit_padding_like_torch(count_include_pad, torch, rng):
    layer = layers.AveragePooling2D(3, 2, padding=1, data_format="channels_first",
                                    count_include_pad=count_include_pad, **F64)
    compare_with_torch(layer, rng.standard_normal((2, 3, 7, 6)),
             lambda tx: torch.nn.functional.avg_pool2d(tx, 3, 2, 1, count_include_pad=count_include_pad), rng)


def test_global_average_pooling(torch, rng):
    compare_with_torch(layers.GlobalAveragePooling2D(**F64), rng.standard_normal((2, 4, 5, 3)),
             lambda tx: tx.mean(dim=(1, 2)), rng)


# --- BatchNormalization -------------------------------------------------------------------------------

BN_CASES = [((8, 5), -1), ((3, 4, 5, 2), -1), ((3, 2, 4, 5), 1)]


def torch_batch_norm(torch, tx, axis, running_mean, running_var, gamma, beta, training, momentum, eps):
    """torch's batch_norm wants channels on axis 1."""
    moved = tx.movedim(axis, 1) if axis != 1 else tx
    out = torch.nn.functional.batch_norm(moved, running_mean, running_var, gamma, beta, training=training,
                                         momentum=1 - momentum, eps=eps)
    return out.movedim(1, axis) if axis != 1 else out


@pytest.mark.parametrize("shape, axis", BN_CASES, ids=["dense", "channels_last", "channels_first"])
@pytest.mark.parametrize("training", [True, False])
def test_batch_normalization(shape, axis, training, torch, rng):
    """Training: batch statistics (eq. 28–37); eval: moving statistics (eq. 38).

    Moving averages: torch's momentum is 1 − Keras's, and torch averages the *unbiased* batch variance
    while le4nn (as Keras) averages the biased one; the moving mean agrees exactly and the moving
    variance differs by exactly (1 − momentum)·(unbiased − biased).
    """
    features = shape[axis]
    layer = layers.BatchNormalization(axis=axis, momentum=0.9, epsilon=1e-3, **F64)
    x = rng.standard_normal(shape) * 2 + 0.5
    layer.build((None, *shape[1:]))
    moving_mean0, moving_var0 = rng.standard_normal(features), rng.uniform(0.5, 2, features)
    gamma0, beta0 = rng.standard_normal(features) + 1, rng.standard_normal(features)
    layer.set_weights([gamma0, beta0, moving_mean0, moving_var0])

    gamma, beta = torch_param(layer.params["gamma"]), torch_param(layer.params["beta"])
    running_mean, running_var = torch.tensor(moving_mean0), torch.tensor(moving_var0)
    compare_with_torch(layer, x, lambda tx: torch_batch_norm(torch, tx, axis, running_mean, running_var, gamma, beta,
                                                   training, 0.9, 1e-3), rng, training=training)
    assert_close(layer.grads["gamma"], gamma.grad, "gamma gradient")
    assert_close(layer.grads["beta"], beta.grad, "beta gradient")

    assert_close(layer.state["moving_mean"], running_mean, "moving mean")
    if training:
        reduce = tuple(a for a in range(len(shape)) if a != axis % len(shape))
        m = x.size // features
        biased = x.var(axis=reduce)
        expected = running_var.numpy() - (1 - 0.9) * (biased * m / (m - 1) - biased)
        assert_close(layer.state["moving_variance"], expected, "moving variance")
        keras_rule = 0.9 * moving_var0 + 0.1 * biased
        np.testing.assert_allclose(layer.state["moving_variance"], keras_rule, rtol=1e-12)
    else:
        assert_close(layer.state["moving_variance"], running_var, "moving variance (unchanged)")
