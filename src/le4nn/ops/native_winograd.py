"""The compiled Winograd F(2×2, 3×3) and F(4×4, 3×3) transforms: the twins of
:mod:`le4nn.ops.reference_winograd` (same signatures, docstrings and results), part of the compiled
backend :mod:`le4nn.ops.native`, which re-exports them."""

from __future__ import annotations

import le4nn._kernels.winograd as _winograd
from le4nn._threads import num_threads_now
from le4nn._typing import FloatArray, Padding, Shape
from le4nn.ops import _checks_winograd as wchecks
from le4nn.ops import reference as _ref
from le4nn.ops._native_docs import same_docs as _same_docs

# --- Winograd F(2×2, 3×3) and F(4×4, 3×3) transforms--------------------------------------------------------


@_same_docs(_ref.winograd_input_transform)
def winograd_input_transform(x: FloatArray, pad: Padding = 1, *, out: FloatArray | None = None) -> FloatArray:
    w, V = wchecks.check_winograd_input_transform(x, pad, out)
    _winograd.input_transform(x, V, w.pt, w.pl, w.TH, w.TW, 2, num_threads_now())
    return V


@_same_docs(_ref.winograd_output_transform)
def winograd_output_transform(m: FloatArray, out_shape: Shape, bias: FloatArray | None = None, relu: bool = False, *,
                              out: FloatArray | None = None) -> FloatArray:
    _, bias, y = wchecks.check_winograd_output_transform(m, out_shape, bias, out)
    _winograd.output_transform(m, bias, y, bool(relu), 2, num_threads_now())
    return y


@_same_docs(_ref.winograd_gradient_transform)
def winograd_gradient_transform(dout: FloatArray, *, out: FloatArray | None = None) -> FloatArray:
    _, Q = wchecks.check_winograd_gradient_transform(dout, out)
    _winograd.gradient_transform(dout, Q, 2, num_threads_now())
    return Q


@_same_docs(_ref.winograd4_input_transform)
def winograd4_input_transform(x: FloatArray, pad: Padding = 1, *, out: FloatArray | None = None) -> FloatArray:
    w, V = wchecks.check_winograd_input_transform(x, pad, out, 4)
    _winograd.input_transform(x, V, w.pt, w.pl, w.TH, w.TW, 4, num_threads_now())
    return V


@_same_docs(_ref.winograd4_output_transform)
def winograd4_output_transform(m: FloatArray, out_shape: Shape, bias: FloatArray | None = None, relu: bool = False, *,
                               out: FloatArray | None = None) -> FloatArray:
    _, bias, y = wchecks.check_winograd_output_transform(m, out_shape, bias, out, 4)
    _winograd.output_transform(m, bias, y, bool(relu), 4, num_threads_now())
    return y


@_same_docs(_ref.winograd4_gradient_transform)
def winograd4_gradient_transform(dout: FloatArray, *, out: FloatArray | None = None) -> FloatArray:
    _, Q = wchecks.check_winograd_gradient_transform(dout, out, 4)
    _winograd.gradient_transform(dout, Q, 4, num_threads_now())
    return Q


@_same_docs(_ref.winograd_kernel_transform)
def winograd_kernel_transform(kernel: FloatArray, tile: int = 2, flip: bool = False, *,
                              out: FloatArray | None = None) -> FloatArray:
    tile, U = wchecks.check_winograd_kernel_transform(kernel, tile, flip, out)
    _winograd.kernel_transform(kernel, U, tile, bool(flip), num_threads_now())
    return U


@_same_docs(_ref.winograd_filter_gradient)
def winograd_filter_gradient(partials: FloatArray, tile: int = 2, *, out: FloatArray | None = None) -> FloatArray:
    tile, dW = wchecks.check_winograd_filter_gradient(partials, tile, out)
    _winograd.filter_gradient(partials, dW, tile, num_threads_now())
    return dW
