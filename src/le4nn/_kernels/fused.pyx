# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Fused epilogues of the affine layers: bias + ReLU forward, and the ReLU or sigmoid backward with the
bias gradient; and the residual add fused with its ReLU (``add_relu_forward``, a ResNet block's end).

Semantics are those of :func:`le4nn.ops.reference.bias_relu_forward`, ``relu_backward_bias`` and
``sigmoid_backward_bias`` (the wrappers in :mod:`le4nn.ops.native` validate the arguments).  The arrays are seen as (N, K)
matrices, the bias running along K.  One pass over the data instead of two or three (add the bias,
apply the ReLU; mask the gradient, sum it over the rows).

Work split: rows in fixed blocks of about ``BLOCK_ELEMENTS`` elements; the bias gradient sums each
block (in the data's precision: at most a few hundred terms per column) into its own partial row,
and the partial rows are then added in block order in float64, so the result is bitwise the same
for any thread count.  Small arrays run on the calling thread.  The float32 loops are C with
restrict pointers, compiled for AVX2 and the baseline (le4nn_fused.h).
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.stdlib cimport calloc, free, malloc


cdef extern from "le4nn_fused.h":
    void le4nn_sigmoid_backward_bias_rows_f(const float* d, const float* y, float* dx, float* acc,
                                            Py_ssize_t rows, Py_ssize_t K) noexcept nogil
    void le4nn_sigmoid_backward_bias_rows_d(const double* d, const double* y, double* dx, double* acc,
                                            Py_ssize_t rows, Py_ssize_t K) noexcept nogil
    void le4nn_bias_relu_rows_f(const float* x, const float* b, float* y, Py_ssize_t rows,
                                Py_ssize_t K) noexcept nogil
    void le4nn_relu_backward_bias_rows_f(const float* d, const float* y, float* dx, float* acc,
                                         Py_ssize_t rows, Py_ssize_t K) noexcept nogil
    void le4nn_relu_backward_bias_rows_d(const double* d, const double* y, double* dx, double* acc,
                                         Py_ssize_t rows, Py_ssize_t K) noexcept nogil
    void le4nn_add_relu_f(const float* a, const float* b, float* y, Py_ssize_t n) noexcept nogil
    void le4nn_add_relu_d(const double* a, const double* b, double* y, Py_ssize_t n) noexcept nogil

cdef enum:
    SERIAL_LIMIT = 32768  # elements below which no OpenMP team is started
    BLOCK_ELEMENTS = 8192  # about this many elements per block of rows (32 kB of float32)


cdef inline Py_ssize_t _block_rows(Py_ssize_t K) noexcept nogil:
    cdef Py_ssize_t r = BLOCK_ELEMENTS // K if K > 0 else 1
    return r if r > 0 else 1


cdef inline void _bias_relu_rows(const floating* x, const floating* b, floating* y, Py_ssize_t rows,
                                 Py_ssize_t K) noexcept nogil:
    cdef Py_ssize_t r, k
    cdef floating v
    cdef const floating* xr
    cdef floating* yr
    if floating is float:
        le4nn_bias_relu_rows_f(x, b, y, rows, K)
    else:
        for r in range(rows):
            xr = x + r * K
            yr = y + r * K
            for k in range(K):
                v = xr[k] + b[k]
                yr[k] = 0 if v <= 0 else v  # NaN <= 0 is false: NaN passes through


def bias_relu_forward(const floating[:, ::1] x, const floating[::1] bias, floating[:, ::1] y,
                      int num_threads):
    """y = max(0, x + bias) row by row (y may be x)."""
    cdef Py_ssize_t N = x.shape[0], K = x.shape[1], R = _block_rows(K), blocks, blk, start
    cdef int team = 1 if num_threads < 1 or N * K < SERIAL_LIMIT else num_threads
    if bias.shape[0] != K or y.shape[0] != N or y.shape[1] != K:
        raise ValueError("bias_relu_forward: shapes do not match")
    if N * K == 0:
        return
    cdef const floating* xp = &x[0, 0]
    cdef const floating* bp = &bias[0]
    cdef floating* yp = &y[0, 0]
    blocks = (N + R - 1) // R
    with nogil:
        if team == 1:
            _bias_relu_rows(xp, bp, yp, N, K)
        else:
            for blk in prange(blocks, schedule="static", num_threads=team):
                start = blk * R
                _bias_relu_rows(xp + start * K, bp, yp + start * K, min(R, N - start), K)


cdef enum:
    RELU = 0
    SIGMOID = 1


cdef inline void _backward_bias_rows(int mode, const floating* d, const floating* y, floating* dx,
                                     floating* acc, Py_ssize_t rows, Py_ssize_t K) noexcept nogil:
    if floating is float:
        if mode == RELU:
            le4nn_relu_backward_bias_rows_f(d, y, dx, acc, rows, K)
        else:
            le4nn_sigmoid_backward_bias_rows_f(d, y, dx, acc, rows, K)
    elif mode == RELU:
        le4nn_relu_backward_bias_rows_d(d, y, dx, acc, rows, K)
    else:
        le4nn_sigmoid_backward_bias_rows_d(d, y, dx, acc, rows, K)


cdef _backward_bias(int mode, str name, const floating[:, ::1] dout, const floating[:, ::1] y,
                    floating[:, ::1] dx, floating[::1] bias_grad, int num_threads):
    """dx from dout and the activation's output y (mode RELU or SIGMOID), and bias_grad = dx summed
    over the rows: blocks of rows summed in the data's precision, then the blocks in float64."""
    cdef Py_ssize_t N = y.shape[0], K = y.shape[1], R = _block_rows(K), blocks, blk, start, k
    cdef int team = 1 if num_threads < 1 or N * K < SERIAL_LIMIT else num_threads
    if (dout.shape[0] != N or dout.shape[1] != K or dx.shape[0] != N or dx.shape[1] != K
            or bias_grad.shape[0] != K):
        raise ValueError(f"{name}: shapes do not match")
    if K == 0:
        return
    if N == 0:
        bias_grad[...] = 0
        return
    blocks = (N + R - 1) // R
    cdef floating* pp = <floating*>malloc(blocks * K * sizeof(floating))  # one partial row per block
    cdef double* total = <double*>calloc(K, sizeof(double))
    if pp == NULL or total == NULL:
        free(pp)
        free(total)
        raise MemoryError(f"{name}: out of memory")
    cdef const floating* dp = &dout[0, 0]
    cdef const floating* yp = &y[0, 0]
    cdef floating* xp = &dx[0, 0]
    with nogil:
        if team == 1:
            for blk in range(blocks):
                start = blk * R
                _backward_bias_rows(mode, dp + start * K, yp + start * K, xp + start * K, pp + blk * K,
                                    min(R, N - start), K)
        else:
            for blk in prange(blocks, schedule="static", num_threads=team):
                start = blk * R
                _backward_bias_rows(mode, dp + start * K, yp + start * K, xp + start * K, pp + blk * K,
                                    min(R, N - start), K)
        for blk in range(blocks):
            for k in range(K):
                total[k] += pp[blk * K + k]
        for k in range(K):
            bias_grad[k] = <floating>total[k]
    free(pp)
    free(total)


def relu_backward_bias(const floating[:, ::1] dout, const floating[:, ::1] y, floating[:, ::1] dx,
                       floating[::1] bias_grad, int num_threads):
    """dx = dout where y > 0, else 0 (dx may be dout or y); bias_grad = dx summed over the rows."""
    _backward_bias(RELU, "relu_backward_bias", dout, y, dx, bias_grad, num_threads)


def sigmoid_backward_bias(const floating[:, ::1] dout, const floating[:, ::1] y, floating[:, ::1] dx,
                          floating[::1] bias_grad, int num_threads):
    """dx = dout · y (1 − y) (dx may be dout or y); bias_grad = dx summed over the rows."""
    _backward_bias(SIGMOID, "sigmoid_backward_bias", dout, y, dx, bias_grad, num_threads)


cdef inline void _add_relu(const floating* a, const floating* b, floating* y, Py_ssize_t n) noexcept nogil:
    if floating is float:
        le4nn_add_relu_f(a, b, y, n)
    else:
        le4nn_add_relu_d(a, b, y, n)


def add_relu_forward(const floating[::1] a, const floating[::1] b, floating[::1] y, int num_threads):
    """y = max(0, a + b) element by element (y may be a or b): the residual add and its ReLU in one
    pass.  Fixed blocks of ``4 · BLOCK_ELEMENTS`` elements are shared out; each element's value does
    not depend on the split, so the bits are the same for any thread count."""
    cdef Py_ssize_t n = a.shape[0], R = 4 * BLOCK_ELEMENTS, blocks, blk, start
    cdef int team = 1 if num_threads < 1 or n < SERIAL_LIMIT else num_threads
    if b.shape[0] != n or y.shape[0] != n:
        raise ValueError("add_relu_forward: shapes do not match")
    if n == 0:
        return
    cdef const floating* ap = &a[0]
    cdef const floating* bp = &b[0]
    cdef floating* yp = &y[0]
    blocks = (n + R - 1) // R
    with nogil:
        if team == 1:
            _add_relu(ap, bp, yp, n)
        else:
            for blk in prange(blocks, schedule="static", num_threads=team):
                start = blk * R
                _add_relu(ap + start, bp + start, yp + start, min(R, n - start))
