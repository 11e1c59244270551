"""What the ONNX export and import share: the optional dependencies, names, layouts and weight layouts.

Layouts.  ONNX's image operators are NCHW; le4nn's layers default to channels_last (NHWC).  A
channels_last model is exported with its NHWC inputs as the graph inputs, a Transpose to NCHW before its
first image operator, and a Transpose back where le4nn's element order matters (Flatten, Reshape, Dense,
the outputs), so that a flattened feature vector holds le4nn's (and Keras's) channels_last order.  A
channels_first model needs no transpose.

Weights.  Conv2D's kernel is (kh, kw, C, K) in le4nn (Keras) and (K, C, kh, kw) in ONNX (PyTorch);
Conv2DTranspose's is (kh, kw, K, C) in le4nn and (C, K, kh, kw) in ONNX: both are the same permutation
(:func:`conv_kernel_to_onnx`, undone by :func:`conv_kernel_from_onnx`).  Dense's kernel (in, out) is
a Gemm's second input as it is (``transB=0``; PyTorch exports (out, in) with ``transB=1``).  Padding is
(top, bottom, left, right) in le4nn and ``[top, left, bottom, right]`` in ONNX (:func:`onnx_pads`).
"""

from __future__ import annotations

import functools

import numpy as np

#: The smallest opset the export writes (and the import reads): Softmax's per-axis form (13), Reshape's
#: ``allowzero`` (14), BatchNormalization-15.
MIN_OPSET = 17
#: The highest opset le4nn writes and reads: the operators it uses are defined as it uses them up to
#: here (a later opset may change an operator le4nn has not been checked against).
MAX_OPSET = 23
#: The name of the dynamic batch dimension of every graph input and output.
BATCH_DIM = "batch"
#: ``metadata_props`` keys of an exported model.
LE4NN_VERSION_KEY = "le4nn_version"
CLASS_NAMES_KEY = "class_names"
#: The ``producer_name`` of an exported model.
PRODUCER = "le4nn"

#: np.transpose permutations between le4nn's NHWC and ONNX's NCHW.
NHWC_TO_NCHW = (0, 3, 1, 2)
NCHW_TO_NHWC = (0, 2, 3, 1)

_INSTALL_HINT = 'pip install "le4nn[onnx]"'


class OnnxNotInstalledError(ImportError):
    """``onnx`` or ``onnxruntime`` is not installed; the message says how to install it."""


def import_onnx():
    """The ``onnx`` module, or an :class:`OnnxNotInstalledError` saying how to install it."""
    try:
        import onnx
    except ImportError as exc:
        raise OnnxNotInstalledError(f"ONNX support needs the onnx package ({_INSTALL_HINT}): {exc}") from None
    return onnx


def import_onnxruntime():
    """The ``onnxruntime`` module, or an :class:`OnnxNotInstalledError` saying how to install it."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise OnnxNotInstalledError(
            f"running ONNX models needs the onnxruntime package ({_INSTALL_HINT}): {exc}") from None
    return onnxruntime


def _runtime_runs(opset: int) -> bool:
    """Whether the installed ONNX Runtime loads a one-node graph of ``opset``."""
    onnx = import_onnx()
    ort = import_onnxruntime()
    helper, float_type = onnx.helper, onnx.TensorProto.FLOAT
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "probe",
                              [helper.make_tensor_value_info("x", float_type, [1])],
                              [helper.make_tensor_value_info("y", float_type, [1])])
    model = make_model(graph, opset)
    try:
        ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception:  # any refusal (unsupported opset, IR version) means "not this opset"
        return False
    return True


def make_model(graph, opset: int, **fields):
    """``onnx.helper.make_model`` of the default domain's ``opset``, with the lowest IR version that opset
    needs (not the installed onnx's newest), so that older runtimes load the file."""
    helper = import_onnx().helper
    opsets = [helper.make_opsetid("", opset)]
    return helper.make_model(graph, opset_imports=opsets, ir_version=helper.find_min_ir_version_for(opsets),
                             **fields)


@functools.lru_cache(maxsize=1)
def default_opset() -> int:
    """The highest opset up to :data:`MAX_OPSET` that the installed ``onnx`` knows and the installed ONNX
    Runtime runs (probed with a one-node graph, once per process); without ONNX Runtime, the highest
    ``onnx`` knows.  At least :data:`MIN_OPSET`."""
    onnx = import_onnx()
    highest = min(onnx.defs.onnx_opset_version(), MAX_OPSET)
    try:
        import_onnxruntime()
    except OnnxNotInstalledError:
        return max(highest, MIN_OPSET)
    for opset in range(highest, MIN_OPSET - 1, -1):
        if _runtime_runs(opset):
            return opset
    return MIN_OPSET


def conv_kernel_to_onnx(kernel: np.ndarray) -> np.ndarray:
    """le4nn (kh, kw, C, K) -> ONNX Conv (K, C, kh, kw); equally Conv2DTranspose's (kh, kw, K, C) ->
    ConvTranspose's (C, K, kh, kw).  A C-contiguous copy."""
    return np.ascontiguousarray(np.transpose(kernel, (3, 2, 0, 1)))


def conv_kernel_from_onnx(weight: np.ndarray) -> np.ndarray:
    """The inverse of :func:`conv_kernel_to_onnx`."""
    return np.ascontiguousarray(np.transpose(weight, (2, 3, 1, 0)))


def onnx_pads(top: int, bottom: int, left: int, right: int) -> list[int]:
    """le4nn's (top, bottom, left, right) as ONNX's ``pads`` [top, left, bottom, right]."""
    return [int(top), int(left), int(bottom), int(right)]


def le4nn_pads(pads) -> tuple[int, int, int, int]:
    """ONNX's ``pads`` [top, left, bottom, right] as le4nn's (top, bottom, left, right)."""
    top, left, bottom, right = (int(p) for p in pads)
    return top, bottom, left, right


__all__ = [
    "BATCH_DIM", "CLASS_NAMES_KEY", "LE4NN_VERSION_KEY", "MIN_OPSET", "NCHW_TO_NHWC", "NHWC_TO_NCHW", "PRODUCER",
    "OnnxNotInstalledError", "conv_kernel_from_onnx", "conv_kernel_to_onnx", "default_opset", "import_onnx",
    "import_onnxruntime", "le4nn_pads", "make_model", "onnx_pads",
]
