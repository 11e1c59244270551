# cython: language_level=3
"""What the OpenMP runtime the kernels were compiled with can do."""

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    static int le4nn_openmp_enabled(void) { return 1; }
    static int le4nn_omp_max_threads(void) { return omp_get_max_threads(); }
    #else
    static int le4nn_openmp_enabled(void) { return 0; }
    static int le4nn_omp_max_threads(void) { return 1; }
    #endif
    """
    int le4nn_openmp_enabled() nogil
    int le4nn_omp_max_threads() nogil


def openmp_enabled():
    """True when the kernels were compiled with OpenMP (they run on one thread otherwise)."""
    return bool(le4nn_openmp_enabled())


def max_threads():
    """The OpenMP runtime's default team size (1 without OpenMP)."""
    return le4nn_omp_max_threads()
