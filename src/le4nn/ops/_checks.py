"""One check per op, shared by both backends of :mod:`le4nn.ops`.

``check_<op>(...)`` validates every argument of ``<op>`` before any computation and allocates its
results (or checks the caller's ``out=`` buffers); it returns what the computation needs: the
geometry, the checked optional operands, the output arrays.  :mod:`le4nn.ops.reference` and
:mod:`le4nn.ops.native` both call it first, so the two twins hold only their computation and a bad
call fails on both with the same error class, the same message (naming the op and the argument) and
the same check firing first.

The ops are listed in the order of :mod:`le4nn.ops.reference`; the checks of single arguments they
are built from are in :mod:`le4nn.ops._arguments`; the Winograd ops' checks are in
:mod:`le4nn.ops._checks_winograd`.  Where a native kernel checks something in its
own pass over the data (class labels, max-pooling winners), the check takes ``check_range`` and the
native twin passes ``False``.
"""

from __future__ import annotations

import math

import numpy as np

from le4nn._typing import FloatArray, Shape
from le4nn.ops._arguments import (
    FLOAT_DTYPES,
    Geometry,
    check_argmax,
    check_argmax_range,
    check_bias,
    check_class_axis,
    check_cols_nhwc_shape,
    check_cols_shape,
    check_epilogue_activation,
    check_float_array,
    check_labels,
    check_layout_transpose,  # noqa: F401 (nchw_to_nhwc, nhwc_to_nchw: this file is at its size limit)
    check_same_dtype,
    check_same_shape,
    nchw_shape,
    pool_geometry,
    prepare_out,
    window_geometry,
)

# --- im2col / col2im (handout eq. 59, 62) -------------------------------------------------------------


def check_im2col(x, kh: int, kw: int, stride, pad, out) -> tuple[Geometry, np.ndarray]:
    """:func:`~le4nn.ops.reference.im2col`: ``(geometry, cols)``, cols (C·kh·kw, B·OH·OW)."""
    op = "im2col"
    x = check_float_array(x, op, "x", ndim=4)
    g = window_geometry(x.shape, kh, kw, stride, pad, op)
    return g, prepare_out(out, (g.C * g.kh * g.kw, g.B * g.OH * g.OW), x.dtype, op)


def check_col2im(cols, x_shape: Shape, kh: int, kw: int, stride, pad, out) -> tuple[Geometry, np.ndarray]:
    """:func:`~le4nn.ops.reference.col2im`: ``(geometry, x)``, x (B, C, H, W)."""
    op = "col2im"
    cols = check_float_array(cols, op, "cols", ndim=2)
    g = window_geometry(x_shape, kh, kw, stride, pad, op)
    check_cols_shape(cols, g, op)
    return g, prepare_out(out, (g.B, g.C, g.H, g.W), cols.dtype, op)


# --- pooling (handout eq. 63–64) ------------------------------------------------------------------------


def check_maxpool2d_forward(x, kh: int, kw: int, stride, pad, out,
                            argmax_out) -> tuple[Geometry, np.ndarray, np.ndarray]:
    """:func:`~le4nn.ops.reference.maxpool2d_forward`: ``(geometry, out, argmax)``, (B, C, OH, OW)."""
    op = "maxpool2d_forward"
    x = check_float_array(x, op, "x", ndim=4)
    g = pool_geometry(x.shape, kh, kw, stride, pad, op)
    out = prepare_out(out, (g.B, g.C, g.OH, g.OW), x.dtype, op)
    return g, out, prepare_out(argmax_out, (g.B, g.C, g.OH, g.OW), np.int32, op, "argmax_out")


def check_maxpool2d_backward(dout: FloatArray, argmax, x_shape: Shape, out, check_range: bool = True) -> np.ndarray:
    """:func:`~le4nn.ops.reference.maxpool2d_backward`: dx (B, C, H, W).  ``check_range=False``
    leaves the winners' range to the kernel (it checks before it writes anything)."""
    op = "maxpool2d_backward"
    dout = check_float_array(dout, op, "dout", ndim=4)
    B, C, H, W = check_argmax(argmax, dout, x_shape, op)
    if check_range:
        check_argmax_range(argmax, H, W, op)
    return prepare_out(out, (B, C, H, W), dout.dtype, op)


def check_avgpool2d_forward(x, kh: int, kw: int, stride, pad, out) -> tuple[Geometry, np.ndarray]:
    """:func:`~le4nn.ops.reference.avgpool2d_forward`: ``(geometry, out)``, out (B, C, OH, OW)."""
    op = "avgpool2d_forward"
    x = check_float_array(x, op, "x", ndim=4)
    g = pool_geometry(x.shape, kh, kw, stride, pad, op)
    return g, prepare_out(out, (g.B, g.C, g.OH, g.OW), x.dtype, op)


def check_avgpool2d_backward(dout: FloatArray, x_shape: Shape, kh: int, kw: int, stride, pad,
                             out) -> tuple[Geometry, np.ndarray]:
    """:func:`~le4nn.ops.reference.avgpool2d_backward`: ``(geometry, dx)``, dx (B, C, H, W)."""
    op = "avgpool2d_backward"
    dout = check_float_array(dout, op, "dout", ndim=4)
    g = pool_geometry(x_shape, kh, kw, stride, pad, op)
    if dout.shape != (g.B, g.C, g.OH, g.OW):
        raise ValueError(f"{op}: dout has shape {dout.shape}, expected {(g.B, g.C, g.OH, g.OW)}")
    return g, prepare_out(out, (g.B, g.C, g.H, g.W), dout.dtype, op)


# --- channels-last windows --------------------------------------------------------------------------------


def check_im2col_nhwc(x, kh: int, kw: int, stride, pad, out) -> tuple[Geometry, np.ndarray]:
    """:func:`~le4nn.ops.reference.im2col_nhwc`: ``(geometry, cols)``, cols (B·OH·OW, kh·kw·C)."""
    op = "im2col_nhwc"
    x = check_float_array(x, op, "x", ndim=4)
    g = window_geometry(nchw_shape(x.shape), kh, kw, stride, pad, op)
    return g, prepare_out(out, (g.B * g.OH * g.OW, g.kh * g.kw * g.C), x.dtype, op)


def check_col2im_nhwc(cols, x_shape: Shape, kh: int, kw: int, stride, pad, out) -> tuple[Geometry, np.ndarray]:
    """:func:`~le4nn.ops.reference.col2im_nhwc`: ``(geometry, x)``, x (B, H, W, C)."""
    op = "col2im_nhwc"
    cols = check_float_array(cols, op, "cols", ndim=2)
    g = window_geometry(nchw_shape(x_shape), kh, kw, stride, pad, op)
    check_cols_nhwc_shape(cols, g, op)
    return g, prepare_out(out, (g.B, g.H, g.W, g.C), cols.dtype, op)


def check_maxpool2d_nhwc_forward(x, kh: int, kw: int, stride, pad, out,
                                 argmax_out) -> tuple[Geometry, np.ndarray, np.ndarray]:
    """:func:`~le4nn.ops.reference.maxpool2d_nhwc_forward`: ``(geometry, out, argmax)``, (B, OH, OW, C)."""
    op = "maxpool2d_nhwc_forward"
    x = check_float_array(x, op, "x", ndim=4)
    g = pool_geometry(nchw_shape(x.shape), kh, kw, stride, pad, op)
    out = prepare_out(out, (g.B, g.OH, g.OW, g.C), x.dtype, op)
    return g, out, prepare_out(argmax_out, (g.B, g.OH, g.OW, g.C), np.int32, op, "argmax_out")


def check_maxpool2d_nhwc_backward(dout: FloatArray, argmax, x_shape: Shape, out,
                                  check_range: bool = True) -> np.ndarray:
    """:func:`~le4nn.ops.reference.maxpool2d_nhwc_backward`: dx (B, H, W, C).  ``check_range=False``
    leaves the winners' range to the kernel."""
    op = "maxpool2d_nhwc_backward"
    dout = check_float_array(dout, op, "dout", ndim=4)
    B, H, W, C = check_argmax(argmax, dout, x_shape, op, channels_last=True)
    if check_range:
        check_argmax_range(argmax, H, W, op)
    return prepare_out(out, (B, H, W, C), dout.dtype, op)


def _check_conv_nhwc(op: str, x, kernel, bias, stride, pad) -> tuple[Geometry, np.ndarray | None]:
    """An NHWC input, a Keras kernel (kh, kw, C, K) of the same dtype and an optional bias (K,)."""
    x = check_float_array(x, op, "x", ndim=4)
    kernel = check_float_array(kernel, op, "kernel", ndim=4)
    check_same_dtype(op, x=x, kernel=kernel)
    kh, kw, C, K = kernel.shape
    g = window_geometry(nchw_shape(x.shape), kh, kw, stride, pad, op)
    if C != g.C:
        raise ValueError(f"{op}: kernel has {C} input channels, x has {g.C}")
    return g, check_bias(bias, K, x.dtype, op)


def check_conv2d_nhwc_forward(x, kernel, bias, stride, pad, out) -> tuple[Geometry, np.ndarray | None, np.ndarray]:
    """:func:`~le4nn.ops.reference.conv2d_nhwc_forward`: ``(geometry, bias, y)``, y (B, OH, OW, K)."""
    op = "conv2d_nhwc_forward"
    g, bias = _check_conv_nhwc(op, x, kernel, bias, stride, pad)
    return g, bias, prepare_out(out, (g.B, g.OH, g.OW, kernel.shape[3]), x.dtype, op)


def _check_filter_grad(op: str, x, dout: FloatArray, kh: int, kw: int, stride, pad) -> Geometry:
    """An NHWC input and a ∂E/∂y (B, ·, ·, K) of the same dtype; the convolution's geometry."""
    x = check_float_array(x, op, "x", ndim=4)
    dout = check_float_array(dout, op, "dout", ndim=4)
    check_same_dtype(op, x=x, dout=dout)
    return window_geometry(nchw_shape(x.shape), kh, kw, stride, pad, op)


def _check_like_dout(op: str, dout: np.ndarray, array, name: str) -> None:
    """An optional 4-D array shaped and typed like ``dout``."""
    if array is not None:
        array = check_float_array(array, op, name, ndim=4)
        check_same_shape(op, dout=dout, **{name: array})
        check_same_dtype(op, dout=dout, **{name: array})


def _filter_grads(op: str, g: Geometry, K: int, dtype: np.dtype, out: FloatArray | None,
                  bias_grad_out: FloatArray | None) -> tuple[np.ndarray, np.ndarray]:
    """The kernel gradient (kh, kw, C, K) and the bias gradient (K,)."""
    kernel_grad = prepare_out(out, (g.kh, g.kw, g.C, K), dtype, op)
    return kernel_grad, prepare_out(bias_grad_out, (K,), dtype, op, "bias_grad_out")


def check_conv2d_nhwc_filter_grad(x, dout: FloatArray, kh: int, kw: int, stride, pad, y, out,
                                  bias_grad_out: FloatArray | None) -> tuple[Geometry, np.ndarray, np.ndarray]:
    """:func:`~le4nn.ops.reference.conv2d_nhwc_filter_grad`: ``(geometry, kernel_grad, bias_grad)``."""
    op = "conv2d_nhwc_filter_grad"
    g = _check_filter_grad(op, x, dout, kh, kw, stride, pad)
    K = dout.shape[3]
    if dout.shape[:3] != (g.B, g.OH, g.OW):
        raise ValueError(f"{op}: dout has shape {dout.shape}, expected {(g.B, g.OH, g.OW, K)}")
    _check_like_dout(op, dout, y, "y")
    return g, *_filter_grads(op, g, K, x.dtype, out, bias_grad_out)


def check_conv2d_nhwc_pool_forward(x, kernel, bias, stride, pad, pool_kh, pool_kw, pool_stride, pool_pad, out,
                                   argmax_out) -> tuple[Geometry, Geometry, np.ndarray | None, np.ndarray, np.ndarray]:
    """:func:`~le4nn.ops.reference.conv2d_nhwc_pool_forward`: ``(geometry, pool geometry, bias, out,
    argmax)``, out and argmax (B, PH, PW, K)."""
    op = "conv2d_nhwc_pool_forward"
    g, bias = _check_conv_nhwc(op, x, kernel, bias, stride, pad)
    K = kernel.shape[3]
    pg = pool_geometry((g.B, K, g.OH, g.OW), pool_kh, pool_kw, pool_stride, pool_pad, op)
    out = prepare_out(out, (pg.B, pg.OH, pg.OW, K), x.dtype, op)
    return g, pg, bias, out, prepare_out(argmax_out, (pg.B, pg.OH, pg.OW, K), np.int32, op, "argmax_out")


def check_conv2d_nhwc_filter_grad_pooled(x, dout: FloatArray, argmax, pooled, kh: int, kw: int, stride, pad, out,
                                         bias_grad_out: FloatArray | None) -> tuple[Geometry, np.ndarray, np.ndarray]:
    """:func:`~le4nn.ops.reference.conv2d_nhwc_filter_grad_pooled`: ``(geometry, kernel_grad,
    bias_grad)``; argmax indexes the convolution's OH × OW output planes."""
    op = "conv2d_nhwc_filter_grad_pooled"
    g = _check_filter_grad(op, x, dout, kh, kw, stride, pad)
    K = dout.shape[3]
    check_argmax(argmax, dout, (g.B, g.OH, g.OW, K), op, channels_last=True)
    check_argmax_range(argmax, g.OH, g.OW, op, "convolution output plane")
    _check_like_dout(op, dout, pooled, "pooled")
    return g, *_filter_grads(op, g, K, x.dtype, out, bias_grad_out)


# --- activations, softmax, cross-entropy, bias + activation ------------------------------------------------


def check_elementwise(op: str, x, out) -> np.ndarray:
    """``sigmoid_forward``, ``relu_forward``: y shaped like x (any shape)."""
    x = check_float_array(x, op, "x")
    return prepare_out(out, x.shape, x.dtype, op)


def _check_dout_y(op: str, dout: FloatArray, y) -> None:
    """∂E/∂y and y of one shape and dtype (any shape)."""
    dout = check_float_array(dout, op, "dout")
    y = check_float_array(y, op, "y")
    check_same_shape(op, dout=dout, y=y)
    check_same_dtype(op, dout=dout, y=y)


def check_elementwise_backward(op: str, dout: FloatArray, y, out) -> np.ndarray:
    """``sigmoid_backward``, ``relu_backward``: dx shaped like y."""
    _check_dout_y(op, dout, y)
    return prepare_out(out, y.shape, y.dtype, op)


def check_softmax_forward(x, out) -> np.ndarray:
    """:func:`~le4nn.ops.reference.softmax_forward`: y shaped like x, whose last axis holds the classes."""
    op = "softmax_forward"
    x = check_float_array(x, op, "x")
    check_class_axis(x, op)
    return prepare_out(out, x.shape, x.dtype, op)


def check_cross_entropy(op: str, scores, name: str, labels, out,
                        check_range: bool = True) -> tuple[np.ndarray, bool, np.ndarray]:
    """``softmax_cross_entropy_forward``, ``softmax_cross_entropy_backward`` and
    ``softmax_cross_entropy``: 2-D ``scores`` (the logits or the probabilities, named ``name``) and
    their labels; returns ``(targets, is_index, result shaped like scores)`` (see
    :func:`~le4nn.ops._arguments.check_labels`)."""
    scores = check_float_array(scores, op, name, ndim=2)
    targets, is_index = check_labels(labels, scores.shape, scores.dtype, op, check_range=check_range)
    return targets, is_index, prepare_out(out, scores.shape, scores.dtype, op)


def check_softmax_cross_entropy(logits: FloatArray, labels, out, grad_out: FloatArray | None,
                                check_range: bool = True) -> tuple[np.ndarray, bool, np.ndarray, np.ndarray]:
    """:func:`~le4nn.ops.reference.softmax_cross_entropy`: ``(targets, is_index, probs, grad)``."""
    op = "softmax_cross_entropy"
    targets, is_index, probs = check_cross_entropy(op, logits, "logits", labels, out, check_range)
    return targets, is_index, probs, prepare_out(grad_out, logits.shape, logits.dtype, op, "grad_out")


def check_bias_relu_forward(x, bias, out) -> tuple[np.ndarray, np.ndarray]:
    """:func:`~le4nn.ops.reference.bias_relu_forward`: ``(bias, y)``, bias (K,) for x (..., K)."""
    op = "bias_relu_forward"
    x = check_float_array(x, op, "x")
    check_class_axis(x, op)
    bias = check_bias(bias, x.shape[-1], x.dtype, op, required=True)
    return bias, prepare_out(out, x.shape, x.dtype, op)


def check_backward_bias(op: str, dout: FloatArray, y, out,
                        bias_grad_out: FloatArray | None) -> tuple[np.ndarray, np.ndarray]:
    """``relu_backward_bias``, ``sigmoid_backward_bias``: ``(dx, bias_grad)``, dx shaped like y (..., K),
    bias_grad (K,)."""
    _check_dout_y(op, dout, y)
    check_class_axis(y, op)
    dx = prepare_out(out, y.shape, y.dtype, op)
    return dx, prepare_out(bias_grad_out, (y.shape[-1],), y.dtype, op, "bias_grad_out")


# --- products with a mostly-zero left operand ----------------------------------------------------------------


def check_matmul_operands(op: str, a: np.ndarray, b: np.ndarray, a_name: str, b_name: str,
                          transpose_a: bool = False) -> tuple[int, int]:
    """For ``a · b`` (or ``aᵀ · b``) of 2-D float arrays: the output's shape, or a clear error."""
    a = check_float_array(a, op, a_name, ndim=2)
    b = check_float_array(b, op, b_name, ndim=2)
    check_same_dtype(op, **{a_name: a, b_name: b})
    inner = a.shape[0] if transpose_a else a.shape[1]
    if inner != b.shape[0]:
        product = f"{a_name}ᵀ · {b_name}" if transpose_a else f"{a_name} · {b_name}"
        raise ValueError(f"{op}: {product} needs matching inner sizes, got {a_name} {a.shape} and {b_name} {b.shape}")
    return (a.shape[1] if transpose_a else a.shape[0]), b.shape[1]


def check_sparse_matmul(x, w, bias, activation, out) -> tuple[str, np.ndarray | None, np.ndarray]:
    """:func:`~le4nn.ops.reference.sparse_matmul`: ``(activation name, bias, z)``, z (B, K)."""
    op = "sparse_matmul"
    B, K = check_matmul_operands(op, x, w, "x", "w")
    act = check_epilogue_activation(activation, op)
    bias = check_bias(bias, K, x.dtype, op)
    return act, bias, prepare_out(out, (B, K), x.dtype, op)


def check_sparse_matmul_tn(x, d, out) -> np.ndarray:
    """:func:`~le4nn.ops.reference.sparse_matmul_tn`: g = xᵀ d (N, K)."""
    op = "sparse_matmul_tn"
    N, K = check_matmul_operands(op, x, d, "x", "d", transpose_a=True)
    return prepare_out(out, (N, K), x.dtype, op)


# --- the SGD update -------------------------------------------------------------------------------------------


def check_sgd_update(param, grad, learning_rate, momentum, velocity, nesterov) -> tuple[float, float, bool]:
    """:func:`~le4nn.ops.reference.sgd_update`, in place on ``param`` (and ``velocity``): float arrays of
    one shape and dtype, writeable where written (any strides: the native wrapper hands non-contiguous
    ones to the reference); returns ``(lr, momentum, uses_velocity)`` with the rates as floats."""
    op = "sgd_update"
    lr, m = float(learning_rate), float(momentum)
    if not (math.isfinite(lr) and math.isfinite(m) and m >= 0):
        raise ValueError(f"{op}: learning_rate and momentum must be finite (momentum >= 0), got {lr}, {m}")
    uses_velocity = bool(m or nesterov)
    if uses_velocity and velocity is None:
        raise ValueError(f"{op}: momentum {m} (nesterov={bool(nesterov)}) needs a velocity array")
    if (type(param) is np.ndarray and type(grad) is np.ndarray and param.dtype in FLOAT_DTYPES
            and grad.dtype == param.dtype and grad.shape == param.shape and param.flags.writeable
            and (not uses_velocity or (type(velocity) is np.ndarray and velocity.dtype == param.dtype
                                       and velocity.shape == param.shape and velocity.flags.writeable))):
        return lr, m, uses_velocity  # the common case, checked cheaply (an optimizer step calls it per weight)
    arrays = {"param": param, "grad": grad, **({"velocity": velocity} if uses_velocity else {})}
    for name, a in arrays.items():
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{op}: {name} must be a NumPy array, got {type(a).__name__}")
        if a.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{op}: {name} must be float32 or float64, got {a.dtype}")
        if name != "grad" and not a.flags.writeable:
            raise ValueError(f"{op}: {name} is read-only; the update writes into it")
    check_same_shape(op, **arrays)
    check_same_dtype(op, **arrays)
    return lr, m, uses_velocity


# --- batch normalization (handout eq. 28–38) ------------------------------------------------------------------


def _feature_vector(v, name: str, size: int, dtype, op: str, default: float | None = None) -> np.ndarray:
    """A 1-D C-contiguous per-feature vector of ``size`` entries in ``dtype``; None gives ``default``
    everywhere (an error when there is no default)."""
    if v is None and default is not None:
        return np.full(size, default, dtype=dtype)
    if v is None:
        raise TypeError(f"{op}: {name} must be a NumPy array, got None")
    v = check_float_array(v, op, name, ndim=1)
    if v.shape[0] != size:
        raise ValueError(f"{op}: {name} has {v.shape[0]} entries, expected {size} (the size of the feature axis)")
    if v.dtype != np.dtype(dtype):
        raise TypeError(f"{op}: {name} has dtype {v.dtype}, expected {np.dtype(dtype)} (that of x)")
    return v


def _feature_axis(x: np.ndarray, axis, op: str) -> int:
    """The feature axis of x as a non-negative int: any axis but the first (the batch)."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{op}: axis must be an int, got {axis!r}")
    if x.ndim < 2 or not -x.ndim <= axis < x.ndim or axis % x.ndim == 0:
        raise ValueError(f"{op}: axis {axis} is not a feature axis of x of shape {x.shape} (any axis but the first)")
    return int(axis) % x.ndim


def _flag(value, op: str, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{op}: {name} must be True or False, got {value!r}")
    return bool(value)


def check_batchnorm_forward(x, gamma, beta, epsilon, axis, relu, mean, variance, out):
    """:func:`~le4nn.ops.reference.batchnorm_forward`: ``(axis, relu, gamma, beta, epsilon, mean, variance, y)``,
    gamma/beta filled with ones/zeros when None, mean/variance None for the batch statistics."""
    op = "batchnorm_forward"
    x = check_float_array(x, op, "x")
    axis = _feature_axis(x, axis, op)
    C = x.shape[axis]
    eps = epsilon
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating, np.integer)) or not (
            math.isfinite(eps) and eps >= 0):
        raise ValueError(f"{op}: epsilon must be a finite number >= 0, got {epsilon!r}")
    relu = _flag(relu, op, "relu")
    gamma = _feature_vector(gamma, "gamma", C, x.dtype, op, default=1.0)
    beta = _feature_vector(beta, "beta", C, x.dtype, op, default=0.0)
    if (mean is None) != (variance is None):
        raise ValueError(f"{op}: give both mean and variance (inference) or neither (batch statistics)")
    if mean is None:
        if x.size == 0 and C > 0:
            raise ValueError(f"{op}: x of shape {x.shape} has no values per feature for the batch statistics")
    else:
        mean = _feature_vector(mean, "mean", C, x.dtype, op)
        variance = _feature_vector(variance, "variance", C, x.dtype, op)
    return axis, relu, gamma, beta, float(eps), mean, variance, prepare_out(out, x.shape, x.dtype, op)


def check_batchnorm_backward(dout: FloatArray, x, gamma, beta, mean, inv_std, axis, relu, training, out, gamma_grad_out,
                             beta_grad_out):
    """:func:`~le4nn.ops.reference.batchnorm_backward`: ``(axis, relu, training, gamma, beta, dx,
    gamma_grad, beta_grad)``; gamma/beta filled with ones/zeros when None."""
    op = "batchnorm_backward"
    dout = check_float_array(dout, op, "dout")
    x = check_float_array(x, op, "x")
    check_same_shape(op, dout=dout, x=x)
    check_same_dtype(op, dout=dout, x=x)
    axis = _feature_axis(x, axis, op)
    relu, training = _flag(relu, op, "relu"), _flag(training, op, "training")
    C = x.shape[axis]
    gamma = _feature_vector(gamma, "gamma", C, x.dtype, op, default=1.0)
    beta = _feature_vector(beta, "beta", C, x.dtype, op, default=0.0)
    _feature_vector(mean, "mean", C, x.dtype, op)
    _feature_vector(inv_std, "inv_std", C, x.dtype, op)
    dx = prepare_out(out, x.shape, x.dtype, op)
    gamma_grad = prepare_out(gamma_grad_out, (C,), x.dtype, op, "gamma_grad_out")
    return axis, relu, training, gamma, beta, dx, gamma_grad, prepare_out(beta_grad_out, (C,), x.dtype, op,
                                                                           "beta_grad_out")

# --- residual blocks ----------------------------------------------------------------------------------------


def check_add_relu_forward(inputs, out) -> tuple[list[np.ndarray], np.ndarray]:
    """:func:`~le4nn.ops.reference.add_relu_forward`: ``(inputs as a list, y)``: at least two arrays of
    one shape and dtype (no broadcasting), y shaped like them."""
    op = "add_relu_forward"
    if not isinstance(inputs, (list, tuple)):
        raise TypeError(f"{op}: inputs must be a list or tuple of arrays, got {type(inputs).__name__}")
    if len(inputs) < 2:
        raise ValueError(f"{op}: inputs must hold at least 2 arrays, got {len(inputs)}")
    xs = [check_float_array(x, op, f"inputs[{k}]") for k, x in enumerate(inputs)]
    named = {f"inputs[{k}]": x for k, x in enumerate(xs)}
    check_same_shape(op, **named)
    check_same_dtype(op, **named)
    return xs, prepare_out(out, xs[0].shape, xs[0].dtype, op)
