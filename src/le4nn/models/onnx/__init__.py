"""ONNX: ``load_onnx`` rebuilds a le4nn model from an ONNX graph (``onnx`` is imported only when used;
``pip install "le4nn[onnx]"``)."""

from le4nn.models.onnx.common import OnnxNotInstalledError
from le4nn.models.onnx.load import load_onnx

__all__ = ["OnnxNotInstalledError", "load_onnx"]
