# The optional bias of the convolution kernels (nhwc_conv.pyx, winograd.pyx; included textually, after
# ``from cython cimport floating``).


cdef const floating* _bias_data(const floating[::1] bias, Py_ssize_t n, str op) except? NULL:
    """The first element of ``bias`` (NULL when n is 0); a ValueError naming ``op`` unless it holds n
    values.  The caller keeps the view, so the pointer stays valid while it runs."""
    if bias.shape[0] != n:
        raise ValueError(f"{op}: bias has the wrong size")
    return &bias[0] if n else NULL
