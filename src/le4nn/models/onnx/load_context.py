"""The state of one ONNX import: what each ONNX value has become, and the one error style.

Every ONNX value (a node output, a graph input, an initializer) becomes a :class:`Value`: a le4nn
symbolic tensor, or a constant (an initializer, a ``Constant`` node, a folded shape computation).

Layout.  ONNX image operators are NCHW; le4nn runs both layouts.  A tensor keeps a permutation
``perm`` with ``onnx_array == le4nn_array.transpose(perm)``, so a ``Transpose`` that only changes the
layout (le4nn's exporter writes NHWC input → Transpose → NCHW operators) costs no layer: the
following image operators run channels_last on the le4nn tensor.  An image operator on a tensor with
``perm`` (0, 1, 2, 3) runs channels_first, with (0, 3, 1, 2) channels_last; Flatten, Reshape, Gemm
and the graph outputs need the identity (le4nn's element order is the ONNX one there).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from le4nn._typing import PathLike
from le4nn.layers import Layer, SymbolicTensor
from le4nn.models.file_format import ModelFileError, clip, short
from le4nn.models.onnx.load_proto import tensor_array

IDENTITY4 = (0, 1, 2, 3)
NHWC_AS_NCHW = (0, 3, 1, 2)


@dataclass(frozen=True)
class Value:
    """One ONNX value: a le4nn ``tensor`` seen through ``perm``, a constant array ``const``, or a shape
    vector ``dims`` (ints, None for the batch size; ``scalar`` when it is one 0-d entry)."""

    tensor: SymbolicTensor | None = None
    perm: tuple = ()
    const: np.ndarray | None = None
    dims: tuple | None = None
    scalar: bool = False

    @property
    def shape(self) -> tuple:
        """The ONNX shape of a tensor value (None for the batch)."""
        assert self.tensor is not None, "not a tensor value"
        return tuple(self.tensor.shape[p] for p in self.perm)


def tensor_value(tensor: SymbolicTensor, perm: tuple | None = None) -> Value:
    return Value(tensor=tensor, perm=tuple(range(len(tensor.shape))) if perm is None else tuple(perm))


def node_label(node) -> str:
    name = short(node.name, 60) if node.name else f"with output {short(node.output[0] if node.output else '', 60)}"
    return f"node {name} ({node.op_type})"


def shortest_float(value) -> float:
    """The shortest decimal that a float32 attribute (an ONNX ``epsilon``, ``alpha``, ``ratio``) rounds
    from: ``float32(0.3)`` gives 0.3, so a le4nn → ONNX → le4nn round trip keeps the configured value."""
    value = np.float32(value)
    return float(str(value)) if np.isfinite(value) else float(value)


class ImportContext:
    """The values, names and error messages of one import (``path`` the file, ``opset`` its version)."""

    def __init__(self, path: PathLike, graph, opset: int, allow_nonfinite: bool) -> None:
        self.path = path
        self.opset = opset
        self.allow_nonfinite = allow_nonfinite
        self.values: dict[str, Value] = {}
        self.names: set[str] = set()
        self.absorbed: set[str] = set()  # first outputs of nodes folded into an earlier one (MatMul + Add)
        self.graph_outputs = {output.name for output in graph.output}
        self.consumers: dict[str, list] = {}
        for node in graph.node:
            for name in node.input:
                if name:
                    self.consumers.setdefault(name, []).append(node)

    # --- errors -----------------------------------------------------------------------------------

    def fail(self, message: str) -> ModelFileError:
        return ModelFileError(f"{self.path}: {message}")

    def node_fail(self, node, message: str) -> ModelFileError:
        return self.fail(f"{node_label(node)}: {message}")

    # --- inputs of a node -------------------------------------------------------------------------

    def value(self, node, index: int) -> Value | None:
        """Input ``index`` of ``node`` (None when absent or empty: an omitted optional input)."""
        if index >= len(node.input) or not node.input[index]:
            return None
        name = node.input[index]
        if name not in self.values:
            raise self.node_fail(node, f"input {short(name, 60)} is not produced by any earlier node, graph "
                                 "input or initializer (the nodes must be in topological order)")
        return self.values[name]

    def tensor(self, node, index: int = 0) -> Value:
        value = self.value(node, index)
        if value is None:
            raise self.node_fail(node, f"input {index} is missing")
        if value.tensor is None:
            raise self.node_fail(node, f"input {index} ({short(node.input[index], 60)}) is a constant; le4nn "
                                 "computes this operator on data only")
        return value

    def constant(self, node, index: int, what: str, required: bool = True) -> np.ndarray | None:
        value = self.value(node, index)
        if value is None:
            if required:
                raise self.node_fail(node, f"the {what} (input {index}) is missing")
            return None
        if value.const is None:
            raise self.node_fail(node, f"the {what} ({short(node.input[index], 60)}) must be a constant (an "
                                 "initializer), not computed by the graph")
        return value.const

    def weight(self, node, index: int, what: str, ndim: int, required: bool = True) -> np.ndarray | None:
        """A float32 weight of ``ndim`` dimensions (input ``index``)."""
        array = self.constant(node, index, what, required)
        if array is None:
            return None
        if array.dtype != np.float32:
            raise self.node_fail(node, f"the {what} is {array.dtype}; le4nn imports float32 weights")
        if array.ndim != ndim:
            raise self.node_fail(node, f"the {what} must have {ndim} dimensions, got shape {array.shape}")
        return array

    def const_array(self, tensor_proto, what: str, node=None) -> np.ndarray:
        def fail(message):
            return self.node_fail(node, message) if node is not None else self.fail(message)

        return tensor_array(tensor_proto, what, fail)

    # --- attributes -------------------------------------------------------------------------------

    def attributes(self, node, allowed: dict) -> dict:
        """The node's attributes as Python values; ``allowed`` maps each accepted name to its kind
        ("int", "ints", "float", "string", "tensor"); any other attribute is refused."""
        from onnx import helper

        kinds = {1: "float", 2: "int", 3: "string", 4: "tensor", 6: "floats", 7: "ints"}
        result = {}
        for attribute in node.attribute:
            if attribute.name not in allowed:
                raise self.node_fail(node, f"attribute {short(attribute.name, 40)} is not supported (le4nn knows "
                                     f"{', '.join(sorted(allowed)) or 'none'} for {node.op_type})")
            kind = kinds.get(attribute.type)
            if kind != allowed[attribute.name]:
                raise self.node_fail(node, f"attribute {attribute.name} must be of kind {allowed[attribute.name]}, "
                                     f"got {kind or attribute.type}")
            value = helper.get_attribute_value(attribute)
            result[attribute.name] = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        return result

    # --- outputs ----------------------------------------------------------------------------------

    def set_outputs(self, node, *values: Value) -> None:
        for name, value in zip(node.output, values, strict=False):
            if name:
                self.values[name] = value
        extra = [name for name in node.output[len(values):] if name]
        used = [name for name in extra if name in self.consumers or name in self.graph_outputs]
        if used:
            raise self.node_fail(node, f"output {short(used[0], 60)} is used, but le4nn computes only the "
                                 f"first {len(values)} output(s) of {node.op_type}")

    def absorb(self, node, value: Value) -> None:
        """``node`` (an Add after a MatMul, a Mul after a Dropout) is folded into the layer that gives
        ``value``: its output is that value, and the walk skips it."""
        self.absorbed.add(node.output[0])
        self.set_outputs(node, value)

    def sole_consumer(self, name: str):
        """The one node that reads value ``name``, when exactly one does and it is not a graph output."""
        consumers = self.consumers.get(name, [])
        return consumers[0] if len(consumers) == 1 and name not in self.graph_outputs else None

    # --- layers -----------------------------------------------------------------------------------

    def layer_name(self, node) -> str:
        """A unique le4nn layer name from the node's name ("/c/Conv" -> "c.Conv"; le4nn names have no '/')."""
        base = layer_name_from(node.name) or f"{node.op_type.lower()}_{len(self.names)}"
        return self.unique(base)

    def unique(self, base: str) -> str:
        name, k = base, 1
        while name in self.names:
            name, k = f"{base}_{k}", k + 1
        self.names.add(name)
        return name

    def make(self, node, cls, **kwargs: Any) -> Layer:
        """``cls(**kwargs, name=...)``, a le4nn argument error reported as the node's."""
        try:
            return cls(name=self.layer_name(node), **kwargs)
        except (ValueError, TypeError) as exc:
            raise self.node_fail(node, f"no le4nn {cls.__name__} for it ({clip(str(exc), 300)})") from None

    def call(self, node, layer: Layer, inputs, weights: list | None = None) -> SymbolicTensor:
        """``layer(inputs)`` on symbolic tensors, then ``layer.set_weights(weights)``; shape errors are
        the node's.  Weights are checked against the shapes the layer expects before the call, so a
        graph whose declared shapes disagree with its weights allocates nothing."""
        try:
            output = layer(inputs)
            if weights is not None:
                expected = [w.shape for w in layer.weights]
                given = [w.shape for w in weights]
                if expected != given:
                    raise ValueError(f"the weights have shapes {given}, the layer on its input needs {expected}")
                layer.set_weights(weights)
        except (ValueError, TypeError) as exc:
            raise self.node_fail(node, clip(str(exc), 300)) from None
        return output


def layer_name_from(name: str) -> str:
    """A le4nn layer name from an ONNX name: "/c/Conv" -> "c.Conv" (no '/', no spaces or control
    characters; at most 120 characters)."""
    return re.sub(r"[^\w.\-]", "_", name.strip("/").replace("/", "."))[:120]


def check_weight_fits(ctx: ImportContext, node, what: str, actual: int, expected) -> None:
    """Refuse before allocation a weight whose size disagrees with the input it applies to."""
    if expected is not None and actual != expected:
        raise ctx.node_fail(node, f"the {what} is for {actual} input features/channels, but its input has "
                            f"{expected}")


def whole_dims(shape) -> int:
    """The number of elements per sample of a shape (None for the batch)."""
    return math.prod(d for d in shape[1:])
