"""Each le4nn layer as ONNX nodes (inference mode), for :mod:`le4nn.models.onnx.export`.

An emitter takes the :class:`~le4nn.models.onnx.export.GraphBuilder`, the layer and its input
:class:`~le4nn.models.onnx.export.Value` (s) and returns the output Value.  Image layers of
``data_format="channels_last"`` take NCHW values (the builder transposes once where needed) and give
NCHW values, so a chain of them runs without transposes; a channels_first layer takes and gives le4nn's
own NCHW.  Where Keras, PyTorch and ONNX differ:

- "same" padding is Keras's (TensorFlow's) rule: the extra row/column at the bottom/right.  ONNX gets
  the explicit pads where the image size is known, else ``auto_pad="SAME_UPPER"`` (the same rule; PyTorch
  has no such mode and pads symmetrically).
- AveragePooling2D: le4nn's default ``count_include_pad=False`` (Keras: a window is divided by the real
  inputs it covers) is ONNX's ``count_include_pad=0``; PyTorch's default is 1.
- Conv2DTranspose: ONNX's (and PyTorch's) ConvTranspose with the crop of Keras's rule as ``pads`` and the
  rows past the uncropped end as ``output_padding``.
- UpSampling2D: nearest is Resize(nearest, ``asymmetric``, ``floor``); bilinear is Resize(linear,
  ``half_pixel``): TensorFlow's half-pixel centres with clamped edges, PyTorch's ``align_corners=False``.
- Dropout: a Dropout node (the identity at inference; it carries the rate back on import), then for
  ``mode="handout"`` the handout's inference-time Mul by (1 − rate); nothing more for the inverted kind
  (Keras, PyTorch).
"""

from __future__ import annotations

import numpy as np

from le4nn.layers import (
    ELU,
    Activation,
    Add,
    Average,
    AveragePooling2D,
    BatchNormalization,
    Concatenate,
    Conv2D,
    Conv2DTranspose,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalAveragePooling2D,
    InputLayer,
    LeakyReLU,
    MaxPooling2D,
    ReLU,
    Reshape,
    Sigmoid,
    Softmax,
    Tanh,
    UpSampling2D,
)
from le4nn.layers.conv_transpose import transpose_cropping
from le4nn.models.onnx.common import conv_kernel_to_onnx, onnx_pads
from le4nn.models.onnx.export_graph import GraphBuilder, OnnxExportError, Value

# --- activations ----------------------------------------------------------------------------------


def emit_activation(b: GraphBuilder, layer, function, value: Value) -> Value:
    """``function`` (an :class:`~le4nn.activations.ActivationFunction`) applied to ``value``."""
    name, config = function.name, function.config
    if name == "linear":
        return value
    simple = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}
    if name in simple:
        return Value(b.node(simple[name], [value.name], f"{layer.name}/{simple[name]}"), value.rank, value.nchw)
    if name == "leaky_relu":
        out = b.node("LeakyRelu", [value.name], f"{layer.name}/LeakyRelu", alpha=float(config["negative_slope"]))
        return Value(out, value.rank, value.nchw)
    if name == "elu":
        return Value(b.node("Elu", [value.name], f"{layer.name}/Elu", alpha=float(config["alpha"])),
                     value.rank, value.nchw)
    if name == "softmax" or (name.startswith("softmax(") and "axis" in config):
        axis = b.onnx_axis(value, int(config.get("axis", -1)))
        return Value(b.node("Softmax", [value.name], f"{layer.name}/Softmax", axis=axis), value.rank, value.nchw)
    raise OnnxExportError(f"{layer.describe()}: the activation {name!r} has no ONNX export")


def _activation_layer(b, layer, inputs):
    return emit_activation(b, layer, layer.activation, inputs[0])


# --- dense, embedding, reshaping ------------------------------------------------------------------


def _dense(b, layer, inputs):
    x = b.plain(inputs[0])
    args = [x.name, b.constant(f"{layer.name}/kernel", layer.params["kernel"])]
    if layer.use_bias:
        args.append(b.constant(f"{layer.name}/bias", layer.params["bias"]))
    z = Value(b.node("Gemm", args, f"{layer.name}/Gemm"), 2)
    return emit_activation(b, layer, layer.activation, z)


def _embedding(b, layer, inputs):
    x = b.plain(inputs[0])
    indices = b.node("Cast", [x.name], f"{layer.name}/indices", to=b.onnx.TensorProto.INT64)
    table = b.constant(f"{layer.name}/embeddings", layer.params["embeddings"])
    return Value(b.node("Gather", [table, indices], f"{layer.name}/Gather", axis=0), x.rank + 1)


def _flatten(b, layer, inputs):
    x = b.plain(inputs[0])
    return Value(b.node("Flatten", [x.name], f"{layer.name}/Flatten", axis=1), 2)


def _reshape(b, layer, inputs):
    x = b.plain(inputs[0])
    target = layer.output_shape[1:]
    dims = [-1 if d is None else int(d) for d in target]
    if dims.count(-1) > 1:
        raise OnnxExportError(f"{layer.describe()}: the target shape {layer.target_shape} has more than one unknown "
                              f"size for inputs of shape {layer.input_shape}")
    shape = b.constant(f"{layer.name}/shape", np.array([0, *dims], dtype=np.int64))  # 0: keep the batch size
    return Value(b.node("Reshape", [x.name, shape], f"{layer.name}/Reshape"), len(dims) + 1)


def _dropout(b, layer, inputs):
    """A Dropout node (the identity at inference, kept so that the rate and the layer come back on
    import), then for the handout's mode the inference-time Mul by (1 − rate) (handout eq. 27)."""
    x = inputs[0]
    ratio = b.constant(f"{layer.name}/ratio", np.array(layer.rate, dtype=b.dtype))
    out = b.node("Dropout", [x.name, ratio], f"{layer.name}/Dropout")
    if layer.mode == "handout":
        scale = b.constant(f"{layer.name}/keep", np.array(1 - layer.rate, dtype=b.dtype))
        out = b.node("Mul", [out, scale], f"{layer.name}/Mul")
    return Value(out, x.rank, x.nchw)


def _input_layer(b, layer, inputs):
    return inputs[0]


# --- normalization, merging -----------------------------------------------------------------------


def _batch_normalization(b, layer, inputs):
    """ONNX BatchNormalization normalizes axis 1: another axis is moved there and back."""
    x = inputs[0]
    if x.rank == 4 and layer.axis % 4 == 3 and not x.nchw:
        x = b.as_nchw(x, layer)  # channels_last images: NCHW makes the channels axis 1
    axis = b.onnx_axis(x, layer.axis)
    features = layer.state["moving_mean"].shape
    gamma = layer.params["gamma"] if layer.scale else np.ones(features, b.dtype)
    beta = layer.params["beta"] if layer.center else np.zeros(features, b.dtype)
    weights = [b.constant(f"{layer.name}/{name}", value) for name, value in (
        ("gamma", gamma), ("beta", beta), ("moving_mean", layer.state["moving_mean"]),
        ("moving_variance", layer.state["moving_variance"]))]
    name = x.name
    perm = None
    if axis != 1:
        perm = [0, axis] + [k for k in range(1, x.rank) if k != axis]
        name = b.node("Transpose", [name], f"{layer.name}/to_axis1", perm=perm)
    out = b.node("BatchNormalization", [name, *weights], f"{layer.name}/BatchNormalization",
                 epsilon=float(layer.epsilon))
    if perm is not None:
        out = b.node("Transpose", [out], f"{layer.name}/from_axis1", perm=[perm.index(k) for k in range(x.rank)])
    return Value(out, x.rank, x.nchw)


def _same_layout(b, layer, inputs: list[Value]) -> list[Value]:
    """The inputs of a merge in one layout: as they are when they agree, else NCHW for images."""
    if len({v.nchw for v in inputs}) == 1:
        return inputs
    if all(v.rank == 4 for v in inputs):
        return [b.as_nchw(v, layer) for v in inputs]
    return [b.plain(v) for v in inputs]


def _add(b, layer, inputs):
    """x1 + x2 + ... summed in input order, as le4nn sums; Average is ONNX's Mean (the sum over the
    count, as le4nn computes it)."""
    xs = _same_layout(b, layer, inputs)
    if isinstance(layer, Average):
        return Value(b.node("Mean", [x.name for x in xs], f"{layer.name}/Mean"), xs[0].rank, xs[0].nchw)
    total = xs[0].name
    for k, x in enumerate(xs[1:], start=1):
        total = b.node("Add", [total, x.name], f"{layer.name}/Add{k}")
    return Value(total, xs[0].rank, xs[0].nchw)


def _concatenate(b, layer, inputs):
    xs = _same_layout(b, layer, inputs)
    axis = b.onnx_axis(xs[0], layer.axis)
    return Value(b.node("Concat", [x.name for x in xs], f"{layer.name}/Concat", axis=axis), xs[0].rank, xs[0].nchw)


# --- images ---------------------------------------------------------------------------------------


def _image_input(b, layer, value: Value) -> Value:
    """An image layer's input as ONNX wants it: NCHW (channels_last layers transpose, channels_first
    layers take le4nn's own NCHW)."""
    if value.rank != 4:
        raise OnnxExportError(f"{layer.describe()}: expects a 4-D image input, got rank {value.rank}")
    return b.as_nchw(value, layer) if layer.data_format == "channels_last" else b.plain(value)


def _spatial(layer) -> tuple:
    """(height, width) of the layer's input."""
    shape = layer.input_shape
    return (shape[1], shape[2]) if layer.data_format == "channels_last" else (shape[2], shape[3])


def _same_pads(size: int, k: int, s: int) -> tuple[int, int]:
    """Keras's "same": output ceil(size / s), the total padding split with the extra after."""
    total = max((-(-size // s) - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def _window_pads(layer, kernel, strides) -> dict:
    """The padding attribute of a window layer (Conv2D, pooling) with le4nn's ``padding``: explicit
    ``pads``, or ``auto_pad="SAME_UPPER"`` (Keras's "same" rule) where the spatial sizes are unknown."""
    padding = layer.padding
    if padding == "valid":
        return {"pads": [0, 0, 0, 0]}
    if padding == "same":
        height, width = _spatial(layer)
        if height is None or width is None:
            return {"auto_pad": "SAME_UPPER"}
        return {"pads": onnx_pads(*_same_pads(height, kernel[0], strides[0]), *_same_pads(width, kernel[1],
                                                                                             strides[1]))}
    return {"pads": onnx_pads(*padding)}


def _image_output(layer, name: str) -> Value:
    return Value(name, 4, layer.data_format == "channels_last")


def _conv2d(b, layer, inputs):
    x = _image_input(b, layer, inputs[0])
    args = [x.name, b.constant(f"{layer.name}/kernel", conv_kernel_to_onnx(layer.params["kernel"]))]
    if layer.use_bias:
        args.append(b.constant(f"{layer.name}/bias", layer.params["bias"]))
    z = b.node("Conv", args, f"{layer.name}/Conv", kernel_shape=list(layer.kernel_size), strides=list(layer.strides),
               **_window_pads(layer, layer.kernel_size, layer.strides))
    return emit_activation(b, layer, layer.activation, _image_output(layer, z))


def _conv2d_transpose(b, layer, inputs):
    """pads: the crop of Keras's rule (:func:`~le4nn.layers.conv_transpose.transpose_cropping`);
    output_padding: the zero rows/columns past the uncropped output (s > k, or Keras's output_padding)."""
    x = _image_input(b, layer, inputs[0])
    height, width = _spatial(layer)
    if height is None or width is None:
        raise OnnxExportError(f"{layer.describe()}: needs known spatial sizes, got input shape {layer.input_shape}")
    out_shape = layer.output_shape
    out_h, out_w = (out_shape[1], out_shape[2]) if layer.data_format == "channels_last" else out_shape[2:]
    pads, extra = [], []
    for n, out, k, s in ((height, out_h, layer.kernel_size[0], layer.strides[0]),
                         (width, out_w, layer.kernel_size[1], layer.strides[1])):
        before, after = transpose_cropping(n, out, k, s, layer.padding)
        grow = out - ((n - 1) * s + k - before - after)
        if grow < 0 or grow >= s:
            raise OnnxExportError(f"{layer.describe()}: its output size {out} has no ONNX ConvTranspose form")
        pads.append((before, after))
        extra.append(grow)
    args = [x.name, b.constant(f"{layer.name}/kernel", conv_kernel_to_onnx(layer.params["kernel"]))]
    if layer.use_bias:
        args.append(b.constant(f"{layer.name}/bias", layer.params["bias"]))
    z = b.node("ConvTranspose", args, f"{layer.name}/ConvTranspose", kernel_shape=list(layer.kernel_size),
               strides=list(layer.strides), pads=onnx_pads(*pads[0], *pads[1]), output_padding=extra)
    return emit_activation(b, layer, layer.activation, _image_output(layer, z))


def _pooling(b, layer, inputs):
    x = _image_input(b, layer, inputs[0])
    attributes = {"kernel_shape": list(layer.pool_size), "strides": list(layer.strides),
                  **_window_pads(layer, layer.pool_size, layer.strides)}
    if isinstance(layer, AveragePooling2D):
        out = b.node("AveragePool", [x.name], f"{layer.name}/AveragePool",
                     count_include_pad=int(layer.count_include_pad), **attributes)
    else:
        out = b.node("MaxPool", [x.name], f"{layer.name}/MaxPool", **attributes)
    return _image_output(layer, out)


def _global_average_pooling(b, layer, inputs):
    x = _image_input(b, layer, inputs[0])
    out = b.node("GlobalAveragePool", [x.name], f"{layer.name}/GlobalAveragePool")  # (B, C, 1, 1)
    if layer.keepdims:
        return _image_output(layer, out)
    return Value(b.node("Flatten", [out], f"{layer.name}/Flatten", axis=1), 2)


def _upsampling(b, layer, inputs):
    x = _image_input(b, layer, inputs[0])
    scales = b.constant(f"{layer.name}/scales", np.array([1, 1, *layer.size], dtype=np.float32))
    if layer.interpolation == "nearest":
        mode = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    else:
        mode = {"mode": "linear", "coordinate_transformation_mode": "half_pixel"}
    out = b.node("Resize", [x.name, "", scales], f"{layer.name}/Resize", **mode)
    return _image_output(layer, out)


#: The emitter of each layer class (exact classes: a subclass may compute something else).
EMITTERS = {
    InputLayer: _input_layer, Dense: _dense, Embedding: _embedding, Flatten: _flatten, Reshape: _reshape,
    Dropout: _dropout, BatchNormalization: _batch_normalization, Add: _add, Average: _add,
    Concatenate: _concatenate, Conv2D: _conv2d, Conv2DTranspose: _conv2d_transpose, MaxPooling2D: _pooling,
    AveragePooling2D: _pooling, GlobalAveragePooling2D: _global_average_pooling, UpSampling2D: _upsampling,
    Activation: _activation_layer, ReLU: _activation_layer, Sigmoid: _activation_layer, Tanh: _activation_layer,
    Softmax: _activation_layer, LeakyReLU: _activation_layer, ELU: _activation_layer,
}


def emit_layer(b: GraphBuilder, layer, inputs: list[Value]) -> Value:
    """``layer`` on ``inputs`` as ONNX nodes; an :class:`OnnxExportError` naming it when it has no export."""
    emitter = EMITTERS.get(type(layer))
    if emitter is None:
        raise OnnxExportError(f"{layer.describe()}: le4nn has no ONNX export for {type(layer).__qualname__} layers "
                              f"(supported: {', '.join(sorted(cls.__name__ for cls in EMITTERS))})")
    return emitter(b, layer, inputs)


__all__ = ["EMITTERS", "emit_activation", "emit_layer"]
