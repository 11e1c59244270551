# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The SGD update in place, one pass over the arrays (float32 and float64).

Semantics are those of :func:`le4nn.ops.reference.sgd_update` (the wrapper in :mod:`le4nn.ops.native`
checks the arguments and passes flat C-contiguous views).  NumPy's ``p -= lr * g`` reads and writes
the arrays two or three times and allocates the product; here each element is read and written once.
Every product and sum is rounded to the dtype in the reference's order: the loops are compiled with
fp-contract=off, so no multiply-add is fused and the bits are NumPy's, for every CPU clone and any
thread count (each element depends only on its own index).  Arrays below ``SERIAL_LIMIT`` elements
run on the calling thread; larger ones in chunks shared with the helper threads of ``le4nn_pool.h``
when they are awake (right after a sparse product, as in an MLP's step) or the array is large enough
(``WAKE_LIMIT``) to be worth waking them, else on the calling thread.
"""

from cython cimport floating

from le4nn._kernels.threads cimport pool_run, pool_runner

cdef extern from "le4nn_optim.h":
    void le4nn_sgd_f(float* p, const float* g, Py_ssize_t n, float lr) nogil
    void le4nn_sgd_d(double* p, const double* g, Py_ssize_t n, double lr) nogil
    void le4nn_sgd_momentum_f(float* p, const float* g, float* v, Py_ssize_t n, float lr, float m,
                              int nesterov) nogil
    void le4nn_sgd_run(void* p, const void* g, void* v, Py_ssize_t n, Py_ssize_t chunk, double lr, double m,
                       int nesterov, int is_double, int threads, Py_ssize_t wake_limit, pool_runner run) nogil
    void le4nn_sgd_momentum_d(double* p, const double* g, double* v, Py_ssize_t n, double lr, double m,
                              int nesterov) nogil


cdef enum:
    # Below this many elements the update runs on the calling thread: handing chunks to the pool's
    # helpers (le4nn_pool.h) costs about a microsecond, and the arrays are in the caller's cache.
    SERIAL_LIMIT = 32768
    # From this many elements on (4 MB of float32, a few hundred µs of work) the update wakes sleeping
    # helpers; smaller ones use them only while they are awake after a sparse product.
    WAKE_LIMIT = 1048576
    CHUNKS_PER_THREAD = 4

include "chunks.pxi"


cdef inline void _sgd_span(floating* p, const floating* g, Py_ssize_t n, floating lr) noexcept nogil:
    if floating is float:
        le4nn_sgd_f(p, g, n, lr)
    else:
        le4nn_sgd_d(p, g, n, lr)


cdef inline void _momentum_span(floating* p, const floating* g, floating* v, Py_ssize_t n, floating lr,
                                floating m, int nesterov) noexcept nogil:
    if floating is float:
        le4nn_sgd_momentum_f(p, g, v, n, lr, m, nesterov)
    else:
        le4nn_sgd_momentum_d(p, g, v, n, lr, m, nesterov)


def _check_sizes(Py_ssize_t n, Py_ssize_t other):
    if other != n:
        raise ValueError(f"sgd_update: arrays of {n} and {other} elements")


def sgd_update(floating[::1] p, const floating[::1] g, double lr, int num_threads):
    """p -= lr * g (lr rounded to the dtype first)."""
    cdef Py_ssize_t n = p.shape[0]
    _check_sizes(n, g.shape[0])
    if n == 0:
        return
    cdef int team = _team_size(n, num_threads, SERIAL_LIMIT)
    cdef floating rate = <floating>lr
    cdef floating* pp = &p[0]
    cdef const floating* gp = &g[0]
    with nogil:
        if team == 1:
            _sgd_span(pp, gp, n, rate)
        else:
            le4nn_sgd_run(pp, gp, NULL, n, _chunk_size(n, team * CHUNKS_PER_THREAD), rate, 0.0, 0,
                          floating is double, team, WAKE_LIMIT, pool_run)


def sgd_momentum_update(floating[::1] p, const floating[::1] g, floating[::1] v, double lr, double momentum,
                        bint nesterov, int num_threads):
    """v = momentum * v - lr * g; p += v (nesterov: p += momentum * v - lr * g)."""
    cdef Py_ssize_t n = p.shape[0]
    _check_sizes(n, g.shape[0])
    _check_sizes(n, v.shape[0])
    if n == 0:
        return
    cdef int team = _team_size(n, num_threads, SERIAL_LIMIT)
    cdef floating rate = <floating>lr
    cdef floating m = <floating>momentum
    cdef int ahead = 1 if nesterov else 0
    cdef floating* pp = &p[0]
    cdef const floating* gp = &g[0]
    cdef floating* vp = &v[0]
    with nogil:
        if team == 1:
            _momentum_span(pp, gp, vp, n, rate, m, ahead)
        else:
            le4nn_sgd_run(pp, gp, vp, n, _chunk_size(n, team * CHUNKS_PER_THREAD), rate, m, ahead,
                          floating is double, team, WAKE_LIMIT, pool_run)
