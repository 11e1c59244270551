"""The model input: ``Input(shape)`` returns the :class:`SymbolicTensor` a functional graph starts from."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from le4nn._typing import Array, ArrayLike, DTypeLike, FloatArray, PartialShape
from le4nn.layers.base import Layer
from le4nn.layers.shapes import normalize_shape
from le4nn.layers.symbolic import SymbolicTensor


class InputLayer(Layer):
    """The layer behind :func:`Input`: it checks that data have the declared shape and passes them on.

    ``shape`` excludes the batch dimension (``batch_shape`` includes it); a ``None`` size accepts any.
    """

    batch_input_shape: PartialShape  # always declared

    def __init__(self, shape: Sequence[int | None] | None = None, batch_size: int | None = None,
                 batch_shape: Sequence[int | None] | None = None, **kwargs: Any) -> None:
        if (shape is None) == (batch_shape is None):
            raise ValueError(
                "InputLayer: give shape (without the batch size) or batch_shape, "
                f"got shape={shape!r}, batch_shape={batch_shape!r}"
            )
        if batch_shape is None:
            assert shape is not None
            batch_shape = (batch_size, *normalize_shape(shape, "InputLayer: shape"))
        super().__init__(batch_input_shape=batch_shape, **kwargs)
        self._out_shape: tuple[int, ...] | None = None
        self.build(self.batch_input_shape)
        self.output = SymbolicTensor(self.batch_input_shape, self, (), self.dtype)

    def forward(self, x: ArrayLike, training: bool = False) -> Array:
        x = self._prepare_input(x)
        self._out_shape = x.shape
        return x

    def backward(self, grad_out: FloatArray) -> Array:
        return self._prepare_grad(grad_out, self._out_shape)

    def _call_symbolic(self, inputs: Any) -> SymbolicTensor:
        raise TypeError(f"{self.describe()} starts a graph; it cannot be called on a symbolic tensor")

    def get_config(self) -> dict:
        config = super().get_config()
        config["batch_shape"] = config.pop("batch_input_shape")
        return config


def Input(shape: Sequence[int | None] | None = None, batch_size: int | None = None, dtype: DTypeLike | None = None,
          name: str | None = None,
          batch_shape: Sequence[int | None] | None = None) -> SymbolicTensor:
    """A symbolic model input of the given ``shape`` (without the batch dimension), as ``keras.Input``.

    >>> x = Input(shape=(784,))
    >>> x.shape
    (None, 784)
    """
    layer = InputLayer(shape=shape, batch_size=batch_size, batch_shape=batch_shape, dtype=dtype, name=name)
    return layer.output
