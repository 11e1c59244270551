# The helper-thread pool of le4nn_pool.h, shared by the kernel modules (one pool per process):
# ``from le4nn._kernels.threads cimport pool_run, pool_runner``.

cdef extern from "le4nn_pool.h":
    ctypedef void (*pool_fn "le4nn_pool_fn")(void* ctx, Py_ssize_t item, int slot) noexcept nogil
    ctypedef void (*pool_runner "le4nn_pool_runner")(int threads, Py_ssize_t items, pool_fn fn,
                                                     void* ctx, long long spin_ns) noexcept nogil

cdef void pool_run(int threads, Py_ssize_t items, pool_fn fn, void* ctx, long long spin_ns) noexcept nogil
