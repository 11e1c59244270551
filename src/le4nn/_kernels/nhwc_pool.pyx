# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Channels-last (NHWC) max pooling, forward and backward (handout eq. 63–64).

Semantics are those of :mod:`le4nn.ops.reference`; the wrappers in :mod:`le4nn.ops.native`
validate every argument.  Keras's layout (B, H, W, C) keeps the C channels of a pixel contiguous,
so every inner loop here runs over channels (or filters): a unit-stride loop that GCC vectorizes.
Arrays too small to pay for an OpenMP team run on the calling thread (team.pxi).

- forward: the running max/argmax of a window is kept in the output row (in L1), updated with
  branch-free selects over the channels; the rule of pooling.pyx (first maximum, first NaN wins,
  padding never wins).  Each thread gets whole output rows (b, oh).
- backward, for windows that tile the input (2×2 stride 2 and the like): every element of dx is
  written exactly once (the gradient or 0), and each index is checked to lie in its window;
  otherwise (overlapping windows, or an argmax from another geometry) the image is redone by a
  scatter-add in float64, rounded once, as the reference's ``np.bincount``.  Each thread gets
  whole images.

The row kernels (nhwc_maxpool.pxi, with le4nn_nhwc_pool.h's float32 C loops) are shared with the
convolution fused with its max pooling (nhwc_conv.pyx).
"""

from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.string cimport memcpy, memset

import numpy as np

include "team.pxi"
include "copy.pxi"
include "windows.pxi"
include "nhwc_maxpool.pxi"


def maxpool2d_nhwc_forward(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] out,
                           int[:, :, :, ::1] argmax, int kh, int kw, int sh, int sw, int pt, int pl,
                           int num_threads):
    """Max pooling of ``x`` (B, H, W, C) into ``out`` and ``argmax`` (B, OH, OW, C)."""
    cdef Py_ssize_t B = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef Py_ssize_t OH = out.shape[1], OW = out.shape[2], r, b, oh
    cdef int team = _team(B * H * W * C, num_threads)
    if (out.shape[0] != B or out.shape[3] != C or argmax.shape[0] != B or argmax.shape[1] != OH
            or argmax.shape[2] != OW or argmax.shape[3] != C):
        raise ValueError("maxpool2d_nhwc_forward: out/argmax have the wrong shape")
    if B * OH * OW * C == 0:
        return
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef floating* op = &out[0, 0, 0, 0]
    cdef int* ap = &argmax[0, 0, 0, 0]
    with nogil:
        for r in prange(B * OH, schedule="static", num_threads=team):
            b = r // OH
            oh = r - b * OH
            _maxpool_row(xp + b * H * W * C, op + r * OW * C, ap + r * OW * C, H, W, C,
                         kh, kw, sh, sw, pt, pl, oh, OW)


cdef bint _maxpool_backward_tiled(const floating* d, const int* a, floating* dx, Py_ssize_t H,
                                  Py_ssize_t W, Py_ssize_t C, int kh, int kw, Py_ssize_t OH,
                                  Py_ssize_t OW) noexcept nogil:
    """One image, windows that tile the input (stride = pool size, no padding): every element of
    dx is written once, the gradient where it won, else 0.  Returns True when some index was not
    found in its window (then the image must be redone by the scatter-add)."""
    cdef Py_ssize_t oh, ow, h, w, c, found = 0
    cdef int i, j, p, m, hits
    cdef const floating* dp
    cdef const int* ap
    cdef floating* xr
    cdef floating g
    if floating is float:
        if kh == 2 and kw == 2 and C >= 8:
            return le4nn_maxpool_backward_2x2_f(d, a, dx, H, W, C, OH, OW) != 0
        return le4nn_maxpool_backward_tiled_f(d, a, dx, H, W, C, kh, kw, OH, OW) != 0
    else:
        for oh in range(OH):
            for i in range(kh):
                h = oh * kh + i
                for ow in range(OW):
                    dp = d + (oh * OW + ow) * C
                    ap = a + (oh * OW + ow) * C
                    for j in range(kw):
                        w = ow * kw + j
                        p = <int>(h * W + w)
                        xr = dx + (h * W + w) * C
                        hits = 0
                        for c in range(C):
                            g = dp[c]  # unconditional load: the select vectorizes
                            m = ap[c] == p
                            xr[c] = g if m else 0
                            hits += m
                        found += hits
                _zero(dx + (h * W + OW * kw) * C, (W - OW * kw) * C)  # columns no window covers
        _zero(dx + OH * kh * W * C, (H - OH * kh) * W * C)  # rows no window covers
        return found != OH * OW * C


def maxpool2d_nhwc_backward(const floating[:, :, :, ::1] dout, const int[:, :, :, ::1] argmax,
                            floating[:, :, :, ::1] dx, int kh, int kw, int sh, int sw, int pt, int pl,
                            int num_threads):
    """Overwrite ``dx`` (B, H, W, C) with the gradient of max pooling: dx[b, argmax, c] += dout.

    The pooling geometry (kh, kw, sh, sw, pt, pl) only chooses the path: windows that tile the
    input are written directly; any other geometry, or an index outside its window, takes the
    scatter-add.  Raises ValueError before writing anything if an index lies outside the plane.
    """
    cdef Py_ssize_t B = dx.shape[0], H = dx.shape[1], W = dx.shape[2], C = dx.shape[3]
    cdef Py_ssize_t OH = dout.shape[1], OW = dout.shape[2], L = OH * OW, HWC = H * W * C, b
    cdef int team = _team(B * HWC, num_threads)
    cdef bint tiled = (kh > 0 and kw > 0 and kh == sh and kw == sw and pt == 0 and pl == 0
                       and OH * kh <= H and OW * kw <= W)
    cdef unsigned char[::1] flags
    cdef bint bad = False
    cdef double[:, ::1] scratch
    cdef double* acc = NULL
    if (dout.shape[0] != B or dout.shape[3] != C or argmax.shape[0] != B or argmax.shape[1] != OH
            or argmax.shape[2] != OW or argmax.shape[3] != C):
        raise ValueError("maxpool2d_nhwc_backward: dout/argmax/dx shapes do not match")
    if B * HWC == 0:
        return
    if L * C == 0:
        dx[...] = 0
        return
    cdef const floating* dp = &dout[0, 0, 0, 0]
    cdef const int* ap = &argmax[0, 0, 0, 0]
    cdef floating* xp = &dx[0, 0, 0, 0]
    flags = np.zeros(B, dtype=np.uint8)
    with nogil:
        for b in prange(B, schedule="static", num_threads=team):
            flags[b] = _outside(ap + b * L * C, L * C, H * W)
        for b in range(B):
            bad |= flags[b]
    if bad:
        raise ValueError(f"maxpool2d_nhwc_backward: argmax holds indices outside the {H}x{W} input plane")
    if floating is float:  # a float64 scratch image per thread for the scatter-add
        scratch = np.empty((max(team, 1), HWC), dtype=np.float64)
        acc = &scratch[0, 0]
    with nogil:
        for b in prange(B, schedule="static", num_threads=team):
            if not tiled or _maxpool_backward_tiled(dp + b * L * C, ap + b * L * C, xp + b * HWC,
                                                    H, W, C, kh, kw, OH, OW):
                _maxpool_backward_scatter(dp + b * L * C, ap + b * L * C, xp + b * HWC,
                                          acc + threadid() * HWC if acc != NULL else NULL, HWC, C, L)
