"""ONNX export and import of le4nn models.

``model.export(path, format="onnx")`` (:func:`le4nn.models.onnx.export.export_model`) writes a model as an
ONNX graph that ONNX Runtime runs; :func:`load_onnx` rebuilds a le4nn model from an ONNX graph (one that
le4nn or PyTorch wrote, for example).  ``onnx`` and ``onnxruntime`` are optional (``pip install
"le4nn[onnx]"``) and imported only by the functions that need them: importing this package imports neither.
"""

from le4nn.models.onnx.common import OnnxNotInstalledError
from le4nn.models.onnx.load import load_onnx

__all__ = ["OnnxNotInstalledError", "load_onnx"]
