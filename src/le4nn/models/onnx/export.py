"""``model.export(path, format="onnx")``: a le4nn model as an ONNX graph for ONNX Runtime and other engines.

The export walks the model's layer graph (:class:`le4nn.models.graph.Graph`) in order and writes each
layer as ONNX nodes (:mod:`le4nn.models.onnx.export_layers`), always in inference mode, as ``predict``
runs it: Dropout is the handout's scaling by (1 − rate) (``mode="handout"``) or nothing
(``mode="inverted"``, Keras's and PyTorch's kind), BatchNormalization uses its moving statistics.

What the graph looks like (docs: :mod:`le4nn.models.onnx.common` for the layouts):

- one graph input per model input, named after its ``Input`` layer (a Sequential model's is ``"input"``),
  and one graph output per model output, named after the layer that computes it; every one has a dynamic
  first dimension ``"batch"`` and otherwise le4nn's shapes (channels_last images stay NHWC at the
  boundary; inside, the image operators run NCHW between Transposes);
- float32 everywhere; an Embedding's float inputs (le4nn feeds class indices as float32, as Keras does)
  are cast to int64 for its Gather: fractional values, which le4nn refuses, are truncated by the Cast;
- ``metadata_props``: ``le4nn_version`` and, when known, ``class_names`` (a JSON list).

Anything the export cannot write exactly (a custom layer, an activation it does not know, a float64
model, non-finite weights, unknown spatial sizes where the padding depends on them) is an
:class:`OnnxExportError` naming the layer, never an approximate graph.  Each exported model is checked
with ``onnx.checker.check_model`` (with shape inference) before it is written, atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from le4nn._files import make_parent_folder, write_bytes
from le4nn._typing import PathLike
from le4nn._version import __version__
from le4nn.models.onnx.common import (
    BATCH_DIM,
    CLASS_NAMES_KEY,
    LE4NN_VERSION_KEY,
    MAX_OPSET,
    MIN_OPSET,
    PRODUCER,
    default_opset,
    import_onnx,
    make_model,
)
from le4nn.models.onnx.export_graph import GraphBuilder, OnnxExportError, Value
from le4nn.models.onnx.export_layers import emit_layer
from le4nn.models.saving import non_finite_weights

#: Formats ``model.export`` writes.
FORMATS = ("onnx",)
#: A protobuf message (an ONNX file without external data) holds at most 2 GiB.
MAX_PROTO_BYTES = 2**31 - 2**24


def _shape_list(shape) -> list:
    """A model's input/output shape(s) as a list of shapes (several for a multi-input/output model)."""
    return list(shape) if isinstance(shape, list) else [shape]


def _model_inputs(model) -> list[tuple[str, tuple]]:
    """(name, shape) of each model input: the Input layers' names, ``"input"`` for a Sequential."""
    tensors = getattr(model, "inputs", None)
    if tensors is None:
        if not hasattr(model, "_layers"):
            raise OnnxExportError(f"model {model.name!r}: only Sequential and functional models (built from "
                                  "Input tensors) can be exported")
        return [("input", tuple(model.input_shape))]
    return [(t.layer.name, tuple(t.shape)) for t in tensors]


def _value_info(helper, elem_type, name: str, shape: tuple):
    dims = [BATCH_DIM] + [f"{name}_dim{i}" if d is None else int(d) for i, d in enumerate(shape[1:], start=1)]
    return helper.make_tensor_value_info(name, elem_type, dims)


def _check_model(model) -> None:
    """The model must be built, float32 and finite, and fit into one protobuf."""
    if not getattr(model, "built", False):
        raise OnnxExportError(f"model {model.name!r} is not built yet: give it an input shape or call it on data")
    for layer in model.layers:
        if np.dtype(layer.dtype) != np.float32:
            raise OnnxExportError(f"{layer.describe()}: the ONNX export writes float32 models, this layer is "
                                  f"{np.dtype(layer.dtype).name}")
    bad = non_finite_weights(model)
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise OnnxExportError(f"model {model.name!r}: weights hold NaN or infinity ({', '.join(bad[:3])}{more}); "
                              "such a model predicts nothing meaningful and is not exported")
    size = sum(w.nbytes for layer in model.layers for w in layer.weights)
    if size > MAX_PROTO_BYTES:
        raise OnnxExportError(f"model {model.name!r}: its {size} bytes of weights exceed what one ONNX file "
                              f"without external data holds (2 GiB)")


def _check_opset(opset) -> int:
    onnx = import_onnx()
    highest = min(onnx.defs.onnx_opset_version(), MAX_OPSET)
    if opset is None:
        return default_opset()
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or not MIN_OPSET <= opset <= highest:
        raise OnnxExportError(f"opset must be an integer from {MIN_OPSET} to {highest} (the highest that le4nn "
                              f"writes and the installed onnx {onnx.__version__} knows), got {opset!r}")
    return int(opset)


def _check_class_names(model, class_names) -> list[str] | None:
    if class_names is None:
        class_names = getattr(model, "class_names", None)
    if class_names is None:
        return None
    if isinstance(class_names, (str, bytes)) or not isinstance(class_names, Sequence) or not all(
            isinstance(c, str) for c in class_names):
        raise OnnxExportError(f"class_names must be a list of strings, got {class_names!r}")
    outputs = _shape_list(model.output_shape)
    classes = outputs[0][-1] if len(outputs) == 1 and len(outputs[0]) == 2 else None
    if classes is not None and len(class_names) != classes:
        raise OnnxExportError(f"class_names has {len(class_names)} names, the model's output has {classes} classes")
    return list(class_names)


def to_onnx(model, opset: int | None = None, class_names: Sequence[str] | None = None):
    """The ``onnx.ModelProto`` of ``model`` (Sequential or functional, built, float32), checked by
    ``onnx.checker.check_model``; see the module docstring for the graph's form."""
    onnx = import_onnx()
    opset = _check_opset(opset)
    _check_model(model)
    names = _check_class_names(model, class_names)
    helper, elem_type = onnx.helper, onnx.TensorProto.FLOAT
    builder = GraphBuilder(onnx, np.float32)
    graph = model.graph
    inputs = _model_inputs(model)
    for name, _ in inputs:
        builder.reserve(name)
    output_names = _output_names(model, graph, builder, {name for name, _ in inputs})
    values = {slot: Value(name, len(shape)) for slot, (name, shape) in zip(graph.input_slots, inputs, strict=True)}
    for node in graph.nodes:
        args = [values[slot] for slot in node.inputs]
        values[node.output] = emit_layer(builder, node.layer, args)
    _finish_outputs(builder, [values[slot] for slot in graph.output_slots], output_names, {n for n, _ in inputs})
    output_shapes = _shape_list(model.output_shape)
    proto_graph = helper.make_graph(
        builder.nodes, model.name,
        [_value_info(helper, elem_type, name, shape) for name, shape in inputs],
        [_value_info(helper, elem_type, name, shape) for name, shape in zip(output_names, output_shapes, strict=True)],
        initializer=builder.initializers,
    )
    proto = make_model(proto_graph, opset, producer_name=PRODUCER, producer_version=__version__,
                       doc_string=f"le4nn model {model.name!r}")
    metadata = {LE4NN_VERSION_KEY: __version__}
    if names is not None:
        metadata[CLASS_NAMES_KEY] = json.dumps(names)
    helper.set_model_props(proto, metadata)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as exc:  # a bug of this exporter: say so rather than write the file
        raise OnnxExportError(f"model {model.name!r}: the exported graph fails onnx.checker (please report this "
                              f"as a le4nn bug): {exc}") from None
    return proto


def _output_names(model, graph, builder: GraphBuilder, input_names: set[str]) -> list[str]:
    """Each output named after its layer (made unique: two outputs may come from one layer)."""
    names = []
    for node in graph.output_nodes:
        base = node.layer.name if node is not None else "output"
        if base in input_names:
            base = f"{base}_output"
        names.append(builder.fresh(base))
    return names


def _finish_outputs(builder: GraphBuilder, values: list[Value], names: list[str], inputs: set[str]) -> None:
    """Give each output value its graph output name, in le4nn's element order."""
    initializers = {t.name for t in builder.initializers}
    renamed: dict[str, str] = {}  # value -> the output name it took (a second output of it is an Identity)
    for value, name in zip(values, names, strict=True):
        value = builder.plain(value)
        if value.name in inputs or value.name in initializers or value.name in renamed:
            source = renamed.get(value.name, value.name)
            builder.nodes.append(builder.helper.make_node("Identity", [source], [name], name=name))
        else:
            builder.rename(value.name, name)
            renamed[value.name] = name


def export_model(model, filepath: PathLike, format: str = "onnx", opset: int | None = None,
                 class_names: Sequence[str] | None = None) -> Path:
    """Write ``model`` to ``filepath`` as ``format`` (only ``"onnx"``), atomically; returns the path.

    ``opset``: the ONNX opset (default: the highest the installed onnx knows and ONNX Runtime runs, at
    least 17).  ``class_names``: stored in the file's metadata (default: ``model.class_names`` if the
    model has them).  Raises :class:`OnnxExportError` (a ValueError) for a bad argument or a model it
    cannot express, and :class:`~le4nn.models.onnx.common.OnnxNotInstalledError` (an ImportError) when
    onnx is not installed.
    """
    if not isinstance(format, str) or format.lower() not in FORMATS:
        raise OnnxExportError(f"format must be one of {', '.join(map(repr, FORMATS))}, got {format!r}")
    try:
        path = Path(os.fspath(filepath))
    except TypeError:
        raise OnnxExportError(f"filepath must be a path, got {type(filepath).__name__}") from None
    if not str(filepath) or path.is_dir():
        raise OnnxExportError(f"filepath {str(filepath)!r} is a folder, not a file")
    data = to_onnx(model, opset=opset, class_names=class_names).SerializeToString()
    make_parent_folder(path)
    return write_bytes(path, data)


__all__ = ["FORMATS", "GraphBuilder", "OnnxExportError", "Value", "export_model", "to_onnx"]
