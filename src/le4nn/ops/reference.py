"""NumPy reference implementation of every le4nn kernel.

This is the readable path: each function follows the course handout's equations, vectorized over the
batch and the channels (loops run only over the kh × kw offsets of a window, as in the handout).
The compiled kernels in :mod:`le4nn.ops.native` have exactly the same signatures and semantics, list
the ops in the same order and are tested against these functions.  Each op starts with its argument
check from :mod:`le4nn.ops._checks` (shared with the native twin: it validates the arguments and
allocates the results), so what follows it is the computation alone.

Conventions (docs/design.md §2): NCHW, or NHWC in ``*_nhwc``; float32 and float64 are supported; ``stride`` is an int
or a pair ``(sh, sw)``; ``pad`` is an int, a pair ``(ph, pw)`` or ``(top, bottom, left, right)``;
every function takes an optional preallocated ``out=`` array.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from le4nn._typing import Array, FloatArray, IntArray, Padding, Shape, Stride
from le4nn.ops import _checks as checks
from le4nn.ops._arguments import Geometry

# ---------------------------------------------------------------------------------------------------
# im2col / col2im (handout 5.7.5, eq. 59–62)
# ---------------------------------------------------------------------------------------------------


def _window_slices(g: Geometry, i: int, j: int) -> tuple[slice, slice]:
    """Slices of the padded input that offset (i, j) of every window reads."""
    return (
        slice(i, i + g.sh * (g.OH - 1) + 1, g.sh),
        slice(j, j + g.sw * (g.OW - 1) + 1, g.sw),
    )


def im2col(x: FloatArray, kh: int, kw: int, stride: Stride = 1, pad: Padding = 0, *,
           out: FloatArray | None = None) -> FloatArray:
    """Unfold the windows of an NCHW batch into the columns of a matrix (handout eq. 59).

    Returns X' of shape (C·kh·kw, B·OH·OW): row ``c·kh·kw + i·kw + j`` holds input channel c at
    window offset (i, j); column ``b·OH·OW + oh·OW + ow`` is the window of image b at output
    position (oh, ow).  The convolution is then one GEMM, Y = W X' with W of shape (K, C·kh·kw).
    Padding reads as zeros.
    """
    g, cols = checks.check_im2col(x, kh, kw, stride, pad, out)
    x_padded = np.pad(x, ((0, 0), (0, 0), (g.pt, g.pb), (g.pl, g.pr)))
    cols_6d = cols.reshape(g.C, g.kh, g.kw, g.B, g.OH, g.OW)
    for i in range(g.kh):
        for j in range(g.kw):
            rows, columns = _window_slices(g, i, j)
            cols_6d[:, i, j] = x_padded[:, :, rows, columns].transpose(1, 0, 2, 3)
    return cols


def col2im(cols: FloatArray, x_shape: Shape, kh: int, kw: int, stride: Stride = 1, pad: Padding = 0, *,
           out: FloatArray | None = None) -> FloatArray:
    """Fold columns back into an NCHW batch: the adjoint of :func:`im2col` (handout eq. 62).

    Where windows overlap, their contributions are summed (scatter-add), so that
    ⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩; contributions that fall on the padding are dropped.
    This turns ∂E/∂X' = Wᵀ ∂E/∂Y into ∂E/∂X.
    """
    g, x = checks.check_col2im(cols, x_shape, kh, kw, stride, pad, out)
    x_padded = np.zeros((g.B, g.C, g.H + g.pt + g.pb, g.W + g.pl + g.pr), dtype=cols.dtype)
    cols_6d = cols.reshape(g.C, g.kh, g.kw, g.B, g.OH, g.OW)
    for i in range(g.kh):
        for j in range(g.kw):
            rows, columns = _window_slices(g, i, j)
            x_padded[:, :, rows, columns] += cols_6d[:, i, j].transpose(1, 0, 2, 3)
    x[...] = x_padded[:, :, g.pt : g.pt + g.H, g.pl : g.pl + g.W]
    return x


# ---------------------------------------------------------------------------------------------------
# Pooling (handout eq. 63–64)
# ---------------------------------------------------------------------------------------------------


def _window_positions(g: Geometry) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each window offset k = i·kw + j and output position: the input row, column and validity."""
    i, j = np.divmod(np.arange(g.kh * g.kw), g.kw)
    rows = np.arange(g.OH)[None, :, None] * g.sh - g.pt + i[:, None, None]  # (k, OH, 1)
    cols = np.arange(g.OW)[None, None, :] * g.sw - g.pl + j[:, None, None]  # (k, 1, OW)
    valid = (rows >= 0) & (rows < g.H) & (cols >= 0) & (cols < g.W)  # (k, OH, OW)
    return rows, cols, valid


def maxpool2d_forward(x: FloatArray, kh: int, kw: int, stride: Stride | None = None, pad: Padding = 0, *,
                      out: FloatArray | None = None,
                      argmax_out: IntArray | None = None) -> tuple[FloatArray, IntArray]:
    """Max pooling (handout eq. 63): each output is the maximum of its kh × kw window.

    Returns ``(out, argmax)``; ``argmax`` (int32, shape of ``out``) is the flat index ``h·W + w``
    within the input plane of the element that won, which is where eq. 64 sends the gradient.
    Ties go to the first maximum in row-major window order (as PyTorch); a NaN in a window wins
    (the first NaN), so NaN propagates.  ``stride`` defaults to the pool size; padding never wins.
    """
    g, out, argmax = checks.check_maxpool2d_forward(x, kh, kw, stride, pad, out, argmax_out)
    x_padded = np.pad(x, ((0, 0), (0, 0), (g.pt, g.pb), (g.pl, g.pr)), constant_values=-np.inf)
    windows = np.empty((g.kh * g.kw, g.B, g.C, g.OH, g.OW), dtype=x.dtype)
    for i in range(g.kh):
        for j in range(g.kw):
            rows, columns = _window_slices(g, i, j)
            windows[i * g.kw + j] = x_padded[:, :, rows, columns]
    winner = np.argmax(windows, axis=0)  # first maximum; the first NaN if there is one

    # A padding cell (-inf) can only win a window whose real elements are all -inf: give the win to
    # the first real element instead, so that the gradient never lands on the padding.
    in_rows, in_cols, valid = _window_positions(g)
    first_valid = np.argmax(valid, axis=0)  # (OH, OW)
    oh, ow = np.arange(g.OH)[:, None], np.arange(g.OW)[None, :]
    winner = np.where(valid[winner, oh, ow], winner, first_valid)

    out[...] = np.take_along_axis(windows, winner[None], axis=0)[0]
    argmax[...] = in_rows[winner, oh, 0] * g.W + in_cols[winner, 0, ow]
    return out, argmax


def maxpool2d_backward(dout: FloatArray, argmax: IntArray, x_shape: Shape, *,
                       out: FloatArray | None = None) -> FloatArray:
    """Gradient of max pooling (handout eq. 64): each output's gradient goes to its window's winner.

    Overlapping windows that share a winner add their gradients.
    """
    dx = checks.check_maxpool2d_backward(dout, argmax, x_shape, out)
    B, C, H, W = dx.shape
    plane = np.arange(B * C).reshape(B, C, 1, 1) * (H * W)
    target = (plane + argmax).ravel()
    dx.ravel()[...] = np.bincount(target, weights=dout.ravel(), minlength=B * C * H * W)
    return dx


def _avgpool_divisor(g: Geometry, count_include_pad: bool, dtype: np.dtype) -> FloatArray:
    """How many elements each window averages: kh·kw, or only the real (non-padding) ones."""
    if count_include_pad:
        return np.full((g.OH, g.OW), g.kh * g.kw, dtype=dtype)
    _, _, valid = _window_positions(g)
    return valid.sum(axis=0).astype(dtype)  # (OH, OW)


def avgpool2d_forward(x: FloatArray, kh: int, kw: int, stride: Stride | None = None, pad: Padding = 0,
                      count_include_pad: bool = True, *,
                      out: FloatArray | None = None) -> FloatArray:
    """Average pooling: each output is the mean of its kh × kw window (handout eq. 63 with the mean in
    place of the maximum).

    Padding reads as zeros.  With ``count_include_pad=True`` (PyTorch's default) every window is
    divided by kh·kw; with ``False`` (Keras/TensorFlow's behaviour for ``padding="same"``) only by the
    number of real input elements it covers.  ``stride`` defaults to the pool size.
    """
    g, out = checks.check_avgpool2d_forward(x, kh, kw, stride, pad, out)
    x_padded = np.pad(x, ((0, 0), (0, 0), (g.pt, g.pb), (g.pl, g.pr)))
    total = np.zeros((g.B, g.C, g.OH, g.OW), dtype=x.dtype)
    for i in range(g.kh):
        for j in range(g.kw):
            rows, columns = _window_slices(g, i, j)
            total += x_padded[:, :, rows, columns]
    np.divide(total, _avgpool_divisor(g, count_include_pad, x.dtype), out=out)
    return out


def avgpool2d_backward(dout: FloatArray, x_shape: Shape, kh: int, kw: int, stride: Stride | None = None,
                       pad: Padding = 0,
                       count_include_pad: bool = True, *, out: FloatArray | None = None) -> FloatArray:
    """Gradient of average pooling: each window spreads its gradient evenly over its elements (the
    counterpart of handout eq. 64)."""
    g, dx = checks.check_avgpool2d_backward(dout, x_shape, kh, kw, stride, pad, out)
    share = dout / _avgpool_divisor(g, count_include_pad, dout.dtype)
    dx_padded = np.zeros((g.B, g.C, g.H + g.pt + g.pb, g.W + g.pl + g.pr), dtype=dout.dtype)
    for i in range(g.kh):
        for j in range(g.kw):
            rows, columns = _window_slices(g, i, j)
            dx_padded[:, :, rows, columns] += share
    dx[...] = dx_padded[:, :, g.pt : g.pt + g.H, g.pl : g.pl + g.W]
    return dx


# ---------------------------------------------------------------------------------------------------
# Channels-last (NHWC) windows: im2col/col2im, max pooling, direct convolution
#
# Keras's default layout is (B, H, W, C).  Working on it directly spares the layers a transpose at
# every boundary, and the column matrix comes out in the GEMM layout the layer wants: one row per
# output pixel, (B·OH·OW) × (kh·kw·C), whose columns follow the Keras kernel (kh, kw, C, K) reshaped
# to (kh·kw·C, K).  So the convolution is Y = X' W with Y already NHWC (handout eq. 59, transposed).
# ---------------------------------------------------------------------------------------------------


def im2col_nhwc(x: FloatArray, kh: int, kw: int, stride: Stride = 1, pad: Padding = 0, *,
                out: FloatArray | None = None) -> FloatArray:
    """Unfold the windows of an NHWC batch into the rows of a matrix (handout eq. 59, channels last).

    Returns X' of shape (B·OH·OW, kh·kw·C): row ``b·OH·OW + oh·OW + ow`` is the window of image b at
    output position (oh, ow), and column ``(i·kw + j)·C + c`` holds input channel c at window offset
    (i, j).  With the Keras kernel (kh, kw, C, K) reshaped to W' (kh·kw·C, K), the convolution is
    X' W' of shape (B·OH·OW, K): the NHWC output.  Padding reads as zeros.
    """
    g, cols = checks.check_im2col_nhwc(x, kh, kw, stride, pad, out)
    x_padded = np.pad(x, ((0, 0), (g.pt, g.pb), (g.pl, g.pr), (0, 0)))
    cols_6d = cols.reshape(g.B, g.OH, g.OW, g.kh, g.kw, g.C)
    for i in range(g.kh):
        for j in range(g.kw):
            rows, columns = _window_slices(g, i, j)
            cols_6d[:, :, :, i, j, :] = x_padded[:, rows, columns, :]
    return cols


def col2im_nhwc(cols: FloatArray, x_shape: Shape, kh: int, kw: int, stride: Stride = 1, pad: Padding = 0, *,
                out: FloatArray | None = None) -> FloatArray:
    """Fold rows back into an NHWC batch: the adjoint of :func:`im2col_nhwc` (handout eq. 62).

    ``x_shape`` is (B, H, W, C).  Where windows overlap their contributions are summed (in the order
    of the window offsets (i, j), row-major); contributions that fall on the padding are dropped.
    """
    g, x = checks.check_col2im_nhwc(cols, x_shape, kh, kw, stride, pad, out)
    x_padded = np.zeros((g.B, g.H + g.pt + g.pb, g.W + g.pl + g.pr, g.C), dtype=cols.dtype)
    cols_6d = cols.reshape(g.B, g.OH, g.OW, g.kh, g.kw, g.C)
    for i in range(g.kh):
        for j in range(g.kw):
            rows, columns = _window_slices(g, i, j)
            x_padded[:, rows, columns, :] += cols_6d[:, :, :, i, j, :]
    x[...] = x_padded[:, g.pt : g.pt + g.H, g.pl : g.pl + g.W, :]
    return x


def maxpool2d_nhwc_forward(x: FloatArray, kh: int, kw: int, stride: Stride | None = None, pad: Padding = 0, *,
                           out: FloatArray | None = None,
                           argmax_out: IntArray | None = None) -> tuple[FloatArray, IntArray]:
    """Max pooling of an NHWC batch (handout eq. 63): :func:`maxpool2d_forward` with channels last.

    Returns ``(out, argmax)``, both (B, OH, OW, C); ``argmax`` (int32) is the flat spatial index
    ``h·W + w`` of the winner in its input plane (its channel is the output's).  Same rules: ties go
    to the first maximum in row-major window order, the first NaN wins, padding never wins.
    """
    g, out, argmax = checks.check_maxpool2d_nhwc_forward(x, kh, kw, stride, pad, out, argmax_out)
    # The same computation as the NCHW reference, on the channels-first view of the batch.
    out_nchw, argmax_nchw = maxpool2d_forward(
        np.ascontiguousarray(x.transpose(0, 3, 1, 2)), g.kh, g.kw, (g.sh, g.sw), (g.pt, g.pb, g.pl, g.pr)
    )
    out[...] = out_nchw.transpose(0, 2, 3, 1)
    argmax[...] = argmax_nchw.transpose(0, 2, 3, 1)
    return out, argmax


def maxpool2d_nhwc_backward(dout: FloatArray, argmax: IntArray, x_shape: Shape, *,
                            out: FloatArray | None = None) -> FloatArray:
    """Gradient of NHWC max pooling (handout eq. 64): each output's gradient goes to its window's
    winner ``argmax`` (flat spatial index); overlapping windows that share a winner add up."""
    dx = checks.check_maxpool2d_nhwc_backward(dout, argmax, x_shape, out)
    B, H, W, C = dx.shape
    # Element (b, h, w, c) of dx sits at flat position ((b·H·W) + h·W + w)·C + c.
    image = np.arange(B).reshape(B, 1, 1, 1) * (H * W)
    channel = np.arange(C).reshape(1, 1, 1, C)
    target = ((image + argmax) * C + channel).ravel()
    dx.ravel()[...] = np.bincount(target, weights=dout.ravel(), minlength=B * H * W * C)
    return dx


def conv2d_nhwc_forward(x: FloatArray, kernel: FloatArray, bias: FloatArray | None = None, stride: Stride = 1,
                        pad: Padding = 0, relu: bool = False, *,
                        out: FloatArray | None = None) -> FloatArray:
    """2-D convolution of an NHWC batch with a Keras kernel (kh, kw, C, K), plus ``bias`` (K,) and,
    with ``relu=True``, the ReLU: y = max(0, X' W + b) of shape (B, OH, OW, K) (handout eq. 59).

    The result is that of :func:`im2col_nhwc` followed by one matrix product; the compiled backend
    computes it directly, without the column matrix (fast when C·kh·kw is small, e.g. the first
    layer of a network on gray images).
    """
    g, bias, y = checks.check_conv2d_nhwc_forward(x, kernel, bias, stride, pad, out)
    kh, kw, C, K = kernel.shape
    cols = im2col_nhwc(x, kh, kw, (g.sh, g.sw), (g.pt, g.pb, g.pl, g.pr))
    y_2d = y.reshape(-1, K)
    np.matmul(cols, kernel.reshape(kh * kw * C, K), out=y_2d)
    if bias is not None:
        y_2d += bias
    if relu:
        relu_forward(y, out=y)
    return y


def conv2d_nhwc_filter_grad(x: FloatArray, dout: FloatArray, kh: int, kw: int, stride: Stride = 1, pad: Padding = 0,
                            y: FloatArray | None = None, *,
                            out: FloatArray | None = None,
                            bias_grad_out: FloatArray | None = None) -> tuple[FloatArray, FloatArray | None]:
    """∂E/∂kernel and ∂E/∂bias of :func:`conv2d_nhwc_forward` (handout eq. 60–61), without ∂E/∂x.

    ``dout`` (B, OH, OW, K) is ∂E/∂y.  With ``y`` (the forward output of a ``relu=True`` call) the
    ReLU is back-propagated first: ∂E/∂z = ∂E/∂y where y > 0, else 0.  Then ∂E/∂W = X'ᵀ ∂E/∂z as a
    (kh, kw, C, K) kernel (into ``out``) and ∂E/∂b = Σ ∂E/∂z over batch and positions (into
    ``bias_grad_out``).  Returns ``(kernel_grad, bias_grad)``.
    """
    g, kernel_grad, bias_grad = checks.check_conv2d_nhwc_filter_grad(x, dout, kh, kw, stride, pad, y, out,
                                                                      bias_grad_out)
    K = dout.shape[3]
    grad_z = dout if y is None else relu_backward(dout, y)
    grad_z_2d = grad_z.reshape(-1, K)
    cols = im2col_nhwc(x, g.kh, g.kw, (g.sh, g.sw), (g.pt, g.pb, g.pl, g.pr))
    np.matmul(cols.T, grad_z_2d, out=kernel_grad.reshape(-1, K))
    np.sum(grad_z_2d, axis=0, out=bias_grad)
    return kernel_grad, bias_grad


def conv2d_nhwc_pool_forward(x: FloatArray, kernel: FloatArray, bias: FloatArray | None, stride: Stride, pad: Padding,
                             relu: bool, pool_kh: int, pool_kw: int, pool_stride: Stride | None = None,
                             pool_pad: Padding = 0,
                             *, out: FloatArray | None = None,
                             argmax_out: IntArray | None = None) -> tuple[FloatArray, IntArray]:
    """Convolution (+ bias, ReLU; handout eq. 59) followed by max pooling (eq. 63), without the convolution's full-size
    output: :func:`conv2d_nhwc_forward` then :func:`maxpool2d_nhwc_forward` (whose ``argmax``
    indexes the convolution's OH × OW output planes).  Returns ``(pooled, argmax)``; the backward
    needs only these (:func:`conv2d_nhwc_filter_grad_pooled`)."""
    g, pg, bias, out, argmax = checks.check_conv2d_nhwc_pool_forward(
        x, kernel, bias, stride, pad, pool_kh, pool_kw, pool_stride, pool_pad, out, argmax_out)
    y = conv2d_nhwc_forward(x, kernel, bias, (g.sh, g.sw), (g.pt, g.pb, g.pl, g.pr), relu)
    return maxpool2d_nhwc_forward(y, pg.kh, pg.kw, (pg.sh, pg.sw), (pg.pt, pg.pb, pg.pl, pg.pr),
                                  out=out, argmax_out=argmax)


def conv2d_nhwc_filter_grad_pooled(x: FloatArray, dout: FloatArray, argmax: IntArray, pooled: FloatArray | None,
                                   kh: int,
                                   kw: int, stride: Stride = 1,
                                   pad: Padding = 0, *, out: FloatArray | None = None,
                                   bias_grad_out: FloatArray | None = None) -> tuple[FloatArray, FloatArray | None]:
    """∂E/∂kernel and ∂E/∂bias of a convolution followed by a ReLU and a max pooling, from ∂E/∂(the
    pooled output; handout eq. 64, then eq. 60–61): one pass instead of the pooling's backward, the ReLU's and
    :func:`conv2d_nhwc_filter_grad` (for a first layer, whose ∂E/∂x nobody needs).

    ``dout`` and ``argmax`` (B, PH, PW, K) are the pooling's output gradient and winners (flat
    indices h·OW + w into the convolution's OH × OW output planes, as :func:`maxpool2d_nhwc_forward`
    returns them); ``pooled`` is the pooling's output, whose sign is the ReLU's at the winners (None:
    no ReLU).  Returns ``(kernel_grad, bias_grad)``, those of :func:`conv2d_nhwc_filter_grad` for
    ∂E/∂(convolution output) = the pooling's backward of ``dout`` (masked where pooled <= 0).
    """
    g, kernel_grad, bias_grad = checks.check_conv2d_nhwc_filter_grad_pooled(
        x, dout, argmax, pooled, kh, kw, stride, pad, out, bias_grad_out)
    conv_shape = (g.B, g.OH, g.OW, dout.shape[3])
    masked = dout if pooled is None else np.where(pooled <= 0, 0, dout).astype(dout.dtype)
    grad_z = maxpool2d_nhwc_backward(masked, argmax, conv_shape)  # ∂E/∂(convolution output)
    return conv2d_nhwc_filter_grad(x, grad_z, g.kh, g.kw, (g.sh, g.sw), (g.pt, g.pb, g.pl, g.pr),
                                   out=kernel_grad, bias_grad_out=bias_grad)


# ---------------------------------------------------------------------------------------------------
# Winograd F(2×2, 3×3) and F(4×4, 3×3): 3×3 stride-1 convolutions with 2.25× / 4× fewer multiplications
# (the maths and the ops are in :mod:`le4nn.ops.reference_winograd`; re-exported here, in this order)
# ---------------------------------------------------------------------------------------------------

from le4nn.ops.reference_winograd import (  # noqa: E402, I001 (the order of OPS)
    WINOGRAD4_AT as WINOGRAD4_AT,
    WINOGRAD4_BT as WINOGRAD4_BT,
    WINOGRAD4_G as WINOGRAD4_G,
    WINOGRAD_AT as WINOGRAD_AT,
    WINOGRAD_BT as WINOGRAD_BT,
    WINOGRAD_G as WINOGRAD_G,
    winograd_input_transform as winograd_input_transform,
    winograd_output_transform as winograd_output_transform,
    winograd_gradient_transform as winograd_gradient_transform,
    winograd4_input_transform as winograd4_input_transform,
    winograd4_output_transform as winograd4_output_transform,
    winograd4_gradient_transform as winograd4_gradient_transform,
    winograd_kernel_transform as winograd_kernel_transform,
    winograd_filter_gradient as winograd_filter_gradient,
)

# ---------------------------------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------------------------------


def sigmoid_forward(x: FloatArray, *, out: FloatArray | None = None) -> FloatArray:
    """Sigmoid σ(x) = 1 / (1 + exp(−x)) (handout 4.2), in a form that never overflows.

    With e = exp(−|x|) ∈ (0, 1]: σ(x) = 1 / (1 + e) for x ≥ 0 and e / (1 + e) for x < 0.
    """
    y = checks.check_elementwise("sigmoid_forward", x, out)
    e = np.exp(-np.abs(x))
    np.divide(np.where(x >= 0, 1, e), 1 + e, out=y)
    return y


def sigmoid_backward(dout: FloatArray, y: FloatArray, *, out: FloatArray | None = None) -> FloatArray:
    """Gradient of the sigmoid from its output (handout 4.2): ∂E/∂x = ∂E/∂y · y (1 − y)."""
    dx = checks.check_elementwise_backward("sigmoid_backward", dout, y, out)
    np.multiply(dout, y * (1 - y), out=dx)
    return dx


def relu_forward(x: FloatArray, *, out: FloatArray | None = None) -> FloatArray:
    """ReLU a(x) = max(0, x).  NaN propagates (a NaN input gives a NaN output)."""
    y = checks.check_elementwise("relu_forward", x, out)
    np.copyto(y, np.where(x <= 0, 0, x))
    return y


def relu_backward(dout: FloatArray, y: FloatArray, *, out: FloatArray | None = None) -> FloatArray:
    """Gradient of ReLU: ∂E/∂x = ∂E/∂y where x > 0, else 0 (the derivative at 0 is 0).

    ``y`` is the forward output (the input works as well: y > 0 exactly where x > 0).
    """
    dx = checks.check_elementwise_backward("relu_backward", dout, y, out)
    np.copyto(dx, np.where(y <= 0, 0, dout))
    return dx


# ---------------------------------------------------------------------------------------------------
# Softmax and cross-entropy (handout eq. 5, 6, 8, 12)
# ---------------------------------------------------------------------------------------------------


def softmax_forward(x: FloatArray, *, out: FloatArray | None = None) -> FloatArray:
    """Softmax over the last axis with the max subtraction of handout eq. (5)–(6):
    y_k = exp(a_k − α) / Σ_j exp(a_j − α), α = max_j a_j.
    """
    y = checks.check_softmax_forward(x, out)
    shifted = x - x.max(axis=-1, keepdims=True)
    np.exp(shifted, out=y)
    y /= y.sum(axis=-1, keepdims=True)
    return y


def softmax_cross_entropy_forward(logits: FloatArray, labels: Array, *,
                                  out: FloatArray | None = None) -> tuple[float, FloatArray]:
    """Softmax (eq. 5–6) fused with the cross-entropy averaged over the mini-batch (eq. 8).

    E = −(1/B) Σ_b Σ_k t_bk log y_bk, with log y computed as (a − α) − log Σ exp(a − α) so that the
    loss stays finite for logits of any finite size.  ``labels`` are class indices (B,) or one-hot
    (or soft) targets (B, K).  Returns ``(loss, probabilities)``; the loss is a Python float.
    """
    targets, is_index, probs = checks.check_cross_entropy("softmax_cross_entropy_forward", logits, "logits",
                                                          labels, out)
    B = logits.shape[0]

    shifted = logits - logits.max(axis=1, keepdims=True)
    exp_shifted = np.exp(shifted)
    sums = exp_shifted.sum(axis=1, keepdims=True)
    np.divide(exp_shifted, sums, out=probs)
    log_probs = shifted - np.log(sums)

    if is_index:
        losses = -log_probs[np.arange(B), targets]
    else:  # skip t = 0 terms so that 0 · log 0 counts as 0 (and is never computed: no warning)
        terms = np.multiply(targets, log_probs, out=np.zeros_like(log_probs), where=targets != 0)
        losses = -terms.sum(axis=1)
    return float(losses.sum(dtype=np.float64) / B) if B else 0.0, probs


def softmax_cross_entropy_backward(probs: FloatArray, labels: Array, *, out: FloatArray | None = None) -> FloatArray:
    """Gradient of the mean cross-entropy w.r.t. the logits (handout eq. 12): (y − t) / B."""
    targets, is_index, dx = checks.check_cross_entropy("softmax_cross_entropy_backward", probs, "probs",
                                                       labels, out)
    B = probs.shape[0]

    np.copyto(dx, probs)
    if is_index:
        dx[np.arange(B), targets] -= 1
    else:
        dx -= targets
    dx /= max(B, 1)
    return dx


def softmax_cross_entropy(logits: FloatArray, labels: Array, *, out: FloatArray | None = None,
                          grad_out: FloatArray | None = None) -> tuple[float, FloatArray, FloatArray]:
    """A training step's whole loss: :func:`softmax_cross_entropy_forward` and
    :func:`softmax_cross_entropy_backward` of its probabilities in one call (the labels checked once).
    Returns ``(loss, probs, grad)`` with grad = ∂E/∂logits = (y − t) / B (handout eq. 12); ``out``
    and ``grad_out`` may hold the probabilities and the gradient."""
    targets, _, probs, grad = checks.check_softmax_cross_entropy(logits, labels, out, grad_out)
    loss, _ = softmax_cross_entropy_forward(logits, targets, out=probs)
    softmax_cross_entropy_backward(probs, targets, out=grad)
    return loss, probs, grad


# ---------------------------------------------------------------------------------------------------
# Bias + ReLU, fused (the affine layers' epilogue and its gradient)
# ---------------------------------------------------------------------------------------------------


def bias_relu_forward(x: FloatArray, bias: FloatArray, *, out: FloatArray | None = None) -> FloatArray:
    """y = max(0, x + bias), with ``bias`` (K,) added along the last axis of x (..., K).

    NaN propagates, as in :func:`relu_forward`.  ``out`` may be ``x`` (in place).
    """
    bias, y = checks.check_bias_relu_forward(x, bias, out)
    np.add(x, bias, out=y)
    return relu_forward(y, out=y)


def relu_backward_bias(dout: FloatArray, y: FloatArray, *, out: FloatArray | None = None,
                       bias_grad_out: FloatArray | None = None) -> tuple[FloatArray, FloatArray]:
    """The gradient of :func:`bias_relu_forward`: ∂E/∂x = ∂E/∂y where y > 0, else 0, and
    ∂E/∂bias = the sum of ∂E/∂x over every axis but the last.  Returns ``(dx, bias_grad)``."""
    dx, bias_grad = checks.check_backward_bias("relu_backward_bias", dout, y, out, bias_grad_out)
    relu_backward(dout, y, out=dx)
    np.sum(dx.reshape(-1, y.shape[-1]), axis=0, out=bias_grad)
    return dx, bias_grad


def sigmoid_backward_bias(dout: FloatArray, y: FloatArray, *, out: FloatArray | None = None,
                          bias_grad_out: FloatArray | None = None) -> tuple[FloatArray, FloatArray]:
    """The gradient of the sigmoid from its output, ∂E/∂x = ∂E/∂y · y (1 − y), together with
    ∂E/∂bias = the sum of ∂E/∂x over every axis but the last (the bias of the affine map before the
    sigmoid: handout 4.2).  Returns ``(dx, bias_grad)``."""
    dx, bias_grad = checks.check_backward_bias("sigmoid_backward_bias", dout, y, out, bias_grad_out)
    sigmoid_backward(dout, y, out=dx)
    np.sum(dx.reshape(-1, y.shape[-1]), axis=0, out=bias_grad)
    return dx, bias_grad


# ---------------------------------------------------------------------------------------------------
# Products with a mostly-zero left operand (the first Dense layer on image pixels)
# ---------------------------------------------------------------------------------------------------


def sparse_matmul(x: FloatArray, w: FloatArray, *, bias: FloatArray | None = None, activation: str | None = None,
                  out: FloatArray | None = None) -> FloatArray:
    """z = x · W for x (B, N) and W (N, K): z[b, k] = Σ_i x[b, i] W[i, k] (the Dense layer's affine map,
    handout 4.2), for an x that is mostly zeros, e.g. a batch of MNIST images (≈ 80 % zero pixels);
    then, if given, y = activation(z + bias) with ``bias`` (K,) and ``activation`` ``"relu"`` or
    ``"sigmoid"`` (``None`` or ``"linear"``: none), as :func:`bias_relu_forward` and
    :func:`sigmoid_forward` compute them (the Dense layer's whole forward pass).

    The value is the ordinary product, which is what this reference computes.  The native kernel
    (``le4nn/_kernels/sparse.pyx``) visits only the terms whose x[b, i] is nonzero for one of four
    samples at a time, which is where its speed comes from; its sums may differ in the last bits from
    BLAS's.  An inf or NaN in W would not reach z through a skipped zero pixel, so the native wrapper
    takes the dense product whenever W holds one (0 · inf is NaN on both backends).
    It applies the bias and the activation to each group of rows while they are in cache, with the
    operations of the separate kernels (the same bits as calling them after the product).
    """
    act, bias, z = checks.check_sparse_matmul(x, w, bias, activation, out)
    np.matmul(x, w, out=z)
    if bias is not None:
        np.add(z, bias, out=z)
    if act == "relu":
        relu_forward(z, out=z)
    elif act == "sigmoid":
        sigmoid_forward(z, out=z)
    return z


def sparse_matmul_tn(x: FloatArray, d: FloatArray, *, out: FloatArray | None = None) -> FloatArray:
    """∂E/∂W = xᵀ · ∂E/∂z for x (B, N) and d = ∂E/∂z (B, K): g[i, k] = Σ_b x[b, i] d[b, k] (the Dense
    layer's kernel gradient, handout 4.2), for a mostly-zero x; see :func:`sparse_matmul`."""
    g = checks.check_sparse_matmul_tn(x, d, out)
    return np.matmul(x.T, d, out=g)


# ---------------------------------------------------------------------------------------------------
# The SGD update (handout eq. 40–41), in place
# ---------------------------------------------------------------------------------------------------


def sgd_update(param: FloatArray, grad: FloatArray, learning_rate: float, momentum: float = 0.0,
               velocity: FloatArray | None = None, nesterov: bool = False) -> FloatArray:
    """One SGD step on ``param`` in place (and on ``velocity``, the momentum's Δw); returns ``param``.

    - momentum 0: w ← w − η ∂E/∂w.
    - momentum α (eq. 40–41): Δw ← αΔw − η ∂E/∂w;  w ← w + Δw.
    - nesterov: Δw ← αΔw − η ∂E/∂w;  w ← w + αΔw − η ∂E/∂w.

    η and α are rounded to the arrays' dtype first, and every product and sum is rounded to it in
    this order (no fused multiply-add), so the native kernel gives the same bits.
    """
    lr, m, uses_velocity = checks.check_sgd_update(param, grad, learning_rate, momentum, velocity, nesterov)
    step = param.dtype.type(lr) * grad  # η ∂E/∂w
    if not uses_velocity:
        param -= step
        return param
    velocity *= param.dtype.type(m)
    velocity -= step
    if nesterov:
        param += param.dtype.type(m) * velocity - step
    else:
        param += velocity
    return param


# ---------------------------------------------------------------------------------------------------
# Batch normalization (handout eq. 28–38), optionally followed by a ReLU
# ---------------------------------------------------------------------------------------------------


def _per_feature(x: np.ndarray, axis: int, *vectors: np.ndarray) -> list[np.ndarray]:
    """Per-feature vectors shaped to broadcast against x (features on ``axis``)."""
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    return [v.reshape(shape) for v in vectors]


def batchnorm_forward(x: FloatArray, gamma: FloatArray | None, beta: FloatArray | None, epsilon: float, axis: int = -1,
                      relu: bool = False, mean: FloatArray | None = None, variance: FloatArray | None = None, *,
                      out: FloatArray | None = None) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """y = γ x̂ + β with x̂ = (x − μ) / √(σ² + ε) per feature (``axis``; the statistics run over every
    other axis), then max(y, 0) if ``relu``.  Returns ``(y, mean, variance, inv_std)``, the last
    1/√(σ² + ε), all but y of shape (C,).

    Without ``mean``/``variance`` (training, eq. 28–31): μ and σ² are the batch's mean and biased
    variance (new arrays).  With them (inference, eq. 38): the given moving statistics are used (and
    returned).  ``gamma``/``beta`` None mean 1/0.  The native kernel accumulates the statistics in
    float64 in one pass (the sums of x − x₀ and of its square, x₀ the feature's first value) and
    writes y = (x − μ)·(γ·inv_std) + β, so it differs from this in the last bits.
    """
    axis, relu, gamma, beta, eps, mean, variance, y = checks.check_batchnorm_forward(
        x, gamma, beta, epsilon, axis, relu, mean, variance, out)
    reduce = tuple(a for a in range(x.ndim) if a != axis)
    if mean is None:
        mean = x.mean(axis=reduce)  # μ (eq. 28)
        centered = x - _per_feature(x, axis, mean)[0]
        variance = np.mean(centered * centered, axis=reduce)  # σ² (eq. 29), biased
    inv_std = (1 / np.sqrt(variance.astype(np.float64) + eps)).astype(x.dtype)  # in float64, then rounded
    mean_b, a_b, beta_b = _per_feature(x, axis, mean, gamma * inv_std, beta)
    np.add((x - mean_b) * a_b, beta_b, out=y)  # y = γ x̂ + β (eq. 30–31) as (x − μ)·(γ inv_std) + β
    if relu:
        relu_forward(y, out=y)
    return y, mean, variance, inv_std


def batchnorm_backward(dout: FloatArray, x: FloatArray, gamma: FloatArray | None, beta: FloatArray | None,
                       mean: FloatArray,
                       inv_std: FloatArray, axis: int = -1, relu: bool = False,
                       training: bool = True, *, out: FloatArray | None = None,
                       gamma_grad_out: FloatArray | None = None,
                       beta_grad_out: FloatArray | None = None) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The gradient of :func:`batchnorm_forward` from its input ``x`` and the ``mean`` and ``inv_std`` it
    returned.  Returns ``(dx, gamma_grad, beta_grad)``.

    With ``relu`` the gradient g = ∂E/∂y is first masked by y > 0, y recomputed from x.  Then (eq. 32–37,
    folded): ∂E/∂γ = Σ g x̂, ∂E/∂β = Σ g, and, in training (the statistics were the batch's, so they
    depend on every x of the feature), ∂E/∂x = γ inv_std (g − mean g − x̂ mean(g x̂)); in inference
    (``training=False``: fixed statistics) ∂E/∂x = γ inv_std g.
    """
    axis, relu, training, gamma, beta, dx, gamma_grad, beta_grad = checks.check_batchnorm_backward(
        dout, x, gamma, beta, mean, inv_std, axis, relu, training, out, gamma_grad_out, beta_grad_out)
    reduce = tuple(a for a in range(x.ndim) if a != axis)
    mean_b, inv_std_b, gamma_b, a_b, beta_b = _per_feature(x, axis, mean, inv_std, gamma, gamma * inv_std, beta)
    x_hat = (x - mean_b) * inv_std_b
    grad = relu_backward(dout, (x - mean_b) * a_b + beta_b) if relu else dout  # the forward's y, recomputed
    np.sum(grad * x_hat, axis=reduce, out=gamma_grad)  # ∂E/∂γ (eq. 36)
    np.sum(grad, axis=reduce, out=beta_grad)  # ∂E/∂β (eq. 37)
    grad_hat = grad * gamma_b  # ∂E/∂x̂ (eq. 32)
    if not training:
        return np.multiply(grad_hat, inv_std_b, out=dx), gamma_grad, beta_grad
    dx[...] = inv_std_b * (grad_hat - grad_hat.mean(axis=reduce, keepdims=True)
                           - x_hat * np.mean(grad_hat * x_hat, axis=reduce, keepdims=True))  # eq. 33–35
    return dx, gamma_grad, beta_grad

# Residual blocks
# ---------------------------------------------------------------------------------------------------


def add_relu_forward(inputs: Sequence[FloatArray], *, out: FloatArray | None = None) -> FloatArray:
    """The end of a residual block: y = max(0, x₀ + x₁ + …), the inputs (two or more, one shape and
    dtype, no broadcasting) added left to right as the Add layer does, then the ReLU of handout 4.2.

    NaN propagates as in :func:`relu_forward` (and ∞ − ∞ gives NaN, as NumPy's sum).  ``out`` may be
    one of the inputs.  The gradient is :func:`relu_backward` of ∂E/∂y and y, the same for every input.
    """
    xs, y = checks.check_add_relu_forward(inputs, out)
    total = xs[0] + xs[1]
    for x in xs[2:]:
        total += x
    np.copyto(y, np.where(total <= 0, 0, total))
    return y


from le4nn.ops._reference_layout import nchw_to_nhwc, nhwc_to_nchw  # noqa: E402, F401 (the image layouts)
