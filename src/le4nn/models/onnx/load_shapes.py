"""ONNX operators that move data without arithmetic, and the shape computations exporters write.

- ``Transpose`` of a tensor is a layout change: it adds no layer, only changes the tensor's ``perm``
  (see :mod:`le4nn.models.onnx.load_context`); ``Flatten`` and ``Reshape`` become le4nn's, which keep
  the ONNX (row-major) element order when the tensor is held as ONNX sees it.
- PyTorch writes ``x.view(x.size(0), -1)`` as Shape → Gather → Unsqueeze → Concat → Reshape.  These
  are folded here on shape vectors whose batch entry is unknown (None), so the Reshape sees
  [batch, -1]; Constant, Cast, Identity, Gather, Unsqueeze and Concat of constants fold to constants.
"""

from __future__ import annotations

import numpy as np

from le4nn.layers import Flatten, Reshape
from le4nn.models.file_format import short
from le4nn.models.onnx.load_context import Value, tensor_value
from le4nn.models.onnx.load_ops import concat_tensors, convert_embedding

#: The most elements a folded constant may have beyond its inputs' (a broadcast or gather of two
#: constants could otherwise ask for far more memory than the file holds).
MAX_FOLDED_ELEMENTS = 2**20
#: ONNX element types a Cast may fold to (on constants and shape vectors).
_CAST_TYPES = {1: np.float32, 11: np.float64, 6: np.int32, 7: np.int64}


def _as_list(ctx, node, value: Value, what: str) -> list:
    """A 1-D constant or shape vector as a list (None for the batch)."""
    if value is None:
        raise ctx.node_fail(node, f"the {what} is missing")
    if value.dims is not None:
        return [value.dims[0]] if value.scalar else list(value.dims)
    if value.const is None or value.const.ndim > 1 or value.const.dtype.kind not in "iu":
        raise ctx.node_fail(node, f"the {what} must be a constant vector of integers")
    return [int(v) for v in value.const.reshape(-1)]


def _check_folded_size(ctx, node, count: int, *inputs: np.ndarray) -> None:
    if count > MAX_FOLDED_ELEMENTS + sum(a.size for a in inputs):
        raise ctx.node_fail(node, f"folding its constant inputs would make {count} elements; le4nn folds only small "
                            "shape computations")


def convert_identity(ctx, node) -> None:
    ctx.attributes(node, {})
    value = ctx.value(node, 0)
    if value is None:
        raise ctx.node_fail(node, "input 0 is missing")
    ctx.set_outputs(node, value)


def convert_constant(ctx, node) -> None:
    attrs = ctx.attributes(node, {"value": "tensor", "value_float": "float", "value_floats": "floats",
                                  "value_int": "int", "value_ints": "ints"})
    if len(attrs) != 1:
        raise ctx.node_fail(node, "needs exactly one value attribute")
    (name, value), = attrs.items()
    if name == "value":
        array = ctx.const_array(node.attribute[0].t, "its value", node)
    else:
        array = np.asarray(value, dtype=np.float32 if "float" in name else np.int64)
    ctx.set_outputs(node, Value(const=array))


def convert_shape(ctx, node) -> None:
    attrs = ctx.attributes(node, {"start": "int", "end": "int"})
    value = ctx.value(node, 0)
    if value is None:
        raise ctx.node_fail(node, "input 0 is missing")
    shape = value.shape if value.tensor is not None else (
        (len(value.dims),) if value.dims is not None else value.const.shape)
    dims = tuple(shape)[slice(attrs.get("start", 0), attrs.get("end"))]
    ctx.set_outputs(node, Value(dims=dims) if None in dims else Value(const=np.array(dims, dtype=np.int64)))


def convert_gather(ctx, node) -> None:
    """Gather of a shape vector or a constant (folded); of a constant table by data indices: Embedding."""
    data, indices = ctx.value(node, 0), ctx.value(node, 1)
    if indices is not None and indices.tensor is not None:
        convert_embedding(ctx, node)
        return
    axis = ctx.attributes(node, {"axis": "int"}).get("axis", 0)
    index = ctx.constant(node, 1, "indices")
    if data is not None and data.dims is not None and axis == 0 and index.ndim <= 1 and index.dtype.kind in "iu":
        if not all(-len(data.dims) <= i < len(data.dims) for i in index.reshape(-1).tolist()):
            raise ctx.node_fail(node, f"indices {short(index.tolist(), 60)} are out of range for a shape of "
                                f"{len(data.dims)} entries")
        picked = tuple(data.dims[int(i)] for i in index.reshape(-1))
        ctx.set_outputs(node, Value(dims=picked, scalar=index.ndim == 0))
        return
    array = ctx.constant(node, 0, "data")
    if array.ndim == 0 or not -array.ndim <= axis < array.ndim:
        raise ctx.node_fail(node, f"axis {axis} is out of range for data of shape {array.shape}")
    _check_folded_size(ctx, node, array.size // max(array.shape[axis], 1) * index.size, array, index)
    try:
        ctx.set_outputs(node, Value(const=np.take(array, index, axis=axis)))
    except (IndexError, ValueError) as exc:
        raise ctx.node_fail(node, str(exc)) from None


def _axes(ctx, node, attrs) -> list:
    if "axes" in attrs:
        return list(attrs["axes"])
    return _as_list(ctx, node, ctx.value(node, 1), "axes")


def convert_unsqueeze(ctx, node) -> None:
    attrs = ctx.attributes(node, {"axes": "ints"})
    value = ctx.value(node, 0)
    axes = _axes(ctx, node, attrs)
    if value is not None and value.dims is not None and value.scalar and axes in ([0], [-1]):
        ctx.set_outputs(node, Value(dims=value.dims))
        return
    array = ctx.constant(node, 0, "data")
    try:
        ctx.set_outputs(node, Value(const=np.expand_dims(array, tuple(axes))))
    except (ValueError, IndexError) as exc:
        raise ctx.node_fail(node, str(exc)) from None


def convert_concat(ctx, node) -> None:
    axis = ctx.attributes(node, {"axis": "int"}).get("axis")
    if axis is None:
        raise ctx.node_fail(node, "the axis attribute is missing")
    values = [ctx.value(node, i) for i in range(len(node.input))]
    if any(v is None for v in values) or not values:
        raise ctx.node_fail(node, "an input is missing")
    tensors = [v for v in values if v.tensor is not None]
    if len(tensors) == len(values):
        concat_tensors(ctx, node, values, axis)
        return
    if tensors:
        raise ctx.node_fail(node, "concatenates data with constants; le4nn concatenates layer outputs only")
    if axis in (0, -1) and all(v.dims is not None or (v.const is not None and v.const.ndim == 1) for v in values):
        dims = tuple(d for v in values for d in _as_list(ctx, node, v, "input"))
        ctx.set_outputs(node, Value(dims=dims) if None in dims else Value(const=np.array(dims, dtype=np.int64)))
        return
    try:
        ctx.set_outputs(node, Value(const=np.concatenate([v.const for v in values], axis=axis)))
    except (ValueError, TypeError, IndexError) as exc:
        raise ctx.node_fail(node, str(exc)) from None


def _indexes_a_table(ctx, node) -> bool:
    """Whether a Cast's output is only the indices of a Gather from a constant table (an Embedding: le4nn's
    export casts the float indices to int64 there; le4nn's Embedding takes them as whole floats)."""
    reader = ctx.sole_consumer(node.output[0])
    return (reader is not None and reader.op_type == "Gather" and len(reader.input) == 2
            and reader.input[1] == node.output[0] and reader.input[0] != node.output[0])


def convert_cast(ctx, node) -> None:
    to = ctx.attributes(node, {"to": "int", "saturate": "int"}).get("to")
    value = ctx.value(node, 0)
    if to not in _CAST_TYPES or value is None:
        raise ctx.node_fail(node, f"a cast to element type {to} is not supported")
    if value.tensor is not None:
        if to != 1 and not (to in (6, 7) and _indexes_a_table(ctx, node)):
            raise ctx.node_fail(node, "casts data to a type other than float32; le4nn computes in float32")
        ctx.set_outputs(node, value)  # float32 already; or indices an Embedding takes as whole floats
    elif value.dims is not None:
        if to not in (6, 7):
            raise ctx.node_fail(node, "casts a shape to floats")
        ctx.set_outputs(node, value)
    else:
        ctx.set_outputs(node, Value(const=value.const.astype(_CAST_TYPES[to])))


def convert_mul(ctx, node) -> None:
    """Mul of two constants folds; Mul by a scalar after a Dropout was folded into it (load_ops)."""
    ctx.attributes(node, {})
    a, b = ctx.value(node, 0), ctx.value(node, 1)
    if a is not None and b is not None and a.const is not None and b.const is not None:
        try:
            shape = np.broadcast_shapes(a.const.shape, b.const.shape)
        except ValueError as exc:
            raise ctx.node_fail(node, str(exc)) from None
        _check_folded_size(ctx, node, int(np.prod(shape, dtype=object)), a.const, b.const)
        ctx.set_outputs(node, Value(const=np.multiply(a.const, b.const)))
        return
    raise ctx.node_fail(node, "multiplies data; le4nn imports Mul only as the constant scale 1 - ratio right "
                        "after a Dropout (the handout's inference scaling)")


def convert_transpose(ctx, node) -> None:
    """A layout change: the tensor's perm changes, no layer is added (the batch axis must stay first)."""
    attrs = ctx.attributes(node, {"perm": "ints"})
    value = ctx.value(node, 0)
    if value is None:
        raise ctx.node_fail(node, "input 0 is missing")
    if value.tensor is None:
        array = ctx.constant(node, 0, "data")
        try:
            ctx.set_outputs(node, Value(const=np.ascontiguousarray(np.transpose(array, attrs.get("perm")))))
        except (ValueError, TypeError, IndexError) as exc:
            raise ctx.node_fail(node, str(exc)) from None
        return
    rank = len(value.perm)
    perm = list(attrs.get("perm", range(rank - 1, -1, -1)))
    if sorted(perm) != list(range(rank)) or perm[0] != 0:
        raise ctx.node_fail(node, f"perm {perm} is not a permutation of the non-batch axes of a rank-{rank} tensor "
                            "(le4nn keeps the batch axis first)")
    ctx.set_outputs(node, tensor_value(value.tensor, tuple(value.perm[i] for i in perm)))


def same_order(value: Value) -> bool:
    """Whether the le4nn tensor holds its elements in the ONNX (row-major) order: the perm is the
    identity up to axes of size 1 (a global-pooled (N, 1, 1, C) held for an ONNX (N, C, 1, 1))."""
    assert value.tensor is not None
    sized = [axis for axis in value.perm if value.tensor.shape[axis] != 1]
    return sized == sorted(sized)


def _same_layout(ctx, node) -> Value:
    x = ctx.tensor(node, 0)
    if not same_order(x):
        raise ctx.node_fail(node, f"its input is held by le4nn transposed by {x.perm} (NHWC where ONNX sees NCHW); "
                            "the graph must transpose back before it (as le4nn's exporter does), so that the "
                            "element order is le4nn's")
    return x


def convert_squeeze(ctx, node) -> None:
    """Squeeze of size-1 axes (a global pool's (N, C, 1, 1) -> (N, C)): a Flatten or a Reshape."""
    attrs = ctx.attributes(node, {"axes": "ints"})
    x = _same_layout(ctx, node)
    rank = len(x.perm)
    given = "axes" in attrs or ctx.value(node, 1) is not None
    axes = {a % rank for a in _axes(ctx, node, attrs)} if given else {a for a in range(1, rank) if x.shape[a] == 1}
    if 0 in axes or any(x.shape[a] != 1 for a in axes if a < rank):
        raise ctx.node_fail(node, f"axes {sorted(axes)} are not size-1 feature axes of shape {x.shape}")
    rest = tuple(d for a, d in enumerate(x.shape) if a not in axes)
    if len(rest) < 2:
        raise ctx.node_fail(node, "squeezes every feature axis; le4nn keeps one")
    layer = ctx.make(node, Flatten) if len(rest) == 2 else ctx.make(node, Reshape, target_shape=rest[1:])
    ctx.set_outputs(node, tensor_value(ctx.call(node, layer, x.tensor)))


def convert_flatten(ctx, node) -> None:
    axis = ctx.attributes(node, {"axis": "int"}).get("axis", 1)
    x = _same_layout(ctx, node)
    if axis != 1:
        raise ctx.node_fail(node, f"axis={axis} is not supported (le4nn's Flatten keeps the batch axis: axis=1)")
    out = ctx.call(node, ctx.make(node, Flatten), x.tensor)
    ctx.set_outputs(node, tensor_value(out))


def convert_reshape(ctx, node) -> None:
    """Reshape to [batch, ...]: the first entry must be the batch (0 copies it, -1 infers it)."""
    if ctx.attributes(node, {"allowzero": "int"}).get("allowzero", 0):
        raise ctx.node_fail(node, "allowzero=1 is not supported")
    x = _same_layout(ctx, node)
    target = _as_list(ctx, node, ctx.value(node, 1), "shape")
    target = [x.shape[i] if d == 0 and i < len(x.shape) else d for i, d in enumerate(target)]
    if len(target) < 2:
        raise ctx.node_fail(node, f"reshapes to {short(target, 40)}; le4nn keeps the batch axis and at least one more")
    first, rest = target[0], target[1:]
    if None in rest or any(d is not None and d < -1 for d in target):
        raise ctx.node_fail(node, f"the shape {short(target, 80)} is not [batch, sizes...]")
    if first is not None and not (first == -1 and -1 not in rest):
        raise ctx.node_fail(node, f"the shape {short(target, 80)} fixes the batch size; le4nn models take any "
                            "batch size (export with a dynamic batch axis, or reshape to [-1, ...] / [0, ...])")
    out = ctx.call(node, ctx.make(node, Reshape, target_shape=tuple(rest)), x.tensor)
    ctx.set_outputs(node, tensor_value(out))


SHAPE_CONVERTERS = {
    "Identity": convert_identity, "Constant": convert_constant, "Shape": convert_shape, "Gather": convert_gather,
    "Unsqueeze": convert_unsqueeze, "Concat": convert_concat, "Cast": convert_cast, "Mul": convert_mul,
    "Transpose": convert_transpose, "Flatten": convert_flatten, "Reshape": convert_reshape,
    "Squeeze": convert_squeeze,
}
