"""ONNX operators that become le4nn layers: one converter per operator, ``convert(ctx, node)``.

Where ONNX and le4nn differ:

- Conv / ConvTranspose / pooling: ONNX's ``pads`` are [top, left, bottom, right], le4nn's explicit
  padding (top, bottom, left, right); ``auto_pad="SAME_UPPER"`` is Keras's "same" (the extra row at the
  bottom/right).  Dilations, groups, ``ceil_mode`` and ``SAME_LOWER`` have no le4nn layer and are refused.
  ONNX's pooling strides default to 1, Keras's to the pool size, so they are always passed.
- Weights: Conv W (K, C, kh, kw) -> le4nn kernel (kh, kw, C, K); ConvTranspose W (C, K, kh, kw) ->
  (kh, kw, K, C); Gemm B (out, in) with ``transB=1`` (PyTorch's Linear) or (in, out) -> Dense (in, out).
  Only transposes: the values keep their bits.
- Dropout: identity at inference in ONNX; it becomes ``Dropout(rate, mode="inverted")`` (PyTorch's and
  ONNX's training semantics), or, followed by a constant Mul by 1 − rate (how the handout's inference
  scaling is written in ONNX), ``Dropout(rate, mode="handout")``.
- BatchNormalization: ONNX's ``momentum`` is Keras's (running ← momentum·running + (1 − momentum)·batch);
  PyTorch's is 1 − it.  Only inference mode (``training_mode=0``) is imported.
"""

from __future__ import annotations

import itertools

import numpy as np

from le4nn.layers import (
    ELU,
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
    GlobalAveragePooling2D,
    LeakyReLU,
    MaxPooling2D,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
    UpSampling2D,
)
from le4nn.layers.conv_transpose import deconv_output_length, transpose_cropping
from le4nn.models.onnx.load_context import (
    IDENTITY4,
    NHWC_AS_NCHW,
    ImportContext,
    Value,
    check_weight_fits,
    shortest_float,
    tensor_value,
)

WINDOW_ATTRIBUTES = {"auto_pad": "string", "dilations": "ints", "kernel_shape": "ints", "pads": "ints",
                     "strides": "ints"}


def image_format(ctx: ImportContext, node, value: Value) -> str:
    """The le4nn data_format an NCHW operator runs in on ``value``."""
    if len(value.perm) != 4:
        raise ctx.node_fail(node, f"needs 4-D (N, C, H, W) input, got shape {value.shape} (le4nn has 2-D image "
                            "operators only)")
    if value.perm == IDENTITY4:
        return "channels_first"
    if value.perm == NHWC_AS_NCHW:
        return "channels_last"
    raise ctx.node_fail(node, f"its input is transposed by {value.perm} from what le4nn holds; only the NCHW <-> "
                        "NHWC layout change is supported")


def _pair(ctx, node, attrs, name, default, minimum) -> tuple[int, int]:
    values = attrs.get(name, default)
    if len(values) != 2 or any(v < minimum for v in values):
        raise ctx.node_fail(node, f"{name} must be 2 integers >= {minimum}, got {list(values)}")
    return int(values[0]), int(values[1])


def window_arguments(ctx, node, attrs, kernel: tuple) -> tuple[tuple, object]:
    """(strides, le4nn padding) of a Conv / pooling node."""
    if tuple(attrs.get("dilations", (1, 1))) != (1, 1):
        raise ctx.node_fail(node, f"dilations {list(attrs['dilations'])} are not supported (le4nn has no dilated "
                            "convolution or pooling)")
    if "kernel_shape" in attrs and tuple(attrs["kernel_shape"]) != tuple(kernel):
        raise ctx.node_fail(node, f"kernel_shape {list(attrs['kernel_shape'])} disagrees with the weights' "
                            f"{list(kernel)}")
    strides = _pair(ctx, node, attrs, "strides", (1, 1), 1)
    auto_pad = attrs.get("auto_pad", "NOTSET")
    if auto_pad == "NOTSET":
        pads = attrs.get("pads", (0, 0, 0, 0))
        if len(pads) != 4 or min(pads) < 0:
            raise ctx.node_fail(node, f"pads must be 4 integers >= 0, got {list(pads)}")
        padding = (pads[0], pads[2], pads[1], pads[3])
        return strides, "valid" if not any(padding) else tuple(int(p) for p in padding)
    if auto_pad in ("VALID", "SAME_UPPER"):
        if any(attrs.get("pads", ())):
            raise ctx.node_fail(node, f"auto_pad {auto_pad} goes with no pads, got {list(attrs['pads'])}")
        return strides, "valid" if auto_pad == "VALID" else "same"
    raise ctx.node_fail(node, f"auto_pad {auto_pad!r} is not supported (le4nn pads as SAME_UPPER, VALID or "
                        "explicit pads)")


def _single(ctx, node, layer_input: Value, layer, weights=None, perm=None) -> None:
    out = ctx.call(node, layer, layer_input.tensor, weights)
    ctx.set_outputs(node, tensor_value(out, layer_input.perm if perm is None else perm))


# --- dense ----------------------------------------------------------------------------------------


def _matrix_input(ctx, node) -> Value:
    x = ctx.tensor(node, 0)
    if len(x.perm) != 2:
        raise ctx.node_fail(node, f"needs (batch, features) input, got shape {x.shape} (flatten it first)")
    return x


def _bias_vector(ctx, node, bias: np.ndarray | None, units: int, what: str) -> np.ndarray | None:
    if bias is None:
        return None
    if bias.dtype != np.float32:
        raise ctx.node_fail(node, f"the {what} is {bias.dtype}; le4nn imports float32 weights")
    if bias.shape in ((units,), (1, units)):
        return np.ascontiguousarray(bias.reshape(units))
    if bias.size == 1:
        return np.full(units, bias.reshape(()), dtype=np.float32)
    raise ctx.node_fail(node, f"the {what} of shape {bias.shape} does not broadcast to ({units},)")


def _dense(ctx, node, x: Value, kernel: np.ndarray, bias: np.ndarray | None) -> Value:
    check_weight_fits(ctx, node, "weight", kernel.shape[0], x.shape[1])
    layer = ctx.make(node, Dense, units=kernel.shape[1], use_bias=bias is not None, kernel_initializer="zeros")
    weights = [np.ascontiguousarray(kernel)] + ([bias] if bias is not None else [])
    return tensor_value(ctx.call(node, layer, x.tensor, weights))


def convert_gemm(ctx, node) -> None:
    """Gemm: Y = alpha·A·B' + beta·C -> Dense (alpha, beta other than 1 scale the kernel and the bias)."""
    attrs = ctx.attributes(node, {"alpha": "float", "beta": "float", "transA": "int", "transB": "int"})
    x = _matrix_input(ctx, node)
    if attrs.get("transA", 0):
        raise ctx.node_fail(node, "transA=1 is not supported (the data must be (batch, features))")
    w = ctx.weight(node, 1, "weight B", 2)
    kernel = w.T if attrs.get("transB", 0) else w
    bias = _bias_vector(ctx, node, ctx.constant(node, 2, "bias C", required=False), kernel.shape[1], "bias C")
    alpha, beta = attrs.get("alpha", 1.0), attrs.get("beta", 1.0)
    if alpha != 1.0:
        kernel = kernel * np.float32(alpha)
    if beta != 1.0 and bias is not None:
        bias = bias * np.float32(beta)
    ctx.set_outputs(node, _dense(ctx, node, x, kernel, bias))


def convert_matmul(ctx, node) -> None:
    """MatMul by a constant -> Dense without bias, or with the bias of the Add that follows it."""
    ctx.attributes(node, {})
    x = _matrix_input(ctx, node)
    kernel = ctx.weight(node, 1, "weight matrix", 2)
    bias, add = None, ctx.sole_consumer(node.output[0])
    if add is not None and add.op_type == "Add" and len(add.input) == 2 and add.input[0] != add.input[1]:
        other = ctx.values.get(add.input[1] if add.input[0] == node.output[0] else add.input[0])
        if other is not None and other.const is not None and other.const.dtype == np.float32 and (
                other.const.shape in ((kernel.shape[1],), (1, kernel.shape[1]))):
            bias = np.ascontiguousarray(other.const.reshape(kernel.shape[1]))
    value = _dense(ctx, node, x, kernel, bias)
    ctx.set_outputs(node, value)
    if bias is not None:
        ctx.absorb(add, value)


# --- convolutions and pooling ---------------------------------------------------------------------


def _conv_weights(ctx, node, x: Value):
    w = ctx.weight(node, 1, "weight W", 4)
    attrs = ctx.attributes(node, {**WINDOW_ATTRIBUTES, "group": "int", "output_padding": "ints",
                                  "output_shape": "ints"} if node.op_type == "ConvTranspose"
                           else {**WINDOW_ATTRIBUTES, "group": "int"})
    if attrs.get("group", 1) != 1:
        raise ctx.node_fail(node, f"group={attrs['group']} is not supported (le4nn has no grouped or depthwise "
                            "convolution)")
    units = w.shape[1] if node.op_type == "ConvTranspose" else w.shape[0]
    bias = ctx.weight(node, 2, "bias B", 1, required=False)
    if bias is not None and bias.shape != (units,):
        raise ctx.node_fail(node, f"the bias has shape {bias.shape}, expected ({units},)")
    return w, bias, attrs


def convert_conv(ctx, node) -> None:
    x = ctx.tensor(node, 0)
    data_format = image_format(ctx, node, x)
    w, bias, attrs = _conv_weights(ctx, node, x)
    strides, padding = window_arguments(ctx, node, attrs, w.shape[2:])
    check_weight_fits(ctx, node, "weight W", w.shape[1], x.shape[1])
    layer = ctx.make(node, Conv2D, filters=w.shape[0], kernel_size=w.shape[2:], strides=strides, padding=padding,
                     data_format=data_format, use_bias=bias is not None, kernel_initializer="zeros")
    kernel = np.ascontiguousarray(w.transpose(2, 3, 1, 0))
    _single(ctx, node, x, layer, [kernel] + ([bias] if bias is not None else []))


def _transpose_padding(ctx, node, x: Value, w, attrs, strides) -> tuple:
    """(padding, output_padding) of the le4nn Conv2DTranspose that crops and sizes as the ONNX node:
    ONNX keeps rows pads_begin .. of the uncropped (n − 1)·s + k rows, output_padding extra rows."""
    if "output_shape" in attrs or attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise ctx.node_fail(node, "output_shape and auto_pad SAME_* are not supported: give explicit pads")
    pads = attrs.get("pads", (0, 0, 0, 0))
    extra = _pair(ctx, node, attrs, "output_padding", (0, 0), 0)
    if len(pads) != 4 or min(pads) < 0:
        raise ctx.node_fail(node, f"pads must be 4 integers >= 0, got {list(pads)}")
    sizes = x.shape[2:]
    wanted = [(pads[a], s * (n - 1) + extra[a] + k - pads[a] - pads[a + 2])
              for a, (n, k, s) in enumerate(zip(sizes, w.shape[2:], strides, strict=True))]
    choices = [None, *itertools.product(range(strides[0]), range(strides[1]))]
    for padding, output_padding in itertools.product(("valid", "same"), choices):
        got = []
        for a, (n, k, s) in enumerate(zip(sizes, w.shape[2:], strides, strict=True)):
            out = deconv_output_length(n, k, s, padding, None if output_padding is None else output_padding[a])
            assert out is not None  # n is a fixed size: ONNX inputs here have fixed spatial sizes
            got.append((transpose_cropping(n, out, k, s, padding)[0], out))
        if got == wanted:
            return padding, output_padding
    raise ctx.node_fail(node, f"pads {list(pads)} with output_padding {list(extra)} crop the output in a way no "
                        "le4nn Conv2DTranspose (padding 'valid' or 'same', output_padding < strides) does")


def convert_conv_transpose(ctx, node) -> None:
    x = ctx.tensor(node, 0)
    data_format = image_format(ctx, node, x)
    w, bias, attrs = _conv_weights(ctx, node, x)
    window_arguments(ctx, node, {k: v for k, v in attrs.items() if k in ("dilations", "kernel_shape")},
                     w.shape[2:])
    strides = _pair(ctx, node, attrs, "strides", (1, 1), 1)
    check_weight_fits(ctx, node, "weight W", w.shape[0], x.shape[1])
    padding, output_padding = _transpose_padding(ctx, node, x, w, attrs, strides)
    layer = ctx.make(node, Conv2DTranspose, filters=w.shape[1], kernel_size=w.shape[2:], strides=strides,
                     padding=padding, output_padding=output_padding, data_format=data_format,
                     use_bias=bias is not None, kernel_initializer="zeros")
    kernel = np.ascontiguousarray(w.transpose(2, 3, 1, 0))
    _single(ctx, node, x, layer, [kernel] + ([bias] if bias is not None else []))


def convert_pool(ctx, node) -> None:
    """MaxPool / AveragePool (``count_include_pad`` as le4nn's; ceil_mode and storage_order 0 only)."""
    extra = {"ceil_mode": "int", "storage_order": "int"} if node.op_type == "MaxPool" else {
        "ceil_mode": "int", "count_include_pad": "int"}
    attrs = ctx.attributes(node, {**WINDOW_ATTRIBUTES, **extra})
    x = ctx.tensor(node, 0)
    data_format = image_format(ctx, node, x)
    for name in ("ceil_mode", "storage_order"):
        if attrs.get(name, 0):
            raise ctx.node_fail(node, f"{name}={attrs[name]} is not supported (le4nn pools with floor sizes, "
                                "row-major)")
    if "kernel_shape" not in attrs:
        raise ctx.node_fail(node, "kernel_shape is missing")
    pool = _pair(ctx, node, attrs, "kernel_shape", (), 1)
    strides, padding = window_arguments(ctx, node, attrs, pool)
    if node.op_type == "MaxPool":
        layer = ctx.make(node, MaxPooling2D, pool_size=pool, strides=strides, padding=padding,
                         data_format=data_format)
    else:
        layer = ctx.make(node, AveragePooling2D, pool_size=pool, strides=strides, padding=padding,
                         data_format=data_format, count_include_pad=bool(attrs.get("count_include_pad", 0)))
    _single(ctx, node, x, layer)


def convert_global_average_pool(ctx, node) -> None:
    ctx.attributes(node, {})
    x = ctx.tensor(node, 0)
    layer = ctx.make(node, GlobalAveragePooling2D, data_format=image_format(ctx, node, x), keepdims=True)
    _single(ctx, node, x, layer)


def convert_reduce_mean(ctx, node) -> None:
    """ReduceMean over the two spatial axes of an image -> GlobalAveragePooling2D (keepdims as given)."""
    attrs = ctx.attributes(node, {"axes": "ints", "keepdims": "int", "noop_with_empty_axes": "int"})
    x = ctx.tensor(node, 0)
    rank = len(x.perm)
    axes = attrs.get("axes")
    if axes is None:
        axes = ctx.constant(node, 1, "axes").reshape(-1).tolist() if ctx.value(node, 1) is not None else []
    le4nn_axes = sorted(x.perm[a % rank] for a in axes if -rank <= a < rank)
    formats = {(1, 2): "channels_last", (2, 3): "channels_first"}
    if rank != 4 or len(le4nn_axes) != len(axes) or tuple(le4nn_axes) not in formats:
        raise ctx.node_fail(node, f"a mean over axes {list(axes)} of a rank-{rank} tensor is not a global average "
                            "pooling of an image (le4nn has no other ReduceMean)")
    keepdims = bool(attrs.get("keepdims", 1))
    layer = ctx.make(node, GlobalAveragePooling2D, data_format=formats[tuple(le4nn_axes)], keepdims=keepdims)
    _single(ctx, node, x, layer, perm=None if keepdims else (0, 1))


def convert_resize(ctx, node) -> None:
    """Resize by whole scales -> UpSampling2D: "nearest" (asymmetric + floor, or half-pixel + round) or
    "bilinear" ("linear" with half_pixel / pytorch_half_pixel coordinates, edges clamped)."""
    attrs = ctx.attributes(node, {"mode": "string", "coordinate_transformation_mode": "string",
                                  "nearest_mode": "string", "cubic_coeff_a": "float", "exclude_outside": "int",
                                  "extrapolation_value": "float", "antialias": "int",
                                  "keep_aspect_ratio_policy": "string"})
    x = ctx.tensor(node, 0)
    data_format = image_format(ctx, node, x)
    if ctx.opset < 11:
        raise ctx.node_fail(node, "Resize of opset < 11 is not supported (convert the model to opset 11+)")
    mode = attrs.get("mode", "nearest")
    transform = attrs.get("coordinate_transformation_mode", "half_pixel")
    rounding = attrs.get("nearest_mode", "round_prefer_floor")
    half_pixel = transform in ("half_pixel", "pytorch_half_pixel")
    if mode == "nearest" and ((transform == "asymmetric" and rounding == "floor") or (
            half_pixel and rounding in ("round_prefer_floor", "round_prefer_ceil"))):
        interpolation = "nearest"
    elif mode == "linear" and half_pixel and not attrs.get("antialias", 0):
        interpolation = "bilinear"
    else:
        raise ctx.node_fail(node, f"mode {mode!r} with coordinate_transformation_mode {transform!r} (nearest_mode "
                            f"{rounding!r}) is not an le4nn UpSampling2D (nearest or half-pixel bilinear)")
    if ctx.value(node, 3) is not None:
        raise ctx.node_fail(node, "sizes are not supported: give whole scales [1, 1, sh, sw]")
    scales = ctx.constant(node, 2, "scales")
    if scales.shape != (4,) or not np.all(scales == np.round(scales)) or list(scales[:2]) != [1, 1] or min(
            scales) < 1:
        raise ctx.node_fail(node, f"scales must be [1, 1, sh, sw] with whole sh, sw >= 1, got {scales.tolist()}")
    layer = ctx.make(node, UpSampling2D, size=(int(scales[2]), int(scales[3])), data_format=data_format,
                     interpolation=interpolation)
    _single(ctx, node, x, layer)


# --- normalization, activations, merging, dropout, embedding ---------------------------------------


def convert_batch_normalization(ctx, node) -> None:
    attrs = ctx.attributes(node, {"epsilon": "float", "momentum": "float", "spatial": "int",
                                  "training_mode": "int"})
    if attrs.get("training_mode", 0) or not attrs.get("spatial", 1):
        raise ctx.node_fail(node, "only inference-mode, per-channel (spatial) batch normalization is supported")
    x = ctx.tensor(node, 0)
    if len(x.perm) not in (2, 4):
        raise ctx.node_fail(node, f"needs (N, C) or (N, C, H, W) input, got shape {x.shape}")
    names = ("scale", "B", "input_mean", "input_var")
    gamma, beta, mean, var = (ctx.weight(node, i + 1, name, 1) for i, name in enumerate(names))
    channels = x.shape[1]
    for name, array in zip(names, (gamma, beta, mean, var), strict=True):
        check_weight_fits(ctx, node, name, array.shape[0], channels)
    axis = -1 if x.perm[1] == len(x.perm) - 1 else x.perm[1]
    layer = ctx.make(node, BatchNormalization, axis=axis, epsilon=shortest_float(attrs.get("epsilon", 1e-5)),
                     momentum=shortest_float(attrs.get("momentum", 0.9)))
    _single(ctx, node, x, layer, [gamma, beta, mean, var])


def convert_activation(ctx, node) -> None:
    """Relu, Sigmoid, Tanh, LeakyRelu (``alpha``, default 0.01 as PyTorch; Keras's is 0.3), Elu
    (``alpha``, default 1)."""
    if node.op_type == "LeakyRelu":
        alpha = ctx.attributes(node, {"alpha": "float"}).get("alpha", 0.01)
        layer = ctx.make(node, LeakyReLU, negative_slope=shortest_float(alpha))
    elif node.op_type == "Elu":
        alpha = ctx.attributes(node, {"alpha": "float"}).get("alpha", 1.0)
        layer = ctx.make(node, ELU, alpha=shortest_float(alpha))
    else:
        ctx.attributes(node, {})
        layer = ctx.make(node, {"Relu": ReLU, "Sigmoid": Sigmoid, "Tanh": Tanh}[node.op_type])
    _single(ctx, node, ctx.tensor(node, 0), layer)


def convert_softmax(ctx, node) -> None:
    """Softmax over one axis.  Before opset 13 ONNX's softmax is over all axes from ``axis`` on
    (default 1): the same only when that is the last axis."""
    x = ctx.tensor(node, 0)
    rank = len(x.perm)
    axis = ctx.attributes(node, {"axis": "int"}).get("axis", -1 if ctx.opset >= 13 else 1)
    if not -rank <= axis < rank or axis % rank == 0:
        raise ctx.node_fail(node, f"axis {axis} is not a feature axis of a rank-{rank} tensor")
    if ctx.opset < 13 and axis % rank != rank - 1:
        raise ctx.node_fail(node, f"opset {ctx.opset} Softmax over the axes from {axis} on of a rank-{rank} "
                            "tensor has no le4nn layer (le4nn's softmax is over one axis)")
    le4nn_axis = x.perm[axis % rank]
    layer = ctx.make(node, Softmax, axis=-1 if le4nn_axis == rank - 1 else le4nn_axis)
    _single(ctx, node, x, layer)


def convert_add(ctx, node) -> None:
    ctx.attributes(node, {})
    a, b = ctx.value(node, 0), ctx.value(node, 1)
    if a is None or b is None or a.tensor is None or b.tensor is None:
        raise ctx.node_fail(node, "adds a constant; le4nn adds constants only as the bias of the MatMul before "
                            "it (a Dense layer)")
    if a.perm != b.perm:
        raise ctx.node_fail(node, f"its inputs are held in different layouts ({a.perm} and {b.perm})")
    out = ctx.call(node, ctx.make(node, Add), [a.tensor, b.tensor])
    ctx.set_outputs(node, tensor_value(out, a.perm))


def convert_mean(ctx, node) -> None:
    """Mean of two or more tensors in one layout: an Average layer (le4nn sums in input order and
    divides by the count)."""
    ctx.attributes(node, {})
    values = [ctx.value(node, k) for k in range(len(node.input))]
    if len(values) < 2 or any(v is None or v.tensor is None for v in values):
        raise ctx.node_fail(node, "averages constants or fewer than two tensors; le4nn's Average takes 2 or more")
    if len({v.perm for v in values}) != 1:
        raise ctx.node_fail(node, f"its inputs are held in different layouts ({sorted({v.perm for v in values})})")
    out = ctx.call(node, ctx.make(node, Average), [v.tensor for v in values])
    ctx.set_outputs(node, tensor_value(out, values[0].perm))


def concat_tensors(ctx, node, values: list[Value], axis: int) -> None:
    perms = {v.perm for v in values}
    if len(perms) != 1:
        raise ctx.node_fail(node, f"its inputs are held in different layouts ({sorted(perms)})")
    perm = values[0].perm
    if not -len(perm) <= axis < len(perm) or axis % len(perm) == 0:
        raise ctx.node_fail(node, f"axis {axis} is not a feature axis of rank-{len(perm)} tensors")
    layer = ctx.make(node, Concatenate, axis=perm[axis % len(perm)])
    out = ctx.call(node, layer, [v.tensor for v in values])
    ctx.set_outputs(node, tensor_value(out, perm))


def convert_dropout(ctx, node) -> None:
    attrs = ctx.attributes(node, {"ratio": "float", "seed": "int"})
    x = ctx.tensor(node, 0)
    ratio = ctx.constant(node, 1, "ratio", required=False)
    training = ctx.constant(node, 2, "training_mode", required=False)
    if training is not None and training.size == 1 and bool(training.reshape(())):
        raise ctx.node_fail(node, "training_mode is true; le4nn imports inference graphs")
    if ratio is not None and ratio.size != 1:
        raise ctx.node_fail(node, f"the ratio must be one number, got shape {ratio.shape}")
    rate = shortest_float(ratio.reshape(()) if ratio is not None else attrs.get("ratio", 0.5))
    if not 0 <= rate < 1:
        raise ctx.node_fail(node, f"the ratio must be in [0, 1), got {rate}")
    mul = ctx.sole_consumer(node.output[0])
    scale = None
    if mul is not None and mul.op_type == "Mul" and len(mul.input) == 2:
        other = ctx.values.get(mul.input[1] if mul.input[0] == node.output[0] else mul.input[0])
        if other is not None and other.const is not None and other.const.size == 1:
            scale = other.const.reshape(())
    handout = scale is not None and np.float32(scale) == np.float32(1 - rate)
    layer = ctx.make(node, Dropout, rate=rate, mode="handout" if handout else "inverted")
    _single(ctx, node, x, layer)
    if handout:
        ctx.absorb(mul, ctx.values[node.output[0]])


def convert_embedding(ctx, node) -> None:
    """Gather(table, indices) on axis 0 with a constant table -> Embedding."""
    axis = ctx.attributes(node, {"axis": "int"}).get("axis", 0)
    table = ctx.weight(node, 0, "table", 2)
    indices = ctx.tensor(node, 1)
    if axis != 0:
        raise ctx.node_fail(node, f"a Gather of a constant table on axis {axis} is not an Embedding (axis 0)")
    if indices.perm != tuple(range(len(indices.perm))):
        raise ctx.node_fail(node, "its indices are held in another layout")
    layer = ctx.make(node, Embedding, input_dim=table.shape[0], output_dim=table.shape[1],
                     embeddings_initializer="zeros")
    _single(ctx, node, indices, layer, [table], perm=tuple(range(len(indices.perm) + 1)))


LAYER_CONVERTERS = {
    "Gemm": convert_gemm, "MatMul": convert_matmul, "Conv": convert_conv, "ConvTranspose": convert_conv_transpose,
    "MaxPool": convert_pool, "AveragePool": convert_pool, "GlobalAveragePool": convert_global_average_pool,
    "ReduceMean": convert_reduce_mean,
    "Resize": convert_resize, "BatchNormalization": convert_batch_normalization, "Relu": convert_activation,
    "Sigmoid": convert_activation, "Tanh": convert_activation, "LeakyRelu": convert_activation,
    "Elu": convert_activation, "Softmax": convert_softmax, "Add": convert_add, "Mean": convert_mean,
    "Dropout": convert_dropout,
}
