"""``load_onnx``: a le4nn functional :class:`~le4nn.models.Model` from an ONNX graph.

The graph is read defensively (:mod:`le4nn.models.onnx.load_proto`), every operator is checked to be
one le4nn has before anything is built, ``onnx.checker`` validates the structure, and then each node
becomes a le4nn layer (:mod:`le4nn.models.onnx.load_ops`) or a layout change / folded shape
computation (:mod:`le4nn.models.onnx.load_shapes`).  Any problem is one
:class:`~le4nn.models.ModelFileError` naming the file and, where there is one, the node.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

from le4nn.layers import Input
from le4nn.models.configs import model_class
from le4nn.models.file_format import ModelFileError, clip, short
from le4nn.models.onnx.common import CLASS_NAMES_KEY, import_onnx
from le4nn.models.onnx.load_context import ImportContext, Value, layer_name_from, tensor_value
from le4nn.models.onnx.load_ops import LAYER_CONVERTERS
from le4nn.models.onnx.load_proto import default_opset, read_model_proto
from le4nn.models.onnx.load_shapes import SHAPE_CONVERTERS
from le4nn.models.saving import check_finite_weights

if TYPE_CHECKING:  # (model.py imports this module)
    from le4nn.models.model import Model

CONVERTERS = {**LAYER_CONVERTERS, **SHAPE_CONVERTERS}
#: The largest size accepted for one non-batch dimension of a graph input.
MAX_DIMENSION = 2**31 - 1
# ONNX element types of graph inputs: float32 data, or integer indices (for an Embedding), which the
# le4nn model takes as float32 whole numbers.
_INPUT_TYPES = {1: "float32", 6: "int32", 7: "int64"}


def load_onnx(path: str | os.PathLike, allow_nonfinite: bool = False) -> Model:
    """Rebuild an ONNX model (``.onnx`` file) as a le4nn functional ``Model`` (uncompiled).

    Supported operators: Gemm, MatMul (+ Add: a Dense bias), Conv, ConvTranspose, MaxPool, AveragePool,
    GlobalAveragePool, BatchNormalization (inference), Relu, Sigmoid, Tanh, LeakyRelu, Softmax,
    Flatten, Reshape, Concat, Add, Dropout (+ Mul by 1 − ratio: the handout's inference scaling),
    Resize (whole-number scales), Gather (an Embedding of a constant table, or shape arithmetic),
    Identity, Transpose (as a layout change), and the shape computations PyTorch writes for
    ``x.view(x.size(0), -1)`` (Shape, Constant, Unsqueeze, Concat, Cast).

    ONNX image operators are NCHW: a graph taking NCHW input (PyTorch's) becomes le4nn layers with
    ``data_format="channels_first"``, so Flatten keeps PyTorch's element order and the model takes
    (N, C, H, W) arrays; a graph taking NHWC input and transposing it to NCHW (le4nn's exporter)
    becomes channels_last layers without any transpose.  Weights are transposed to le4nn's layouts
    (Conv W (K, C, kh, kw) -> kernel (kh, kw, C, K)) and keep their bits.  The batch dimension of
    every input is left free; the other dimensions must be fixed in the file.

    Refused with a :class:`~le4nn.models.ModelFileError` naming the file and the node: a damaged,
    truncated or non-ONNX file, tensors in external data files, an operator, attribute or attribute
    value le4nn has no layer for (dilations, groups, ``ceil_mode``, ``SAME_LOWER``, ...), shapes that
    disagree with the weights, tensors declaring more data than they hold, and (unless
    ``allow_nonfinite=True``, as :func:`~le4nn.models.load_model`) weights holding NaN or infinity.
    The ``class_names`` metadata of le4nn's export, when present, becomes the model's ``class_names``.
    Needs the ``onnx`` package (``pip install "le4nn[onnx]"``).
    """
    path, proto = read_model_proto(path)
    graph = proto.graph
    ctx = ImportContext(path, graph, default_opset(path, proto), allow_nonfinite)
    _check_operators(ctx, graph)
    for tensor in graph.initializer:
        ctx.values[tensor.name] = Value(const=ctx.const_array(tensor, f"initializer {short(tensor.name, 60)}"))
    _check_structure(ctx, proto)
    inputs = [_graph_input(ctx, item) for item in graph.input if item.name not in ctx.values]
    if not inputs:
        raise ctx.fail("the graph has no data input")
    for node in graph.node:
        if node.output and node.output[0] in ctx.absorbed:
            continue
        CONVERTERS[node.op_type](ctx, node)
    outputs = [_graph_output(ctx, item.name) for item in graph.output]
    try:
        functional = model_class("Functional")  # le4nn.models.Model (registered: no import cycle)
        model = functional(inputs=inputs if len(inputs) > 1 else inputs[0],
                           outputs=outputs if len(outputs) > 1 else outputs[0], name=_model_name(graph.name))
    except (ValueError, TypeError) as exc:
        raise ctx.fail(f"the graph is not a le4nn model ({clip(str(exc), 300)})") from None
    if not allow_nonfinite:
        check_finite_weights(model, source=path)
    names = _class_names(ctx, proto)
    if names is not None:
        model.class_names = names  # le4nn's export writes them back (Model.export's class_names)
    return model


def _class_names(ctx: ImportContext, proto) -> list[str] | None:
    """The ``class_names`` metadata (a JSON list of strings, as le4nn's export writes), or None."""
    text = next((p.value for p in proto.metadata_props if p.key == CLASS_NAMES_KEY), None)
    if text is None:
        return None
    try:
        names = json.loads(text) if len(text) <= 1_000_000 else None
    except ValueError:
        names = None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ctx.fail(f"its {CLASS_NAMES_KEY!r} metadata is not a JSON list of strings")
    return names


def _check_operators(ctx: ImportContext, graph) -> None:
    """Every node an operator le4nn imports (checked before anything is built)."""
    for node in graph.node:
        if node.domain not in ("", "ai.onnx") or node.op_type not in CONVERTERS:
            op = f"{node.domain}::{node.op_type}" if node.domain not in ("", "ai.onnx") else node.op_type
            raise ctx.node_fail(node, f"operator {short(op, 60)} is not supported by le4nn (supported: "
                                f"{', '.join(sorted(CONVERTERS))})")


def _check_structure(ctx: ImportContext, proto) -> None:
    onnx = import_onnx()
    try:
        onnx.checker.check_model(proto)
    except (onnx.checker.ValidationError, ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ctx.fail(f"not a valid ONNX model ({clip(first, 300)})") from None


def _graph_input(ctx: ImportContext, item):
    """A le4nn Input for a graph input: batch dimension free, the others fixed."""
    what = f"graph input {short(item.name, 60)}"
    if not item.type.HasField("tensor_type"):
        raise ctx.fail(f"{what} is not a tensor")
    tensor_type = item.type.tensor_type
    if tensor_type.elem_type not in _INPUT_TYPES:
        raise ctx.fail(f"{what} has element type {tensor_type.elem_type}; le4nn takes float32 data (or integer "
                       "indices for an Embedding)")
    if not tensor_type.HasField("shape") or len(tensor_type.shape.dim) < 2:
        raise ctx.fail(f"{what} must have a known shape (batch, ...) of rank >= 2")
    dims = []
    for axis, dim in enumerate(tensor_type.shape.dim[1:], start=1):
        if not dim.HasField("dim_value") or not 0 < dim.dim_value <= MAX_DIMENSION:
            label = short(dim.dim_param, 40) if dim.HasField("dim_param") else dim.dim_value
            raise ctx.fail(f"{what}: dimension {axis} is {label}; le4nn needs every dimension but the batch fixed "
                           f"(1..{MAX_DIMENSION})")
        dims.append(int(dim.dim_value))
    name = ctx.unique(layer_name_from(item.name) or "input")
    tensor = Input(shape=tuple(dims), name=name)
    ctx.values[item.name] = tensor_value(tensor)
    return tensor


def _graph_output(ctx: ImportContext, name: str):
    value = ctx.values.get(name)
    if value is None:
        raise ctx.fail(f"graph output {short(name, 60)} is produced by no node")
    if value.tensor is None:
        raise ctx.fail(f"graph output {short(name, 60)} is a constant; le4nn models compute their outputs")
    if value.perm != tuple(range(len(value.perm))):
        raise ctx.fail(f"graph output {short(name, 60)} is held by le4nn transposed by {value.perm}; the graph "
                       "must transpose it back (le4nn's exporter does)")
    return value.tensor


def _model_name(name: str) -> str | None:
    return layer_name_from(name) or None


__all__ = ["ModelFileError", "load_onnx"]
