# Short copies and zero fills on raw pointers, for the NHWC kernels (nhwc_*.pyx; included textually,
# after ``from cython cimport floating`` and ``from libc.string cimport memcpy``).

cdef inline void _copy(floating* dst, const floating* src, Py_ssize_t n) noexcept nogil:
    """Short copies as a loop (memcpy's call costs more than a few elements)."""
    cdef Py_ssize_t t
    if n >= 32:
        memcpy(dst, src, n * sizeof(floating))
    else:
        for t in range(n):
            dst[t] = src[t]


cdef inline void _zero(floating* dst, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t t
    for t in range(n):
        dst[t] = 0
