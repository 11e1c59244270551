# The size of the OpenMP team for a kernel (nhwc_*.pyx, winograd.pyx; included textually).

cdef enum:
    # Below this many elements moved, a kernel runs on the calling thread (no OpenMP team).
    SERIAL_LIMIT = 32768


cdef inline int _team(Py_ssize_t work, int num_threads) noexcept nogil:
    if num_threads < 1 or work < SERIAL_LIMIT:
        return 1
    return num_threads
