"""Embedding: integer indices (e.g. class labels) -> rows of a learned table."""

from __future__ import annotations

from typing import Any

import numpy as np

from le4nn._numbers import whole_number_mask
from le4nn._typing import ArrayLike, FloatArray, InitializerLike, PartialShape, RegularizerLike
from le4nn.layers._arguments import (
    get_initializer,
    get_regularizer,
    positive_int,
    serialize_initializer,
    serialize_regularizer,
)
from le4nn.layers.base import Layer
from le4nn.layers.shapes import format_shape
from le4nn.layers.symbolic import SymbolicTensor


class Embedding(Layer):
    """A lookup table of ``input_dim`` vectors of ``output_dim`` entries, as Keras's Embedding.

    Inputs are integer indices in [0, input_dim) of any shape (B, ...): (B,) gives (B, output_dim),
    (B, L) gives (B, L, output_dim).  The output is ``embeddings[indices]``.  Integer arrays are
    taken as they are; float arrays must hold whole numbers (a model casts its inputs to its float
    dtype, so labels fed to ``fit``/``predict`` arrive as float32, which holds every integer up to
    2**24 exactly).  Indices out of range, and non-integer values, raise a ``ValueError`` naming
    the layer.

    Backward: ∂E/∂embeddings[v] is the sum of ∂E/∂y over the positions whose index is v (a
    scatter-add, done as a stable sort of the indices and one ``np.add.reduceat``, so the sums run in
    a fixed order).  The indices are not differentiable: ``backward`` returns zeros of the input's
    shape (the output is piecewise constant in them), and inside a model, where an Embedding is fed
    by an ``Input``, no input gradient is computed at all.

    ``embeddings_initializer`` defaults to Keras's "uniform" (RandomUniform(−0.05, 0.05));
    ``embeddings_regularizer`` as ``kernel_regularizer`` elsewhere.  ``input_length`` (Keras 2): the
    inputs are (B, input_length); on the first layer of a Sequential model it also declares the input
    shape.
    """

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer: InitializerLike = "uniform",
                 embeddings_regularizer: RegularizerLike = None,
                 input_length: int | None = None, **kwargs: Any) -> None:
        if (input_length is not None and kwargs.get("input_shape") is None
                and kwargs.get("batch_input_shape") is None):
            kwargs["input_shape"] = (input_length,)
        super().__init__(**kwargs)
        self.input_dim = positive_int(self, "input_dim", input_dim)
        self.output_dim = positive_int(self, "output_dim", output_dim)
        self.input_length = None if input_length is None else positive_int(self, "input_length", input_length)
        self.embeddings_initializer = get_initializer(self, "embeddings_initializer", embeddings_initializer)
        self.embeddings_regularizer = get_regularizer(self, "embeddings_regularizer", embeddings_regularizer)
        self._indices: Any = None

    # --- shapes and weights -------------------------------------------------------------------------

    def compute_output_shape(self, input_shape: PartialShape) -> PartialShape:
        if self.input_length is not None:
            shape = self._require_rank(input_shape, 2, f"(batch, input_length={self.input_length})")
            if shape[1] is not None and shape[1] != self.input_length:
                raise ValueError(
                    f"{self.describe()}: input_length is {self.input_length}, but the inputs have shape "
                    f"{format_shape(shape)}"
                )
        return (*input_shape, self.output_dim)

    def build(self, input_shape: PartialShape) -> None:
        self.add_weight("embeddings", (self.input_dim, self.output_dim), self.embeddings_initializer,
                        self.embeddings_regularizer)

    # --- forward / backward -------------------------------------------------------------------------

    def _as_indices(self, x: ArrayLike) -> np.ndarray:
        """``x`` as an intp array of indices in [0, input_dim), or a clear error."""
        if isinstance(x, SymbolicTensor):
            raise TypeError(f"{self.describe()}: forward takes arrays; call the layer on symbolic tensors")
        arr = np.asarray(x)
        if arr.ndim == 0:
            raise ValueError(f"{self.describe()}: inputs need a batch dimension, got a scalar")
        kind = arr.dtype.kind
        if kind == "f":
            whole = whole_number_mask(arr)
            if not whole.all():
                raise ValueError(
                    f"{self.describe()}: inputs must be integer indices, got the value {arr[~whole][0].item()!r}"
                )
        elif kind not in "iu":
            raise TypeError(
                f"{self.describe()}: inputs must be integer indices (an int array, or floats holding whole "
                f"numbers), got dtype {arr.dtype}"
            )
        if arr.size:
            low, high = arr.min(), arr.max()
            if low < 0 or high >= self.input_dim:
                bad = low if low < 0 else high
                raise ValueError(
                    f"{self.describe()}: input index {int(bad)} is out of range: indices must be in "
                    f"[0, {self.input_dim}) (input_dim={self.input_dim})"
                )
        return np.ascontiguousarray(arr, dtype=np.intp)

    def forward(self, x: ArrayLike, training: bool = False) -> np.ndarray:
        indices = self._as_indices(x)
        self.build((None, *indices.shape[1:]))
        y = self._out("y", (*indices.shape, self.output_dim))
        np.take(self.params["embeddings"], indices, axis=0, out=y, mode="clip")  # checked: clip is a no-op
        self._indices = indices
        return y

    def _parameter_gradient(self, grad_out: FloatArray) -> None:
        indices = self._indices
        grad = self._prepare_grad(grad_out, None if indices is None else (*indices.shape, self.output_dim))
        if not self.trainable:
            return
        out = self.grads["embeddings"]
        out.fill(0)
        flat = indices.reshape(-1)
        if flat.size:
            order = np.argsort(flat, kind="stable")
            ordered = flat[order]
            starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
            out[ordered[starts]] = np.add.reduceat(grad.reshape(-1, self.output_dim)[order], starts, axis=0)
        self._add_regularization_gradients()

    def backward(self, grad_out: FloatArray) -> np.ndarray:
        """Fills ``grads["embeddings"]``; returns zeros of the input's shape (indices have no gradient)."""
        self._parameter_gradient(grad_out)
        return np.zeros(self._indices.shape, dtype=self.dtype)

    def _backward_step(self, grad_out: FloatArray, *, from_logits: bool, need_input_grad: bool) -> Any:
        if from_logits:
            return self.backward_from_logits(grad_out)  # raises: no softmax here
        self._parameter_gradient(grad_out)
        return np.zeros(self._indices.shape, dtype=self.dtype) if need_input_grad else None

    def get_config(self) -> dict:
        config = {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": serialize_initializer(self.embeddings_initializer),
            "embeddings_regularizer": serialize_regularizer(self.embeddings_regularizer),
            "input_length": self.input_length,
        }
        return config
