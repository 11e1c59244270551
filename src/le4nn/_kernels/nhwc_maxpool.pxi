# The NHWC max pooling's row kernels shared by nhwc_pool.pyx (the pooling layer) and nhwc_conv.pyx
# (the convolution fused with the max pooling that follows it); included textually, after
# ``from cython cimport floating``, ``from libc.string cimport memset`` and copy.pxi.  Handout
# eq. 63 (forward: the first maximum of each window, the first NaN winning, padding never) and
# eq. 64 (backward: each output's gradient goes to its window's winner).

cdef extern from "le4nn_nhwc_pool.h":
    void le4nn_maxpool_row_f(const float* xb, float* o, int* a, Py_ssize_t H, Py_ssize_t W,
                             Py_ssize_t C, int kh, int kw, int sh, int sw, int pt, int pl,
                             Py_ssize_t oh, Py_ssize_t OW) noexcept nogil
    void le4nn_maxpool_row_2x2_f(const float* xb, float* o, int* a, Py_ssize_t W, Py_ssize_t C,
                                 Py_ssize_t oh, Py_ssize_t OW) noexcept nogil
    int le4nn_maxpool_backward_2x2_f(const float* d, const int* a, float* dx, Py_ssize_t H, Py_ssize_t W,
                                     Py_ssize_t C, Py_ssize_t OH, Py_ssize_t OW) noexcept nogil
    int le4nn_maxpool_backward_tiled_f(const float* d, const int* a, float* dx, Py_ssize_t H,
                                       Py_ssize_t W, Py_ssize_t C, int kh, int kw, Py_ssize_t OH,
                                       Py_ssize_t OW) noexcept nogil


cdef void _maxpool_row(const floating* xb, floating* o, int* a, Py_ssize_t H, Py_ssize_t W,
                       Py_ssize_t C, int kh, int kw, int sh, int sw, int pt, int pl, Py_ssize_t oh,
                       Py_ssize_t OW) noexcept nogil:
    """Output row oh of one image: o, a (OW, C).  The first real element of a window starts the
    running max; each later one replaces it where v > best or v is the first NaN."""
    cdef Py_ssize_t ow, h, w, c
    cdef int i, j, pos
    cdef bint first
    cdef const floating* xp
    cdef floating* ob
    cdef int* ab
    cdef floating v, best
    cdef int k
    cdef bint u
    if floating is float:
        if (kh == 2 and kw == 2 and sh == 2 and sw == 2 and pt == 0 and pl == 0 and C >= 8
                and 2 * oh + 1 < H and 2 * OW <= W):
            le4nn_maxpool_row_2x2_f(xb, o, a, W, C, oh, OW)
        else:
            le4nn_maxpool_row_f(xb, o, a, H, W, C, kh, kw, sh, sw, pt, pl, oh, OW)
    else:
        for ow in range(OW):
            ob = o + ow * C
            ab = a + ow * C
            first = True
            for i in range(kh):
                h = oh * sh - pt + i
                if h < 0 or h >= H:
                    continue
                for j in range(kw):
                    w = ow * sw - pl + j
                    if w < 0 or w >= W:
                        continue
                    xp = xb + (h * W + w) * C
                    pos = <int>(h * W + w)
                    if first:
                        for c in range(C):
                            ob[c] = xp[c]
                            ab[c] = pos
                        first = False
                    else:
                        for c in range(C):
                            v = xp[c]  # every load unconditional, so that the selects vectorize
                            best = ob[c]
                            k = ab[c]
                            u = (not (v <= best)) & (best == best)
                            ob[c] = v if u else best
                            ab[c] = pos if u else k


cdef void _maxpool_backward_scatter(const floating* d, const int* a, floating* dx, double* acc,
                                    Py_ssize_t HWC, Py_ssize_t C, Py_ssize_t L) noexcept nogil:
    """One image, any geometry: zero, then dx[argmax, c] += dout in output order; float32 sums in
    a float64 scratch image ``acc`` and rounded once, as the reference's ``np.bincount``."""
    cdef Py_ssize_t k, c
    cdef const floating* dp
    cdef const int* ap
    if floating is double:
        memset(dx, 0, HWC * sizeof(double))
        for k in range(L):
            dp = d + k * C
            ap = a + k * C
            for c in range(C):
                dx[ap[c] * C + c] += dp[c]
    else:
        memset(acc, 0, HWC * sizeof(double))
        for k in range(L):
            dp = d + k * C
            ap = a + k * C
            for c in range(C):
                acc[ap[c] * C + c] += dp[c]
        for k in range(HWC):
            dx[k] = <floating>acc[k]
