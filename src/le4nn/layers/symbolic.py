"""Symbolic tensors: the functional API's graph (``layer(Input(...))`` records a node, no data)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from le4nn._typing import DTypeLike
from le4nn.layers.shapes import normalize_shape


class SymbolicTensor:
    """A placeholder for a layer's output in a functional graph: a shape, no data.

    ``layer`` is the layer that produced it and ``inputs`` the symbolic tensors that layer was called
    on (empty for an :func:`~le4nn.layers.Input`), so a model can walk the graph from its outputs
    back to its inputs.
    """

    def __init__(self, shape: Sequence[int | None], layer: Any = None, inputs: Sequence[SymbolicTensor] = (),
                 dtype: DTypeLike = "float32",
                 name: str | None = None) -> None:
        self.shape = normalize_shape(shape)
        self.layer = layer
        self.inputs = tuple(inputs)
        self.dtype = np.dtype(dtype)
        self.name = name if name is not None else (layer.name if layer is not None else "symbolic")

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<SymbolicTensor shape={self.shape} dtype={self.dtype.name} from {self.name!r}>"


def is_symbolic(inputs: object) -> bool:
    """Whether ``inputs`` is a SymbolicTensor or a non-empty list of them (not mixed with arrays)."""
    if isinstance(inputs, SymbolicTensor):
        return True
    if isinstance(inputs, (list, tuple)) and inputs:
        kinds = {isinstance(t, SymbolicTensor) for t in inputs}
        if kinds == {True}:
            return True
        if len(kinds) == 2:
            raise TypeError("a layer's inputs must be all symbolic tensors or all arrays, not a mix")
    return False


def record_call(layer: Any, inputs: Any) -> SymbolicTensor:
    """``layer(inputs)`` on symbolic tensors: build the layer for their shapes, record the call (the
    layer's ``input`` and ``output``) and return the output's symbolic tensor.  A layer is called at
    most once in a graph."""
    if layer._multi_input:
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise ValueError(f"{layer.describe()} takes a list of at least 2 inputs")
        tensors = list(inputs)
        shape = [t.shape for t in tensors]
    else:
        if isinstance(inputs, (list, tuple)):
            if len(inputs) != 1:
                raise ValueError(f"{layer.describe()} takes one input, got a list of {len(inputs)}")
            inputs = inputs[0]
        tensors = [inputs]
        shape = inputs.shape
    if layer.output is not None:
        raise ValueError(
            f"{layer.describe()} is already part of a graph; sharing one layer between two calls is "
            f"not supported, create another layer"
        )
    layer.build(shape)
    out = SymbolicTensor(layer.compute_output_shape(layer._normalize_input_shape(shape)), layer, tensors,
                         layer.dtype)
    layer.input = inputs
    layer.output = out
    return out
