# Window index helpers shared by the NCHW and NHWC window kernels (im2col.pyx, pooling.pyx,
# nhwc_pool.pyx; included textually).  An output o of a window op reads the input elements
# o·stride − pad + offset, offset < k (handout eq. 59); these find where that index is real.

cdef inline Py_ssize_t _first_inside(Py_ssize_t pad, Py_ssize_t offset, Py_ssize_t stride,
                                     Py_ssize_t n_out) noexcept nogil:
    """The first output index o with o·stride − pad + offset >= 0 (clamped to [0, n_out])."""
    cdef Py_ssize_t a = pad - offset
    cdef Py_ssize_t o = 0 if a <= 0 else (a + stride - 1) // stride
    return o if o < n_out else n_out


cdef inline Py_ssize_t _first_beyond(Py_ssize_t size, Py_ssize_t pad, Py_ssize_t offset,
                                     Py_ssize_t stride, Py_ssize_t lo, Py_ssize_t n_out) noexcept nogil:
    """The first output index o >= lo with o·stride − pad + offset >= size (clamped to [lo, n_out])."""
    cdef Py_ssize_t a = size + pad - offset
    cdef Py_ssize_t o = 0 if a <= 0 else (a + stride - 1) // stride
    if o < lo:
        return lo
    return o if o < n_out else n_out


cdef bint _outside(const int* ap, Py_ssize_t n, Py_ssize_t HW) noexcept nogil:
    """Whether some of the n indices lies outside [0, HW) (one flat, vectorized pass)."""
    cdef Py_ssize_t k
    cdef unsigned int hw = <unsigned int>HW
    cdef bint bad = False
    for k in range(n):
        bad |= <unsigned int>ap[k] >= hw
    return bad
