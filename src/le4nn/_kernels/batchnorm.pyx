# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""BatchNormalization (handout eq. 28–38), optionally followed by a ReLU, in two passes over the data
each way (float32 and float64).

Semantics are those of :func:`le4nn.ops.reference.batchnorm_forward` and ``batchnorm_backward``; the
wrappers in :mod:`le4nn.ops.native` check the arguments, compute the per-feature vectors (a = γ·inv_std
and the backward's coefficients) and pass x as (N, C, S): S = 1 for features last (the rows
layout, x (M, C)), S = H·W for channels_first images (the planes layout).

- :func:`stats`: the batch mean and biased variance in one pass, from the sums of d = x − shift and
  of d² in double, with shift = the feature's first value (so that the variance Σd²/m − (Σd/m)² does
  not cancel when the mean is large against the standard deviation).
- :func:`apply`: y = (x − μ)·a + β, then max(·, 0) with ``relu``.  Both modes use it: training with
  the batch's μ and a, inference with the moving statistics'.
- :func:`backward_sums`: Σg' and Σg'·(x − μ) in double, g' = g masked by v = (x − μ)·a + β > 0 with
  ``relu`` (v recomputed from x with the forward's operations: the same bits, no output kept).
- :func:`backward_apply`: dx = g'·k1 + (x − μ)·k2 + k3.

Work split, fixed by the shape: rows in blocks of about ``BLOCK_ELEMENTS`` elements, each block's
sums in its own partial row; planes one by one (each its own partial sums, in lanes, see
le4nn_batchnorm.h).  The partials are then added in block (sample) order, so that the results are
bitwise the same for any thread count.  Small arrays run on the calling thread.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.stdlib cimport calloc, free

cdef extern from "le4nn_batchnorm.h":
    void le4nn_bn_stats_rows_f(const float* x, const float* shift, double* s1, double* s2, Py_ssize_t rows,
                               Py_ssize_t C) noexcept nogil
    void le4nn_bn_stats_rows_d(const double* x, const double* shift, double* s1, double* s2, Py_ssize_t rows,
                               Py_ssize_t C) noexcept nogil
    void le4nn_bn_apply_rows_f(const float* x, const float* mean, const float* a, const float* beta, float* y,
                               Py_ssize_t rows, Py_ssize_t C, int relu) noexcept nogil
    void le4nn_bn_apply_rows_d(const double* x, const double* mean, const double* a, const double* beta,
                               double* y, Py_ssize_t rows, Py_ssize_t C, int relu) noexcept nogil
    void le4nn_bn_bsums_rows_f(const float* g, const float* x, const float* mean, const float* a,
                               const float* beta, double* sg, double* sgx, Py_ssize_t rows, Py_ssize_t C,
                               int relu) noexcept nogil
    void le4nn_bn_bsums_rows_d(const double* g, const double* x, const double* mean, const double* a,
                               const double* beta, double* sg, double* sgx, Py_ssize_t rows, Py_ssize_t C,
                               int relu) noexcept nogil
    void le4nn_bn_bapply_rows_f(const float* g, const float* x, const float* mean, const float* a,
                                const float* beta, const float* k1, const float* k2, const float* k3, float* dx,
                                Py_ssize_t rows, Py_ssize_t C, int relu) noexcept nogil
    void le4nn_bn_bapply_rows_d(const double* g, const double* x, const double* mean, const double* a,
                                const double* beta, const double* k1, const double* k2, const double* k3,
                                double* dx, Py_ssize_t rows, Py_ssize_t C, int relu) noexcept nogil
    void le4nn_bn_stats_plane_f(const float* x, double shift, Py_ssize_t S, double* out) noexcept nogil
    void le4nn_bn_stats_plane_d(const double* x, double shift, Py_ssize_t S, double* out) noexcept nogil
    void le4nn_bn_apply_plane_f(const float* x, float mean, float a, float beta, float* y, Py_ssize_t S,
                                int relu) noexcept nogil
    void le4nn_bn_apply_plane_d(const double* x, double mean, double a, double beta, double* y, Py_ssize_t S,
                                int relu) noexcept nogil
    void le4nn_bn_bsums_plane_f(const float* g, const float* x, float mean, float a, float beta, Py_ssize_t S,
                                int relu, double* out) noexcept nogil
    void le4nn_bn_bsums_plane_d(const double* g, const double* x, double mean, double a, double beta,
                                Py_ssize_t S, int relu, double* out) noexcept nogil
    void le4nn_bn_bapply_plane_f(const float* g, const float* x, float mean, float a, float beta, float k1,
                                 float k2, float k3, float* dx, Py_ssize_t S, int relu) noexcept nogil
    void le4nn_bn_bapply_plane_d(const double* g, const double* x, double mean, double a, double beta,
                                 double k1, double k2, double k3, double* dx, Py_ssize_t S, int relu) noexcept nogil

include "team.pxi"

cdef enum:
    BLOCK_ELEMENTS = 8192  # about this many elements per block of rows or of planes


cdef inline Py_ssize_t _per_block(Py_ssize_t unit) noexcept nogil:
    """Rows (or planes) per block: about BLOCK_ELEMENTS elements, at least one."""
    cdef Py_ssize_t r = BLOCK_ELEMENTS // unit if unit > 0 else 1
    return r if r > 0 else 1


# --- per-type dispatch to the C loops (le4nn_batchnorm.h) -------------------------------------------------


cdef inline void _stats_rows(const floating* x, double* s1, double* s2, Py_ssize_t rows, Py_ssize_t C,
                             const floating* shift) noexcept nogil:
    if floating is float:
        le4nn_bn_stats_rows_f(x, shift, s1, s2, rows, C)
    else:
        le4nn_bn_stats_rows_d(x, shift, s1, s2, rows, C)


cdef inline void _stats_plane(const floating* x, double shift, Py_ssize_t S, double* out) noexcept nogil:
    if floating is float:
        le4nn_bn_stats_plane_f(x, shift, S, out)
    else:
        le4nn_bn_stats_plane_d(x, shift, S, out)


cdef inline void _apply_rows(const floating* x, const floating* mean, const floating* a, const floating* beta,
                             floating* y, Py_ssize_t rows, Py_ssize_t C, int relu) noexcept nogil:
    if floating is float:
        le4nn_bn_apply_rows_f(x, mean, a, beta, y, rows, C, relu)
    else:
        le4nn_bn_apply_rows_d(x, mean, a, beta, y, rows, C, relu)


cdef inline void _apply_plane(const floating* x, floating mean, floating a, floating beta, floating* y,
                              Py_ssize_t S, int relu) noexcept nogil:
    if floating is float:
        le4nn_bn_apply_plane_f(x, mean, a, beta, y, S, relu)
    else:
        le4nn_bn_apply_plane_d(x, mean, a, beta, y, S, relu)


cdef inline void _bsums_rows(const floating* g, const floating* x, const floating* mean, const floating* a,
                             const floating* beta, double* sg, double* sgx, Py_ssize_t rows, Py_ssize_t C,
                             int relu) noexcept nogil:
    if floating is float:
        le4nn_bn_bsums_rows_f(g, x, mean, a, beta, sg, sgx, rows, C, relu)
    else:
        le4nn_bn_bsums_rows_d(g, x, mean, a, beta, sg, sgx, rows, C, relu)


cdef inline void _bsums_plane(const floating* g, const floating* x, floating mean, floating a, floating beta,
                              Py_ssize_t S, int relu, double* out) noexcept nogil:
    if floating is float:
        le4nn_bn_bsums_plane_f(g, x, mean, a, beta, S, relu, out)
    else:
        le4nn_bn_bsums_plane_d(g, x, mean, a, beta, S, relu, out)


cdef inline void _bapply_rows(const floating* g, const floating* x, const floating* mean, const floating* a,
                              const floating* beta, const floating* k1, const floating* k2, const floating* k3,
                              floating* dx, Py_ssize_t rows, Py_ssize_t C, int relu) noexcept nogil:
    if floating is float:
        le4nn_bn_bapply_rows_f(g, x, mean, a, beta, k1, k2, k3, dx, rows, C, relu)
    else:
        le4nn_bn_bapply_rows_d(g, x, mean, a, beta, k1, k2, k3, dx, rows, C, relu)


cdef inline void _bapply_plane(const floating* g, const floating* x, floating mean, floating a, floating beta,
                               floating k1, floating k2, floating k3, floating* dx, Py_ssize_t S,
                               int relu) noexcept nogil:
    if floating is float:
        le4nn_bn_bapply_plane_f(g, x, mean, a, beta, k1, k2, k3, dx, S, relu)
    else:
        le4nn_bn_bapply_plane_d(g, x, mean, a, beta, k1, k2, k3, dx, S, relu)


# --- helpers ------------------------------------------------------------------------------------------------


cdef double* _partials(Py_ssize_t n) except NULL:
    cdef double* p = <double*>calloc(n if n > 0 else 1, sizeof(double))
    if p == NULL:
        raise MemoryError("batchnorm: out of memory")
    return p


cdef inline void _add_partials(const double* p, Py_ssize_t units, Py_ssize_t C, Py_ssize_t stride,
                               Py_ssize_t step, Py_ssize_t second, double* t1, double* t2) noexcept nogil:
    """t1[c], t2[c] = the partials of units 0, 1, ... added in that order (unit u's first sum of
    feature c at p[u * stride + c * step], its second ``second`` entries further)."""
    cdef Py_ssize_t u, c
    for c in range(C):
        t1[c] = 0
        t2[c] = 0
    for u in range(units):
        for c in range(C):
            t1[c] += p[u * stride + c * step]
            t2[c] += p[u * stride + c * step + second]


# --- the four passes ----------------------------------------------------------------------------------------


def stats(const floating[:, :, ::1] x, double[::1] mean, double[::1] var, int num_threads):
    """mean[c], var[c] = the mean and biased variance of x[:, c, :] (x (N, C, S), N·S > 0)."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], S = x.shape[2], blocks, blk, start, per, q, c, end
    cdef int team = _team(N * C * S, num_threads)
    if mean.shape[0] != C or var.shape[0] != C or N * S == 0:
        raise ValueError("batchnorm.stats: shapes do not match")
    if C == 0:
        return
    cdef const floating* xp = &x[0, 0, 0]
    cdef double* p
    cdef double* t1 = _partials(2 * C)
    cdef double* t2 = t1 + C
    cdef double m = <double>(N * S), shift, d1
    if S == 1:  # rows (N, C): a partial row pair per block of rows
        per = _per_block(C)
        blocks = (N + per - 1) // per
        p = _partials(2 * blocks * C)
        with nogil:
            for blk in prange(blocks, schedule="static", num_threads=team):
                start = blk * per
                _stats_rows(xp + start * C, p + 2 * blk * C, p + 2 * blk * C + C, min(per, N - start), C, xp)
            _add_partials(p, blocks, C, 2 * C, 1, C, t1, t2)
    else:  # planes: one partial pair per (n, c) plane, blocks of planes
        per = _per_block(S)
        blocks = (N * C + per - 1) // per
        p = _partials(2 * N * C)
        with nogil:
            for blk in prange(blocks, schedule="static", num_threads=team):
                end = min((blk + 1) * per, N * C)
                for q in range(blk * per, end):
                    _stats_plane(xp + q * S, <double>xp[(q % C) * S], S, p + 2 * q)
            _add_partials(p, N, C, 2 * C, 2, 1, t1, t2)
    with nogil:
        for c in range(C):
            shift = <double>(xp[c * S])
            d1 = t1[c] / m
            mean[c] = shift + d1
            var[c] = t2[c] / m - d1 * d1
            if var[c] < 0:  # rounding; NaN stays NaN
                var[c] = 0
    free(p)
    free(t1)


def apply(const floating[:, :, ::1] x, const floating[::1] mean, const floating[::1] a,
          const floating[::1] beta, floating[:, :, ::1] y, bint relu, int num_threads):
    """y = (x − mean)·a + beta per feature (axis 1 of (N, C, S)), then max(·, 0) with relu (y may be x)."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], S = x.shape[2], blocks, blk, start, per, q, c, end
    cdef int team = _team(N * C * S, num_threads), r = relu
    if (mean.shape[0] != C or a.shape[0] != C or beta.shape[0] != C or y.shape[0] != N or y.shape[1] != C
            or y.shape[2] != S):
        raise ValueError("batchnorm.apply: shapes do not match")
    if N * C * S == 0:
        return
    cdef const floating* xp = &x[0, 0, 0]
    cdef const floating* mp = &mean[0]
    cdef const floating* ap = &a[0]
    cdef const floating* bp = &beta[0]
    cdef floating* yp = &y[0, 0, 0]
    with nogil:
        if S == 1:
            per = _per_block(C)
            blocks = (N + per - 1) // per
            for blk in prange(blocks, schedule="static", num_threads=team):
                start = blk * per
                _apply_rows(xp + start * C, mp, ap, bp, yp + start * C, min(per, N - start), C, r)
        else:
            per = _per_block(S)
            blocks = (N * C + per - 1) // per
            for blk in prange(blocks, schedule="static", num_threads=team):
                end = min((blk + 1) * per, N * C)
                for q in range(blk * per, end):
                    c = q % C
                    _apply_plane(xp + q * S, mp[c], ap[c], bp[c], yp + q * S, S, r)


def backward_sums(const floating[:, :, ::1] g, const floating[:, :, ::1] x, const floating[::1] mean,
                  const floating[::1] a, const floating[::1] beta, double[::1] sum_g, double[::1] sum_gc,
                  bint relu, int num_threads):
    """sum_g[c] = Σ g', sum_gc[c] = Σ g'·(x − mean) over x[:, c, :], in double; g' = g, or with relu g
    where (x − mean)·a + beta > 0 (else 0)."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], S = x.shape[2], blocks, blk, start, per, q, c, end
    cdef int team = _team(N * C * S, num_threads), r = relu
    if (mean.shape[0] != C or a.shape[0] != C or beta.shape[0] != C or g.shape[0] != N or g.shape[1] != C
            or g.shape[2] != S or sum_g.shape[0] != C or sum_gc.shape[0] != C):
        raise ValueError("batchnorm.backward_sums: shapes do not match")
    if C == 0:
        return
    if N * S == 0:
        sum_g[:] = 0
        sum_gc[:] = 0
        return
    cdef const floating* gp = &g[0, 0, 0]
    cdef const floating* xp = &x[0, 0, 0]
    cdef const floating* mp = &mean[0]
    cdef const floating* ap = &a[0]
    cdef const floating* bp = &beta[0]
    cdef double* p
    cdef double* t1 = _partials(2 * C)
    cdef double* t2 = t1 + C
    if S == 1:
        per = _per_block(C)
        blocks = (N + per - 1) // per
        p = _partials(2 * blocks * C)
        with nogil:
            for blk in prange(blocks, schedule="static", num_threads=team):
                start = blk * per
                _bsums_rows(gp + start * C, xp + start * C, mp, ap, bp, p + 2 * blk * C, p + 2 * blk * C + C,
                            min(per, N - start), C, r)
            _add_partials(p, blocks, C, 2 * C, 1, C, t1, t2)
    else:
        per = _per_block(S)
        blocks = (N * C + per - 1) // per
        p = _partials(2 * N * C)
        with nogil:
            for blk in prange(blocks, schedule="static", num_threads=team):
                end = min((blk + 1) * per, N * C)
                for q in range(blk * per, end):
                    c = q % C
                    _bsums_plane(gp + q * S, xp + q * S, mp[c], ap[c], bp[c], S, r, p + 2 * q)
            _add_partials(p, N, C, 2 * C, 2, 1, t1, t2)
    for c in range(C):
        sum_g[c] = t1[c]
        sum_gc[c] = t2[c]
    free(p)
    free(t1)


def backward_apply(const floating[:, :, ::1] g, const floating[:, :, ::1] x, const floating[::1] mean,
                   const floating[::1] a, const floating[::1] beta, const floating[::1] k1,
                   const floating[::1] k2, const floating[::1] k3, floating[:, :, ::1] dx, bint relu,
                   int num_threads):
    """dx = g'·k1 + (x − mean)·k2 + k3 per feature (g' as in :func:`backward_sums`; dx may be g or x)."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], S = x.shape[2], blocks, blk, start, per, q, c, end
    cdef int team = _team(N * C * S, num_threads), r = relu
    if (mean.shape[0] != C or a.shape[0] != C or beta.shape[0] != C or k1.shape[0] != C or k2.shape[0] != C
            or k3.shape[0] != C or g.shape[0] != N or g.shape[1] != C or g.shape[2] != S or dx.shape[0] != N
            or dx.shape[1] != C or dx.shape[2] != S):
        raise ValueError("batchnorm.backward_apply: shapes do not match")
    if N * C * S == 0:
        return
    cdef const floating* gp = &g[0, 0, 0]
    cdef const floating* xp = &x[0, 0, 0]
    cdef const floating* mp = &mean[0]
    cdef const floating* ap = &a[0]
    cdef const floating* bp = &beta[0]
    cdef const floating* p1 = &k1[0]
    cdef const floating* p2 = &k2[0]
    cdef const floating* p3 = &k3[0]
    cdef floating* dp = &dx[0, 0, 0]
    with nogil:
        if S == 1:
            per = _per_block(C)
            blocks = (N + per - 1) // per
            for blk in prange(blocks, schedule="static", num_threads=team):
                start = blk * per
                _bapply_rows(gp + start * C, xp + start * C, mp, ap, bp, p1, p2, p3, dp + start * C,
                             min(per, N - start), C, r)
        else:
            per = _per_block(S)
            blocks = (N * C + per - 1) // per
            for blk in prange(blocks, schedule="static", num_threads=team):
                end = min((blk + 1) * per, N * C)
                for q in range(blk * per, end):
                    c = q % C
                    _bapply_plane(gp + q * S, xp + q * S, mp[c], ap[c], bp[c], p1[c], p2[c], p3[c], dp + q * S,
                                  S, r)
