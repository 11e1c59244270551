"""The graph being written by the ONNX export: :class:`Value` (an ONNX value standing for a le4nn tensor,
in le4nn's element order or transposed to NCHW) and :class:`GraphBuilder` (nodes and initializers under
unique names, the layout Transposes)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from le4nn._typing import DTypeLike
from le4nn.models.onnx.common import NCHW_TO_NHWC, NHWC_TO_NCHW


class OnnxExportError(ValueError):
    """The model cannot be exported as asked (the message names the layer or argument)."""


@dataclass(frozen=True)
class Value:
    """An ONNX value standing for a le4nn tensor of rank ``rank``: le4nn's element order, or, when
    ``nchw``, the le4nn NHWC tensor transposed to NCHW."""

    name: str
    rank: int
    nchw: bool = False


class GraphBuilder:
    """Collects the nodes and initializers of the graph under unique names."""

    def __init__(self, onnx: Any, dtype: DTypeLike) -> None:
        self.onnx = onnx
        self.helper = onnx.helper
        self.dtype = np.dtype(dtype)
        self.nodes: list = []
        self.initializers: list = []
        self._used: set[str] = set()
        self._converted: dict[tuple[str, bool], Value] = {}

    def reserve(self, name: str) -> str:
        self._used.add(name)
        return name

    def fresh(self, base: str) -> str:
        """A name not used yet: ``base``, else ``base_1``, ``base_2``, ..."""
        name, k = base, 0
        while name in self._used:
            k += 1
            name = f"{base}_{k}"
        return self.reserve(name)

    def constant(self, base: str, array) -> str:
        """An initializer holding ``array`` (float arrays in the model's dtype, int64 kept)."""
        array = np.asarray(array)
        if array.dtype.kind == "f":
            array = array.astype(self.dtype, copy=False)
        name = self.fresh(base)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.array(array, order="C"), name))  # keeps 0-d
        return name

    def node(self, op: str, inputs: Sequence[str], base: str, **attributes) -> str:
        """Add one node of ``op`` with one output, named from ``base``; returns that output's name."""
        out = self.fresh(base)
        self.nodes.append(self.helper.make_node(op, list(inputs), [out], name=out, **attributes))
        return out

    def plain(self, value: Value) -> Value:
        """``value`` in le4nn's element order (a Transpose NCHW -> NHWC when it is not)."""
        return self._convert(value, False)

    def as_nchw(self, value: Value, layer) -> Value:
        """A rank-4 ``value`` as NCHW (a Transpose NHWC -> NCHW when it is le4nn's NHWC)."""
        if value.rank != 4:
            raise OnnxExportError(f"{layer.describe()}: expects a 4-D image input, got rank {value.rank}")
        return self._convert(value, True)

    def _convert(self, value: Value, nchw: bool) -> Value:
        if value.nchw == nchw:
            return value
        key = (value.name, nchw)
        if key not in self._converted:  # a tensor read by several layers is transposed once
            perm = NHWC_TO_NCHW if nchw else NCHW_TO_NHWC
            out = self.node("Transpose", [value.name], f"{value.name}/{'nchw' if nchw else 'nhwc'}", perm=list(perm))
            self._converted[key] = Value(out, value.rank, nchw)
        return self._converted[key]

    def onnx_axis(self, value: Value, axis: int) -> int:
        """le4nn's ``axis`` of the tensor ``value`` stands for, as an axis of the ONNX value."""
        axis = axis % value.rank
        return NHWC_TO_NCHW.index(axis) if value.nchw else axis

    def rename(self, old: str, new: str) -> None:
        """Rename the value ``old`` (produced by a node here) to ``new`` everywhere."""
        for node in self.nodes:
            for field in (node.input, node.output):
                for k, name in enumerate(field):
                    if name == old:
                        field[k] = new


__all__ = ["GraphBuilder", "OnnxExportError", "Value"]
