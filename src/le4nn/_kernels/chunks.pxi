# Splitting a flat array among threads, for the elementwise kernels (activations.pyx, optim.pyx; included
# textually): one contiguous chunk per thread, its boundaries at whole cache lines.

cdef enum:
    # Chunk boundaries are multiples of this many elements (whole cache lines for both dtypes).
    CHUNK_ALIGN = 64


cdef inline int _team_size(Py_ssize_t n, int num_threads, Py_ssize_t serial_limit) noexcept nogil:
    """How many threads to use for n elements: one below ``serial_limit`` (a team would cost more)."""
    if num_threads < 1 or n < serial_limit:
        return 1
    return num_threads


cdef inline Py_ssize_t _chunk_size(Py_ssize_t n, int team) noexcept nogil:
    """Elements per chunk: n split evenly over the team, rounded up to whole cache lines."""
    cdef Py_ssize_t chunk = (n + team - 1) // team
    return (chunk + CHUNK_ALIGN - 1) // CHUNK_ALIGN * CHUNK_ALIGN
