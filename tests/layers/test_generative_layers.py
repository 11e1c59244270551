"""The layers of a (conditional) DCGAN: Conv2DTranspose, UpSampling2D and Embedding.

Numerical gradient checks (float64), PyTorch as an oracle (float64, skipped without torch), Keras's
output-size rules, the adjoint identity ⟨conv(y), x⟩ = ⟨y, conv_transpose(x)⟩ against Conv2D, bad
arguments and inputs, configs, and use inside models (training, save/load).
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

import le4nn
from le4nn import gradcheck, initializers, layers
from le4nn.layers import Concatenate, Conv2DTranspose, Dense, Embedding, Flatten, Input, Reshape, UpSampling2D
from le4nn.layers.conv_transpose import deconv_output_length
from le4nn.models import Model, Sequential, load_model

F64 = {"dtype": "float64"}
FORMATS = ["channels_last", "channels_first"]


@pytest.fixture(autouse=True)
def fresh_names():
    layers.reset_names()


def image(rng, data_format, batch=2, channels=2, height=3, width=4):
    if data_format == "channels_last":
        return rng.standard_normal((batch, height, width, channels))
    return rng.standard_normal((batch, channels, height, width))


def randomize(layer, rng, scale=0.5):
    layer.set_weights([rng.standard_normal(w.shape) * scale for w in layer.weights])


def assert_close(actual, expected, what="", rtol=1e-6):
    """As tests/layers/test_torch_oracle.py: max |a − e| / max |e| <= rtol, in float64."""
    expected = expected.detach().numpy() if hasattr(expected, "detach") else np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    error = np.max(np.abs(np.asarray(actual) - expected)) / max(np.max(np.abs(expected)), 1e-300)
    assert error <= rtol, f"{what}: relative error {error:.3e}"


def torch_param(array):
    import torch

    return torch.tensor(array, requires_grad=True)


def compare_with_torch(layer, x, torch_fn, rng):
    """Forward and backward (upstream gradient R) through ``layer`` and ``torch_fn``; compare."""
    import torch

    y = layer.forward(x)
    projection = rng.standard_normal(y.shape)
    grad_x = layer.backward(projection)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch_fn(tx)
    (ty * torch.tensor(projection)).sum().backward()
    assert_close(y, ty, "output")
    assert_close(grad_x, tx.grad, "input gradient")


def case_id(case) -> str:
    if isinstance(case, dict):
        return "-".join(str(v) for v in case.values()).replace(" ", "")
    return str(case).replace(" ", "")


def spatial(shape, data_format):
    return tuple(shape[1:3]) if data_format == "channels_last" else tuple(shape[2:4])


# ======================================================================================================
# Conv2DTranspose
# ======================================================================================================

def keras_deconv_length(n, k, s, padding, output_padding):
    """keras.src.utils.conv_utils.deconv_output_length (dilation 1), written out independently."""
    if output_padding is None:
        return n * s + max(k - s, 0) if padding == "valid" else n * s
    pad = {"valid": 0, "same": k // 2}[padding]
    return (n - 1) * s + k - 2 * pad + output_padding


def test_output_length_rule_matches_keras():
    assert deconv_output_length(7, 4, 2, "same", None) == 14  # the DCGAN upsampling step
    assert deconv_output_length(7, 4, 2, "valid", None) == 16
    assert deconv_output_length(7, 3, 2, "valid", None) == 15
    assert deconv_output_length(7, 2, 3, "valid", None) == 21  # stride > kernel: n·s, not (n-1)s + k
    assert deconv_output_length(7, 3, 2, "valid", 1) == 16
    assert deconv_output_length(7, 3, 2, "same", 1) == 14
    assert deconv_output_length(7, 3, 2, "same", 0) == 13
    assert deconv_output_length(7, 4, 2, "same", 0) == 12
    assert deconv_output_length(None, 3, 2, "same", None) is None
    for n, k, s, p in itertools.product([1, 3, 7], [1, 2, 3, 4, 5], [1, 2, 3], ["valid", "same"]):
        for op in [None, *range(s)]:
            assert deconv_output_length(n, k, s, p, op) == keras_deconv_length(n, k, s, p, op)


def test_compute_output_shape_and_symbolic_use():
    layer = Conv2DTranspose(8, 4, strides=2, padding="same")
    assert layer.compute_output_shape((None, 7, 7, 16)) == (None, 14, 14, 8)
    assert layer.compute_output_shape((None, None, 5, 16)) == (None, None, 10, 8)
    cf = Conv2DTranspose(3, (3, 2), strides=(2, 3), output_padding=(1, 2), data_format="channels_first")
    assert cf.compute_output_shape((None, 4, 5, 6)) == (None, 3, 12, 19)  # (n - 1)·s + k + op
    tensor = Conv2DTranspose(2, 3, strides=2, name="up")(Input(shape=(5, 6, 4)))
    assert tensor.shape == (None, 11, 13, 2) and tensor.layer.name == "up"
    assert tensor.layer.params["kernel"].shape == (3, 3, 2, 4)  # Keras layout (kh, kw, filters, in)


CONVT_CASES = [
    {"kernel_size": k, "strides": s, "padding": p, "output_padding": op, "data_format": f}
    for k, s, p, op, f in itertools.product(
        [(3, 3), (4, 4), (2, 3)],
        [1, 2, (2, 1)],
        ["valid", "same"],
        [None, "max"],
        FORMATS,
    )
]


def _output_padding(case):
    if case["output_padding"] != "max":
        return case["output_padding"]
    strides = case["strides"] if isinstance(case["strides"], tuple) else (case["strides"],) * 2
    return tuple(s - 1 for s in strides)  # the largest allowed (0 at stride 1)


@pytest.mark.parametrize("case", CONVT_CASES, ids=case_id)
def test_conv2d_transpose_gradients(case, rng):
    index = CONVT_CASES.index(case)
    activation = [None, "relu", "tanh", "sigmoid"][index % 4]
    use_bias = index % 3 != 0
    layer = Conv2DTranspose(2, case["kernel_size"], strides=case["strides"], padding=case["padding"],
                            output_padding=_output_padding(case), data_format=case["data_format"],
                            activation=activation, use_bias=use_bias, **F64)
    x = image(rng, case["data_format"])
    layer.build((None, *x.shape[1:]))
    randomize(layer, rng)
    errors = gradcheck.assert_gradients_close(layer, x)
    assert set(errors) == {"input", "kernel"} | ({"bias"} if use_bias else set())


def test_conv2d_transpose_regularizers_and_softmax_gradients(rng):
    layer = Conv2DTranspose(3, 3, strides=2, padding="same", kernel_regularizer="l2", bias_regularizer="l1",
                            activation="softmax", **F64)
    x = image(rng, "channels_last")
    layer.build((None, *x.shape[1:]))
    randomize(layer, rng)
    gradcheck.assert_gradients_close(layer, x)


ADJOINT_CASES = [
    # kernel, strides, padding, output_padding, input (H, W)
    ((3, 3), (1, 1), "same", None, (4, 5)),
    ((4, 4), (2, 2), "same", None, (3, 4)),
    ((3, 3), (2, 2), "same", None, (3, 3)),
    ((2, 3), (1, 2), "same", None, (3, 4)),
    ((5, 2), (3, 2), "same", (2, 1), (2, 3)),
    ((3, 3), (2, 2), "valid", None, (3, 4)),
    ((2, 2), (3, 3), "valid", None, (3, 2)),
    ((3, 2), (2, 2), "valid", (1, 1), (2, 3)),
]


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("kernel_size, strides, padding, output_padding, hw", ADJOINT_CASES, ids=case_id)
def test_is_the_adjoint_of_conv2d(kernel_size, strides, padding, output_padding, hw, data_format, rng):
    """⟨Conv2D(y), x⟩ = ⟨y, Conv2DTranspose(x)⟩ with the same kernel array, strides and padding rule, where
    y has the transposed layer's output size (Keras defines it as the gradient of that convolution)."""
    channels, filters = 3, 2
    up = Conv2DTranspose(filters, kernel_size, strides=strides, padding=padding, output_padding=output_padding,
                         data_format=data_format, use_bias=False, **F64)
    x = image(rng, data_format, channels=channels, height=hw[0], width=hw[1])
    up.build((None, *x.shape[1:]))
    randomize(up, rng)
    y_shape = up.compute_output_shape((2, *x.shape[1:]))
    conv = conv2d_like(up, y_shape)
    y = rng.standard_normal(y_shape)
    conv_y = conv(y)
    assert conv_y.shape == x.shape
    np.testing.assert_allclose(np.sum(up(x) * y), np.sum(x * conv_y), rtol=1e-12)


def conv2d_like(up, y_shape):
    conv = layers.Conv2D(up.params["kernel"].shape[3], up.kernel_size, strides=up.strides, padding=up.padding,
                         data_format=up.data_format, use_bias=False, **F64)
    conv.build((None, *y_shape[1:]))
    conv.set_weights([up.params["kernel"]])
    return conv


TORCH_CASES = [
    # kernel, strides, padding, output_padding, input (H, W)
    ((4, 4), (2, 2), "same", None, (3, 4)),  # DCGAN: torch padding=1
    ((3, 3), (2, 2), "same", None, (3, 3)),  # torch needs an asymmetric crop
    ((3, 3), (1, 1), "same", None, (4, 3)),  # torch padding=1
    ((2, 2), (1, 1), "same", None, (3, 4)),  # asymmetric crop
    ((5, 3), (2, 3), "same", None, (3, 2)),
    ((3, 3), (2, 2), "valid", None, (3, 4)),
    ((2, 3), (3, 2), "valid", None, (3, 3)),  # stride > kernel: a row of bias only at the bottom
    ((3, 3), (2, 2), "valid", (1, 1), (3, 3)),
    ((3, 3), (2, 2), "same", (1, 0), (3, 4)),
    ((4, 4), (2, 2), "same", (0, 1), (2, 3)),
    ((1, 1), (2, 2), "valid", None, (3, 3)),
]


def torch_conv_transpose(torch, tx, weight, bias, kernel_size, strides, padding, output_padding, data_format):
    """Keras's Conv2DTranspose in PyTorch.  Per axis, with n input rows, full = (n − 1)·s + k rows of the
    uncropped transposed convolution, and out rows from Keras's rule: TensorFlow keeps the rows from
    `before` on, `before` = the top padding of the convolution of `out` rows (0 for "valid", P // 2 with
    P = max(full − out, 0) for "same").  torch's ConvTranspose2d(padding=p, output_padding=q) keeps rows
    p .. full − p + q, so it matches with p = before, q = out − full + 2p when 0 <= q < s; otherwise (an
    uneven crop, or zero rows past the end) the uncropped output is cropped/padded explicitly and the bias
    added afterwards.  Returns (output, whether torch's own padding was enough)."""
    F = torch.nn.functional
    t = tx.permute(0, 3, 1, 2) if data_format == "channels_last" else tx
    n_hw = t.shape[2:]
    ops_ = output_padding if output_padding is not None else (None, None)
    outs, befores, fulls = [], [], []
    for n, k, s, op in zip(n_hw, kernel_size, strides, ops_, strict=True):
        out = keras_deconv_length(n, k, s, padding, op)
        full = (n - 1) * s + k
        outs.append(out)
        fulls.append(full)
        befores.append(0 if padding == "valid" else max(full - out, 0) // 2)
    qs = [out - full + 2 * p for out, full, p in zip(outs, fulls, befores, strict=True)]
    direct = all(0 <= q < s for q, s in zip(qs, strides, strict=True))
    if direct:
        y = F.conv_transpose2d(t, weight, bias, stride=strides, padding=tuple(befores), output_padding=tuple(qs))
    else:
        y = F.conv_transpose2d(t, weight, None, stride=strides)
        (top, left), (full_h, full_w), (out_h, out_w) = befores, fulls, outs
        y = F.pad(y, (-left, out_w - (full_w - left), -top, out_h - (full_h - top)))
        y = y + bias.view(1, -1, 1, 1)
    assert tuple(y.shape[2:]) == tuple(outs)
    return (y.permute(0, 2, 3, 1) if data_format == "channels_last" else y), direct


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("kernel_size, strides, padding, output_padding, hw", TORCH_CASES, ids=case_id)
def test_conv2d_transpose_against_torch(kernel_size, strides, padding, output_padding, hw, data_format, torch,
                                        rng):
    channels, filters = 3, 2
    layer = Conv2DTranspose(filters, kernel_size, strides=strides, padding=padding, output_padding=output_padding,
                            data_format=data_format, activation="tanh", **F64)
    x = image(rng, data_format, channels=channels, height=hw[0], width=hw[1])
    layer.build((None, *x.shape[1:]))
    randomize(layer, rng, scale=1.0)
    kernel, bias = (torch_param(w) for w in layer.get_weights())
    weight = kernel.permute(3, 2, 0, 1)  # Keras (kh, kw, out, in) -> torch (in, out, kh, kw)

    y = layer.forward(x)
    projection = rng.standard_normal(y.shape)
    grad_x = layer.backward(projection)
    tx = torch.tensor(x, requires_grad=True)
    ty, direct = torch_conv_transpose(torch, tx, weight, bias, kernel_size, strides, padding, output_padding,
                                      data_format)
    ty = torch.tanh(ty)
    (ty * torch.tensor(projection)).sum().backward()
    assert_close(y, ty, "output")
    assert_close(grad_x, tx.grad, "input gradient")
    assert_close(layer.grads["kernel"], kernel.grad, "kernel gradient")
    assert_close(layer.grads["bias"], bias.grad, "bias gradient")
    if (kernel_size, strides, padding, output_padding) in [((4, 4), (2, 2), "same", None),
                                                           ((3, 3), (1, 1), "same", None)]:
        assert direct  # plain torch padding=1
    if (kernel_size, strides, padding) in [((3, 3), (2, 2), "same"), ((2, 2), (1, 1), "same")] \
            and output_padding is None:
        assert not direct  # the extra row is cropped at the bottom only


def test_dcgan_upsampling_is_torch_padding_1(torch, rng):
    """Keras Conv2DTranspose(K, 4, strides=2, padding="same") = nn.ConvTranspose2d(C, K, 4, 2, padding=1)."""
    layer = Conv2DTranspose(3, 4, strides=2, padding="same", data_format="channels_first", **F64)
    x = rng.standard_normal((2, 4, 7, 7))
    y = layer(x)
    module = torch.nn.ConvTranspose2d(4, 3, 4, stride=2, padding=1).double()
    with torch.no_grad():
        module.weight.copy_(torch.tensor(layer.params["kernel"].transpose(3, 2, 0, 1)))
        module.bias.copy_(torch.tensor(layer.params["bias"]))
        expected = module(torch.tensor(x)).numpy()
    assert y.shape == (2, 3, 14, 14)
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("data_format", FORMATS)
def test_conv2d_transpose_float32_matches_float64_and_backends_agree(data_format, rng):
    layer = Conv2DTranspose(3, 4, strides=2, padding="same", data_format=data_format, activation="relu")
    x = image(rng, data_format, channels=4, height=5, width=6).astype(np.float32)
    layer.build((None, *x.shape[1:]))
    randomize(layer, rng)
    twin = Conv2DTranspose.from_config({**layer.get_config(), "dtype": "float64"})
    twin.build((None, *x.shape[1:]))
    twin.set_weights(layer.get_weights())
    results = {}
    g = rng.standard_normal(layer.compute_output_shape(x.shape)).astype(np.float32)
    for backend in ["numpy", "native"] if le4nn.native_available() else ["numpy"]:
        with le4nn.backend(backend):
            y = layer(x)
            grad_x = layer.backward(g)
            results[backend] = (y, grad_x, layer.grads["kernel"].copy(), layer.grads["bias"].copy())
            assert y.dtype == grad_x.dtype == np.float32
            y64 = twin(x.astype(np.float64))
            np.testing.assert_allclose(y, y64, rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(grad_x, twin.backward(g.astype(np.float64)), rtol=1e-4, atol=1e-4)
            np.testing.assert_allclose(layer.grads["kernel"], twin.grads["kernel"], rtol=1e-4, atol=1e-4)
    if len(results) == 2:
        for a, b in zip(results["numpy"], results["native"], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_conv2d_transpose_bad_arguments_and_inputs(rng):
    with pytest.raises(ValueError, match=r"Conv2DTranspose layer 'conv2d_transpose': padding must be 'valid' or "
                                         r"'same', got 'full'"):
        Conv2DTranspose(2, 3, padding="full")
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'"):
        Conv2DTranspose(2, 3, padding=1)
    with pytest.raises(ValueError, match=r"output_padding \(2, 1\) must be smaller than the strides \(2, 2\)"):
        Conv2DTranspose(2, 3, strides=2, output_padding=(2, 1))
    with pytest.raises(ValueError, match="output_padding.*smaller than the strides"):
        Conv2DTranspose(2, 3, output_padding=1)  # stride 1 allows only 0
    with pytest.raises(ValueError, match="output_padding must be an int or a pair of ints >= 0"):
        Conv2DTranspose(2, 3, strides=2, output_padding=-1)
    with pytest.raises(ValueError, match="only dilation_rate 1"):
        Conv2DTranspose(2, 3, dilation_rate=2)
    with pytest.raises(ValueError, match="filters must be a positive integer"):
        Conv2DTranspose(0, 3)
    with pytest.raises(ValueError, match="kernel_size must be"):
        Conv2DTranspose(2, (3, 0))
    with pytest.raises(ValueError, match=r"Conv2DTranspose layer 'up'.*4-D input.*\(None, 8\)"):
        Conv2DTranspose(2, 3, name="up")(rng.standard_normal((2, 8)))
    with pytest.raises(TypeError, match=r"Conv2DTranspose layer.*must be a float array"):
        Conv2DTranspose(2, 3)(np.ones((1, 3, 3, 1), dtype=np.uint8))
    with pytest.raises(ValueError, match="input channels must be known"):
        Conv2DTranspose(2, 3).build((None, 4, 4, None))
    with pytest.raises(ValueError, match=r"Conv2DTranspose layer.*empty output"):
        Conv2DTranspose(2, 4, padding="same", output_padding=0)(rng.standard_normal((1, 1, 1, 2)))
    layer = Conv2DTranspose(2, 3, name="built")
    layer(rng.standard_normal((1, 4, 4, 3)))
    with pytest.raises(ValueError, match=r"built.*\(None, 4, 4, 3\).*\(None, 4, 4, 2\)"):
        layer(rng.standard_normal((1, 4, 4, 2)))
    with pytest.raises(ValueError, match=r"built.*grad_out has shape"):
        layer.backward(np.ones((1, 5, 5, 2)))


def test_conv2d_transpose_config_round_trip_and_alias():
    layer = Conv2DTranspose(4, (4, 3), strides=(2, 1), padding="same", output_padding=(1, 0),
                            data_format="channels_first", activation="relu", use_bias=False,
                            kernel_initializer=initializers.RandomNormal(0.0, 0.02), kernel_regularizer="l2",
                            name="g1")
    config = layer.get_config()
    assert config["output_padding"] == [1, 0] and config["kernel_size"] == [4, 3]
    clone = Conv2DTranspose.from_config(config)
    assert clone.get_config() == config
    restored = layers.deserialize(layers.serialize(layer))
    assert type(restored) is Conv2DTranspose and restored.get_config() == config
    alias = layers.deserialize({"class_name": "Convolution2DTranspose", "config": {"filters": 2, "kernel_size": 3}})
    assert type(alias) is Conv2DTranspose
    assert layers.LAYER_CLASSES["Conv2DTranspose"] is Conv2DTranspose
    assert Conv2DTranspose(1, 1).name == "conv2d_transpose_1"  # Keras's automatic name ("g1" came first)


def test_conv2d_transpose_default_initializers(rng):
    layer = Conv2DTranspose(16, 4)
    layer.build((None, 5, 5, 8))
    assert isinstance(layer.kernel_initializer, initializers.GlorotUniform)
    fan_in, fan_out = 4 * 4 * 16, 4 * 4 * 8  # Keras computes the fans of (kh, kw, filters, in) as for Conv2D
    assert np.abs(layer.params["kernel"]).max() <= np.sqrt(6 / (fan_in + fan_out))
    assert np.all(layer.params["bias"] == 0)


def test_frozen_conv2d_transpose_leaves_its_gradients_alone(rng):
    layer = Conv2DTranspose(2, 3, strides=2, trainable=False)
    x = image(rng, "channels_last").astype(np.float32)
    y = layer(x)
    layer.grads["kernel"][...] = 7.0
    grad_x = layer.backward(np.ones_like(y))
    assert grad_x.shape == x.shape and np.all(layer.grads["kernel"] == 7.0)


# ======================================================================================================
# UpSampling2D
# ======================================================================================================

UPSAMPLING_CASES = [
    {"size": size, "interpolation": interpolation, "data_format": f}
    for size, interpolation, f in itertools.product([(2, 2), (3, 2), (1, 3)], ["nearest", "bilinear"], FORMATS)
]


@pytest.mark.parametrize("case", UPSAMPLING_CASES, ids=case_id)
def test_upsampling_gradients(case, rng):
    layer = UpSampling2D(**case, **F64)
    x = image(rng, case["data_format"])
    y = layer(x)
    h, w = spatial(x.shape, case["data_format"])
    assert spatial(y.shape, case["data_format"]) == (h * case["size"][0], w * case["size"][1])
    assert y.shape == layer.compute_output_shape(x.shape)
    gradcheck.assert_gradients_close(layer, x)


def test_upsampling_values():
    x = np.arange(6, dtype=np.float64).reshape(1, 2, 3, 1)
    nearest = UpSampling2D((2, 1), **F64)(x)[0, :, :, 0]
    np.testing.assert_array_equal(nearest, [[0, 1, 2], [0, 1, 2], [3, 4, 5], [3, 4, 5]])
    # bilinear, half-pixel centres: [a, b] -> [a, 3a/4 + b/4, a/4 + 3b/4, b] (edges clamped)
    row = UpSampling2D((1, 2), interpolation="bilinear", **F64)(np.array([[[[4.0], [8.0]]]]))
    np.testing.assert_allclose(row[0, 0, :, 0], [4.0, 5.0, 7.0, 8.0])
    third = UpSampling2D((1, 3), interpolation="bilinear", **F64)(np.array([[[[0.0], [3.0]]]]))
    np.testing.assert_allclose(third[0, 0, :, 0], [0.0, 0.0, 1.0, 2.0, 3.0, 3.0])
    one_pixel = UpSampling2D((3, 2), interpolation="bilinear", **F64)(np.full((1, 1, 1, 2), 5.0))
    np.testing.assert_allclose(one_pixel, 5.0)


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
@pytest.mark.parametrize("size", [(2, 2), (3, 2), (1, 4)], ids=case_id)
def test_upsampling_against_torch(size, interpolation, data_format, torch, rng):
    F = torch.nn.functional
    layer = UpSampling2D(size, data_format=data_format, interpolation=interpolation, **F64)
    x = image(rng, data_format, channels=3, height=4, width=5)
    kwargs = {"align_corners": False} if interpolation == "bilinear" else {}

    def reference(tx):
        t = tx.permute(0, 3, 1, 2) if data_format == "channels_last" else tx
        out = F.interpolate(t, scale_factor=size, mode=interpolation, **kwargs)
        return out.permute(0, 2, 3, 1) if data_format == "channels_last" else out

    compare_with_torch(layer, x, reference, rng)


def test_upsampling_float32_and_symbolic(rng):
    for interpolation in ["nearest", "bilinear"]:
        layer = UpSampling2D(2, interpolation=interpolation)
        x = image(rng, "channels_last").astype(np.float32)
        y = layer(x)
        assert y.dtype == np.float32
        np.testing.assert_allclose(y, UpSampling2D(2, interpolation=interpolation, **F64)(x.astype(np.float64)),
                                   rtol=1e-6, atol=1e-6)
        assert layer.backward(np.ones_like(y)).dtype == np.float32
    tensor = UpSampling2D((2, 3), data_format="channels_first")(Input(shape=(4, 5, None)))
    assert tensor.shape == (None, 4, 10, None)


def test_upsampling_bad_arguments_and_inputs(rng):
    with pytest.raises(ValueError, match=r"UpSampling2D layer 'up_sampling2d': interpolation must be 'nearest' "
                                         r"or 'bilinear', got 'bicubic'"):
        UpSampling2D(interpolation="bicubic")
    with pytest.raises(ValueError, match="size must be an int or a pair of ints >= 1"):
        UpSampling2D((2, 0))
    with pytest.raises(ValueError, match="data_format must be"):
        UpSampling2D(data_format="NHWC")
    with pytest.raises(ValueError, match=r"UpSampling2D layer.*4-D input"):
        UpSampling2D()(rng.standard_normal((2, 3, 4)))
    layer = UpSampling2D()
    with pytest.raises(RuntimeError, match="backward called before forward"):
        layer.backward(np.ones((1, 4, 4, 1)))
    layer(rng.standard_normal((1, 2, 2, 1)))
    with pytest.raises(ValueError, match=r"grad_out has shape \(1, 2, 2, 1\).*\(1, 4, 4, 1\)"):
        layer.backward(np.ones((1, 2, 2, 1)))


def test_upsampling_config_round_trip():
    layer = UpSampling2D((3, 2), data_format="channels_first", interpolation="bilinear", name="up")
    config = layer.get_config()
    assert config["size"] == [3, 2] and config["interpolation"] == "bilinear"
    assert layers.deserialize(layers.serialize(layer)).get_config() == config
    assert UpSampling2D().name == "up_sampling2d"


# ======================================================================================================
# Embedding
# ======================================================================================================

def embedding_gradient_check(layer, indices, rng):
    """∂E/∂embeddings by central differences, E = Σ y·R (+ the regularization penalty)."""
    y = layer(indices)
    projection = rng.standard_normal(y.shape)
    grad_in = layer.backward(projection)
    analytic = layer.grads["embeddings"].copy()

    def objective():
        return float(np.sum(layer(indices) * projection)) + layer.regularization_loss()

    numeric = gradcheck.numerical_gradient(objective, layer.params["embeddings"])
    assert gradcheck.relative_error(analytic, numeric) < 1e-8
    return grad_in, analytic


@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 2)], ids=["vector", "sequences", "grid"])
def test_embedding_gradient(shape, rng):
    layer = Embedding(5, 3, embeddings_regularizer="l2", **F64)
    indices = rng.integers(0, 5, shape)
    indices.reshape(-1)[:3] = 2  # repeated indices add up
    grad_in, analytic = embedding_gradient_check(layer, indices, rng)
    assert grad_in.shape == shape and not grad_in.any()  # indices have no gradient
    unused = np.setdiff1d(np.arange(5), indices)
    reg = 2 * 0.01 * layer.params["embeddings"]  # l2 default factor 0.01
    np.testing.assert_allclose(analytic[unused], reg[unused])


def test_embedding_forward_shapes_values_and_dtypes(rng):
    layer = Embedding(6, 4)
    y = layer(np.array([0, 5, 2]))
    assert y.shape == (3, 4) and y.dtype == np.float32
    np.testing.assert_array_equal(y, layer.params["embeddings"][[0, 5, 2]])
    np.testing.assert_array_equal(layer(np.array([3], dtype=np.uint8)), layer.params["embeddings"][[3]])
    seq = np.array([[1, 1, 3], [0, 5, 4]], dtype=np.uint8)
    layer = Embedding(6, 4)  # a built layer takes inputs of its shape only (any batch size)
    np.testing.assert_array_equal(layer(seq), layer.params["embeddings"][seq])
    as_float = layer(seq.astype(np.float32))  # what a model feeds (inputs cast to its float dtype)
    np.testing.assert_array_equal(as_float, layer.params["embeddings"][seq])
    assert layer.compute_output_shape((None, 3)) == (None, 3, 4)
    assert layer.compute_output_shape((None,)) == (None, 4)
    assert Embedding(6, 4)(Input(shape=(1,))).shape == (None, 1, 4)


def test_embedding_default_initializer_is_keras_uniform():
    layer = Embedding(1000, 20)
    layer.build((None, 1))
    assert isinstance(layer.embeddings_initializer, initializers.RandomUniform)
    assert (layer.embeddings_initializer.minval, layer.embeddings_initializer.maxval) == (-0.05, 0.05)
    table = layer.params["embeddings"]
    assert table.shape == (1000, 20) and np.abs(table).max() <= 0.05 and table.std() > 0.025


def test_embedding_against_torch(torch, rng):
    layer = Embedding(7, 3, **F64)
    indices = rng.integers(0, 7, (4, 5))
    y = layer(indices)
    projection = rng.standard_normal(y.shape)
    layer.backward(projection)
    weight = torch.tensor(layer.params["embeddings"], requires_grad=True)
    ty = torch.nn.functional.embedding(torch.tensor(indices), weight)
    (ty * torch.tensor(projection)).sum().backward()
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.grads["embeddings"], weight.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_embedding_bad_inputs_and_arguments(rng):
    layer = Embedding(10, 2, name="labels")
    with pytest.raises(ValueError, match=r"Embedding layer 'labels': input index 10 is out of range.*\[0, 10\)"):
        layer(np.array([1, 10]))
    with pytest.raises(ValueError, match=r"Embedding layer 'labels': input index -1 is out of range"):
        layer(np.array([[-1, 3]]))
    with pytest.raises(ValueError, match=r"labels.*integer indices, got the value 2.5"):
        layer(np.array([2.5, 1.0]))
    with pytest.raises(ValueError, match=r"labels.*integer indices"):
        layer(np.array([np.nan]))
    with pytest.raises(TypeError, match=r"labels.*integer indices.*got dtype bool"):
        layer(np.array([True, False]))
    with pytest.raises(ValueError, match="batch dimension"):
        layer(np.int64(3))
    with pytest.raises(ValueError, match="input_dim must be a positive integer"):
        Embedding(0, 2)
    with pytest.raises(ValueError, match="output_dim must be a positive integer"):
        Embedding(3, 2.5)
    with pytest.raises(ValueError, match="invalid embeddings_initializer"):
        Embedding(3, 2, embeddings_initializer="nope")
    fixed = Embedding(10, 2, input_length=3, name="seq")
    assert fixed.batch_input_shape == (None, 3)
    with pytest.raises(ValueError, match=r"seq.*\(None, 3\).*\(None, 4\)"):
        fixed(np.zeros((2, 4), dtype=int))
    with pytest.raises(ValueError, match=r"input_length is 3.*\(None, 4\)"):
        Embedding(10, 2, input_length=3).compute_output_shape((None, 4))
    with pytest.raises(RuntimeError, match="backward called before forward"):
        Embedding(3, 2).backward(np.ones((2, 2)))


def test_embedding_config_round_trip():
    layer = Embedding(12, 5, embeddings_initializer=initializers.RandomNormal(0, 0.02),
                      embeddings_regularizer="l1", input_length=2, name="emb")
    config = layer.get_config()
    assert config["input_dim"] == 12 and config["output_dim"] == 5 and config["input_length"] == 2
    restored = layers.deserialize(json.loads(json.dumps(layers.serialize(layer))))
    assert type(restored) is Embedding and restored.get_config() == config
    assert Embedding(3, 2).get_config()["embeddings_initializer"]["class_name"] == "RandomUniform"


# ======================================================================================================
# In models: a conditional generator, training, save/load
# ======================================================================================================

def conditional_generator(latent=6, classes=4):
    noise = Input(shape=(latent,), name="noise")
    label = Input(shape=(1,), name="label")
    embedded = Flatten()(Embedding(classes, 3)(label))
    h = Concatenate()([noise, embedded])
    h = Dense(3 * 3 * 4, activation="relu")(h)
    h = Reshape((3, 3, 4))(h)
    h = Conv2DTranspose(3, 4, strides=2, padding="same", activation="relu")(h)
    h = UpSampling2D(interpolation="bilinear")(h)
    out = Conv2DTranspose(1, 3, padding="same", activation="tanh")(h)
    return Model(inputs=[noise, label], outputs=out)


def test_conditional_generator_trains_predicts_and_round_trips(tmp_path, rng):
    model = conditional_generator()
    assert model.layers[-1].output_shape == (None, 12, 12, 1)
    noise = rng.standard_normal((8, 6)).astype(np.float32)
    labels = rng.integers(0, 4, (8, 1))  # integer labels; the model casts inputs to float32
    target = np.tanh(rng.standard_normal((8, 12, 12, 1))).astype(np.float32)
    model.compile(optimizer="adam", loss="mse")
    before = {layer.name: layer.get_weights() for layer in model.layers if layer.params}
    first = model.train_on_batch([noise, labels], target)
    for _ in range(15):
        last = model.train_on_batch([noise, labels], target)
    assert last < first
    assert "embedding" in before
    for layer in model.layers:  # every layer with weights moved, the Embedding included
        if layer.params:
            assert not np.array_equal(before[layer.name][0], layer.get_weights()[0]), layer.name
    out = model.predict([noise, labels.astype(np.float64)], batch_size=3)
    assert out.shape == (8, 12, 12, 1)
    # Same batches: the same bits.  Other batch sizes give other GEMM shapes, whose sums may round
    # differently (seen: 1e-7): bitwise equality across batch sizes is not a promise, so a tolerance.
    np.testing.assert_array_equal(out, model.predict([noise, labels], batch_size=3))
    np.testing.assert_allclose(model.predict([noise, labels]), out, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"Embedding layer 'embedding': input index 4 is out of range"):
        model.predict([noise, np.full((8, 1), 4)])

    path = tmp_path / "generator.npz"
    model.save(path)
    restored = load_model(path)
    assert [type(layer).__name__ for layer in restored.layers] == [type(layer).__name__ for layer in model.layers]
    np.testing.assert_array_equal(restored.predict([noise, labels], batch_size=3), out)
    # the optimizer state came along: one more step gives the same weights in both
    model.train_on_batch([noise, labels], target)
    restored.train_on_batch([noise, labels], target)
    for a, b in zip(model.get_weights(), restored.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("data_format", FORMATS)
def test_sequential_upsampling_generator_round_trips(data_format, tmp_path, rng):
    shape = (2, 2, 3) if data_format == "channels_last" else (3, 2, 2)
    model = Sequential([
        Embedding(5, 12, input_length=1),
        Reshape(shape),
        UpSampling2D((2, 3), data_format=data_format, interpolation="nearest"),
        Conv2DTranspose(2, 3, strides=2, data_format=data_format, activation="relu"),
        Conv2DTranspose(1, 2, padding="same", output_padding=0, data_format=data_format),
    ])
    model.compile(optimizer="sgd", loss="mse")
    x = rng.integers(0, 5, (6, 1))
    y = model.predict(x)
    assert y.shape == (6, *model.layers[-1].output_shape[1:])
    model.fit(x, rng.standard_normal(y.shape), epochs=1, batch_size=3, verbose=0)
    model.save(tmp_path / "seq")
    np.testing.assert_array_equal(load_model(tmp_path / "seq.npz").predict(x), model.predict(x))
