"""The wrapper that ``Layer.__init_subclass__`` puts around every layer's ``build`` (see :mod:`le4nn.layers.base`)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from le4nn.layers.shapes import format_shape, shapes_compatible

_BuildT = TypeVar("_BuildT", bound=Callable[[Any, Any], None])


def build_once(build: _BuildT) -> _BuildT:
    """Wrap a layer's ``build`` so that it checks the shape first, runs once, and marks the layer built.

    Calling ``build`` on a built layer only checks that the shape fits; a layer declared with
    ``input_shape=`` refuses another shape.  ``Layer.__init_subclass__`` applies this to every
    subclass's ``build``, so subclasses just create their weights.
    """

    @functools.wraps(build)
    def wrapper(self: Any, input_shape: Any) -> None:  # self: a Layer (base.py imports this module)
        input_shape = self._normalize_input_shape(input_shape)
        if self.built:
            self._check_input_shape(input_shape)
            return
        declared = self.batch_input_shape
        if declared is not None and not self._multi_input and not shapes_compatible(declared, input_shape):
            raise ValueError(
                f"{self.describe()}: declared with input shape {format_shape(declared)}, "
                f"but called on input of shape {format_shape(input_shape)}"
            )
        self.compute_output_shape(input_shape)  # checks rank and sizes, with an error naming the layer
        build(self, input_shape)
        self._build_input_shape = input_shape
        self.built = True

    return cast(_BuildT, wrapper)
