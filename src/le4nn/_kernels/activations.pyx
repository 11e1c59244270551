# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Elementwise activation kernels: sigmoid and ReLU, forward and backward (float32 and float64).

Called by :mod:`le4nn.ops.native`, which checks the arguments and passes flat C-contiguous views;
the semantics are those of :mod:`le4nn.ops.reference`.  Every kernel works in place (the output may
be the input).  An array is cut into one contiguous chunk per thread; arrays below ``SERIAL_LIMIT``
elements run on the calling thread, where an OpenMP team would cost more than it saves.  Every
output element depends only on the input elements at its own index, so the results are bitwise
identical for any thread count.

The inner loops use raw pointers and branch-free selects so that GCC -O3 vectorizes them.  The
sigmoid loop is written in C (le4nn_activations.h) around a vectorizable exp instead of libm's,
and is compiled for AVX2 as well where GCC can dispatch on the CPU; see le4nn_exp.h.  No fast-math
semantics: NaN propagates.
"""

from cython cimport floating
from cython.parallel cimport prange

cdef extern from "le4nn_activations.h":
    void le4nn_sigmoid_f(const float* x, float* y, Py_ssize_t n) nogil
    void le4nn_sigmoid_d(const double* x, double* y, Py_ssize_t n) nogil


cdef enum:
    # Below this many elements a kernel runs on one thread (no OpenMP team).
    SERIAL_LIMIT = 32768


# --- spans: the work of one chunk, on raw pointers ---------------------------------------------------

cdef inline void _sigmoid_span(const floating* x, floating* y, Py_ssize_t n) noexcept nogil:
    if floating is float:
        le4nn_sigmoid_f(x, y, n)
    else:
        le4nn_sigmoid_d(x, y, n)


cdef inline void _sigmoid_backward_span(const floating* dout, const floating* y, floating* dx,
                                        Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating v, one = 1
    for i in range(n):
        v = y[i]
        dx[i] = dout[i] * (v * (one - v))  # the reference's order of operations


cdef inline void _relu_span(const floating* x, floating* y, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating v, zero = 0
    for i in range(n):
        v = x[i]
        y[i] = zero if v <= 0 else v  # NaN <= 0 is false: NaN passes through


cdef inline void _relu_backward_span(const floating* dout, const floating* y, floating* dx,
                                     Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating zero = 0
    cdef floating d, v
    for i in range(n):
        d = dout[i]  # both loads unconditional, so that the select vectorizes
        v = y[i]
        dx[i] = zero if v <= 0 else d  # the derivative at 0 is 0


# --- splitting the work ------------------------------------------------------------------------------

include "chunks.pxi"


cdef int _check_sizes(str name, Py_ssize_t n, Py_ssize_t m) except -1:
    if n != m:
        raise ValueError(f"{name}: arrays have {n} and {m} elements")
    return 0


# --- one op over a flat array, on one thread or split into chunks ------------------------------------

cdef enum:
    # The four ops, for _run: which span a chunk calls.
    SIGMOID, SIGMOID_BACKWARD, RELU, RELU_BACKWARD


cdef inline void _span(int op, const floating* a, const floating* b, floating* out,
                       Py_ssize_t n) noexcept nogil:
    """The span of ``op`` over n elements: out = f(a), or out = f'(a, b) for the backward ops."""
    if op == SIGMOID:
        _sigmoid_span(a, out, n)
    elif op == SIGMOID_BACKWARD:
        _sigmoid_backward_span(a, b, out, n)
    elif op == RELU:
        _relu_span(a, out, n)
    else:
        _relu_backward_span(a, b, out, n)


cdef inline void _run(int op, const floating* a, const floating* b, floating* out, Py_ssize_t n,
                      int team) noexcept nogil:
    """``op`` over n elements: on the calling thread when team is 1, else one chunk per thread."""
    cdef Py_ssize_t chunk, c, start
    if team == 1:
        _span(op, a, b, out, n)
    else:
        chunk = _chunk_size(n, team)
        for c in prange((n + chunk - 1) // chunk, num_threads=team, schedule="static"):
            start = c * chunk
            _span(op, a + start, b + start, out + start, min(chunk, n - start))


cdef int _elementwise(int op, str name, const floating[::1] a, const floating[::1] b, floating[::1] out,
                      int num_threads) except -1:
    """Check that a, b and out have b's size, then run ``op`` (a forward op passes its x as a and b)."""
    cdef Py_ssize_t n = b.shape[0]
    cdef int team = _team_size(n, num_threads, SERIAL_LIMIT)
    _check_sizes(name, n, a.shape[0])
    _check_sizes(name, n, out.shape[0])
    if n > 0:
        with nogil:
            _run(op, &a[0], &b[0], &out[0], n, team)
    return 0


# --- kernels ------------------------------------------------------------------------------------------

def sigmoid_forward(const floating[::1] x, floating[::1] y, int num_threads):
    """y = sigmoid(x), elementwise (y may be x)."""
    _elementwise(SIGMOID, "sigmoid_forward", x, x, y, num_threads)


def sigmoid_backward(const floating[::1] dout, const floating[::1] y, floating[::1] dx,
                     int num_threads):
    """dx = dout * y * (1 - y), elementwise, from the forward output y (dx may be dout or y)."""
    _elementwise(SIGMOID_BACKWARD, "sigmoid_backward", dout, y, dx, num_threads)


def relu_forward(const floating[::1] x, floating[::1] y, int num_threads):
    """y = max(0, x), elementwise, NaN propagating (y may be x)."""
    _elementwise(RELU, "relu_forward", x, x, y, num_threads)


def relu_backward(const floating[::1] dout, const floating[::1] y, floating[::1] dx, int num_threads):
    """dx = dout where y > 0, else 0, elementwise (dx may be dout or y)."""
    _elementwise(RELU_BACKWARD, "relu_backward", dout, y, dx, num_threads)
