"""The compiled backend: thin wrappers around the Cython/OpenMP kernels in ``le4nn._kernels``.

Each function has the signature and semantics of its twin in :mod:`le4nn.ops.reference` (see there
for the maths).  The wrapper checks the arguments with the same checks as the reference, allocates
the result when no ``out=`` is given, and calls the kernel, which releases the GIL and runs on
:func:`le4nn.get_num_threads` OpenMP threads.  The kernels split work only across independent
outputs, so results are bitwise identical for any thread count.
"""

from __future__ import annotations

import numpy as np

from le4nn._kernels import activations as _act
from le4nn._kernels import im2col as _im2col
from le4nn._kernels import pooling as _pool
from le4nn._kernels import softmax as _softmax
from le4nn._threads import get_num_threads
from le4nn.ops import reference as _ref
from le4nn.ops._checks import (
    check_argmax,
    check_class_axis,
    check_cols_shape,
    check_float_array,
    check_labels,
    check_same_dtype,
    check_same_shape,
    pool_geometry,
    prepare_out,
    window_geometry,
)


def _same_docs(reference_function):
    """Give a wrapper the reference's docstring (the semantics are the same)."""

    def decorate(function):
        function.__doc__ = reference_function.__doc__
        return function

    return decorate


# --- im2col / col2im ---------------------------------------------------------------------------------


@_same_docs(_ref.im2col)
def im2col(x, kh, kw, stride=1, pad=0, *, out=None):
    op = "im2col"
    x = check_float_array(x, op, "x", ndim=4)
    g = window_geometry(x.shape, kh, kw, stride, pad, op)
    cols = prepare_out(out, (g.C * g.kh * g.kw, g.B * g.OH * g.OW), x.dtype, op)
    _im2col.im2col(x, cols, g.kh, g.kw, g.sh, g.sw, g.pt, g.pl, g.OH, g.OW, get_num_threads())
    return cols


@_same_docs(_ref.col2im)
def col2im(cols, x_shape, kh, kw, stride=1, pad=0, *, out=None):
    op = "col2im"
    cols = check_float_array(cols, op, "cols", ndim=2)
    g = window_geometry(x_shape, kh, kw, stride, pad, op)
    check_cols_shape(cols, g, op)
    x = prepare_out(out, (g.B, g.C, g.H, g.W), cols.dtype, op)
    _im2col.col2im(cols, x, g.kh, g.kw, g.sh, g.sw, g.pt, g.pl, g.OH, g.OW, get_num_threads())
    return x


# --- pooling -----------------------------------------------------------------------------------------


@_same_docs(_ref.maxpool2d_forward)
def maxpool2d_forward(x, kh, kw, stride=None, pad=0, *, out=None, argmax_out=None):
    op = "maxpool2d_forward"
    x = check_float_array(x, op, "x", ndim=4)
    g = pool_geometry(x.shape, kh, kw, stride, pad, op)
    out = prepare_out(out, (g.B, g.C, g.OH, g.OW), x.dtype, op)
    argmax = prepare_out(argmax_out, (g.B, g.C, g.OH, g.OW), np.int32, op, "argmax_out")
    _pool.maxpool2d_forward(x, out, argmax, g.kh, g.kw, g.sh, g.sw, g.pt, g.pl, get_num_threads())
    return out, argmax


@_same_docs(_ref.maxpool2d_backward)
def maxpool2d_backward(dout, argmax, x_shape, *, out=None):
    op = "maxpool2d_backward"
    dout = check_float_array(dout, op, "dout", ndim=4)
    B, C, H, W = check_argmax(argmax, dout, x_shape, op)
    dx = prepare_out(out, (B, C, H, W), dout.dtype, op)
    # The kernel checks every index against the plane (ValueError) before it writes anything.
    _pool.maxpool2d_backward(dout, argmax, dx, get_num_threads())
    return dx


@_same_docs(_ref.avgpool2d_forward)
def avgpool2d_forward(x, kh, kw, stride=None, pad=0, count_include_pad=True, *, out=None):
    op = "avgpool2d_forward"
    x = check_float_array(x, op, "x", ndim=4)
    g = pool_geometry(x.shape, kh, kw, stride, pad, op)
    out = prepare_out(out, (g.B, g.C, g.OH, g.OW), x.dtype, op)
    _pool.avgpool2d_forward(
        x, out, g.kh, g.kw, g.sh, g.sw, g.pt, g.pl, bool(count_include_pad), get_num_threads()
    )
    return out


@_same_docs(_ref.avgpool2d_backward)
def avgpool2d_backward(dout, x_shape, kh, kw, stride=None, pad=0, count_include_pad=True, *, out=None):
    op = "avgpool2d_backward"
    dout = check_float_array(dout, op, "dout", ndim=4)
    g = pool_geometry(x_shape, kh, kw, stride, pad, op)
    if dout.shape != (g.B, g.C, g.OH, g.OW):
        raise ValueError(f"{op}: dout has shape {dout.shape}, expected {(g.B, g.C, g.OH, g.OW)}")
    dx = prepare_out(out, (g.B, g.C, g.H, g.W), dout.dtype, op)
    _pool.avgpool2d_backward(
        dout, dx, g.kh, g.kw, g.sh, g.sw, g.pt, g.pl, bool(count_include_pad), get_num_threads()
    )
    return dx


# --- activations (elementwise, any shape: the kernels see the flat arrays) ------------------------


@_same_docs(_ref.sigmoid_forward)
def sigmoid_forward(x, *, out=None):
    op = "sigmoid_forward"
    x = check_float_array(x, op, "x")
    y = prepare_out(out, x.shape, x.dtype, op)
    _act.sigmoid_forward(x.reshape(-1), y.reshape(-1), get_num_threads())
    return y


@_same_docs(_ref.sigmoid_backward)
def sigmoid_backward(dout, y, *, out=None):
    op = "sigmoid_backward"
    dout = check_float_array(dout, op, "dout")
    y = check_float_array(y, op, "y")
    check_same_shape(op, dout=dout, y=y)
    check_same_dtype(op, dout=dout, y=y)
    dx = prepare_out(out, y.shape, y.dtype, op)
    _act.sigmoid_backward(dout.reshape(-1), y.reshape(-1), dx.reshape(-1), get_num_threads())
    return dx


@_same_docs(_ref.relu_forward)
def relu_forward(x, *, out=None):
    op = "relu_forward"
    x = check_float_array(x, op, "x")
    y = prepare_out(out, x.shape, x.dtype, op)
    _act.relu_forward(x.reshape(-1), y.reshape(-1), get_num_threads())
    return y


@_same_docs(_ref.relu_backward)
def relu_backward(dout, y, *, out=None):
    op = "relu_backward"
    dout = check_float_array(dout, op, "dout")
    y = check_float_array(y, op, "y")
    check_same_shape(op, dout=dout, y=y)
    check_same_dtype(op, dout=dout, y=y)
    dx = prepare_out(out, y.shape, y.dtype, op)
    _act.relu_backward(dout.reshape(-1), y.reshape(-1), dx.reshape(-1), get_num_threads())
    return dx


# --- softmax and cross-entropy ----------------------------------------------------------------------


@_same_docs(_ref.softmax_forward)
def softmax_forward(x, *, out=None):
    op = "softmax_forward"
    x = check_float_array(x, op, "x")
    check_class_axis(x, op)
    y = prepare_out(out, x.shape, x.dtype, op)
    K = x.shape[-1]
    _softmax.softmax_forward(x.reshape(-1, K), y.reshape(-1, K), get_num_threads())
    return y


@_same_docs(_ref.softmax_cross_entropy_forward)
def softmax_cross_entropy_forward(logits, labels, *, out=None):
    op = "softmax_cross_entropy_forward"
    logits = check_float_array(logits, op, "logits", ndim=2)
    targets, is_index = check_labels(labels, logits.shape, logits.dtype, op)
    probs = prepare_out(out, logits.shape, logits.dtype, op)
    if is_index:
        loss = _softmax.softmax_cross_entropy_forward_index(logits, targets, probs, get_num_threads())
    else:
        loss = _softmax.softmax_cross_entropy_forward_onehot(logits, targets, probs, get_num_threads())
    return float(loss), probs


@_same_docs(_ref.softmax_cross_entropy_backward)
def softmax_cross_entropy_backward(probs, labels, *, out=None):
    op = "softmax_cross_entropy_backward"
    probs = check_float_array(probs, op, "probs", ndim=2)
    targets, is_index = check_labels(labels, probs.shape, probs.dtype, op)
    dx = prepare_out(out, probs.shape, probs.dtype, op)
    if is_index:
        _softmax.softmax_cross_entropy_backward_index(probs, targets, dx, get_num_threads())
    else:
        _softmax.softmax_cross_entropy_backward_onehot(probs, targets, dx, get_num_threads())
    return dx
