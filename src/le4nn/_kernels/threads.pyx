# cython: language_level=3
"""What the OpenMP runtime the kernels were compiled with can do, and the helper-thread pool of
``le4nn_pool.h`` that the sparse products and the SGD update share (``pool_run``, see threads.pxd)."""

cdef extern from "le4nn_pool_impl.h":
    void le4nn_pool_run(int threads, Py_ssize_t items, pool_fn fn, void* ctx, long long spin_ns) nogil


cdef void pool_run(int threads, Py_ssize_t items, pool_fn fn, void* ctx, long long spin_ns) noexcept nogil:
    """fn(ctx, item, slot) for every item < items, on the caller and up to threads - 1 helpers, which
    then keep spinning for spin_ns nanoseconds (see le4nn_pool_impl.h)."""
    le4nn_pool_run(threads, items, fn, ctx, spin_ns)


cdef extern from "le4nn_openmp.h":
    int le4nn_openmp_enabled() nogil
    int le4nn_omp_max_threads() nogil


def openmp_enabled():
    """True when the kernels were compiled with OpenMP (they run on one thread otherwise)."""
    return bool(le4nn_openmp_enabled())


def max_threads():
    """The OpenMP runtime's default team size (1 without OpenMP)."""
    return le4nn_omp_max_threads()
