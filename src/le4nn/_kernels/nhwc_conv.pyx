# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The direct channels-last (NHWC) convolution (handout eq. 59–62 without the column matrix).

Semantics are those of :mod:`le4nn.ops.reference`; the wrappers in :mod:`le4nn.ops.native`
validate every argument.  Keras's layout (B, H, W, C) keeps the C channels of a pixel contiguous,
so every inner loop here runs over channels (or filters): a unit-stride loop that GCC vectorizes.
Arrays too small to pay for an OpenMP team run on the calling thread (team.pxi).

The forward (with bias and optional ReLU) and the filter gradient (with the ReLU's backward fused
in) are le4nn_nhwc_conv.h's C loops in float32, vectorized over the K filters and compiled twice
(x86-64-v3 with FMA, and the baseline) with the loader choosing by CPU.  They avoid the column
matrix, which pays off when C·kh·kw is small (a first layer on gray images: C = 1).  Each image is
copied into a zero-padded scratch image first, so the window loops need no bounds checks.

Work split: whole images per thread.  The filter gradient is summed per image in a fixed order and
then over the images in order (in float64), so every result is bitwise the same for any thread
count.  conv2d_nhwc_pool_forward and conv2d_nhwc_filter_grad_pooled fuse the convolution with the
max pooling that follows it (the row kernels of nhwc_maxpool.pxi), image by image in the cache.
"""

from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.string cimport memcpy, memset

import numpy as np

cdef extern from "le4nn_nhwc_conv.h":
    void le4nn_pad_image_f(const float* x, float* xp, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C,
                           int pt, int pl, Py_ssize_t Hp, Py_ssize_t Wp) noexcept nogil
    void le4nn_conv_row_f(const float* xp, const float* k, const float* bias, float* y, Py_ssize_t Wp,
                          Py_ssize_t C, Py_ssize_t F, int kh, int kw, int sh, int sw, Py_ssize_t oh,
                          Py_ssize_t OW, int relu) noexcept nogil
    void le4nn_conv_wgrad_f(const float* xp, const float* dout, const float* y, float* gw, float* gb,
                            float* G, Py_ssize_t Wp, Py_ssize_t C, Py_ssize_t F, int kh, int kw, int sh,
                            int sw, Py_ssize_t OH, Py_ssize_t OW) noexcept nogil


include "team.pxi"
include "copy.pxi"
include "bias.pxi"
include "nhwc_maxpool.pxi"


cdef inline Py_ssize_t _padded(Py_ssize_t n, int p, Py_ssize_t out, int s, int k) noexcept nogil:
    """Size of the zero-padded axis: the input after p leading zeros, long enough for every window."""
    cdef Py_ssize_t need = (out - 1) * s + k
    return need if need > n + p else n + p


cdef void _pad_image(const floating* x, floating* xp, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C,
                     int pt, int pl, Py_ssize_t Hp, Py_ssize_t Wp) noexcept nogil:
    cdef Py_ssize_t h
    if floating is float:
        le4nn_pad_image_f(x, xp, H, W, C, pt, pl, Hp, Wp)
    else:
        _zero(xp, Hp * Wp * C)
        for h in range(H):
            if h + pt < Hp:
                _copy(xp + ((h + pt) * Wp + pl) * C, x + h * W * C, min(W, Wp - pl) * C)


cdef void _conv_image(const floating* xp, const floating* k, const floating* bias, floating* y,
                      Py_ssize_t Wp, Py_ssize_t C, Py_ssize_t F, int kh, int kw, int sh, int sw,
                      Py_ssize_t OH, Py_ssize_t OW, bint relu) noexcept nogil:
    """y (OH, OW, F) of one zero-padded image xp (Hp, Wp, C)."""
    cdef Py_ssize_t oh, ow, f, t
    cdef int i
    cdef const floating* xw
    cdef floating* yo
    cdef floating acc
    for oh in range(OH):
        if floating is float:
            le4nn_conv_row_f(xp, k, bias, y + oh * OW * F, Wp, C, F, kh, kw, sh, sw, oh, OW, relu)
        else:
            for ow in range(OW):
                xw = xp + ((oh * sh) * Wp + ow * sw) * C
                yo = y + (oh * OW + ow) * F
                for f in range(F):
                    acc = bias[f] if bias != NULL else 0
                    for i in range(kh):
                        for t in range(kw * C):
                            acc = acc + xw[i * Wp * C + t] * k[(i * kw * C + t) * F + f]
                    yo[f] = 0 if (relu and acc <= 0) else acc


cdef void _conv_wgrad_image(const floating* xp, const floating* dout, const floating* y, floating* gw,
                            floating* gb, floating* G, Py_ssize_t Wp, Py_ssize_t C, Py_ssize_t F,
                            int kh, int kw, int sh, int sw, Py_ssize_t OH, Py_ssize_t OW) noexcept nogil:
    """gw (kh, kw, C, F) and gb (F) of one zero-padded image, overwritten (G: float32 scratch)."""
    cdef Py_ssize_t oh, ow, f, t, p
    cdef int i
    cdef const floating* xw
    cdef floating g
    if floating is float:
        le4nn_conv_wgrad_f(xp, dout, y, gw, gb, G, Wp, C, F, kh, kw, sh, sw, OH, OW)
    else:
        _zero(gw, kh * kw * C * F)
        _zero(gb, F)
        for oh in range(OH):
            for ow in range(OW):
                xw = xp + ((oh * sh) * Wp + ow * sw) * C
                for f in range(F):
                    p = (oh * OW + ow) * F + f
                    g = dout[p]
                    if y != NULL and y[p] <= 0:
                        g = 0
                    gb[f] += g
                    for i in range(kh):
                        for t in range(kw * C):
                            gw[(i * kw * C + t) * F + f] += xw[i * Wp * C + t] * g


def conv2d_nhwc_forward(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] kernel, bias,
                        floating[:, :, :, ::1] y, int sh, int sw, int pt, int pl, bint relu,
                        int num_threads):
    """y (B, OH, OW, F) = [relu](conv(x, kernel) + bias), computed directly (no column matrix):
    each image is copied into a zero-padded scratch image, then convolved row by row."""
    cdef Py_ssize_t B = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef int kh = kernel.shape[0], kw = kernel.shape[1]
    cdef Py_ssize_t F = kernel.shape[3], OH = y.shape[1], OW = y.shape[2], b
    cdef Py_ssize_t Hp = _padded(H, pt, OH, sh, kh), Wp = _padded(W, pl, OW, sw, kw)
    cdef const floating[::1] bias_view
    cdef const floating* bp = NULL
    cdef int team = _team(B * OH * OW * F * C * kh * kw // 4, num_threads)
    if kernel.shape[2] != C or y.shape[0] != B or y.shape[3] != F:
        raise ValueError("conv2d_nhwc_forward: shapes do not match")
    if bias is not None:
        bias_view = bias
        bp = _bias_data(bias_view, F, "conv2d_nhwc_forward")
    if B * OH * OW * F == 0 or C == 0:  # (the wrappers' checks exclude C == 0)
        return
    team = min(team, B)
    cdef floating[:, ::1] scratch = np.empty((team, Hp * Wp * C), dtype=np.asarray(y).dtype)
    cdef floating* sp = &scratch[0, 0]
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef const floating* kp = &kernel[0, 0, 0, 0]
    cdef floating* yp = &y[0, 0, 0, 0]
    cdef floating* pad
    with nogil:
        for b in prange(B, schedule="static", num_threads=team):
            pad = sp + threadid() * Hp * Wp * C
            _pad_image(xp + b * H * W * C, pad, H, W, C, pt, pl, Hp, Wp)
            _conv_image(pad, kp, bp, yp + b * OH * OW * F, Wp, C, F, kh, kw, sh, sw, OH, OW, relu)


def conv2d_nhwc_filter_grad(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] dout, y,
                            floating[:, :, :, ::1] kernel_grad, floating[::1] bias_grad,
                            int sh, int sw, int pt, int pl, int num_threads):
    """kernel_grad (kh, kw, C, F) and bias_grad (F) of the direct convolution, with the ReLU's
    backward fused in when ``y`` (the forward output) is given.  Per-image sums, then the images
    added in order in float64: bitwise the same for any thread count."""
    cdef Py_ssize_t B = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef int kh = kernel_grad.shape[0], kw = kernel_grad.shape[1]
    cdef Py_ssize_t F = dout.shape[3], OH = dout.shape[1], OW = dout.shape[2], b, t
    cdef Py_ssize_t Hp = _padded(H, pt, OH, sh, kh), Wp = _padded(W, pl, OW, sw, kw)
    cdef Py_ssize_t KF = <Py_ssize_t>kh * kw * C * F, n = KF + F
    cdef const floating[:, :, :, ::1] y_view
    cdef const floating* yp = NULL
    cdef int team = _team(B * OH * OW * F * C * kh * kw // 4, num_threads)
    if (kernel_grad.shape[2] != C or kernel_grad.shape[3] != F or bias_grad.shape[0] != F
            or dout.shape[0] != B):
        raise ValueError("conv2d_nhwc_filter_grad: shapes do not match")
    if y is not None:
        y_view = y
        if (y_view.shape[0] != B or y_view.shape[1] != OH or y_view.shape[2] != OW
                or y_view.shape[3] != F):
            raise ValueError("conv2d_nhwc_filter_grad: y has the wrong shape")
    dtype = np.float32 if floating is float else np.float64
    if F == 0:
        return
    if B * OH * OW * C == 0:  # (the wrappers' checks exclude this)
        raise ValueError("conv2d_nhwc_filter_grad: empty input")
    if y is not None:
        yp = &y_view[0, 0, 0, 0]
    team = min(team, B)
    cdef floating[:, ::1] partial = np.empty((B, n), dtype=dtype)
    cdef Py_ssize_t per_thread = Hp * Wp * C + OH * OW * 8  # padded image, then G
    cdef floating[:, ::1] scratch = np.empty((team, per_thread), dtype=dtype)
    cdef double[::1] total = np.zeros(n, dtype=np.float64)
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef const floating* dp = &dout[0, 0, 0, 0]
    cdef floating* pp = &partial[0, 0]
    cdef floating* sp = &scratch[0, 0]
    cdef floating* gw = &kernel_grad[0, 0, 0, 0]
    cdef floating* pad
    with nogil:
        for b in prange(B, schedule="static", num_threads=team):
            pad = sp + threadid() * per_thread
            _pad_image(xp + b * H * W * C, pad, H, W, C, pt, pl, Hp, Wp)
            _conv_wgrad_image(pad, dp + b * OH * OW * F, yp + b * OH * OW * F if yp != NULL else NULL,
                              pp + b * n, pp + b * n + KF, pad + Hp * Wp * C, Wp, C, F,
                              kh, kw, sh, sw, OH, OW)
        for b in range(B):
            for t in range(n):
                total[t] += pp[b * n + t]
        for t in range(KF):
            gw[t] = <floating>total[t]
        for t in range(F):
            bias_grad[t] = <floating>total[KF + t]


cdef void _unpool_image(const floating* d, const int* a, const floating* pooled, floating* g,
                        floating* masked, double* acc, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t F,
                        Py_ssize_t PH, Py_ssize_t PW) noexcept nogil:
    """∂E/∂(convolution output) of one image, g (OH, OW, F): the max pooling's backward of the
    pooled gradient d, masked where the pooled value (the ReLU's output at the winner) is <= 0."""
    cdef Py_ssize_t k, L = PH * PW * F
    cdef floating v, e
    cdef bint tiled = 2 * PH <= OH and 2 * PW <= OW and PH * 2 + 1 >= OH and PW * 2 + 1 >= OW
    if pooled != NULL:
        for k in range(L):
            e = d[k]  # both loads unconditional, so that the select vectorizes
            v = pooled[k]
            masked[k] = 0 if v <= 0 else e
        d = masked
    if floating is float:  # the 2×2 fast path, unless some index is not in its block
        if (tiled and F >= 8 and OH // PH == 2 and OW // PW == 2
                and not le4nn_maxpool_backward_2x2_f(d, a, g, OH, OW, F, PH, PW)):
            return
    _maxpool_backward_scatter(d, a, g, acc, OH * OW * F, F, PH * PW)


def conv2d_nhwc_filter_grad_pooled(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] dout,
                                   const int[:, :, :, ::1] argmax, pooled,
                                   floating[:, :, :, ::1] kernel_grad, floating[::1] bias_grad,
                                   int sh, int sw, int pt, int pl, int OH, int OW, int num_threads):
    """kernel_grad and bias_grad of conv → ReLU → max pool from the pooled gradient ``dout`` and
    the pooling's ``argmax`` (flat indices into the OH × OW convolution output): image by image,
    the unpooled gradient is built in a per-thread scratch image (it stays in the cache) and fed to
    the filter gradient of the direct convolution.  The caller has checked every index."""
    cdef Py_ssize_t B = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef int kh = kernel_grad.shape[0], kw = kernel_grad.shape[1]
    cdef Py_ssize_t F = dout.shape[3], PH = dout.shape[1], PW = dout.shape[2], b, t
    cdef Py_ssize_t Hp = _padded(H, pt, OH, sh, kh), Wp = _padded(W, pl, OW, sw, kw)
    cdef Py_ssize_t KF = <Py_ssize_t>kh * kw * C * F, n = KF + F, HWF = <Py_ssize_t>OH * OW * F
    cdef const floating[:, :, :, ::1] p_view
    cdef const floating* pp_ = NULL
    cdef int team = _team(B * OH * OW * F * C * kh * kw // 4, num_threads)
    if (kernel_grad.shape[2] != C or kernel_grad.shape[3] != F or bias_grad.shape[0] != F
            or dout.shape[0] != B or argmax.shape[0] != B or argmax.shape[1] != PH
            or argmax.shape[2] != PW or argmax.shape[3] != F):
        raise ValueError("conv2d_nhwc_filter_grad_pooled: shapes do not match")
    if pooled is not None:
        p_view = pooled
        if (p_view.shape[0] != B or p_view.shape[1] != PH or p_view.shape[2] != PW
                or p_view.shape[3] != F):
            raise ValueError("conv2d_nhwc_filter_grad_pooled: pooled has the wrong shape")
        if B * PH * PW * F:
            pp_ = &p_view[0, 0, 0, 0]
    dtype = np.float32 if floating is float else np.float64
    if F == 0:
        return
    if B * OH * OW * C == 0 or PH * PW == 0:
        kernel_grad[...] = 0
        bias_grad[...] = 0
        return
    team = min(team, B)
    cdef floating[:, ::1] partial = np.empty((B, n), dtype=dtype)
    # per thread: padded image, G (see the wgrad kernel), the unpooled gradient, the masked dout
    cdef Py_ssize_t per_thread = Hp * Wp * C + OH * OW * 8 + HWF + PH * PW * F
    cdef floating[:, ::1] scratch = np.empty((team, per_thread), dtype=dtype)
    cdef double[:, ::1] acc = np.empty((team, HWF if floating is float else 1), dtype=np.float64)
    cdef double[::1] total = np.zeros(n, dtype=np.float64)
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef const floating* dp = &dout[0, 0, 0, 0]
    cdef const int* ap = &argmax[0, 0, 0, 0]
    cdef floating* parts = &partial[0, 0]
    cdef floating* sp = &scratch[0, 0]
    cdef double* accp = &acc[0, 0]
    cdef floating* gw = &kernel_grad[0, 0, 0, 0]
    cdef floating* pad
    cdef floating* g
    cdef Py_ssize_t L = PH * PW * F
    with nogil:
        for b in prange(B, schedule="static", num_threads=team):
            pad = sp + threadid() * per_thread
            g = pad + Hp * Wp * C + OH * OW * 8
            _unpool_image(dp + b * L, ap + b * L, pp_ + b * L if pp_ != NULL else NULL, g, g + HWF,
                          accp + threadid() * (HWF if floating is float else 1), OH, OW, F, PH, PW)
            _pad_image(xp + b * H * W * C, pad, H, W, C, pt, pl, Hp, Wp)
            _conv_wgrad_image(pad, g, NULL, parts + b * n, parts + b * n + KF, pad + Hp * Wp * C,
                              Wp, C, F, kh, kw, sh, sw, OH, OW)
        for b in range(B):
            for t in range(n):
                total[t] += parts[b * n + t]
        for t in range(KF):
            gw[t] = <floating>total[t]
        for t in range(F):
            bias_grad[t] = <floating>total[KF + t]


def conv2d_nhwc_pool_forward(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] kernel, bias,
                             floating[:, :, :, ::1] out, int[:, :, :, ::1] argmax, int sh, int sw,
                             int pt, int pl, int OH, int OW, bint relu, int pkh, int pkw, int psh,
                             int psw, int ppt, int ppl, int num_threads):
    """(out, argmax) = max pooling of [relu](conv(x) + bias), image by image: each image's
    convolution output (OH, OW, F) is built in a per-thread scratch image, which stays in the
    cache for the pooling, and is never written to memory."""
    cdef Py_ssize_t B = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef int kh = kernel.shape[0], kw = kernel.shape[1]
    cdef Py_ssize_t F = kernel.shape[3], PH = out.shape[1], PW = out.shape[2], b, oh
    cdef Py_ssize_t Hp = _padded(H, pt, OH, sh, kh), Wp = _padded(W, pl, OW, sw, kw)
    cdef Py_ssize_t HWF = <Py_ssize_t>OH * OW * F, L = PH * PW * F
    cdef const floating[::1] bias_view
    cdef const floating* bp = NULL
    cdef int team = _team(B * OH * OW * F * C * kh * kw // 4, num_threads)
    if (kernel.shape[2] != C or out.shape[0] != B or out.shape[3] != F or argmax.shape[0] != B
            or argmax.shape[1] != PH or argmax.shape[2] != PW or argmax.shape[3] != F):
        raise ValueError("conv2d_nhwc_pool_forward: shapes do not match")
    if bias is not None:
        bias_view = bias
        bp = _bias_data(bias_view, F, "conv2d_nhwc_pool_forward")
    if B * PH * PW * F == 0 or C == 0:
        return
    team = min(team, B)
    cdef Py_ssize_t per_thread = Hp * Wp * C + HWF
    cdef floating[:, ::1] scratch = np.empty((team, per_thread), dtype=np.asarray(out).dtype)
    cdef floating* sp = &scratch[0, 0]
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef const floating* kp = &kernel[0, 0, 0, 0]
    cdef floating* op = &out[0, 0, 0, 0]
    cdef int* ap = &argmax[0, 0, 0, 0]
    cdef floating* pad
    cdef floating* y
    with nogil:
        for b in prange(B, schedule="static", num_threads=team):
            pad = sp + threadid() * per_thread
            y = pad + Hp * Wp * C
            _pad_image(xp + b * H * W * C, pad, H, W, C, pt, pl, Hp, Wp)
            _conv_image(pad, kp, bp, y, Wp, C, F, kh, kw, sh, sw, OH, OW, relu)
            for oh in range(PH):
                _maxpool_row(y, op + b * L + oh * PW * F, ap + b * L + oh * PW * F, OH, OW, F,
                             pkh, pkw, psh, psw, ppt, ppl, oh, PW)
