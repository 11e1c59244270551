"""Small helpers users reach for: seeding, label encoding, and (Keras's place for it) ``plot_model``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from le4nn._typing import ArrayLike, DTypeLike

_rng = np.random.default_rng()


def set_random_seed(seed: int) -> None:
    """Seed le4nn's global random generator (initializers, Dropout, shuffling, augmentation).

    Two runs with the same seed, backend and thread count give bitwise identical results.
    """
    global _rng
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"set_random_seed: seed must be an integer >= 0, got {seed!r}")
    _rng = np.random.default_rng(seed)


def get_rng() -> np.random.Generator:
    """The global generator that every unseeded random choice in le4nn draws from."""
    return _rng


def to_categorical(y: ArrayLike, num_classes: int | None = None, dtype: DTypeLike = "float32") -> np.ndarray:
    """One-hot encode integer class labels: shape (..., num_classes), like ``keras.utils.to_categorical``."""
    labels = np.asarray(y)
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or not np.all(labels == np.round(labels)):
            raise ValueError("to_categorical: labels must be whole numbers")
    elif labels.dtype.kind not in "iub":
        raise TypeError(f"to_categorical: labels must be integers, got dtype {labels.dtype}")
    labels = labels.astype(np.intp)
    if labels.ndim > 1 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if labels.size and labels.min() < 0:
        raise ValueError(f"to_categorical: labels must be >= 0, got {labels.min()}")
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    elif labels.size and labels.max() >= num_classes:
        raise ValueError(f"to_categorical: label {labels.max()} does not fit num_classes={num_classes}")
    encoded = np.zeros((*labels.shape, num_classes), dtype=dtype)
    np.put_along_axis(encoded, labels[..., None], 1, axis=-1)
    return encoded


def get_rng_state() -> dict:
    """The global generator's state (JSON-serializable), saved with models so that resumed training
    continues the same random stream."""
    return dict(_rng.bit_generator.state)


def set_rng_state(state: dict) -> None:
    """Restore a state from :func:`get_rng_state`."""
    _rng.bit_generator.state = state


#: ``plot_model`` and ``model_to_dot`` of :mod:`le4nn.models.visualize`, registered there when
#: ``le4nn.models`` is imported.  This module sits below the models in le4nn's import layers
#: (``pyproject.toml``), so it cannot import them; and no model exists before ``le4nn.models`` is imported.
_drawing: dict[str, Callable] = {}


def register_model_drawing(plot_model: Callable, model_to_dot: Callable) -> None:
    """Called by :mod:`le4nn.models.visualize` on import: the functions behind :func:`plot_model` and
    :func:`model_to_dot` here."""
    _drawing.update(plot_model=plot_model, model_to_dot=model_to_dot)


def _drawing_function(name: str, model: Any) -> Callable:
    if name not in _drawing:  # nothing has imported le4nn.models, so ``model`` cannot be an le4nn model
        raise TypeError(f"{name}: expected an le4nn model (le4nn.models.Sequential or Model), got "
                        f"{type(model).__name__}")
    return _drawing[name]


def plot_model(model: Any, to_file: str | Path = "model.png", show_shapes: bool = True) -> Path:
    """Draw the model's layer graph to ``to_file`` with Graphviz: :func:`le4nn.models.plot_model`, also
    here, where Keras has it (``keras.utils.plot_model``).

    Differs from Keras: ``show_shapes`` defaults to True (Keras: False), and Keras's other options
    (``show_dtype``, ``rankdir``, ``dpi``, ``expand_nested``, ...) are not taken.
    """
    return _drawing_function("plot_model", model)(model, to_file=to_file, show_shapes=show_shapes)


def model_to_dot(model: Any, show_shapes: bool = True) -> str:
    """The layer graph in Graphviz's DOT language (:func:`le4nn.models.model_to_dot`).

    Differs from Keras: the DOT text as a string, where ``keras.utils.model_to_dot`` returns a pydot graph.
    """
    return _drawing_function("model_to_dot", model)(model, show_shapes=show_shapes)
