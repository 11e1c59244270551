# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Softmax and the fused softmax + cross-entropy kernels (float32 and float64), row-wise.

Called by :mod:`le4nn.ops.native`, which checks the arguments (labels in range, shapes, dtypes);
the semantics are those of :mod:`le4nn.ops.reference` (handout eq. 5, 6, 8, 12).  Rows are split
across the OpenMP threads; each row is computed by one thread in a fixed order, and the per-row
losses are summed sequentially in double after the parallel part, so that every result is bitwise
identical for any thread count.  Small problems (fewer than ``SERIAL_LIMIT`` elements) run on the
calling thread.

Per row: alpha = max_k a_k (a NaN anywhere makes the whole row NaN, as in the reference),
e_k = exp(a_k - alpha) with the vectorizable exp of le4nn_exp.h (as in activations.pyx), s = sum_k e_k
(in index order, in double), y_k = e_k / s, and -log y_k = log s - (a_k - alpha) (in double), which
stays finite for logits of any finite size.  The output may be the input (the loss terms are read before the row is overwritten).
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport log
from libc.stdlib cimport free, malloc

cdef extern from "le4nn_softmax.h":
    void le4nn_exp_inplace_f(float* y, Py_ssize_t n) nogil
    void le4nn_exp_inplace_d(double* y, Py_ssize_t n) nogil


cdef enum:
    # Below this many elements a kernel runs on one thread (no OpenMP team).
    SERIAL_LIMIT = 32768
    # Rows are processed in blocks of at most this many elements (whole rows, at least one).
    BLOCK_ELEMENTS = 4096


cdef inline int _team_size(Py_ssize_t rows, Py_ssize_t K, Py_ssize_t blocks,
                           int num_threads) noexcept nogil:
    """How many threads to use for rows x K elements in the given number of blocks."""
    if num_threads < 1 or blocks < 2 or rows * K < SERIAL_LIMIT:
        return 1
    if blocks < num_threads:
        return <int>blocks
    return num_threads


# --- a block of rows ---------------------------------------------------------------------------------
# Each kernel cuts the rows into blocks of at most BLOCK_ELEMENTS elements (whole rows; at least one)
# and runs three passes over a block while it sits in L1: (1) per row, the max alpha and
# y = x - alpha, (2) exp over the whole block in one long vectorized loop, (3) per row, the sum s
# (in index order) and y /= s.  With K = 10 classes, per-row vector loops would be all prologue.

cdef inline Py_ssize_t _rows_per_block(Py_ssize_t K) noexcept nogil:
    if K >= BLOCK_ELEMENTS:
        return 1
    return BLOCK_ELEMENTS // K


cdef inline int _plan(Py_ssize_t B, Py_ssize_t K, int num_threads, Py_ssize_t* per_block,
                      Py_ssize_t* blocks) noexcept nogil:
    """Cut B rows of K into blocks: sets the rows per block and the number of blocks, and returns
    the team size."""
    per_block[0] = _rows_per_block(K)
    blocks[0] = (B + per_block[0] - 1) // per_block[0]
    return _team_size(B, K, blocks[0], num_threads)


cdef inline void _shift_rows(const floating* x, floating* y, floating* scratch, Py_ssize_t rows,
                             Py_ssize_t K) noexcept nogil:
    """Pass 1: y = x - max(x) per row (y may be x).  ``scratch`` holds ``rows`` values.

    The maxima are taken column by column across the rows, so that the inner loop has no chain of
    dependent comparisons (a row of 10 classes would be one).  A NaN never wins a comparison, but
    it reaches exp below and spreads through its row's sum, as in the reference.
    """
    cdef Py_ssize_t r, k
    cdef floating m, v
    for r in range(rows):
        scratch[r] = x[r * K]
    for k in range(1, K):
        for r in range(rows):
            v = x[r * K + k]
            m = scratch[r]
            scratch[r] = v if v > m else m
    for r in range(rows):
        m = scratch[r]
        for k in range(K):
            y[r * K + k] = x[r * K + k] - m


cdef inline void _exp_block(floating* y, Py_ssize_t n) noexcept nogil:
    """Pass 2: y = exp(y) for y <= 0 (or NaN), in place, vectorized."""
    if floating is float:
        le4nn_exp_inplace_f(y, n)
    else:
        le4nn_exp_inplace_d(y, n)


cdef inline void _normalize_rows(floating* y, double* sums, Py_ssize_t rows, Py_ssize_t K) noexcept nogil:
    """Pass 3: sums[r] = sum of row r, added in index order in double (so that float32 rows of
    thousands of classes keep their accuracy); then y /= sum per row (the sum rounded to the dtype,
    as in the reference).  The sums are taken column by column across the rows, which keeps the
    order within a row but breaks the chain of dependent additions."""
    cdef Py_ssize_t r, k
    cdef floating s
    for r in range(rows):
        sums[r] = 0
    for k in range(K):
        for r in range(rows):
            sums[r] = sums[r] + <double>y[r * K + k]
    for r in range(rows):
        s = <floating>sums[r]
        for k in range(K):
            y[r * K + k] = y[r * K + k] / s


cdef inline void _softmax_block(const floating* x, floating* y, Py_ssize_t rows,
                                Py_ssize_t K) noexcept nogil:
    cdef floating maxima[BLOCK_ELEMENTS]
    cdef double sums[BLOCK_ELEMENTS]
    _shift_rows(x, y, maxima, rows, K)
    _exp_block(y, rows * K)
    _normalize_rows(y, sums, rows, K)


cdef inline void _ce_index_block(const floating* x, const Py_ssize_t* labels, floating* p,
                                 double* losses, Py_ssize_t rows, Py_ssize_t K) noexcept nogil:
    """Softmax of the rows into p; losses[r] = -log p[r, label] = log s - (x[r, label] - alpha)."""
    cdef floating maxima[BLOCK_ELEMENTS]
    cdef double sums[BLOCK_ELEMENTS]
    cdef Py_ssize_t r
    _shift_rows(x, p, maxima, rows, K)
    for r in range(rows):
        losses[r] = <double>p[r * K + labels[r]]  # the shifted logit, before exp overwrites it
    _exp_block(p, rows * K)
    _normalize_rows(p, sums, rows, K)
    for r in range(rows):
        losses[r] = log(sums[r]) - losses[r]


cdef inline void _ce_targets_block(const floating* x, const floating* t, floating* p, double* losses,
                                   double* weights, Py_ssize_t rows, Py_ssize_t K) noexcept nogil:
    """Softmax of the rows into p; losses[r] = -sum_k t_k log p_k
    = (sum_k t_k) log s - sum_k t_k (x_k - alpha), skipping t_k = 0 (so that 0 log 0 counts as 0).
    For a one-hot row this is exactly the value :func:`_ce_index_block` gives for that class."""
    cdef floating maxima[BLOCK_ELEMENTS]
    cdef double sums[BLOCK_ELEMENTS]
    cdef Py_ssize_t r, k
    cdef floating tk
    cdef double weighted, total
    _shift_rows(x, p, maxima, rows, K)
    for r in range(rows):  # before exp overwrites the shifted logits
        weighted = 0
        total = 0
        for k in range(K):
            tk = t[r * K + k]
            if tk != 0:
                weighted = weighted + <double>(tk * p[r * K + k])
                total = total + <double>tk
        losses[r] = weighted
        weights[r] = total
    _exp_block(p, rows * K)
    _normalize_rows(p, sums, rows, K)
    for r in range(rows):
        losses[r] = weights[r] * log(sums[r]) - losses[r]


cdef int _check_2d(str name, Py_ssize_t B, Py_ssize_t K, Py_ssize_t B2, Py_ssize_t K2) except -1:
    if B != B2 or K != K2:
        raise ValueError(f"{name}: arrays have shapes ({B}, {K}) and ({B2}, {K2})")
    return 0


cdef int _check_labels(str name, const Py_ssize_t[::1] labels, Py_ssize_t B, Py_ssize_t K) except -1:
    # The wrapper has checked them already; this keeps a direct call from writing out of bounds.
    cdef Py_ssize_t b
    if labels.shape[0] != B:
        raise ValueError(f"{name}: {labels.shape[0]} labels for a batch of {B}")
    for b in range(B):
        if labels[b] < 0 or labels[b] >= K:
            raise ValueError(f"{name}: label {labels[b]} is out of range for {K} classes")
    return 0


# --- kernels ------------------------------------------------------------------------------------------

def softmax_forward(const floating[:, ::1] x, floating[:, ::1] y, int num_threads):
    """y = softmax(x) over each row (y may be x)."""
    cdef Py_ssize_t B = x.shape[0], K = x.shape[1], per_block, blocks, blk, r0
    _check_2d("softmax_forward", B, K, y.shape[0], y.shape[1])
    if B == 0 or K == 0:
        return
    cdef int team = _plan(B, K, num_threads, &per_block, &blocks)
    cdef const floating* xp = &x[0, 0]
    cdef floating* yp = &y[0, 0]
    with nogil:
        if team == 1:
            for blk in range(blocks):
                r0 = blk * per_block
                _softmax_block(xp + r0 * K, yp + r0 * K, min(per_block, B - r0), K)
        else:
            for blk in prange(blocks, num_threads=team, schedule="static"):
                r0 = blk * per_block
                _softmax_block(xp + r0 * K, yp + r0 * K, min(per_block, B - r0), K)


def softmax_cross_entropy_forward_index(const floating[:, ::1] logits, const Py_ssize_t[::1] labels,
                                        floating[:, ::1] probs, int num_threads,
                                        str op="softmax_cross_entropy_forward"):
    """probs = softmax(logits) row-wise; returns the mean over rows of -log probs[b, labels[b]]."""
    cdef Py_ssize_t B = logits.shape[0], K = logits.shape[1], per_block, blocks, blk, r0, b
    cdef double total = 0
    _check_2d("softmax_cross_entropy_forward", B, K, probs.shape[0], probs.shape[1])
    _check_labels(op, labels, B, K)  # op: the name the errors give
    if B == 0 or K == 0:
        return 0.0
    cdef int team = _plan(B, K, num_threads, &per_block, &blocks)
    cdef const floating* xp = &logits[0, 0]
    cdef floating* pp = &probs[0, 0]
    cdef const Py_ssize_t* lp = &labels[0]
    cdef double* losses = <double*>malloc(B * sizeof(double))
    if losses == NULL:
        raise MemoryError()
    try:
        with nogil:
            if team == 1:
                for blk in range(blocks):
                    r0 = blk * per_block
                    _ce_index_block(xp + r0 * K, lp + r0, pp + r0 * K, losses + r0,
                                    min(per_block, B - r0), K)
            else:
                for blk in prange(blocks, num_threads=team, schedule="static"):
                    r0 = blk * per_block
                    _ce_index_block(xp + r0 * K, lp + r0, pp + r0 * K, losses + r0,
                                    min(per_block, B - r0), K)
            for b in range(B):  # sequential, in row order: the same sum for any thread count
                total = total + losses[b]
    finally:
        free(losses)
    return total / B


def softmax_cross_entropy_forward_onehot(const floating[:, ::1] logits, const floating[:, ::1] targets,
                                         floating[:, ::1] probs, int num_threads):
    """probs = softmax(logits) row-wise; returns the mean over rows of -sum_k t_k log probs_k."""
    cdef Py_ssize_t B = logits.shape[0], K = logits.shape[1], per_block, blocks, blk, r0, b
    cdef double total = 0
    _check_2d("softmax_cross_entropy_forward", B, K, probs.shape[0], probs.shape[1])
    _check_2d("softmax_cross_entropy_forward", B, K, targets.shape[0], targets.shape[1])
    if B == 0 or K == 0:
        return 0.0
    cdef int team = _plan(B, K, num_threads, &per_block, &blocks)
    cdef const floating* xp = &logits[0, 0]
    cdef const floating* tp = &targets[0, 0]
    cdef floating* pp = &probs[0, 0]
    cdef double* losses = <double*>malloc(2 * B * sizeof(double))
    if losses == NULL:
        raise MemoryError()
    cdef double* weights = losses + B
    try:
        with nogil:
            if team == 1:
                for blk in range(blocks):
                    r0 = blk * per_block
                    _ce_targets_block(xp + r0 * K, tp + r0 * K, pp + r0 * K, losses + r0, weights + r0,
                                      min(per_block, B - r0), K)
            else:
                for blk in prange(blocks, num_threads=team, schedule="static"):
                    r0 = blk * per_block
                    _ce_targets_block(xp + r0 * K, tp + r0 * K, pp + r0 * K, losses + r0, weights + r0,
                                      min(per_block, B - r0), K)
            for b in range(B):
                total = total + losses[b]
    finally:
        free(losses)
    return total / B


cdef inline void _ce_backward_index_rows(const floating* p, const Py_ssize_t* labels, floating* dx,
                                         Py_ssize_t rows, Py_ssize_t K, floating batch) noexcept nogil:
    cdef Py_ssize_t r, k, label
    cdef floating p_label, one = 1
    for r in range(rows):
        label = labels[r]
        p_label = p[r * K + label]  # read before dx (which may be p) is written
        for k in range(K):
            dx[r * K + k] = p[r * K + k] / batch
        dx[r * K + label] = (p_label - one) / batch  # the reference's (p - 1) / B


cdef inline void _ce_backward_targets(const floating* p, const floating* t, floating* dx, Py_ssize_t n,
                                      floating batch) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        dx[i] = (p[i] - t[i]) / batch


def softmax_cross_entropy_backward_index(const floating[:, ::1] probs, const Py_ssize_t[::1] labels,
                                         floating[:, ::1] dx, int num_threads,
                                         str op="softmax_cross_entropy_backward"):
    """dx = (probs - onehot(labels)) / B (dx may be probs)."""
    cdef Py_ssize_t B = probs.shape[0], K = probs.shape[1], per_block, blocks, blk, r0
    _check_2d("softmax_cross_entropy_backward", B, K, dx.shape[0], dx.shape[1])
    _check_labels(op, labels, B, K)
    if B == 0 or K == 0:
        return
    cdef int team = _plan(B, K, num_threads, &per_block, &blocks)
    cdef floating batch = <floating>B
    cdef const floating* pp = &probs[0, 0]
    cdef floating* dp = &dx[0, 0]
    cdef const Py_ssize_t* lp = &labels[0]
    with nogil:
        if team == 1:
            _ce_backward_index_rows(pp, lp, dp, B, K, batch)
        else:
            for blk in prange(blocks, num_threads=team, schedule="static"):
                r0 = blk * per_block
                _ce_backward_index_rows(pp + r0 * K, lp + r0, dp + r0 * K, min(per_block, B - r0), K,
                                        batch)


def softmax_cross_entropy_backward_onehot(const floating[:, ::1] probs, const floating[:, ::1] targets,
                                          floating[:, ::1] dx, int num_threads):
    """dx = (probs - targets) / B (dx may be probs or targets)."""
    cdef Py_ssize_t B = probs.shape[0], K = probs.shape[1], per_block, blocks, blk, r0
    _check_2d("softmax_cross_entropy_backward", B, K, dx.shape[0], dx.shape[1])
    _check_2d("softmax_cross_entropy_backward", B, K, targets.shape[0], targets.shape[1])
    if B == 0 or K == 0:
        return
    cdef int team = _plan(B, K, num_threads, &per_block, &blocks)
    cdef floating batch = <floating>B
    cdef const floating* pp = &probs[0, 0]
    cdef const floating* tp = &targets[0, 0]
    cdef floating* dp = &dx[0, 0]
    with nogil:
        if team == 1:
            _ce_backward_targets(pp, tp, dp, B * K, batch)
        else:
            for blk in prange(blocks, num_threads=team, schedule="static"):
                r0 = blk * per_block
                _ce_backward_targets(pp + r0 * K, tp + r0 * K, dp + r0 * K, min(per_block, B - r0) * K,
                                     batch)
