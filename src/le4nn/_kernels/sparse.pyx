# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Products whose left operand is mostly zeros: the first Dense layer on image data (an MNIST image
is about 80 % zero pixels).

``sparse_matmul``: z = x · W for x (B, N), W (N, K);
``sparse_matmul_tn``: ∂E/∂W = xᵀ · ∂E/∂z for x (B, N), ∂E/∂z (B, K).
Semantics: :func:`le4nn.ops.reference.sparse_matmul` (and ``_tn``); the wrappers in
:mod:`le4nn.ops.native` validate the arguments.

How: the output is computed four rows at a time (four samples of z; four input features of ∂E/∂W).
For a group of four, only the terms where at least one of the four has a nonzero factor are visited
(the union of their nonzeros: ≈ 39 % of the pixels for four MNIST digits, against 19 % for one); the
four factors of each such term are packed side by side, and every row of W (or of ∂E/∂z) that is
loaded feeds four multiply-adds, as in a BLAS micro-kernel.  A zero factor inside the union is
multiplied like any other, so the result is exactly the dense product's terms, summed in order of
the inner index — the same for any thread count.  Zero terms outside the union are skipped: an inf
or NaN in W at a zero pixel does not reach z (as in any sparse product).

Work split: the groups of four, a few to an item, items claimed one by one by the calling thread and
up to ``num_threads - 1`` helpers of ``le4nn_pool_impl.h`` (threads that keep spinning for half a
millisecond after a product, so the next step's products find them awake; an OpenMP team whose
threads sleep takes ≈ 0.1 ms to start on the development VM, as long as the products themselves).
Every group has its own output rows, so the result does not depend on the thread count.
"""

from cython cimport floating
from libc.stdlib cimport calloc, free, malloc

from le4nn._kernels.threads cimport pool_run, pool_runner

cdef extern from "le4nn_sparse.h":
    int le4nn_set_union4_avx512(int on)
    void le4nn_sparse_epilogue_f(float* z, const float* bias, Py_ssize_t rows, Py_ssize_t K, int act) noexcept nogil
    void le4nn_sparse_epilogue_d(double* z, const double* bias, Py_ssize_t rows, Py_ssize_t K, int act) noexcept nogil
    void le4nn_sparse_run_f(const float* x, const float* w, float* z, float* pad, Py_ssize_t B, Py_ssize_t N,
                            Py_ssize_t K, int tn, int threads, unsigned char* flag, int* idx, Py_ssize_t stride,
                            Py_ssize_t* visited, const float* bias, int act, pool_runner run) noexcept nogil
    void le4nn_sparse_run_d(const double* x, const double* w, double* z, double* pad, Py_ssize_t B,
                            Py_ssize_t N, Py_ssize_t K, int tn, int threads, unsigned char* flag, int* idx,
                            Py_ssize_t stride, Py_ssize_t* visited, const double* bias, int act,
                            pool_runner run) noexcept nogil

cdef enum:
    GROUP = 4  # rows of the output per group (the micro-kernel's height)
    # sparse_matmul's epilogue (le4nn.ops.native passes these codes)
    ACT_NONE = 0
    ACT_RELU = 1
    ACT_SIGMOID = 2
    SERIAL_FLOPS = 400000  # below this many multiply-adds (dense count) no OpenMP team is started


cdef void _epilogue(floating* z, const floating* bias, Py_ssize_t rows, Py_ssize_t K, int act) noexcept nogil:
    if floating is float:
        le4nn_sparse_epilogue_f(z, bias, rows, K, act)
    else:
        le4nn_sparse_epilogue_d(z, bias, rows, K, act)


cdef void _run(const floating* x, const floating* w, floating* z, floating* pad, Py_ssize_t B, Py_ssize_t N,
              Py_ssize_t K, int tn, int threads, unsigned char* flag, int* idx, Py_ssize_t stride,
              Py_ssize_t* visited, const floating* bias, int act) noexcept nogil:
    if floating is float:
        le4nn_sparse_run_f(x, w, z, pad, B, N, K, tn, threads, flag, idx, stride, visited, bias, act, pool_run)
    else:
        le4nn_sparse_run_d(x, w, z, pad, B, N, K, tn, threads, flag, idx, stride, visited, bias, act, pool_run)


def sparse_matmul(const floating[:, ::1] x, const floating[:, ::1] w, floating[:, ::1] z, int num_threads,
                  const floating[::1] bias=None, int activation=ACT_NONE):
    """z = x · w (B, K) for x (B, N), w (N, K), visiting only the nonzero entries of x (four rows of x at
    a time, see the module docstring); then, if given, + bias (K,) and ``activation`` (ACT_RELU,
    ACT_SIGMOID) on each group of rows while it is in cache.  Returns the fraction of the entries
    visited (the size of the unions over B · N), which tells the caller whether the dense product
    would be cheaper."""
    cdef Py_ssize_t B = x.shape[0], N = x.shape[1], K = w.shape[1], groups, grp, visited = 0
    cdef Py_ssize_t stride = N + 16  # scratch per thread: N + 16 flag bytes, N + 16 ints (whole vectors)
    cdef int team = 1 if num_threads < 1 or B * N * K < SERIAL_FLOPS else num_threads
    cdef unsigned char* flag
    cdef int* idx
    cdef floating* pad
    cdef Py_ssize_t* unions
    cdef const floating* bp = NULL
    if w.shape[0] != N or z.shape[0] != B or z.shape[1] != K:
        raise ValueError("sparse_matmul: shapes do not match")
    if bias is not None:
        if bias.shape[0] != K:
            raise ValueError("sparse_matmul: the bias does not match the columns")
        if K:
            bp = &bias[0]
    if activation not in (ACT_NONE, ACT_RELU, ACT_SIGMOID):
        raise ValueError(f"sparse_matmul: unknown activation code {activation}")
    if B == 0 or K == 0:
        return 0.0
    if N == 0:  # z = 0: only the epilogue's terms
        z[...] = 0
        _epilogue(&z[0, 0], bp, B, K, activation)
        return 0.0
    groups = (B + GROUP - 1) // GROUP
    team = <int>min(<Py_ssize_t>team, groups)
    flag = <unsigned char*>malloc(team * stride)
    idx = <int*>malloc(team * stride * sizeof(int))
    unions = <Py_ssize_t*>malloc(groups * sizeof(Py_ssize_t))
    pad = <floating*>calloc(GROUP * N, sizeof(floating)) if B % GROUP else NULL
    if flag == NULL or idx == NULL or unions == NULL or (B % GROUP and pad == NULL):
        free(flag)
        free(idx)
        free(unions)
        free(pad)
        raise MemoryError("sparse_matmul: out of memory")
    with nogil:
        _run(&x[0, 0], &w[0, 0], &z[0, 0], pad, B, N, K, 0, team, flag, idx, stride, unions, bp, activation)
        for grp in range(groups):
            visited += unions[grp]
    free(flag)
    free(idx)
    free(unions)
    free(pad)
    return visited / <double>(groups * N)


def sparse_matmul_tn(const floating[:, ::1] x, const floating[:, ::1] d, floating[:, ::1] g, int num_threads):
    """g = xᵀ · d (N, K) for x (B, N) and d (B, K), visiting only the nonzero entries of x (four
    columns of x at a time)."""
    cdef Py_ssize_t B = x.shape[0], N = x.shape[1], K = d.shape[1]
    cdef Py_ssize_t stride = B + 8
    cdef int team = 1 if num_threads < 1 or B * N * K < SERIAL_FLOPS else num_threads
    cdef unsigned char* flag
    cdef int* idx
    if d.shape[0] != B or g.shape[0] != N or g.shape[1] != K:
        raise ValueError("sparse_matmul_tn: shapes do not match")
    if N == 0 or K == 0:
        return
    if B == 0:
        g[...] = 0
        return
    team = <int>min(<Py_ssize_t>team, (N + GROUP - 1) // GROUP)
    flag = <unsigned char*>malloc(team * stride)
    idx = <int*>malloc(team * stride * sizeof(int))
    if flag == NULL or idx == NULL:
        free(flag)
        free(idx)
        raise MemoryError("sparse_matmul_tn: out of memory")
    with nogil:
        _run(&x[0, 0], &d[0, 0], &g[0, 0], NULL, B, N, K, 1, team, flag, idx, stride, NULL, NULL, ACT_NONE)
    free(flag)
    free(idx)


def _use_avx512_unions(bint on):
    """For the tests: build the float32 union lists with AVX-512 (where the CPU has it) or with the
    portable byte flags; returns whether AVX-512 was in use."""
    return bool(le4nn_set_union4_avx512(on))


#: The epilogue codes of :func:`sparse_matmul`, by activation name.
ACTIVATIONS = {None: ACT_NONE, "linear": ACT_NONE, "relu": ACT_RELU, "sigmoid": ACT_SIGMOID}
