"""The weights of the affine layers (Dense, Conv2D, Conv2DTranspose): a kernel and an optional bias,
their initializers and regularizers, and those arguments' part of the layer config."""

from __future__ import annotations

from typing import TYPE_CHECKING

from le4nn._typing import InitializerLike, RegularizerLike
from le4nn.layers._arguments import (
    get_initializer,
    get_regularizer,
    serialize_initializer,
    serialize_regularizer,
)

if TYPE_CHECKING:  # for the type checker, a mixin of Layer (at run time a plain mixin class)
    from le4nn.layers.base import Layer as _LayerBase
else:
    _LayerBase = object


class AffineWeights(_LayerBase):
    """Mixin for a :class:`~le4nn.layers.base.Layer` with a ``kernel`` and (``use_bias``) a ``bias``."""

    def _init_affine(self, use_bias: bool, kernel_initializer: InitializerLike, bias_initializer: InitializerLike,
                     kernel_regularizer: RegularizerLike, bias_regularizer: RegularizerLike) -> None:
        self.use_bias = bool(use_bias)
        self.kernel_initializer = get_initializer(self, "kernel_initializer", kernel_initializer)
        self.bias_initializer = get_initializer(self, "bias_initializer", bias_initializer)
        self.kernel_regularizer = get_regularizer(self, "kernel_regularizer", kernel_regularizer)
        self.bias_regularizer = get_regularizer(self, "bias_regularizer", bias_regularizer)

    def _add_affine_weights(self, kernel_shape: tuple, bias_size: int) -> None:
        self.add_weight("kernel", kernel_shape, self.kernel_initializer, self.kernel_regularizer)
        if self.use_bias:
            self.add_weight("bias", (bias_size,), self.bias_initializer, self.bias_regularizer)

    def _affine_config(self) -> dict:
        return {
            "use_bias": self.use_bias,
            "kernel_initializer": serialize_initializer(self.kernel_initializer),
            "bias_initializer": serialize_initializer(self.bias_initializer),
            "kernel_regularizer": serialize_regularizer(self.kernel_regularizer),
            "bias_regularizer": serialize_regularizer(self.bias_regularizer),
        }
