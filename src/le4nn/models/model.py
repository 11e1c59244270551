"""The functional :class:`Model`: a graph of layers with its weights, config and saving.

A model is a :class:`~le4nn.models.graph.Graph` of layers; what trains it (``compile``, ``fit``,
``evaluate``, ``predict``, one training step per handout eq. 12–14) comes from
:class:`~le4nn.models.trainer.Trainer`, as in Keras 3.  ``get_config``/``from_config`` give and take
the architecture as JSON-ready dicts (:mod:`le4nn.models.configs`), ``save`` writes one ``.npz``
(:mod:`le4nn.models.saving`).

Threads: a model may be used from several threads; its calls run one step at a time (a training
step, a ``predict`` or ``evaluate`` batch, an eager call), each inside the graph's guard
(:class:`le4nn._threads.StepGuard`), which holds the locks of the model's layers, so the answers are
those of the calls made one after the other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from le4nn._typing import ArrayLike, ModelData, PartialShape, PathLike
from le4nn.callbacks import History
from le4nn.layers import Layer, SymbolicTensor
from le4nn.layers.naming import to_snake_case, unique_name
from le4nn.layers.symbolic import is_symbolic
from le4nn.models import configs
from le4nn.models import data as data_utils
from le4nn.models.graph import Graph
from le4nn.models.saving import load_weights, save_model, save_weights
from le4nn.models.summary import summary_text
from le4nn.models.trainer import Trainer
from le4nn.models.training import TrainingAborted

__all__ = ["Model", "TrainingAborted"]


def _tensor_list(tensors: SymbolicTensor | Sequence[SymbolicTensor]) -> list[SymbolicTensor]:
    """A model's ``inputs`` or ``outputs`` argument as a list, every item checked to be a symbolic tensor."""
    items: list[Any] = list(tensors) if isinstance(tensors, (list, tuple)) else [tensors]
    for t in items:
        if not isinstance(t, SymbolicTensor):
            raise TypeError(f"Model inputs and outputs must be symbolic tensors, got {t!r}")
    return items


class Model(Trainer):
    """A model from symbolic inputs to outputs, as ``keras.Model(inputs=..., outputs=...)``.

    >>> inputs = Input(shape=(28, 28, 1))
    >>> x = Flatten()(inputs)
    >>> outputs = Dense(10, activation="softmax")(x)
    >>> model = Model(inputs=inputs, outputs=outputs)
    """

    def __init__(self, inputs: SymbolicTensor | Sequence[SymbolicTensor] | None = None,
                 outputs: SymbolicTensor | Sequence[SymbolicTensor] | None = None, name: str | None = None) -> None:
        self.name = name or self._default_name()
        self.optimizer = None
        self.stop_training = False
        self.history: History | None = None
        #: How many epochs this model has trained (its last ``fit``'s last finished epoch + 1); saved
        #: with the model, so that ``fit(..., initial_epoch=model.epochs_done)`` resumes a run.
        self.epochs_done = 0
        self._compiled = False
        self._graph: Graph | None = None
        if inputs is not None or outputs is not None:
            if inputs is None or outputs is None:
                raise ValueError("Model needs both inputs= and outputs=")
            self._multi_in = isinstance(inputs, (list, tuple))
            self._multi_out = isinstance(outputs, (list, tuple))
            self.inputs = _tensor_list(inputs)
            self.outputs = _tensor_list(outputs)
            self._graph = Graph.from_tensors(self.inputs, self.outputs)

    @classmethod
    def from_graph(cls, graph: Graph, name: str | None = None) -> Model:
        """A model over a :class:`Graph` built elsewhere (the GAN's generator-then-discriminator chain,
        :func:`le4nn.gan.combined_model`), sharing its layers."""
        model = cls(name=name)
        model._graph = graph
        return model

    @classmethod
    def _default_name(cls) -> str:
        return unique_name(to_snake_case("Functional" if cls is Model else cls.__name__))

    # --- structure --------------------------------------------------------------------------------

    @property
    def graph(self) -> Graph:
        if self._graph is None:
            raise ValueError(f"model {self.name!r} is not built yet: give it an input shape or call it on data")
        return self._graph

    @property
    def built(self) -> bool:
        return self._graph is not None

    @property
    def layers(self) -> list[Layer]:
        return self.graph.layers

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"model {self.name!r} has no layer named {name!r}")

    @property
    def dtype(self) -> np.dtype:
        return self.layers[0].dtype

    @property
    def input_shape(self) -> PartialShape | list[PartialShape] | None:
        """The input's shape (None for the batch size); a list of shapes for several inputs (as Keras)."""
        if not self.built:
            return None
        shapes = [tuple(t.shape) for t in self.inputs]
        return shapes if self._multi_in else shapes[0]

    @property
    def output_shape(self) -> PartialShape | list[PartialShape] | None:
        """The output's shape (None for the batch size); a list of shapes for several outputs (as Keras)."""
        if not self.built:
            return None
        shapes = [tuple(t.shape) for t in self.outputs]
        return shapes if self._multi_out else shapes[0]

    def _ensure_built(self, xs: list[np.ndarray]) -> None:
        """Sequential models without an input shape build on their first data; functional ones are built."""

    # --- weights ----------------------------------------------------------------------------------

    def get_weights(self) -> list[np.ndarray]:
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights: Sequence[ArrayLike]) -> None:
        try:
            weights = list(weights)
        except TypeError:
            raise TypeError(f"model {self.name!r}: set_weights takes a list of arrays (as get_weights gives), "
                            f"got {type(weights).__name__}") from None
        expected = sum(len(layer.weights) for layer in self.layers)
        if len(weights) != expected:
            raise ValueError(f"model {self.name!r} has {expected} weight arrays, got {len(weights)}")
        position = 0
        for layer in self.layers:
            count = len(layer.weights)
            layer.set_weights(weights[position : position + count])
            position += count

    def count_params(self) -> int:
        return sum(layer.count_params() for layer in self.layers)

    @property
    def trainable(self) -> bool:
        """Whether every layer of the model is trainable.

        Setting it sets ``trainable`` on every layer (Keras's ``model.trainable = False``); a layer
        is frozen for every model that holds it (e.g. a GAN's discriminator inside the combined
        model).  ``trainable`` is read at each training step, not captured at ``compile`` time
        (as Keras 2 does): a model updates exactly the layers that are trainable when it takes a
        step, so a discriminator frozen for the combined model must be made trainable again before
        its own ``train_on_batch``.  A frozen layer's weights are neither updated nor regularized, and
        a frozen BatchNormalization runs in inference mode (as in Keras).
        """
        return all(layer.trainable for layer in self._layers_if_built())

    @trainable.setter
    def trainable(self, value: bool) -> None:
        for layer in self._layers_if_built():
            layer.trainable = bool(value)

    def _layers_if_built(self) -> list[Layer]:
        try:
            return self.layers
        except ValueError:  # a model without a graph yet has no layers to freeze
            return []

    def __call__(self, x: ModelData, training: bool = False) -> np.ndarray | list[np.ndarray]:
        """Run the model on arrays (eager).  A model cannot be called on symbolic tensors (used as a
        layer of another model); build the bigger model from the same layer objects instead, e.g.
        ``Sequential([*generator.layers, *discriminator.layers])``."""
        if is_symbolic(x):
            raise TypeError(
                f"model {self.name!r} cannot be called on symbolic tensors (a model used as a layer is not "
                f"supported); build the combined model from the same layer objects instead, e.g. "
                f"Sequential([*first.layers, *second.layers])"
            )
        xs, _ = self._prepare(x)
        batch = [data_utils.to_model_dtype(a, self.dtype) for a in xs]
        with self.graph.guard:  # one call at a time on these layers (threads)
            outputs = self.graph.forward(batch, training=training)
        return outputs if len(outputs) > 1 else outputs[0]

    # --- summary, config, saving ---------------------------------------------------------------

    #: Whether ``summary()`` shows a "Connected to" column (not for a Sequential's plain chain).
    summary_connections = True

    def summary(self, line_length: int = 98, print_fn: Callable[[str], object] = print) -> None:
        print_fn(summary_text(self, line_length))

    def get_config(self) -> dict:
        """The architecture as a JSON-ready dict ``{"class_name": "Functional", "config": {...}}``
        (:func:`le4nn.models.configs.functional_config`); :meth:`from_config` rebuilds it."""
        return configs.functional_config(self)

    @classmethod
    def from_config(cls, config: dict, source: str | None = None) -> Model:
        """A new (uncompiled, freshly initialized) model from :meth:`get_config`'s dict; a bad config
        gives a :class:`~le4nn.models.file_format.ModelFileError` naming ``source`` and the part."""
        return configs.functional_from(cls, config, source)

    def save(self, filepath: PathLike) -> None:
        """Architecture, weights and optimizer state in one ``.npz`` file (written atomically)."""
        save_model(self, filepath)

    def export(self, filepath: PathLike, format: str = "onnx", opset: int | None = None,
               class_names: Sequence[str] | None = None) -> Path:
        """Write the model for another engine, as Keras 3's ``model.export(filepath, format="onnx")``;
        returns the path.

        ``format``: only ``"onnx"`` (Keras 3 also has ``"tf_saved_model"``); ``opset``: the ONNX opset
        (default: the highest the installed onnx knows and ONNX Runtime runs, at least 17);
        ``class_names``: stored in the file's metadata.  The graph runs as ``predict`` does (inference
        mode), takes the model's inputs in le4nn's layout (NHWC images stay NHWC) with a dynamic batch
        size, and is written atomically (:mod:`le4nn.models.onnx.export`).  Needs ``pip install
        "le4nn[onnx]"``; a layer the export cannot express raises an ``OnnxExportError`` naming it.
        """
        from le4nn.models.onnx.export import export_model

        return export_model(self, filepath, format=format, opset=opset, class_names=class_names)

    def save_weights(self, filepath: PathLike) -> None:
        save_weights(self, filepath)

    def load_weights(self, filepath: PathLike) -> None:
        load_weights(self, filepath)


configs.register_model_class("Functional", Model)
