"""``Sequential``: a plain stack of layers, each feeding the next (``keras.Sequential``)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from le4nn._typing import PartialShape
from le4nn.layers import InputLayer, Layer, SymbolicTensor
from le4nn.layers.shapes import format_shape, normalize_shape, shapes_compatible
from le4nn.models import configs
from le4nn.models.graph import Graph
from le4nn.models.model import Model

#: Held while a Sequential without an input shape builds on its first data (see _ensure_built).
_FIRST_BUILD = threading.Lock()


class Sequential(Model):
    """A linear stack of layers, given as a list or added one by one with :meth:`add`.

    The model is built as soon as the input shape is known: from ``input_shape=`` on the first layer,
    an ``Input(shape=...)`` as the first element, or the first data it sees.
    """

    summary_connections = False  # a chain: each layer reads the one above it

    def __init__(self, layers: Sequence[Layer] | None = None, name: str | None = None) -> None:
        super().__init__(name=name)
        self._layers: list[Layer] = []
        self._input_shape: tuple | None = None
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self) -> list[Layer]:
        return list(self._layers)

    def add(self, layer: Layer) -> None:
        """Append a layer (or, first, an ``Input(shape=...)``)."""
        if isinstance(layer, SymbolicTensor) and isinstance(layer.layer, InputLayer):
            if self._layers or self._input_shape is not None:
                raise ValueError("an Input can only be the first element of a Sequential model")
            self._input_shape = layer.shape
            return
        if isinstance(layer, Model):
            raise TypeError(
                f"Sequential.add expects a layer, got the model {layer.name!r}; a model cannot be used as a "
                f"layer: add its layers instead (for layer in model.layers: add(layer))"
            )
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a layer, got {type(layer).__name__}")
        if layer._multi_input:
            raise TypeError(f"{layer.describe()} takes several inputs; use the functional Model instead")
        if any(existing.name == layer.name for existing in self._layers):
            raise ValueError(f"the model already has a layer named {layer.name!r}")
        if not self._layers and self._input_shape is None and layer.batch_input_shape is not None:
            self._input_shape = layer.batch_input_shape
        self._layers.append(layer)
        self._graph = None
        if self._input_shape is not None:
            self._build_chain(self._input_shape)

    def pop(self) -> Layer:
        """Remove and return the last layer."""
        if not self._layers:
            raise ValueError("the model has no layers to pop")
        layer = self._layers.pop()
        self._graph = None
        if self._layers and self._input_shape is not None:
            self._build_chain(self._input_shape)
        return layer

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Build every layer for inputs of ``input_shape`` (batch dimension included, as None)."""
        self._input_shape = (None, *normalize_shape(input_shape)[1:])
        self._build_chain(self._input_shape)

    def _build_chain(self, input_shape: Sequence[int | None]) -> None:
        shape = input_shape
        for layer in self._layers:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self._graph = Graph.chain(self._layers)

    def _ensure_built(self, xs: list[np.ndarray]) -> None:
        if self._graph is None:
            with _FIRST_BUILD:  # two threads' first calls: one builds, the other finds it built
                if self._graph is None:
                    if not self._layers:
                        raise ValueError(f"model {self.name!r} has no layers")
                    self.build((None, *xs[0].shape[1:]))
        elif self._input_shape is not None:
            got = (None, *xs[0].shape[1:])
            if not shapes_compatible(self._input_shape, got):
                raise ValueError(
                    f"model {self.name!r} expects inputs of shape {format_shape(self._input_shape)}, "
                    f"got {format_shape(got)}"
                )

    @property
    def input_shape(self) -> PartialShape | list[PartialShape] | None:
        return self._input_shape

    @property
    def output_shape(self) -> PartialShape | list[PartialShape] | None:
        return self._layers[-1].output_shape if self._layers else None

    def get_config(self) -> dict:
        """``{"class_name": "Sequential", "config": {"name", "input_shape", "layers"}}``
        (:func:`le4nn.models.configs.sequential_config`); :meth:`from_config` rebuilds it."""
        return configs.sequential_config(self)

    @classmethod
    def from_config(cls, config: dict, source: str | None = None) -> Sequential:
        """A new (uncompiled, freshly initialized) model from :meth:`get_config`'s dict; a bad config
        gives a :class:`~le4nn.models.file_format.ModelFileError` naming ``source`` and the part."""
        return configs.sequential_from(cls, config, source)


configs.register_model_class("Sequential", Sequential)
