"""The type aliases of le4nn's hints, in one place so that signatures stay short and readable.

Arrays are NumPy arrays (``numpy.typing.NDArray``); the layers compute in float32 (the handout's
networks), but the reference ops accept any floating dtype, so the hints say "floating", not float32.
This module imports only NumPy: it sits in the bottom layer of the import contract (``pyproject.toml``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

#: Any NumPy array (the dtype is not part of the contract).
Array: TypeAlias = NDArray[Any]
#: A floating-point array: activations, weights, gradients (float32 in the layers).
FloatArray: TypeAlias = NDArray[np.floating[Any]]
#: An integer array: class labels, indices (e.g. the argmax of max pooling).
IntArray: TypeAlias = NDArray[np.integer[Any]]
#: A shape, batch axis excluded or included as the function says.
Shape: TypeAlias = tuple[int, ...]
#: A stride: one int for both axes, or (vertical, horizontal).
Stride: TypeAlias = int | tuple[int, int]
#: Padding: one int for all sides, (vertical, horizontal), or (top, bottom, left, right).
Padding: TypeAlias = int | Sequence[int]
#: A random-augmentation parameter: a number (a symmetric range, or a fixed value, as each transform
#: says) or a (low, high) range drawn from uniformly.
Range: TypeAlias = float | tuple[float, float]
#: A shape as Keras accepts it: ``None`` for an axis not known before the data comes.
PartialShape: TypeAlias = tuple[int | None, ...]
#: A JSON-serializable configuration (``get_config`` / ``from_config``).
Config: TypeAlias = dict[str, Any]
#: A loss or metric as the Keras API takes it: a name (``"categorical_crossentropy"``) or a callable.
LossLike: TypeAlias = str | Callable[..., Any]
#: An initializer as the layers take it: a name (``"he_normal"``), a config dict, or an
#: :class:`le4nn.initializers.Initializer` (any callable ``(shape, dtype) -> array``).
InitializerLike: TypeAlias = str | Config | Callable[..., Any]
#: A regularizer: a name (``"l2"``), a config dict, a :class:`le4nn.regularizers.Regularizer`, or ``None``.
RegularizerLike: TypeAlias = str | Config | Callable[..., Any] | None
#: An activation: a name (``"relu"``), a config dict, an :class:`le4nn.activations.ActivationFunction`,
#: or ``None`` (linear).
ActivationLike: TypeAlias = str | Config | Callable[..., Any] | None
#: The ``logs`` dictionary that callbacks receive (metric name -> value).
Logs: TypeAlias = dict[str, Any]
#: A model's input or target data: one array, or a list of arrays for a model with several inputs or outputs.
ModelData: TypeAlias = ArrayLike | Sequence[ArrayLike]
#: What ``evaluate``/``train_on_batch`` return: the loss alone, [loss, metrics...], or a dict (``return_dict``).
Scores: TypeAlias = float | list[float] | dict[str, float]
#: What a data set's ``load_data()`` returns: ``(x_train, y_train), (x_test, y_test)``.
TrainTest: TypeAlias = tuple[tuple[NDArray[Any], NDArray[Any]], tuple[NDArray[Any], NDArray[Any]]]
#: A file system path.
PathLike: TypeAlias = str | os.PathLike[str]

__all__ = ["ActivationLike", "Array", "ArrayLike", "Config", "DTypeLike", "FloatArray", "InitializerLike", "IntArray",
           "Logs", "LossLike", "ModelData", "PartialShape", "Padding", "PathLike", "Range", "RegularizerLike",
           "Scores", "Shape", "Stride", "TrainTest"]
