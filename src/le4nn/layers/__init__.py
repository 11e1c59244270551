"""Keras-style layers built on :mod:`le4nn.ops` (the contract is in :mod:`le4nn.layers.base`).

>>> from le4nn.layers import Dense
>>> layer = Dense(10, activation="softmax", input_shape=(784,))
>>> y = layer(x)                       # eager forward on a NumPy array (float32 by default)
>>> grad_x = layer.backward(grad_y)    # fills layer.grads["kernel"], layer.grads["bias"]

``serialize(layer)`` gives ``{"class_name": ..., "config": ...}`` (JSON-ready) and ``get``/``deserialize``
rebuild a layer from it.
"""

from __future__ import annotations

from typing import Any

from le4nn.layers.activation import ELU, Activation, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from le4nn.layers.base import Layer
from le4nn.layers.conv_transpose import Conv2DTranspose
from le4nn.layers.convolutional import Conv2D
from le4nn.layers.core import Dense
from le4nn.layers.embedding import Embedding
from le4nn.layers.input import Input, InputLayer
from le4nn.layers.merging import Add, Average, Concatenate
from le4nn.layers.naming import reset_names
from le4nn.layers.normalization import BatchNormalization
from le4nn.layers.pooling import AveragePooling2D, GlobalAveragePooling2D, MaxPooling2D
from le4nn.layers.regularization import Dropout
from le4nn.layers.reshaping import Flatten, Reshape, UpSampling2D
from le4nn.layers.symbolic import SymbolicTensor

#: Every layer class by its name (what ``serialize`` writes as "class_name").
LAYER_CLASSES = {
    cls.__name__: cls
    for cls in (
        InputLayer, Dense, Activation, ReLU, Sigmoid, Tanh, Softmax, LeakyReLU, ELU, Conv2D, MaxPooling2D,
        AveragePooling2D, GlobalAveragePooling2D, Flatten, Reshape, Dropout, BatchNormalization, Add,
        Average, Concatenate, Conv2DTranspose, UpSampling2D, Embedding,
    )
}
# Keras's aliases.
LAYER_CLASSES.update(
    {"Convolution2D": Conv2D, "Convolution2DTranspose": Conv2DTranspose, "MaxPool2D": MaxPooling2D,
     "AvgPool2D": AveragePooling2D, "GlobalAvgPool2D": GlobalAveragePooling2D}
)


def serialize(layer: Layer) -> dict:
    """``{"class_name": "Dense", "config": layer.get_config()}``."""
    if not isinstance(layer, Layer):
        raise TypeError(f"serialize expects a Layer, got {type(layer).__name__}")
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config: dict, custom_objects: dict | None = None) -> Layer:
    """A new layer from what :func:`serialize` returned (``custom_objects``: extra classes by name)."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"a layer config must be {{'class_name': ..., 'config': {{...}}}}, got {config!r}")
    classes = {**LAYER_CLASSES, **(custom_objects or {})}
    name = config["class_name"]
    if name not in classes:
        raise ValueError(f"unknown layer class {name!r}; known: {', '.join(sorted(classes))}")
    return classes[name].from_config(dict(config.get("config", {})))


def get(identifier: Any, custom_objects: dict | None = None) -> Layer:
    """A layer from a Layer (returned as is), a config dict (see :func:`serialize`) or a class name of a
    layer without required arguments (e.g. ``"Flatten"``)."""
    if isinstance(identifier, Layer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier, custom_objects)
    if isinstance(identifier, str):
        return deserialize({"class_name": identifier, "config": {}}, custom_objects)
    raise TypeError(f"cannot interpret {identifier!r} as a layer")


__all__ = [
    "ELU",
    "LAYER_CLASSES",
    "Activation",
    "Add",
    "Average",
    "AveragePooling2D",
    "BatchNormalization",
    "Concatenate",
    "Conv2D",
    "Conv2DTranspose",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "GlobalAveragePooling2D",
    "Input",
    "InputLayer",
    "Layer",
    "LeakyReLU",
    "MaxPooling2D",
    "ReLU",
    "Reshape",
    "Sigmoid",
    "Softmax",
    "SymbolicTensor",
    "Tanh",
    "UpSampling2D",
    "deserialize",
    "get",
    "reset_names",
    "serialize",
]
