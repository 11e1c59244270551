"""Flatten and Reshape: change the shape of each sample, keep the data (row-major order); UpSampling2D:
enlarge images by integer factors (nearest neighbour or bilinear)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from le4nn._numbers import is_integer
from le4nn._typing import ArrayLike, FloatArray, PartialShape
from le4nn.layers import _windows
from le4nn.layers._arguments import check_data_format, int_pair
from le4nn.layers.base import Layer
from le4nn.layers.shapes import format_shape, known_size


class Flatten(Layer):
    """(B, d1, d2, ...) -> (B, d1·d2·...), in row-major order (so channels_last images flatten as
    Keras's do).  Backward reshapes the gradient back."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._x_shape: Any = None
        self._y_shape: Any = None

    def compute_output_shape(self, input_shape: PartialShape) -> PartialShape:
        return (input_shape[0], known_size(input_shape[1:]))

    def forward(self, x: ArrayLike, training: bool = False) -> np.ndarray:
        x = self._prepare_input(x)
        self._x_shape = x.shape
        y = x.reshape(x.shape[0], math.prod(x.shape[1:]))
        self._y_shape = y.shape
        return y

    def backward(self, grad_out: FloatArray) -> np.ndarray:
        grad = self._prepare_grad(grad_out, self._y_shape)
        return grad.reshape(self._x_shape)


class Reshape(Layer):
    """Reshape each sample to ``target_shape`` (without the batch dimension; one entry may be -1)."""

    def __init__(self, target_shape: Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        dims = tuple(target_shape) if isinstance(target_shape, (list, tuple)) else (target_shape,)
        if not dims or not all(
            is_integer(d) and (int(d) > 0 or d == -1) for d in dims
        ) or dims.count(-1) > 1:
            raise ValueError(
                f"{self.describe()}: target_shape must be positive ints with at most one -1, "
                f"got {target_shape!r}"
            )
        self.target_shape = tuple(int(d) for d in dims)
        self._x_shape: Any = None
        self._y_shape: Any = None

    def compute_output_shape(self, input_shape: PartialShape) -> PartialShape:
        size = known_size(input_shape[1:])
        target = self.target_shape
        known = math.prod(d for d in target if d != -1)
        if -1 in target:
            if size is None:
                return (input_shape[0], *(None if d == -1 else d for d in target))
            if size % known:
                self._mismatch(input_shape)
            return (input_shape[0], *(size // known if d == -1 else d for d in target))
        if size is not None and size != known:
            self._mismatch(input_shape)
        return (input_shape[0], *target)

    def _mismatch(self, input_shape: PartialShape) -> ValueError:
        raise ValueError(
            f"{self.describe()}: cannot reshape inputs of shape {format_shape(input_shape)} "
            f"to target_shape {self.target_shape}"
        )

    def forward(self, x: ArrayLike, training: bool = False) -> np.ndarray:
        x = self._prepare_input(x)
        self._x_shape = x.shape
        y = x.reshape(x.shape[0], *self.compute_output_shape((None, *x.shape[1:]))[1:])
        self._y_shape = y.shape
        return y

    def backward(self, grad_out: FloatArray) -> np.ndarray:
        grad = self._prepare_grad(grad_out, self._y_shape)
        return grad.reshape(self._x_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "target_shape": list(self.target_shape)}


def bilinear_matrix(size: int, factor: int) -> np.ndarray:
    """The (size·factor, size) matrix A of 1-D linear interpolation with half-pixel centres: output
    sample o reads the input at src = (o + 0.5) / factor − 0.5, clamped to [0, size − 1], i.e.
    (1 − λ)·x[i0] + λ·x[i0 + 1] with i0 = floor(src), λ = src − i0 (TensorFlow's
    ``resize(..., "bilinear")`` with half_pixel_centers, which Keras uses, and PyTorch's
    ``interpolate(mode="bilinear", align_corners=False)``).  Float64; rows sum to 1."""
    out = size * factor
    src = np.maximum((np.arange(out) + 0.5) / factor - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.intp), size - 1)
    i1 = np.minimum(i0 + 1, size - 1)
    lam = src - i0
    rows = np.arange(out)
    matrix = np.zeros((out, size))
    matrix[rows, i0] = 1.0 - lam
    matrix[rows, i1] += lam
    return matrix


class UpSampling2D(Layer):
    """Enlarge images by integer factors ``size`` = (rows, columns), as Keras's UpSampling2D.

    ``interpolation="nearest"`` repeats every pixel size[0] × size[1] times; its backward adds up the
    gradient of the copies (a reshape and a sum, no loops).  ``"bilinear"`` interpolates linearly
    between pixel centres (half-pixel centres, edges clamped; see :func:`bilinear_matrix`), which is
    what Keras (TensorFlow's ``image.resize``) computes and equals PyTorch's
    ``F.interpolate(mode="bilinear", align_corners=False)`` for integer factors.  The interpolation is
    separable, y = A_h x A_wᵀ per image and channel, so forward and backward are matrix products with
    the small interpolation matrices A_h (OH, H) and A_w (OW, W): the backward is the adjoint
    ∂E/∂x = A_hᵀ ∂E/∂y A_w exactly.  ``data_format`` as Conv2D ("channels_last" by default).
    """

    INTERPOLATIONS = ("nearest", "bilinear")

    def __init__(self, size: int | tuple[int, int] = (2, 2), data_format: str | None = None,
                 interpolation: str = "nearest", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.size = int_pair(self, "size", size)
        self.data_format = check_data_format(self, data_format)
        if interpolation not in self.INTERPOLATIONS:
            raise ValueError(
                f"{self.describe()}: interpolation must be 'nearest' or 'bilinear', got {interpolation!r}"
            )
        self.interpolation = interpolation
        self._x_shape: Any = None
        self._y_shape: Any = None
        self._matrices: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def compute_output_shape(self, input_shape: PartialShape) -> PartialShape:
        channels, height, width = _windows.image_shape(self, input_shape, self.data_format)
        out_h = None if height is None else height * self.size[0]
        out_w = None if width is None else width * self.size[1]
        return _windows.image_output_shape(input_shape[0], channels, out_h, out_w, self.data_format)

    def _spatial(self, shape: Sequence[Any]) -> tuple[int, int]:
        return (shape[1], shape[2]) if self.data_format == "channels_last" else (shape[2], shape[3])

    def _interpolation_matrices(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """(A_h, A_w) in the layer's dtype, kept per input size."""
        key = (height, width)
        if key not in self._matrices:
            if len(self._matrices) > 8:
                self._matrices.clear()
            self._matrices[key] = (bilinear_matrix(height, self.size[0]).astype(self.dtype),
                                   bilinear_matrix(width, self.size[1]).astype(self.dtype))
        return self._matrices[key]

    def forward(self, x: ArrayLike, training: bool = False) -> np.ndarray:
        x = self._prepare_input(x)
        out_shape = cast("tuple[int, ...]", self.compute_output_shape(x.shape))  # (every size known)
        self._x_shape, self._y_shape = x.shape, out_shape
        y = self._out("y", out_shape)
        sh, sw = self.size
        last = self.data_format == "channels_last"
        if self.interpolation == "nearest":
            if last:
                b, h, w, c = x.shape
                y.reshape(b, h, sh, w, sw, c)[...] = x[:, :, None, :, None, :]
            else:
                b, c, h, w = x.shape
                y.reshape(b, c, h, sh, w, sw)[...] = x[:, :, :, None, :, None]
            return y
        a_h, a_w = self._interpolation_matrices(*self._spatial(x.shape))
        if last:
            b, h, w, c = x.shape
            rows = np.matmul(a_h, x.reshape(b, h, w * c))  # (B, OH, W·C)
            np.matmul(a_w, rows.reshape(b * h * sh, w, c), out=y.reshape(b * h * sh, w * sw, c))
        else:
            np.matmul(np.matmul(a_h, x), a_w.T, out=y)
        return y

    def backward(self, grad_out: FloatArray) -> np.ndarray:
        grad = self._prepare_grad(grad_out, self._y_shape)
        x_shape = self._x_shape
        grad_x = self._out("grad_x", x_shape)
        sh, sw = self.size
        last = self.data_format == "channels_last"
        if self.interpolation == "nearest":
            if last:
                b, h, w, c = x_shape
                np.sum(grad.reshape(b, h, sh, w, sw, c), axis=(2, 4), out=grad_x)
            else:
                b, c, h, w = x_shape
                np.sum(grad.reshape(b, c, h, sh, w, sw), axis=(3, 5), out=grad_x)
            return grad_x
        a_h, a_w = self._interpolation_matrices(*self._spatial(x_shape))
        if last:
            b, h, w, c = x_shape
            cols = np.matmul(a_w.T, grad.reshape(b * h * sh, w * sw, c))  # (B·OH, W, C)
            np.matmul(a_h.T, cols.reshape(b, h * sh, w * c), out=grad_x.reshape(b, h, w * c))
        else:
            np.matmul(np.matmul(a_h.T, grad), a_w, out=grad_x)
        return grad_x

    def get_config(self) -> dict:
        return {**super().get_config(), "size": list(self.size), "data_format": self.data_format,
                "interpolation": self.interpolation}
