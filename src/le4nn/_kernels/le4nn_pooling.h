/* le4nn_pooling.h: the row loops of pooling.pyx, max pooling (handout eq. 63-64: the first
   maximum of each window, the first NaN winning, padding never) and average pooling over NCHW
   planes, forward and backward, float32 and float64.  Included by pooling.pyx (after Python.h:
   Py_ssize_t). */
#ifndef LE4NN_POOLING_H
#define LE4NN_POOLING_H

/* Max pooling 2x2 / stride 2 / no padding: explicit SSE2 (baseline on x86-64) with a scalar
   fallback elsewhere; the step rule and the code are in le4nn_maxpool_2x2.h. */
#include <string.h>
#if !defined(LE4NN_NO_SIMD) && (defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2))
#include <emmintrin.h>
#define LE4NN_SSE2 1
#endif

/* The forward and backward, written once (le4nn_maxpool_2x2.h) and compiled for each type. */
#define LE4NN_T float
#define LE4NN_SUF f
#define LE4NN_DOUBLE 0
#include "le4nn_maxpool_2x2.h"
#define LE4NN_T double
#define LE4NN_SUF d
#define LE4NN_DOUBLE 1
#include "le4nn_maxpool_2x2.h"

#if defined(_MSC_VER)
#define LE4NN_INLINE static __forceinline
#define LE4NN_RESTRICT __restrict
#else
#define LE4NN_INLINE static inline __attribute__((always_inline))
#define LE4NN_RESTRICT __restrict__
#endif

/* One pass of a window offset over an output row, for the general pooling paths.  Each helper is
   specialized for column strides 1 and 2 (compile-time constants, so GCC vectorizes with plain or
   de-interleaving loads) and falls back to a runtime stride. */
#define LE4NN_ROW_OPS(T, S)                                                                        \
LE4NN_INLINE void le4nn_max_row_impl_##S(T *LE4NN_RESTRICT o, int *LE4NN_RESTRICT a,              \
        const T *LE4NN_RESTRICT row, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t sw, Py_ssize_t iw0, \
        int idx_row) {                                                                             \
    for (Py_ssize_t ow = lo; ow < hi; ++ow) {                                                      \
        Py_ssize_t iw = ow * sw + iw0;                                                             \
        T v = row[iw], b = o[ow];                                                                  \
        int k = a[ow];                                                                             \
        int u = (k < 0) | (!(v <= b) & (b == b));                                                  \
        o[ow] = u ? v : b;                                                                         \
        a[ow] = u ? idx_row + (int)iw : k;                                                         \
    }                                                                                              \
}                                                                                                  \
static void le4nn_max_row_##S(T *o, int *a, const T *row, Py_ssize_t lo, Py_ssize_t hi,           \
                              Py_ssize_t sw, Py_ssize_t iw0, int idx_row) {                        \
    if (sw == 1) le4nn_max_row_impl_##S(o, a, row, lo, hi, 1, iw0, idx_row);                       \
    else if (sw == 2) le4nn_max_row_impl_##S(o, a, row, lo, hi, 2, iw0, idx_row);                  \
    else le4nn_max_row_impl_##S(o, a, row, lo, hi, sw, iw0, idx_row);                              \
}                                                                                                  \
LE4NN_INLINE void le4nn_sum_row_impl_##S(T *LE4NN_RESTRICT o, const T *LE4NN_RESTRICT row,        \
        Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t sw, Py_ssize_t iw0) {                             \
    for (Py_ssize_t ow = lo; ow < hi; ++ow) o[ow] += row[ow * sw + iw0];                           \
}                                                                                                  \
static void le4nn_sum_row_##S(T *o, const T *row, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t sw,    \
                              Py_ssize_t iw0) {                                                    \
    if (sw == 1) le4nn_sum_row_impl_##S(o, row, lo, hi, 1, iw0);                                   \
    else if (sw == 2) le4nn_sum_row_impl_##S(o, row, lo, hi, 2, iw0);                              \
    else le4nn_sum_row_impl_##S(o, row, lo, hi, sw, iw0);                                          \
}                                                                                                  \
LE4NN_INLINE void le4nn_spread_row_impl_##S(T *LE4NN_RESTRICT row, const T *LE4NN_RESTRICT s,     \
        Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t sw, Py_ssize_t iw0) {                             \
    for (Py_ssize_t ow = lo; ow < hi; ++ow) row[ow * sw + iw0] += s[ow];                           \
}                                                                                                  \
static void le4nn_spread_row_##S(T *row, const T *s, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t sw, \
                                 Py_ssize_t iw0) {                                                 \
    if (sw == 1) le4nn_spread_row_impl_##S(row, s, lo, hi, 1, iw0);                                \
    else if (sw == 2) le4nn_spread_row_impl_##S(row, s, lo, hi, 2, iw0);                           \
    else le4nn_spread_row_impl_##S(row, s, lo, hi, sw, iw0);                                       \
}
LE4NN_ROW_OPS(float, f)
LE4NN_ROW_OPS(double, d)

#endif /* LE4NN_POOLING_H */
