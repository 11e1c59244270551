"""The compiled backend: thin wrappers around the Cython/OpenMP kernels in ``le4nn._kernels``.

Each function has the signature and semantics of its twin in :mod:`le4nn.ops.reference` (see there
for the maths).  The wrapper checks the arguments with the same checks as the reference, allocates
the result when no ``out=`` is given, and calls the kernel, which releases the GIL and runs on
:func:`le4nn.get_num_threads` OpenMP threads (fewer while other processes keep cores busy, see
:func:`le4nn._threads.num_threads_now`).  The kernels split work only across independent
outputs, so results are bitwise identical for any thread count.
"""

from __future__ import annotations

import numpy as np

from le4nn._finite import all_finite
from le4nn._kernels import activations as _act
from le4nn._kernels import fused as _fused
from le4nn._kernels import im2col as _im2col
from le4nn._kernels import nhwc_conv as _nhwc_conv
from le4nn._kernels import nhwc_im2col as _nhwc_im2col
from le4nn._kernels import nhwc_pool as _nhwc_pool
from le4nn._kernels import optim as _optim
from le4nn._kernels import pooling as _pool
from le4nn._kernels import softmax as _softmax
from le4nn._kernels import sparse as _sparse
from le4nn._kernels import winograd as _winograd
from le4nn._threads import num_threads_now as get_num_threads  # adapts to other processes' load
from le4nn.ops import reference as _ref
from le4nn.ops._checks import (
    check_argmax,
    check_argmax_nhwc,
    check_backward_bias_operands,
    check_bias,
    check_class_axis,
    check_cols_nhwc_shape,
    check_cols_shape,
    check_epilogue_activation,
    check_float_array,
    check_labels,
    check_matmul_operands,
    check_same_dtype,
    check_same_shape,
    check_sgd_operands,
    check_shape4,
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


# --- channels-last windows -------------------------------------------------------------------------

_nchw_shape = _ref._nchw_shape


@_same_docs(_ref.im2col_nhwc)
def im2col_nhwc(x, kh, kw, stride=1, pad=0, *, out=None):
    op = "im2col_nhwc"
    x = check_float_array(x, op, "x", ndim=4)
    g = window_geometry(_nchw_shape(x.shape), kh, kw, stride, pad, op)
    cols = prepare_out(out, (g.B * g.OH * g.OW, g.kh * g.kw * g.C), x.dtype, op)
    _nhwc_im2col.im2col_nhwc(x, cols, g.kh, g.kw, g.sh, g.sw, g.pt, g.pl, g.OH, g.OW, get_num_threads())
    return cols


@_same_docs(_ref.col2im_nhwc)
def col2im_nhwc(cols, x_shape, kh, kw, stride=1, pad=0, *, out=None):
    op = "col2im_nhwc"
    cols = check_float_array(cols, op, "cols", ndim=2)
    g = window_geometry(_nchw_shape(x_shape), kh, kw, stride, pad, op)
    check_cols_nhwc_shape(cols, g, op)
    x = prepare_out(out, (g.B, g.H, g.W, g.C), cols.dtype, op)
    _nhwc_im2col.col2im_nhwc(cols, x, g.kh, g.kw, g.sh, g.sw, g.pt, g.pl, g.OH, g.OW, get_num_threads())
    return x


@_same_docs(_ref.maxpool2d_nhwc_forward)
def maxpool2d_nhwc_forward(x, kh, kw, stride=None, pad=0, *, out=None, argmax_out=None):
    op = "maxpool2d_nhwc_forward"
    x = check_float_array(x, op, "x", ndim=4)
    g = pool_geometry(_nchw_shape(x.shape), kh, kw, stride, pad, op)
    out = prepare_out(out, (g.B, g.OH, g.OW, g.C), x.dtype, op)
    argmax = prepare_out(argmax_out, (g.B, g.OH, g.OW, g.C), np.int32, op, "argmax_out")
    _nhwc_pool.maxpool2d_nhwc_forward(x, out, argmax, g.kh, g.kw, g.sh, g.sw, g.pt, g.pl, get_num_threads())
    return out, argmax


@_same_docs(_ref.maxpool2d_nhwc_backward)
def maxpool2d_nhwc_backward(dout, argmax, x_shape, *, out=None):
    op = "maxpool2d_nhwc_backward"
    dout = check_float_array(dout, op, "dout", ndim=4)
    B, H, W, C = check_argmax_nhwc(argmax, dout, x_shape, op)
    dx = prepare_out(out, (B, H, W, C), dout.dtype, op)
    # The kernel first tries windows that tile the input (the (H // OH) × (W // OW) blocks, e.g.
    # 2×2 at stride 2), writing dx directly; it checks that every index lies in its block and
    # otherwise falls back to the scatter-add, so the result never depends on this guess.
    OH, OW = dout.shape[1:3]
    kh, kw = H // OH, W // OW
    _nhwc_pool.maxpool2d_nhwc_backward(dout, argmax, dx, kh, kw, kh, kw, 0, 0, get_num_threads())
    return dx


@_same_docs(_ref.conv2d_nhwc_forward)
def conv2d_nhwc_forward(x, kernel, bias=None, stride=1, pad=0, relu=False, *, out=None):
    op = "conv2d_nhwc_forward"
    x = check_float_array(x, op, "x", ndim=4)
    kernel = check_float_array(kernel, op, "kernel", ndim=4)
    check_same_dtype(op, x=x, kernel=kernel)
    kh, kw, C, K = kernel.shape
    g = window_geometry(_nchw_shape(x.shape), kh, kw, stride, pad, op)
    if C != g.C:
        raise ValueError(f"{op}: kernel has {C} input channels, x has {g.C}")
    bias = check_bias(bias, K, x.dtype, op)
    y = prepare_out(out, (g.B, g.OH, g.OW, K), x.dtype, op)
    _nhwc_conv.conv2d_nhwc_forward(x, kernel, bias, y, g.sh, g.sw, g.pt, g.pl, bool(relu), get_num_threads())
    return y


@_same_docs(_ref.conv2d_nhwc_filter_grad)
def conv2d_nhwc_filter_grad(x, dout, kh, kw, stride=1, pad=0, y=None, *, out=None,
                            bias_grad_out=None):
    op = "conv2d_nhwc_filter_grad"
    x = check_float_array(x, op, "x", ndim=4)
    dout = check_float_array(dout, op, "dout", ndim=4)
    check_same_dtype(op, x=x, dout=dout)
    g = window_geometry(_nchw_shape(x.shape), kh, kw, stride, pad, op)
    K = dout.shape[3]
    if dout.shape[:3] != (g.B, g.OH, g.OW):
        raise ValueError(f"{op}: dout has shape {dout.shape}, expected {(g.B, g.OH, g.OW, K)}")
    if y is not None:
        y = check_float_array(y, op, "y", ndim=4)
        check_same_shape(op, dout=dout, y=y)
        check_same_dtype(op, dout=dout, y=y)
    kernel_grad = prepare_out(out, (g.kh, g.kw, g.C, K), x.dtype, op)
    bias_grad = prepare_out(bias_grad_out, (K,), x.dtype, op, "bias_grad_out")
    _nhwc_conv.conv2d_nhwc_filter_grad(x, dout, y, kernel_grad, bias_grad, g.sh, g.sw, g.pt, g.pl,
                                  get_num_threads())
    return kernel_grad, bias_grad


@_same_docs(_ref.conv2d_nhwc_pool_forward)
def conv2d_nhwc_pool_forward(x, kernel, bias, stride, pad, relu, pool_kh, pool_kw, pool_stride=None, pool_pad=0,
                             *, out=None, argmax_out=None):
    op = "conv2d_nhwc_pool_forward"
    x = check_float_array(x, op, "x", ndim=4)
    kernel = check_float_array(kernel, op, "kernel", ndim=4)
    check_same_dtype(op, x=x, kernel=kernel)
    kh, kw, C, K = kernel.shape
    g = window_geometry(_nchw_shape(x.shape), kh, kw, stride, pad, op)
    if C != g.C:
        raise ValueError(f"{op}: kernel has {C} input channels, x has {g.C}")
    bias = check_bias(bias, K, x.dtype, op)
    pg = pool_geometry((g.B, K, g.OH, g.OW), pool_kh, pool_kw, pool_stride, pool_pad, op)
    out = prepare_out(out, (pg.B, pg.OH, pg.OW, K), x.dtype, op)
    argmax = prepare_out(argmax_out, (pg.B, pg.OH, pg.OW, K), np.int32, op, "argmax_out")
    _nhwc_conv.conv2d_nhwc_pool_forward(x, kernel, bias, out, argmax, g.sh, g.sw, g.pt, g.pl, g.OH, g.OW,
                                   bool(relu), pg.kh, pg.kw, pg.sh, pg.sw, pg.pt, pg.pl, get_num_threads())
    return out, argmax


@_same_docs(_ref.conv2d_nhwc_filter_grad_pooled)
def conv2d_nhwc_filter_grad_pooled(x, dout, argmax, pooled, kh, kw, stride=1, pad=0, *, out=None,
                                   bias_grad_out=None):
    op = "conv2d_nhwc_filter_grad_pooled"
    x = check_float_array(x, op, "x", ndim=4)
    dout = check_float_array(dout, op, "dout", ndim=4)
    check_same_dtype(op, x=x, dout=dout)
    g = window_geometry(_nchw_shape(x.shape), kh, kw, stride, pad, op)
    K = dout.shape[3]
    conv_shape = (g.B, g.OH, g.OW, K)
    check_argmax_nhwc(argmax, dout, conv_shape, op)
    if argmax.size and (argmax.min() < 0 or argmax.max() >= g.OH * g.OW):
        raise ValueError(f"{op}: argmax holds indices outside the {g.OH}x{g.OW} convolution output plane")
    if pooled is not None:
        pooled = check_float_array(pooled, op, "pooled", ndim=4)
        check_same_shape(op, dout=dout, pooled=pooled)
        check_same_dtype(op, dout=dout, pooled=pooled)
    kernel_grad = prepare_out(out, (g.kh, g.kw, g.C, K), x.dtype, op)
    bias_grad = prepare_out(bias_grad_out, (K,), x.dtype, op, "bias_grad_out")
    _nhwc_conv.conv2d_nhwc_filter_grad_pooled(x, dout, argmax, pooled, kernel_grad, bias_grad, g.sh, g.sw,
                                         g.pt, g.pl, g.OH, g.OW, get_num_threads())
    return kernel_grad, bias_grad


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
    targets, is_index = check_labels(labels, logits.shape, logits.dtype, op, check_range=False)
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
    targets, is_index = check_labels(labels, probs.shape, probs.dtype, op, check_range=False)
    dx = prepare_out(out, probs.shape, probs.dtype, op)
    if is_index:
        _softmax.softmax_cross_entropy_backward_index(probs, targets, dx, get_num_threads())
    else:
        _softmax.softmax_cross_entropy_backward_onehot(probs, targets, dx, get_num_threads())
    return dx


@_same_docs(_ref.softmax_cross_entropy)
def softmax_cross_entropy(logits, labels, *, out=None, grad_out=None):
    op = "softmax_cross_entropy"
    logits = check_float_array(logits, op, "logits", ndim=2)
    targets, is_index = check_labels(labels, logits.shape, logits.dtype, op, check_range=False)
    probs = prepare_out(out, logits.shape, logits.dtype, op)
    grad = prepare_out(grad_out, logits.shape, logits.dtype, op, "grad_out")
    threads = get_num_threads()
    if is_index:  # the forward kernel checks the label range
        loss = _softmax.softmax_cross_entropy_forward_index(logits, targets, probs, threads, op)
        _softmax.softmax_cross_entropy_backward_index(probs, targets, grad, threads, op)
    else:
        loss = _softmax.softmax_cross_entropy_forward_onehot(logits, targets, probs, threads)
        _softmax.softmax_cross_entropy_backward_onehot(probs, targets, grad, threads)
    return float(loss), probs, grad


# --- fused bias + ReLU ------------------------------------------------------------------------------


@_same_docs(_ref.bias_relu_forward)
def bias_relu_forward(x, bias, *, out=None):
    op = "bias_relu_forward"
    x = check_float_array(x, op, "x")
    check_class_axis(x, op)
    bias = check_bias(bias, x.shape[-1], x.dtype, op, required=True)
    y = prepare_out(out, x.shape, x.dtype, op)
    K = x.shape[-1]
    _fused.bias_relu_forward(x.reshape(-1, K), bias, y.reshape(-1, K), get_num_threads())
    return y


@_same_docs(_ref.relu_backward_bias)
def relu_backward_bias(dout, y, *, out=None, bias_grad_out=None):
    dout, y, dx, bias_grad = check_backward_bias_operands("relu_backward_bias", dout, y, out, bias_grad_out)
    K = y.shape[-1]
    _fused.relu_backward_bias(dout.reshape(-1, K), y.reshape(-1, K), dx.reshape(-1, K), bias_grad,
                              get_num_threads())
    return dx, bias_grad


@_same_docs(_ref.sigmoid_backward_bias)
def sigmoid_backward_bias(dout, y, *, out=None, bias_grad_out=None):
    dout, y, dx, bias_grad = check_backward_bias_operands("sigmoid_backward_bias", dout, y, out, bias_grad_out)
    K = y.shape[-1]
    _fused.sigmoid_backward_bias(dout.reshape(-1, K), y.reshape(-1, K), dx.reshape(-1, K), bias_grad,
                                 get_num_threads())
    return dx, bias_grad


# --- Winograd F(2×2, 3×3) transforms -----------------------------------------------------------------


@_same_docs(_ref.winograd_input_transform)
def winograd_input_transform(x, pad=1, *, out=None):
    op = "winograd_input_transform"
    x = check_float_array(x, op, "x", ndim=4)
    B, H, W, C, pt, pb, pl, pr, OH, OW, TH, TW = _ref.winograd_geometry(x.shape, pad, op)
    V = prepare_out(out, (16, B * TH * TW, C), x.dtype, op)
    _winograd.input_transform(x, V, pt, pl, TH, TW, get_num_threads())
    return V


@_same_docs(_ref.winograd_output_transform)
def winograd_output_transform(m, out_shape, bias=None, relu=False, *, out=None):
    op = "winograd_output_transform"
    m = check_float_array(m, op, "m", ndim=3)
    B, OH, OW, K = check_shape4(out_shape, op, "out_shape")
    TH, TW = (OH + 1) // 2, (OW + 1) // 2
    if m.shape != (16, B * TH * TW, K):
        raise ValueError(f"{op}: m has shape {m.shape}, expected {(16, B * TH * TW, K)} for out_shape {out_shape}")
    bias = check_bias(bias, K, m.dtype, op)
    y = prepare_out(out, (B, OH, OW, K), m.dtype, op)
    _winograd.output_transform(m, bias, y, bool(relu), get_num_threads())
    return y


@_same_docs(_ref.winograd_gradient_transform)
def winograd_gradient_transform(dout, *, out=None):
    op = "winograd_gradient_transform"
    dout = check_float_array(dout, op, "dout", ndim=4)
    B, OH, OW, K = dout.shape
    TH, TW = (OH + 1) // 2, (OW + 1) // 2
    Q = prepare_out(out, (16, B * TH * TW, K), dout.dtype, op)
    _winograd.gradient_transform(dout, Q, get_num_threads())
    return Q


# --- products with a mostly-zero left operand --------------------------------------------------------

@_same_docs(_ref.sparse_matmul)
def sparse_matmul(x, w, *, bias=None, activation=None, out=None):
    op = "sparse_matmul"
    B, K = check_matmul_operands(op, x, w, "x", "w")
    act = check_epilogue_activation(activation, op)
    bias = check_bias(bias, K, x.dtype, op)
    if not all_finite(w):  # the kernel skips zero pixels, so 0 · inf would not give NaN: dense
        return _ref.sparse_matmul(x, w, bias=bias, activation=act, out=out)
    z = prepare_out(out, (B, K), x.dtype, op)
    _sparse.sparse_matmul(x, w, z, get_num_threads(), bias, _sparse.ACTIVATIONS[act])
    return z


@_same_docs(_ref.sparse_matmul_tn)
def sparse_matmul_tn(x, d, *, out=None):
    op = "sparse_matmul_tn"
    N, K = check_matmul_operands(op, x, d, "x", "d", transpose_a=True)
    if not all_finite(d):  # as in sparse_matmul: a NaN or inf of d must reach every row of g
        return _ref.sparse_matmul_tn(x, d, out=out)
    g = prepare_out(out, (N, K), x.dtype, op)
    _sparse.sparse_matmul_tn(x, d, g, get_num_threads())
    return g


# --- the SGD update ----------------------------------------------------------------------------------


@_same_docs(_ref.sgd_update)
def sgd_update(param, grad, learning_rate, momentum=0.0, velocity=None, nesterov=False):
    op = "sgd_update"
    lr, m, uses_velocity = check_sgd_operands(op, param, grad, learning_rate, momentum, velocity, nesterov)
    if not (param.flags.c_contiguous and (velocity is None or velocity.flags.c_contiguous)):
        return _ref.sgd_update(param, grad, learning_rate, momentum, velocity, nesterov)  # views: NumPy
    grad = np.ascontiguousarray(grad)
    flat = param.reshape(-1)
    if uses_velocity:
        _optim.sgd_momentum_update(flat, grad.reshape(-1), velocity.reshape(-1), lr, m, bool(nesterov),
                                   get_num_threads())
    else:
        _optim.sgd_update(flat, grad.reshape(-1), lr, get_num_threads())
    return param
