"""NumPy reference implementation of every le4nn kernel.

This is the readable path: each function follows the course handout's equations, vectorized over the
batch and the channels (loops run only over the kh × kw offsets of a window, as in the handout).
The compiled kernels in :mod:`le4nn.ops.native` have exactly the same signatures and semantics and
are tested against these functions.

Conventions (DESIGN.md §2): images are NCHW; float32 and float64 are supported; ``stride`` is an int
or a pair ``(sh, sw)``; ``pad`` is an int, a pair ``(ph, pw)`` or ``(top, bottom, left, right)``;
every function takes an optional preallocated ``out=`` array.
"""

from __future__ import annotations

import numpy as np

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

# ---------------------------------------------------------------------------------------------------
# im2col / col2im (handout 5.7.5, eq. 59–62)
# ---------------------------------------------------------------------------------------------------


def _window_slices(g, i, j):
    """Slices of the padded input that offset (i, j) of every window reads."""
    return (
        slice(i, i + g.sh * (g.OH - 1) + 1, g.sh),
        slice(j, j + g.sw * (g.OW - 1) + 1, g.sw),
    )


def im2col(x, kh, kw, stride=1, pad=0, *, out=None):
    """Unfold the windows of an NCHW batch into the columns of a matrix (handout eq. 59).

    Returns X' of shape (C·kh·kw, B·OH·OW): row ``c·kh·kw + i·kw + j`` holds input channel c at
    window offset (i, j); column ``b·OH·OW + oh·OW + ow`` is the window of image b at output
    position (oh, ow).  The convolution is then one GEMM, Y = W X' with W of shape (K, C·kh·kw).
    Padding reads as zeros.
    """
    op = "im2col"
    x = check_float_array(x, op, "x", ndim=4)
    g = window_geometry(x.shape, kh, kw, stride, pad, op)
    cols = prepare_out(out, (g.C * g.kh * g.kw, g.B * g.OH * g.OW), x.dtype, op)

    x_padded = np.pad(x, ((0, 0), (0, 0), (g.pt, g.pb), (g.pl, g.pr)))
    cols_6d = cols.reshape(g.C, g.kh, g.kw, g.B, g.OH, g.OW)
    for i in range(g.kh):
        for j in range(g.kw):
            rows, columns = _window_slices(g, i, j)
            cols_6d[:, i, j] = x_padded[:, :, rows, columns].transpose(1, 0, 2, 3)
    return cols


def col2im(cols, x_shape, kh, kw, stride=1, pad=0, *, out=None):
    """Fold columns back into an NCHW batch: the adjoint of :func:`im2col` (handout eq. 62).

    Where windows overlap, their contributions are summed (scatter-add), so that
    ⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩; contributions that fall on the padding are dropped.
    This turns ∂E/∂X' = Wᵀ ∂E/∂Y into ∂E/∂X.
    """
    op = "col2im"
    cols = check_float_array(cols, op, "cols", ndim=2)
    g = window_geometry(x_shape, kh, kw, stride, pad, op)
    check_cols_shape(cols, g, op)
    x = prepare_out(out, (g.B, g.C, g.H, g.W), cols.dtype, op)

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


def _window_positions(g):
    """For each window offset k = i·kw + j and output position: the input row, column and validity."""
    i, j = np.divmod(np.arange(g.kh * g.kw), g.kw)
    rows = np.arange(g.OH)[None, :, None] * g.sh - g.pt + i[:, None, None]  # (k, OH, 1)
    cols = np.arange(g.OW)[None, None, :] * g.sw - g.pl + j[:, None, None]  # (k, 1, OW)
    valid = (rows >= 0) & (rows < g.H) & (cols >= 0) & (cols < g.W)  # (k, OH, OW)
    return rows, cols, valid


def maxpool2d_forward(x, kh, kw, stride=None, pad=0, *, out=None, argmax_out=None):
    """Max pooling (handout eq. 63): each output is the maximum of its kh × kw window.

    Returns ``(out, argmax)``; ``argmax`` (int32, shape of ``out``) is the flat index ``h·W + w``
    within the input plane of the element that won, which is where eq. 64 sends the gradient.
    Ties go to the first maximum in row-major window order (as PyTorch); a NaN in a window wins
    (the first NaN), so NaN propagates.  ``stride`` defaults to the pool size; padding never wins.
    """
    op = "maxpool2d_forward"
    x = check_float_array(x, op, "x", ndim=4)
    g = pool_geometry(x.shape, kh, kw, stride, pad, op)
    out = prepare_out(out, (g.B, g.C, g.OH, g.OW), x.dtype, op)
    argmax = prepare_out(argmax_out, (g.B, g.C, g.OH, g.OW), np.int32, op, "argmax_out")

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


def maxpool2d_backward(dout, argmax, x_shape, *, out=None):
    """Gradient of max pooling (handout eq. 64): each output's gradient goes to its window's winner.

    Overlapping windows that share a winner add their gradients.
    """
    op = "maxpool2d_backward"
    dout = check_float_array(dout, op, "dout", ndim=4)
    B, C, H, W = check_argmax(argmax, dout, x_shape, op)
    if argmax.size and (argmax.min() < 0 or argmax.max() >= H * W):
        raise ValueError(f"{op}: argmax holds indices outside the {H}x{W} input plane")
    dx = prepare_out(out, (B, C, H, W), dout.dtype, op)

    plane = np.arange(B * C).reshape(B, C, 1, 1) * (H * W)
    target = (plane + argmax).ravel()
    dx.ravel()[...] = np.bincount(target, weights=dout.ravel(), minlength=B * C * H * W)
    return dx


def _avgpool_divisor(g, count_include_pad, dtype):
    """How many elements each window averages: kh·kw, or only the real (non-padding) ones."""
    if count_include_pad:
        return np.full((g.OH, g.OW), g.kh * g.kw, dtype=dtype)
    _, _, valid = _window_positions(g)
    return valid.sum(axis=0).astype(dtype)  # (OH, OW)


def avgpool2d_forward(x, kh, kw, stride=None, pad=0, count_include_pad=True, *, out=None):
    """Average pooling: each output is the mean of its kh × kw window.

    Padding reads as zeros.  With ``count_include_pad=True`` (PyTorch's default) every window is
    divided by kh·kw; with ``False`` (Keras/TensorFlow's behaviour for ``padding="same"``) only by the
    number of real input elements it covers.  ``stride`` defaults to the pool size.
    """
    op = "avgpool2d_forward"
    x = check_float_array(x, op, "x", ndim=4)
    g = pool_geometry(x.shape, kh, kw, stride, pad, op)
    out = prepare_out(out, (g.B, g.C, g.OH, g.OW), x.dtype, op)

    x_padded = np.pad(x, ((0, 0), (0, 0), (g.pt, g.pb), (g.pl, g.pr)))
    total = np.zeros((g.B, g.C, g.OH, g.OW), dtype=x.dtype)
    for i in range(g.kh):
        for j in range(g.kw):
            rows, columns = _window_slices(g, i, j)
            total += x_padded[:, :, rows, columns]
    np.divide(total, _avgpool_divisor(g, count_include_pad, x.dtype), out=out)
    return out


def avgpool2d_backward(dout, x_shape, kh, kw, stride=None, pad=0, count_include_pad=True, *, out=None):
    """Gradient of average pooling: each window spreads its gradient evenly over its elements."""
    op = "avgpool2d_backward"
    dout = check_float_array(dout, op, "dout", ndim=4)
    g = pool_geometry(x_shape, kh, kw, stride, pad, op)
    if dout.shape != (g.B, g.C, g.OH, g.OW):
        raise ValueError(f"{op}: dout has shape {dout.shape}, expected {(g.B, g.C, g.OH, g.OW)}")
    dx = prepare_out(out, (g.B, g.C, g.H, g.W), dout.dtype, op)

    share = dout / _avgpool_divisor(g, count_include_pad, dout.dtype)
    dx_padded = np.zeros((g.B, g.C, g.H + g.pt + g.pb, g.W + g.pl + g.pr), dtype=dout.dtype)
    for i in range(g.kh):
        for j in range(g.kw):
            rows, columns = _window_slices(g, i, j)
            dx_padded[:, :, rows, columns] += share
    dx[...] = dx_padded[:, :, g.pt : g.pt + g.H, g.pl : g.pl + g.W]
    return dx


# ---------------------------------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------------------------------


def sigmoid_forward(x, *, out=None):
    """Sigmoid σ(x) = 1 / (1 + exp(−x)) (handout 4.2), in a form that never overflows.

    With e = exp(−|x|) ∈ (0, 1]: σ(x) = 1 / (1 + e) for x ≥ 0 and e / (1 + e) for x < 0.
    """
    op = "sigmoid_forward"
    x = check_float_array(x, op, "x")
    y = prepare_out(out, x.shape, x.dtype, op)
    e = np.exp(-np.abs(x))
    np.divide(np.where(x >= 0, 1, e), 1 + e, out=y)
    return y


def sigmoid_backward(dout, y, *, out=None):
    """Gradient of the sigmoid from its output: ∂E/∂x = ∂E/∂y · y (1 − y)."""
    op = "sigmoid_backward"
    dout = check_float_array(dout, op, "dout")
    y = check_float_array(y, op, "y")
    check_same_shape(op, dout=dout, y=y)
    check_same_dtype(op, dout=dout, y=y)
    dx = prepare_out(out, y.shape, y.dtype, op)
    np.multiply(dout, y * (1 - y), out=dx)
    return dx


def relu_forward(x, *, out=None):
    """ReLU a(x) = max(0, x).  NaN propagates (a NaN input gives a NaN output)."""
    op = "relu_forward"
    x = check_float_array(x, op, "x")
    y = prepare_out(out, x.shape, x.dtype, op)
    np.copyto(y, np.where(x <= 0, 0, x))
    return y


def relu_backward(dout, y, *, out=None):
    """Gradient of ReLU: ∂E/∂x = ∂E/∂y where x > 0, else 0 (the derivative at 0 is 0).

    ``y`` is the forward output (the input works as well: y > 0 exactly where x > 0).
    """
    op = "relu_backward"
    dout = check_float_array(dout, op, "dout")
    y = check_float_array(y, op, "y")
    check_same_shape(op, dout=dout, y=y)
    check_same_dtype(op, dout=dout, y=y)
    dx = prepare_out(out, y.shape, y.dtype, op)
    np.copyto(dx, np.where(y <= 0, 0, dout))
    return dx


# ---------------------------------------------------------------------------------------------------
# Softmax and cross-entropy (handout eq. 5, 6, 8, 12)
# ---------------------------------------------------------------------------------------------------


def softmax_forward(x, *, out=None):
    """Softmax over the last axis with the max subtraction of handout eq. (5)–(6):
    y_k = exp(a_k − α) / Σ_j exp(a_j − α), α = max_j a_j.
    """
    op = "softmax_forward"
    x = check_float_array(x, op, "x")
    check_class_axis(x, op)
    y = prepare_out(out, x.shape, x.dtype, op)
    shifted = x - x.max(axis=-1, keepdims=True)
    np.exp(shifted, out=y)
    y /= y.sum(axis=-1, keepdims=True)
    return y


def softmax_cross_entropy_forward(logits, labels, *, out=None):
    """Softmax (eq. 5–6) fused with the cross-entropy averaged over the mini-batch (eq. 8).

    E = −(1/B) Σ_b Σ_k t_bk log y_bk, with log y computed as (a − α) − log Σ exp(a − α) so that the
    loss stays finite for logits of any finite size.  ``labels`` are class indices (B,) or one-hot
    (or soft) targets (B, K).  Returns ``(loss, probabilities)``; the loss is a Python float.
    """
    op = "softmax_cross_entropy_forward"
    logits = check_float_array(logits, op, "logits", ndim=2)
    targets, is_index = check_labels(labels, logits.shape, logits.dtype, op)
    probs = prepare_out(out, logits.shape, logits.dtype, op)
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


def softmax_cross_entropy_backward(probs, labels, *, out=None):
    """Gradient of the mean cross-entropy w.r.t. the logits (handout eq. 12): (y − t) / B."""
    op = "softmax_cross_entropy_backward"
    probs = check_float_array(probs, op, "probs", ndim=2)
    targets, is_index = check_labels(labels, probs.shape, probs.dtype, op)
    dx = prepare_out(out, probs.shape, probs.dtype, op)
    B = probs.shape[0]

    np.copyto(dx, probs)
    if is_index:
        dx[np.arange(B), targets] -= 1
    else:
        dx -= targets
    dx /= max(B, 1)
    return dx
