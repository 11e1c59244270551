"""Reading an ``.onnx`` file defensively: the protobuf, its opsets, and tensors whose sizes are checked
before anything is allocated.

An ``.onnx`` file is a serialized ``onnx.ModelProto``.  :func:`read_model_proto` refuses, with one
:class:`~le4nn.models.ModelFileError` naming the file, a file that is missing its graph, truncated or
garbage (protobuf cannot parse it, or it parses into something with no graph), larger than protobuf's
2 GiB limit, or that keeps tensors in external files (which ``onnx.load`` would read from paths the
file chooses: le4nn reads self-contained files only).  :func:`tensor_array` converts one
``TensorProto`` with ``onnx.numpy_helper`` only after its declared shape was checked against the
bytes the file really holds, so a tensor declaring huge dimensions is an error, never an allocation.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from le4nn._typing import PathLike
from le4nn.models.file_format import ModelFileError, clip, short
from le4nn.models.onnx.common import MAX_OPSET, import_onnx

#: protobuf cannot hold more than 2 GiB in one message.
MAX_ONNX_BYTES = 2**31 - 1
#: The most elements one tensor may declare (weights and constants; a 2 GiB file holds fewer).
MAX_TENSOR_ELEMENTS = 2**31
#: The opsets of the default ONNX domain the importer knows (the operators' meanings are checked
#: for these versions).
OLDEST_OPSET = 7  # the oldest opset read (PyTorch and older exporters); the newest is common.MAX_OPSET

# ONNX TensorProto.DataType -> (NumPy dtype, the typed field holding the values when raw_data is empty).
TENSOR_TYPES: dict[int, tuple[np.dtype, str]] = {
    1: (np.dtype(np.float32), "float_data"),
    11: (np.dtype(np.float64), "double_data"),
    6: (np.dtype(np.int32), "int32_data"),
    7: (np.dtype(np.int64), "int64_data"),
}


def read_model_proto(path: PathLike) -> tuple[Path, Any]:
    """``(path, ModelProto)`` of an ``.onnx`` file, its size, structure and opset checked."""
    onnx = import_onnx()
    from google.protobuf.message import DecodeError

    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"an ONNX file must be given as a path (str or os.PathLike), got {type(path).__name__}")
    path = Path(os.fsdecode(path))
    if not path.exists():
        raise FileNotFoundError(f"ONNX model file not found: {path}")
    if path.is_dir():
        raise ModelFileError(f"{path}: is a folder, not an ONNX model file")
    size = path.stat().st_size
    if size > MAX_ONNX_BYTES:
        raise ModelFileError(f"{path}: {size} bytes is more than an ONNX (protobuf) file can hold ({MAX_ONNX_BYTES})")
    if size == 0:
        raise ModelFileError(f"{path}: not an ONNX model (the file is empty)")
    data = path.read_bytes()
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError, RecursionError) as exc:
        raise ModelFileError(f"{path}: not a readable ONNX model (truncated or corrupted: "
                             f"{clip(str(exc) or type(exc).__name__, 200)})") from None
    if proto.ir_version <= 0 or not proto.HasField("graph") or not proto.graph.output:
        raise ModelFileError(f"{path}: not an ONNX model (no IR version, graph or graph output: truncated, or "
                             "another kind of file)")
    _check_opsets(path, proto)
    _refuse_external_data(path, proto)
    return path, proto


def default_opset(path: Path, proto) -> int:
    """The version of the default ("" / "ai.onnx") operator set the model imports."""
    versions = [entry.version for entry in proto.opset_import if entry.domain in ("", "ai.onnx")]
    if not versions:
        raise ModelFileError(f"{path}: the model imports no version of the default ONNX operator set")
    return int(versions[0])


def _check_opsets(path: Path, proto) -> None:
    version = default_opset(path, proto)
    if not OLDEST_OPSET <= version <= MAX_OPSET:
        raise ModelFileError(f"{path}: ONNX opset {version} is not supported (le4nn reads opsets "
                             f"{OLDEST_OPSET}-{MAX_OPSET}; convert it with onnx.version_converter)")


def _tensors(proto):
    """Every TensorProto of the main graph: initializers and Constant nodes' values."""
    graph = proto.graph
    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors


def _refuse_external_data(path: Path, proto) -> None:
    if proto.graph.sparse_initializer:
        raise ModelFileError(f"{path}: the graph has sparse initializers, which le4nn does not read")
    for tensor in _tensors(proto):
        if tensor.data_location == 1 or tensor.external_data:  # TensorProto.EXTERNAL
            raise ModelFileError(
                f"{path}: tensor {short(tensor.name, 60)} is stored in an external data file; le4nn reads "
                "self-contained .onnx files only (onnx.save_model(model, path, save_as_external_data=False))")


def tensor_array(tensor, what: str, fail) -> np.ndarray:
    """The values of ``tensor`` (a ``TensorProto``) as a new C-contiguous array.  ``fail(message)``
    builds the error naming the file and the node; ``what`` names the tensor in it."""
    from onnx import numpy_helper

    if tensor.data_type not in TENSOR_TYPES:
        raise fail(f"{what} has data type {tensor.data_type} ({_type_name(tensor.data_type)}); le4nn reads "
                   "float32, float64, int32 and int64 tensors")
    dtype, field = TENSOR_TYPES[tensor.data_type]
    dims = list(tensor.dims)
    if any(d < 0 for d in dims):
        raise fail(f"{what} declares negative dimensions {short(dims, 60)}")
    count = math.prod(dims)
    if count > MAX_TENSOR_ELEMENTS:
        raise fail(f"{what} declares {count} elements (dimensions {short(dims, 60)}), more than "
                   f"{MAX_TENSOR_ELEMENTS}")
    if tensor.HasField("segment"):
        raise fail(f"{what} is a segment of a larger tensor, which le4nn does not read")
    held = len(tensor.raw_data) if tensor.raw_data else len(getattr(tensor, field)) * dtype.itemsize
    if held != count * dtype.itemsize:
        raise fail(f"{what} declares dimensions {short(dims, 60)} ({count * dtype.itemsize} bytes of {dtype}) "
                   f"but holds {held} bytes")
    try:
        array = numpy_helper.to_array(tensor)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise fail(f"{what} cannot be read ({clip(str(exc), 200)})") from None
    return np.array(array, dtype=dtype, order="C")  # (np.ascontiguousarray would make a 0-d array 1-d)


def _type_name(data_type: int) -> str:
    try:
        from onnx import TensorProto

        return TensorProto.DataType.Name(data_type)
    except ValueError:
        return "unknown"
