"""Models: :class:`Sequential`, the functional :class:`Model`, saving and loading, ONNX import, ``plot_model``."""

from le4nn.models.model import Model
from le4nn.models.onnx import OnnxNotInstalledError, load_onnx
from le4nn.models.saving import ModelFileError, load_model, model_from_config
from le4nn.models.sequential import Sequential
from le4nn.models.visualize import model_to_dot, plot_model

__all__ = ["Model", "ModelFileError", "OnnxNotInstalledError", "Sequential", "load_model", "load_onnx",
           "model_from_config", "model_to_dot", "plot_model"]
