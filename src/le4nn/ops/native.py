"""The compiled backend: thin wrappers around the Cython/OpenMP kernels in ``le4nn._kernels``.

Each function has the signature and semantics of its twin in :mod:`le4nn.ops.reference` (see there
for the maths), and the ops come in the same order.  A wrapper checks its arguments and allocates its
results with the op's check in :mod:`le4nn.ops._checks` (the one the reference calls), then calls the
kernel, which releases the GIL and runs on :func:`le4nn.get_num_threads` OpenMP threads (fewer while
other processes keep cores busy, see :func:`le4nn._threads.num_threads_now`).  The kernels split work
only across independent outputs, so results are bitwise identical for any thread count.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# The compiled kernels, all in this one block.
import le4nn._kernels.activations as _act
import le4nn._kernels.batchnorm as _bn
import le4nn._kernels.fused as _fused
import le4nn._kernels.im2col as _im2col
import le4nn._kernels.layout as _layout
import le4nn._kernels.nhwc_conv as _nhwc_conv
import le4nn._kernels.nhwc_im2col as _nhwc_im2col
import le4nn._kernels.nhwc_pool as _nhwc_pool
import le4nn._kernels.optim as _optim
import le4nn._kernels.pooling as _pool
import le4nn._kernels.softmax as _softmax
import le4nn._kernels.sparse as _sparse
from le4nn._finite import all_finite
from le4nn._threads import num_threads_now  # the threads to use now: fewer while other processes load the CPU
from le4nn._typing import Array, FloatArray, IntArray, Padding, Shape, Stride
from le4nn.ops import _checks as checks
from le4nn.ops import reference as _ref
from le4nn.ops._native_docs import same_docs as _same_docs

# --- im2col / col2im ---------------------------------------------------------------------------------


@_same_docs(_ref.im2col)
def im2col(x: FloatArray, kh: int, kw: int, stride: Stride = 1, pad: Padding = 0, *,
           out: FloatArray | None = None) -> FloatArray:
    g, cols = checks.check_im2col(x, kh, kw, stride, pad, out)
    _im2col.im2col(x, cols, g.kh, g.kw, g.sh, g.sw, g.pt, g.pl, g.OH, g.OW, num_threads_now())
    return cols


@_same_docs(_ref.col2im)
def col2im(cols: FloatArray, x_shape: Shape, kh: int, kw: int, stride: Stride = 1, pad: Padding = 0, *,
           out: FloatArray | None = None) -> FloatArray:
    g, x = checks.check_col2im(cols, x_shape, kh, kw, stride, pad, out)
    _im2col.col2im(cols, x, g.kh, g.kw, g.sh, g.sw, g.pt, g.pl, g.OH, g.OW, num_threads_now())
    return x


# --- pooling -----------------------------------------------------------------------------------------


@_same_docs(_ref.maxpool2d_forward)
def maxpool2d_forward(x: FloatArray, kh: int, kw: int, stride: Stride | None = None, pad: Padding = 0, *,
                      out: FloatArray | None = None,
                      argmax_out: IntArray | None = None) -> tuple[FloatArray, IntArray]:
    g, out, argmax = checks.check_maxpool2d_forward(x, kh, kw, stride, pad, out, argmax_out)
    _pool.maxpool2d_forward(x, out, argmax, g.kh, g.kw, g.sh, g.sw, g.pt, g.pl, num_threads_now())
    return out, argmax


@_same_docs(_ref.maxpool2d_backward)
def maxpool2d_backward(dout: FloatArray, argmax: IntArray, x_shape: Shape, *,
                       out: FloatArray | None = None) -> FloatArray:
    # The kernel checks every index against the plane (ValueError) before it writes anything.
    dx = checks.check_maxpool2d_backward(dout, argmax, x_shape, out, check_range=False)
    _pool.maxpool2d_backward(dout, argmax, dx, num_threads_now())
    return dx


@_same_docs(_ref.avgpool2d_forward)
def avgpool2d_forward(x: FloatArray, kh: int, kw: int, stride: Stride | None = None, pad: Padding = 0,
                      count_include_pad: bool = True, *,
                      out: FloatArray | None = None) -> FloatArray:
    g, out = checks.check_avgpool2d_forward(x, kh, kw, stride, pad, out)
    _pool.avgpool2d_forward(
        x, out, g.kh, g.kw, g.sh, g.sw, g.pt, g.pl, bool(count_include_pad), num_threads_now()
    )
    return out


@_same_docs(_ref.avgpool2d_backward)
def avgpool2d_backward(dout: FloatArray, x_shape: Shape, kh: int, kw: int, stride: Stride | None = None,
                       pad: Padding = 0,
                       count_include_pad: bool = True, *, out: FloatArray | None = None) -> FloatArray:
    g, dx = checks.check_avgpool2d_backward(dout, x_shape, kh, kw, stride, pad, out)
    _pool.avgpool2d_backward(
        dout, dx, g.kh, g.kw, g.sh, g.sw, g.pt, g.pl, bool(count_include_pad), num_threads_now()
    )
    return dx


# --- channels-last windows -------------------------------------------------------------------------


@_same_docs(_ref.im2col_nhwc)
def im2col_nhwc(x: FloatArray, kh: int, kw: int, stride: Stride = 1, pad: Padding = 0, *,
                out: FloatArray | None = None) -> FloatArray:
    g, cols = checks.check_im2col_nhwc(x, kh, kw, stride, pad, out)
    _nhwc_im2col.im2col_nhwc(x, cols, g.kh, g.kw, g.sh, g.sw, g.pt, g.pl, g.OH, g.OW, num_threads_now())
    return cols


@_same_docs(_ref.col2im_nhwc)
def col2im_nhwc(cols: FloatArray, x_shape: Shape, kh: int, kw: int, stride: Stride = 1, pad: Padding = 0, *,
                out: FloatArray | None = None) -> FloatArray:
    g, x = checks.check_col2im_nhwc(cols, x_shape, kh, kw, stride, pad, out)
    _nhwc_im2col.col2im_nhwc(cols, x, g.kh, g.kw, g.sh, g.sw, g.pt, g.pl, g.OH, g.OW, num_threads_now())
    return x


@_same_docs(_ref.maxpool2d_nhwc_forward)
def maxpool2d_nhwc_forward(x: FloatArray, kh: int, kw: int, stride: Stride | None = None, pad: Padding = 0, *,
                           out: FloatArray | None = None,
                           argmax_out: IntArray | None = None) -> tuple[FloatArray, IntArray]:
    g, out, argmax = checks.check_maxpool2d_nhwc_forward(x, kh, kw, stride, pad, out, argmax_out)
    _nhwc_pool.maxpool2d_nhwc_forward(x, out, argmax, g.kh, g.kw, g.sh, g.sw, g.pt, g.pl, num_threads_now())
    return out, argmax


@_same_docs(_ref.maxpool2d_nhwc_backward)
def maxpool2d_nhwc_backward(dout: FloatArray, argmax: IntArray, x_shape: Shape, *,
                            out: FloatArray | None = None) -> FloatArray:
    dx = checks.check_maxpool2d_nhwc_backward(dout, argmax, x_shape, out, check_range=False)
    # The kernel first tries windows that tile the input (the (H // OH) × (W // OW) blocks, e.g.
    # 2×2 at stride 2), writing dx directly; it checks that every index lies in its block and
    # otherwise falls back to the scatter-add, so the result never depends on this guess.
    H, W = dx.shape[1:3]
    OH, OW = dout.shape[1:3]
    kh, kw = H // OH, W // OW
    _nhwc_pool.maxpool2d_nhwc_backward(dout, argmax, dx, kh, kw, kh, kw, 0, 0, num_threads_now())
    return dx


@_same_docs(_ref.conv2d_nhwc_forward)
def conv2d_nhwc_forward(x: FloatArray, kernel: FloatArray, bias: FloatArray | None = None, stride: Stride = 1,
                        pad: Padding = 0, relu: bool = False, *,
                        out: FloatArray | None = None) -> FloatArray:
    g, bias, y = checks.check_conv2d_nhwc_forward(x, kernel, bias, stride, pad, out)
    _nhwc_conv.conv2d_nhwc_forward(x, kernel, bias, y, g.sh, g.sw, g.pt, g.pl, bool(relu), num_threads_now())
    return y


@_same_docs(_ref.conv2d_nhwc_filter_grad)
def conv2d_nhwc_filter_grad(x: FloatArray, dout: FloatArray, kh: int, kw: int, stride: Stride = 1, pad: Padding = 0,
                            y: FloatArray | None = None, *,
                            out: FloatArray | None = None,
                            bias_grad_out: FloatArray | None = None) -> tuple[FloatArray, FloatArray | None]:
    g, kernel_grad, bias_grad = checks.check_conv2d_nhwc_filter_grad(x, dout, kh, kw, stride, pad, y, out,
                                                                      bias_grad_out)
    _nhwc_conv.conv2d_nhwc_filter_grad(x, dout, y, kernel_grad, bias_grad, g.sh, g.sw, g.pt, g.pl,
                                  num_threads_now())
    return kernel_grad, bias_grad


@_same_docs(_ref.conv2d_nhwc_pool_forward)
def conv2d_nhwc_pool_forward(x: FloatArray, kernel: FloatArray, bias: FloatArray | None, stride: Stride, pad: Padding,
                             relu: bool, pool_kh: int, pool_kw: int, pool_stride: Stride | None = None,
                             pool_pad: Padding = 0,
                             *, out: FloatArray | None = None,
                             argmax_out: IntArray | None = None) -> tuple[FloatArray, IntArray]:
    g, pg, bias, out, argmax = checks.check_conv2d_nhwc_pool_forward(
        x, kernel, bias, stride, pad, pool_kh, pool_kw, pool_stride, pool_pad, out, argmax_out)
    _nhwc_conv.conv2d_nhwc_pool_forward(x, kernel, bias, out, argmax, g.sh, g.sw, g.pt, g.pl, g.OH, g.OW,
                                   bool(relu), pg.kh, pg.kw, pg.sh, pg.sw, pg.pt, pg.pl, num_threads_now())
    return out, argmax


@_same_docs(_ref.conv2d_nhwc_filter_grad_pooled)
def conv2d_nhwc_filter_grad_pooled(x: FloatArray, dout: FloatArray, argmax: IntArray, pooled: FloatArray | None,
                                   kh: int,
                                   kw: int, stride: Stride = 1,
                                   pad: Padding = 0, *, out: FloatArray | None = None,
                                   bias_grad_out: FloatArray | None = None) -> tuple[FloatArray, FloatArray | None]:
    g, kernel_grad, bias_grad = checks.check_conv2d_nhwc_filter_grad_pooled(
        x, dout, argmax, pooled, kh, kw, stride, pad, out, bias_grad_out)
    _nhwc_conv.conv2d_nhwc_filter_grad_pooled(x, dout, argmax, pooled, kernel_grad, bias_grad, g.sh, g.sw,
                                         g.pt, g.pl, g.OH, g.OW, num_threads_now())
    return kernel_grad, bias_grad


# --- Winograd F(2×2, 3×3) and F(4×4, 3×3) transforms (in native_winograd.py, the twin of reference_winograd.py)

from le4nn.ops.native_winograd import (  # noqa: E402, I001 (the order of OPS)
    winograd_input_transform as winograd_input_transform,
    winograd_output_transform as winograd_output_transform,
    winograd_gradient_transform as winograd_gradient_transform,
    winograd4_input_transform as winograd4_input_transform,
    winograd4_output_transform as winograd4_output_transform,
    winograd4_gradient_transform as winograd4_gradient_transform,
    winograd_kernel_transform as winograd_kernel_transform,
    winograd_filter_gradient as winograd_filter_gradient,
)

# --- activations (elementwise, any shape: the kernels see the flat arrays) ------------------------


@_same_docs(_ref.sigmoid_forward)
def sigmoid_forward(x: FloatArray, *, out: FloatArray | None = None) -> FloatArray:
    y = checks.check_elementwise("sigmoid_forward", x, out)
    _act.sigmoid_forward(x.reshape(-1), y.reshape(-1), num_threads_now())
    return y


@_same_docs(_ref.sigmoid_backward)
def sigmoid_backward(dout: FloatArray, y: FloatArray, *, out: FloatArray | None = None) -> FloatArray:
    dx = checks.check_elementwise_backward("sigmoid_backward", dout, y, out)
    _act.sigmoid_backward(dout.reshape(-1), y.reshape(-1), dx.reshape(-1), num_threads_now())
    return dx


@_same_docs(_ref.relu_forward)
def relu_forward(x: FloatArray, *, out: FloatArray | None = None) -> FloatArray:
    y = checks.check_elementwise("relu_forward", x, out)
    _act.relu_forward(x.reshape(-1), y.reshape(-1), num_threads_now())
    return y


@_same_docs(_ref.relu_backward)
def relu_backward(dout: FloatArray, y: FloatArray, *, out: FloatArray | None = None) -> FloatArray:
    dx = checks.check_elementwise_backward("relu_backward", dout, y, out)
    _act.relu_backward(dout.reshape(-1), y.reshape(-1), dx.reshape(-1), num_threads_now())
    return dx


# --- softmax and cross-entropy (the kernels check the range of class indices) ---------------------


@_same_docs(_ref.softmax_forward)
def softmax_forward(x: FloatArray, *, out: FloatArray | None = None) -> FloatArray:
    y = checks.check_softmax_forward(x, out)
    K = x.shape[-1]
    _softmax.softmax_forward(x.reshape(-1, K), y.reshape(-1, K), num_threads_now())
    return y


@_same_docs(_ref.softmax_cross_entropy_forward)
def softmax_cross_entropy_forward(logits: FloatArray, labels: Array, *,
                                  out: FloatArray | None = None) -> tuple[float, FloatArray]:
    targets, is_index, probs = checks.check_cross_entropy("softmax_cross_entropy_forward", logits, "logits",
                                                          labels, out, check_range=False)
    if is_index:
        loss = _softmax.softmax_cross_entropy_forward_index(logits, targets, probs, num_threads_now())
    else:
        loss = _softmax.softmax_cross_entropy_forward_onehot(logits, targets, probs, num_threads_now())
    return float(loss), probs


@_same_docs(_ref.softmax_cross_entropy_backward)
def softmax_cross_entropy_backward(probs: FloatArray, labels: Array, *, out: FloatArray | None = None) -> FloatArray:
    targets, is_index, dx = checks.check_cross_entropy("softmax_cross_entropy_backward", probs, "probs",
                                                       labels, out, check_range=False)
    if is_index:
        _softmax.softmax_cross_entropy_backward_index(probs, targets, dx, num_threads_now())
    else:
        _softmax.softmax_cross_entropy_backward_onehot(probs, targets, dx, num_threads_now())
    return dx


@_same_docs(_ref.softmax_cross_entropy)
def softmax_cross_entropy(logits: FloatArray, labels: Array, *, out: FloatArray | None = None,
                          grad_out: FloatArray | None = None) -> tuple[float, FloatArray, FloatArray]:
    op = "softmax_cross_entropy"
    targets, is_index, probs, grad = checks.check_softmax_cross_entropy(logits, labels, out, grad_out,
                                                                        check_range=False)
    threads = num_threads_now()
    if is_index:  # the forward kernel checks the label range
        loss = _softmax.softmax_cross_entropy_forward_index(logits, targets, probs, threads, op)
        _softmax.softmax_cross_entropy_backward_index(probs, targets, grad, threads, op)
    else:
        loss = _softmax.softmax_cross_entropy_forward_onehot(logits, targets, probs, threads)
        _softmax.softmax_cross_entropy_backward_onehot(probs, targets, grad, threads)
    return float(loss), probs, grad


# --- fused bias + activation ------------------------------------------------------------------------


@_same_docs(_ref.bias_relu_forward)
def bias_relu_forward(x: FloatArray, bias: FloatArray, *, out: FloatArray | None = None) -> FloatArray:
    bias, y = checks.check_bias_relu_forward(x, bias, out)
    K = x.shape[-1]
    _fused.bias_relu_forward(x.reshape(-1, K), bias, y.reshape(-1, K), num_threads_now())
    return y


@_same_docs(_ref.relu_backward_bias)
def relu_backward_bias(dout: FloatArray, y: FloatArray, *, out: FloatArray | None = None,
                       bias_grad_out: FloatArray | None = None) -> tuple[FloatArray, FloatArray]:
    dx, bias_grad = checks.check_backward_bias("relu_backward_bias", dout, y, out, bias_grad_out)
    K = y.shape[-1]
    _fused.relu_backward_bias(dout.reshape(-1, K), y.reshape(-1, K), dx.reshape(-1, K), bias_grad,
                              num_threads_now())
    return dx, bias_grad


@_same_docs(_ref.sigmoid_backward_bias)
def sigmoid_backward_bias(dout: FloatArray, y: FloatArray, *, out: FloatArray | None = None,
                          bias_grad_out: FloatArray | None = None) -> tuple[FloatArray, FloatArray]:
    dx, bias_grad = checks.check_backward_bias("sigmoid_backward_bias", dout, y, out, bias_grad_out)
    K = y.shape[-1]
    _fused.sigmoid_backward_bias(dout.reshape(-1, K), y.reshape(-1, K), dx.reshape(-1, K), bias_grad,
                                 num_threads_now())
    return dx, bias_grad


# --- products with a mostly-zero left operand --------------------------------------------------------


@_same_docs(_ref.sparse_matmul)
def sparse_matmul(x: FloatArray, w: FloatArray, *, bias: FloatArray | None = None, activation: str | None = None,
                  out: FloatArray | None = None) -> FloatArray:
    act, bias, z = checks.check_sparse_matmul(x, w, bias, activation, out)
    if not all_finite(w):  # the kernel skips zero pixels, so 0 · inf would not give NaN: dense
        return _ref.sparse_matmul(x, w, bias=bias, activation=act, out=z)
    _sparse.sparse_matmul(x, w, z, num_threads_now(), bias, _sparse.ACTIVATIONS[act])
    return z


@_same_docs(_ref.sparse_matmul_tn)
def sparse_matmul_tn(x: FloatArray, d: FloatArray, *, out: FloatArray | None = None) -> FloatArray:
    g = checks.check_sparse_matmul_tn(x, d, out)
    if not all_finite(d):  # as in sparse_matmul: a NaN or inf of d must reach every row of g
        return _ref.sparse_matmul_tn(x, d, out=g)
    _sparse.sparse_matmul_tn(x, d, g, num_threads_now())
    return g


# --- the SGD update ----------------------------------------------------------------------------------


@_same_docs(_ref.sgd_update)
def sgd_update(param: FloatArray, grad: FloatArray, learning_rate: float, momentum: float = 0.0,
               velocity: FloatArray | None = None, nesterov: bool = False) -> FloatArray:
    lr, m, uses_velocity = checks.check_sgd_update(param, grad, learning_rate, momentum, velocity, nesterov)
    if not (param.flags.c_contiguous and (velocity is None or velocity.flags.c_contiguous)):
        return _ref.sgd_update(param, grad, learning_rate, momentum, velocity, nesterov)  # views: NumPy
    grad = np.ascontiguousarray(grad)
    flat = param.reshape(-1)
    if uses_velocity:
        assert velocity is not None  # (the check requires it with momentum)
        _optim.sgd_momentum_update(flat, grad.reshape(-1), velocity.reshape(-1), lr, m, bool(nesterov),
                                   num_threads_now())
    else:
        _optim.sgd_update(flat, grad.reshape(-1), lr, num_threads_now())
    return param


# --- batch normalization ------------------------------------------------------------------------------


def _bn_layout(shape: tuple, axis: int) -> tuple[int, int, int] | None:
    """x seen as (N, C, S) with the features on axis 1: features last (S = 1) or on axis 1 (S = the
    product of the later axes); None for another axis (the reference then runs)."""
    C = shape[axis]
    if axis == len(shape) - 1:
        return (int(np.prod(shape[:-1], dtype=np.int64)), C, 1)
    if axis == 1:
        return (shape[0], C, int(np.prod(shape[2:], dtype=np.int64)))
    return None


@_same_docs(_ref.batchnorm_forward)
def batchnorm_forward(x: FloatArray, gamma: FloatArray | None, beta: FloatArray | None, epsilon: float, axis: int = -1,
                      relu: bool = False, mean: FloatArray | None = None, variance: FloatArray | None = None, *,
                      out: FloatArray | None = None) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    axis_, relu_, gamma, beta, eps, mean, variance, y = checks.check_batchnorm_forward(
        x, gamma, beta, epsilon, axis, relu, mean, variance, out)
    layout = _bn_layout(x.shape, axis_)
    if layout is None:
        return _ref.batchnorm_forward(x, gamma, beta, epsilon, axis, relu, mean, variance, out=y)
    x3, threads, dtype = x.reshape(layout), num_threads_now(), x.dtype
    if mean is None:  # one pass for the batch statistics, in float64
        mean64, var64 = np.empty(layout[1]), np.empty(layout[1])
        _bn.stats(x3, mean64, var64, threads)
        mean, variance = mean64.astype(dtype), var64.astype(dtype)
    else:
        var64 = variance.astype(np.float64)
    inv_std = (1 / np.sqrt(var64 + eps)).astype(dtype)
    _bn.apply(x3, mean, gamma * inv_std, beta, y.reshape(layout), relu_, threads)
    return y, mean, variance, inv_std


@_same_docs(_ref.batchnorm_backward)
def batchnorm_backward(dout: FloatArray, x: FloatArray, gamma: FloatArray | None, beta: FloatArray | None,
                       mean: FloatArray,
                       inv_std: FloatArray, axis: int = -1, relu: bool = False,
                       training: bool = True, *, out: FloatArray | None = None,
                       gamma_grad_out: FloatArray | None = None,
                       beta_grad_out: FloatArray | None = None) -> tuple[FloatArray, FloatArray, FloatArray]:
    axis_, relu_, training_, gamma, beta, dx, gamma_grad, beta_grad = checks.check_batchnorm_backward(
        dout, x, gamma, beta, mean, inv_std, axis, relu, training, out, gamma_grad_out, beta_grad_out)
    layout = _bn_layout(x.shape, axis_)
    if layout is None:
        return _ref.batchnorm_backward(dout, x, gamma, beta, mean, inv_std, axis, relu, training, out=dx,
                                       gamma_grad_out=gamma_grad, beta_grad_out=beta_grad)
    x3, g3, threads, C = x.reshape(layout), dout.reshape(layout), num_threads_now(), layout[1]
    a = gamma * inv_std  # the forward's γ·inv_std, bit for bit (its ReLU mask is recomputed)
    sum_g, sum_gc = np.empty(C), np.empty(C)
    _bn.backward_sums(g3, x3, mean, a, beta, sum_g, sum_gc, relu_, threads)
    inv_std64 = inv_std.astype(np.float64)
    sum_gx = sum_gc * inv_std64  # Σ g x̂
    gamma_grad[...] = sum_gx
    beta_grad[...] = sum_g
    if training_:  # dx = a g − a Σg/m − (x − μ) γ inv_std² Σ(g x̂)/m
        m = layout[0] * layout[2]
        scale = gamma.astype(np.float64) * inv_std64
        k2, k3 = (-(scale * inv_std64 * sum_gx) / m).astype(x.dtype), (-(scale * sum_g) / m).astype(x.dtype)
    elif not relu_:  # fixed statistics: dx = a g (NumPy: x unread, so an inf in x gives no NaN)
        return np.multiply(dout, _ref._per_feature(x, axis_, a)[0], out=dx), gamma_grad, beta_grad
    else:
        k2 = k3 = np.zeros(C, dtype=x.dtype)
    _bn.backward_apply(g3, x3, mean, a, beta, a, k2, k3, dx.reshape(layout), relu_, threads)
    return dx, gamma_grad, beta_grad

# --- residual blocks ------------------------------------------------------------------------------------------


@_same_docs(_ref.add_relu_forward)
def add_relu_forward(inputs: Sequence[FloatArray], *, out: FloatArray | None = None) -> FloatArray:
    xs, y = checks.check_add_relu_forward(inputs, out)
    first = xs[0]
    if len(xs) > 2:  # (x₀ + x₁ + …) + x_last: the reference's order, so the same bits
        first = xs[0] + xs[1]
        for x in xs[2:-1]:
            first += x
    _fused.add_relu_forward(first.reshape(-1), xs[-1].reshape(-1), y.reshape(-1), num_threads_now())
    return y


# --- image layouts --------------------------------------------------------------------------------------------


def _batched_transpose(x: FloatArray, out: FloatArray, rows: int, cols: int) -> FloatArray:
    """out[b] = x[b]ᵀ with x[b] seen as a (rows, cols) matrix (layout.pyx)."""
    _layout.transpose(x.reshape(x.shape[0], rows, cols), out.reshape(x.shape[0], cols, rows), num_threads_now())
    return out


@_same_docs(_ref.nchw_to_nhwc)
def nchw_to_nhwc(x: FloatArray, *, out: FloatArray | None = None) -> FloatArray:
    out = checks.check_layout_transpose(x, out, "nchw_to_nhwc", (0, 2, 3, 1))
    return _batched_transpose(x, out, x.shape[1], x.shape[2] * x.shape[3])


@_same_docs(_ref.nhwc_to_nchw)
def nhwc_to_nchw(x: FloatArray, *, out: FloatArray | None = None) -> FloatArray:
    out = checks.check_layout_transpose(x, out, "nhwc_to_nchw", (0, 3, 1, 2))
    return _batched_transpose(x, out, x.shape[1] * x.shape[2], x.shape[3])
