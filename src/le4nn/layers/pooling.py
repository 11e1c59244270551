"""Pooling layers: MaxPooling2D (handout eq. 63–64), AveragePooling2D, GlobalAveragePooling2D."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from le4nn import ops
from le4nn._typing import ArrayLike, FloatArray, PartialShape
from le4nn.layers import _windows
from le4nn.layers._arguments import check_data_format, int_pair
from le4nn.layers.base import Layer


class MaxPoolCache(NamedTuple):
    """What MaxPooling2D keeps for backward: the winners' flat indices, the input and output shapes
    (in the layout of ``data_format``) and the output itself (Conv2D's fused ReLU backward reads it)."""

    argmax: np.ndarray
    x_shape: tuple
    y_shape: tuple
    y: np.ndarray


class _Pooling2D(Layer):
    """Shared arguments: ``pool_size`` (int or pair), ``strides`` (default: the pool size), ``padding``
    ("valid", "same" with Keras's rule, or explicit sizes smaller than the pool), ``data_format``."""

    def __init__(self, pool_size: int | tuple[int, int] = (2, 2), strides: int | tuple[int, int] | None = None,
                 padding: str = "valid", data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pool_size = int_pair(self, "pool_size", pool_size)
        self.strides = self.pool_size if strides is None else int_pair(self, "strides", strides)
        self.padding = _windows.normalize_padding(self, padding)
        if not isinstance(self.padding, str) and (
            max(self.padding[:2]) >= self.pool_size[0] or max(self.padding[2:]) >= self.pool_size[1]
        ):
            raise ValueError(
                f"{self.describe()}: padding {padding!r} must be smaller than pool_size {self.pool_size}"
            )
        self.data_format = check_data_format(self, data_format)
        self._cache: Any = None

    def compute_output_shape(self, input_shape: PartialShape) -> PartialShape:
        channels, height, width = _windows.image_shape(self, input_shape, self.data_format)
        out_h, out_w = _windows.output_spatial(
            self, self.padding, height, width, self.pool_size, self.strides, what="pool_size"
        )
        return _windows.image_output_shape(input_shape[0], channels, out_h, out_w, self.data_format)

    def _nchw_input(self, x: ArrayLike) -> tuple[np.ndarray, tuple[int, int, int, int]]:
        x = self._prepare_input(x)
        x_nchw = _windows.to_nchw(x, self.data_format)
        height, width = x_nchw.shape[2:]
        pad = _windows.resolve_padding(self.padding, height, width, self.pool_size, self.strides)
        return x_nchw, pad

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "pool_size": list(self.pool_size),
            "strides": list(self.strides),
            "padding": _windows.padding_config(self.padding),
            "data_format": self.data_format,
        }


class MaxPooling2D(_Pooling2D):
    """Max pooling (handout eq. 63): each output is the maximum of its window; backward (eq. 64) sends
    each output's gradient to the element that won (the first maximum on ties, as PyTorch).  Padding
    never wins."""

    def forward(self, x: ArrayLike, training: bool = False) -> np.ndarray:
        kh, kw = self.pool_size
        if self.data_format == "channels_last":  # NHWC kernels: no transpose
            x = self._prepare_input(x)

            def pool(pad: Any, out: np.ndarray, argmax: np.ndarray) -> np.ndarray:
                return ops.maxpool2d_nhwc_forward(x, kh, kw, stride=self.strides, pad=pad, out=out,
                                                  argmax_out=argmax)[0]

            return self._pool_nhwc(x.shape, pool)
        x_nchw, pad = self._nchw_input(x)
        height, width = x_nchw.shape[2:]
        out_shape = (*x_nchw.shape[:2], *_windows.output_spatial(self, self.padding, height, width,
                                                                 self.pool_size, self.strides))
        argmax = self._buffer("argmax", out_shape, np.int32)
        y, _ = ops.maxpool2d_forward(x_nchw, kh, kw, stride=self.strides, pad=pad, argmax_out=argmax)
        self._cache = MaxPoolCache(argmax, x_nchw.shape, y.shape, y)
        return y

    def _pool_nhwc(self, x_shape: tuple, pool: Callable[..., np.ndarray]) -> np.ndarray:
        """The channels_last forward around a pooling kernel, the one place its cache is written.

        ``pool(pad, out, argmax)`` fills ``out`` with the pooled values of an input of ``x_shape``
        and ``argmax`` with the winners' flat indices (per image, in that input), and returns
        ``out``.  :meth:`forward` passes ``ops.maxpool2d_nhwc_forward`` on its input; the fused
        Conv2D + MaxPooling2D (:mod:`le4nn.layers._conv_pool`) passes ``ops.conv2d_nhwc_pool_forward``
        on the convolution's input, whose output (of ``x_shape``) is never formed."""
        batch, height, width, channels = x_shape
        pad = _windows.resolve_padding(self.padding, height, width, self.pool_size, self.strides)
        out_h, out_w = _windows.output_spatial(self, self.padding, height, width, self.pool_size, self.strides)
        out_shape = (batch, out_h, out_w, channels)
        argmax = self._buffer("argmax", out_shape, np.int32)
        y = pool(pad, self._out("out", out_shape), argmax)
        self._cache = MaxPoolCache(argmax, tuple(x_shape), y.shape, y)
        return y

    def backward(self, grad_out: FloatArray) -> np.ndarray:
        grad = self._prepare_grad(grad_out, None if self._cache is None else self._cache.y_shape)
        argmax, x_shape = self._cache.argmax, self._cache.x_shape
        if self.data_format == "channels_last":
            return ops.maxpool2d_nhwc_backward(grad, argmax, x_shape, out=self._out("grad_x", x_shape))
        return ops.maxpool2d_backward(grad, argmax, x_shape)


class AveragePooling2D(_Pooling2D):
    """Average pooling: each output is the mean of its window; backward spreads each output's gradient
    evenly over its window.

    ``count_include_pad=False`` (default) divides a window by the number of real input elements it covers,
    so padding does not pull the average towards zero: Keras/TensorFlow's behaviour for
    ``padding="same"``.  ``True`` divides by the pool area (PyTorch's default for explicit padding).
    """

    def __init__(self, pool_size: int | tuple[int, int] = (2, 2), strides: int | tuple[int, int] | None = None,
                 padding: str = "valid", data_format: str | None = None,
                 count_include_pad: bool = False, **kwargs: Any) -> None:
        super().__init__(pool_size, strides, padding, data_format, **kwargs)
        self.count_include_pad = bool(count_include_pad)

    def forward(self, x: ArrayLike, training: bool = False) -> np.ndarray:
        x_nchw, pad = self._nchw_input(x)
        kh, kw = self.pool_size
        y = ops.avgpool2d_forward(x_nchw, kh, kw, stride=self.strides, pad=pad,
                                  count_include_pad=self.count_include_pad)
        y = _windows.from_nchw(y, self.data_format)
        self._cache = (x_nchw.shape, pad, y.shape)
        return y

    def backward(self, grad_out: FloatArray) -> np.ndarray:
        grad = self._prepare_grad(grad_out, None if self._cache is None else self._cache[2])
        x_shape, pad, _ = self._cache
        kh, kw = self.pool_size
        grad_x = ops.avgpool2d_backward(
            _windows.to_nchw(grad, self.data_format), x_shape, kh, kw, stride=self.strides, pad=pad,
            count_include_pad=self.count_include_pad,
        )
        return _windows.from_nchw(grad_x, self.data_format)

    def get_config(self) -> dict:
        return {**super().get_config(), "count_include_pad": self.count_include_pad}


class GlobalAveragePooling2D(Layer):
    """The mean over the spatial positions of each channel: (B, H, W, C) -> (B, C) (channels_last), or
    (B, 1, 1, C) with ``keepdims=True``.  Backward: each position gets ∂E/∂y / (H·W)."""

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = check_data_format(self, data_format)
        self.keepdims = bool(keepdims)
        self._cache: Any = None

    @property
    def _spatial_axes(self) -> tuple[int, int]:
        return (1, 2) if self.data_format == "channels_last" else (2, 3)

    def compute_output_shape(self, input_shape: PartialShape) -> PartialShape:
        channels, _, _ = _windows.image_shape(self, input_shape, self.data_format)
        if self.keepdims:
            return _windows.image_output_shape(input_shape[0], channels, 1, 1, self.data_format)
        return (input_shape[0], channels)

    def forward(self, x: ArrayLike, training: bool = False) -> np.ndarray:
        x = self._prepare_input(x)
        y = x.mean(axis=self._spatial_axes, keepdims=self.keepdims)
        self._cache = (x.shape, y.shape)
        return y

    def backward(self, grad_out: FloatArray) -> np.ndarray:
        grad = self._prepare_grad(grad_out, None if self._cache is None else self._cache[1])
        x_shape, _ = self._cache
        h, w = (x_shape[i] for i in self._spatial_axes)
        if not self.keepdims:
            grad = np.expand_dims(grad, self._spatial_axes)
        return np.ascontiguousarray(np.broadcast_to(grad / (h * w), x_shape))

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}
