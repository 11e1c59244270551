"""Models: :class:`Sequential`, the functional :class:`Model`, saving and loading, ``plot_model``."""

from le4nn.models.model import Model
from le4nn.models.saving import ModelFileError, load_model, model_from_config
from le4nn.models.sequential import Sequential
from le4nn.models.visualize import model_to_dot, plot_model

__all__ = ["Model", "ModelFileError", "Sequential", "load_model", "model_from_config", "model_to_dot",
           "plot_model"]
