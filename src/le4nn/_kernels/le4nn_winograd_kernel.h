/* le4nn_winograd_kernel.h: the kernel side of the Winograd convolutions in winograd.pyx (the twins of
   winograd_kernel_transform and winograd_filter_gradient in le4nn/ops/reference_winograd.py):

   - U[xi n + nu, c, k] = (G g G^T)[xi, nu] of the 3x3 kernel g = W[:, :, c, k], n = m + 2, or, for the
     input gradient, U[xi n + nu, k, c] of g = W[2 - i, 2 - j, c, k] (rotated by 180 degrees, channels
     swapped);
   - dW[i, j, c, k] = (G^T P G)[i, j] with P = sum_s partials[s][:, c, k], the n x n transformed
     filter gradient summed over the chunks s in order.

   G holds thirds and fifteenths for F(4x4, 3x3), so both are computed in double and rounded once to
   the data's dtype.  Each entry sums only the terms whose coefficient is nonzero, in the order of the
   reference's _combine (rows of G first, then columns), with no fused multiply-add
   (LE4NN_NO_CONTRACT): the double results are the reference's bit for bit.  One call handles one
   input channel c or a block of them, in blocks of 8 output channels k whose intermediates stay in
   registers (the loops over the block vectorize).  Included by winograd.pyx (after Python.h). */
#ifndef LE4NN_WINOGRAD_KERNEL_H
#define LE4NN_WINOGRAD_KERNEL_H

#include <string.h>
#include "le4nn_clones.h"

/* G (n x 3) for m = 2 and m = 4 (the interpolation points of le4nn/ops/reference_winograd.py). */
static const double le4nn_wk_g2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
static const double le4nn_wk_g4[6][3] = {
    {1, 0, 0},
    {1.0 / 3, 1.0 / 3, 1.0 / 3},
    {-1.0 / 3, 1.0 / 3, -1.0 / 3},
    {-16.0 / 15, -8.0 / 15, -4.0 / 15},
    {1.0 / 15, -2.0 / 15, 4.0 / 15},
    {0, 0, 1},
};

/* 8 doubles (GCC vector extension: one AVX-512 register in the x86-64-v4 clone, two or four narrower
   ones elsewhere). */
typedef double le4nn_wk_v8 __attribute__((vector_size(64)));

/* Unroll the small loops over G completely, so that its entries are constants and the zero terms drop
   out (GCC; elsewhere the loops run as written, with the same results). */
#if defined(__GNUC__) && !defined(__clang__)
#define LE4NN_WK_UNROLL _Pragma("GCC unroll 36")
#else
#define LE4NN_WK_UNROLL
#endif

/* out = sum over r < count with coef[r * cstride] != 0 of coef[r * cstride] * rows[r * rstride], in r
   order (the first nonzero term starts the sum, as functools.reduce(np.add, terms) does).  Inlined with
   a constant G, the loop unrolls and the zero terms drop out at compile time.  VT: a vector or double. */
#define LE4NN_WK_COMBINE(VT)                                                                          \
static inline __attribute__((always_inline)) LE4NN_NO_CONTRACT VT le4nn_wk_combine_##VT(            \
    const VT *rows, int rstride, const double *coef, int cstride, int count)                          \
{                                                                                                     \
    VT out = rows[0];                                                                                 \
    int first = 1;                                                                                    \
    LE4NN_WK_UNROLL for (int r = 0; r < count; ++r) {                                                                 \
        const double c = coef[r * cstride];                                                           \
        if (c == 0) continue;                                                                         \
        out = first ? c * rows[r * rstride] : out + c * rows[r * rstride];                            \
        first = 0;                                                                                    \
    }                                                                                                 \
    return out;                                                                                       \
}
LE4NN_WK_COMBINE(le4nn_wk_v8)
LE4NN_WK_COMBINE(double)

/* Loads and stores of 8 values (converted to and from double) or one. */
#define LE4NN_WK_MOVES(T, SUF)                                                                        \
static inline __attribute__((always_inline)) le4nn_wk_v8 le4nn_wk_load8_##SUF(const T *p)           \
{ le4nn_wk_v8 v; LE4NN_WK_UNROLL for (int q = 0; q < 8; ++q) v[q] = (double)p[q]; return v; }                         \
static inline __attribute__((always_inline)) void le4nn_wk_store8_##SUF(T *p, le4nn_wk_v8 v)        \
{ LE4NN_WK_UNROLL for (int q = 0; q < 8; ++q) p[q] = (T)v[q]; }                                                       \
static inline __attribute__((always_inline)) double le4nn_wk_load1_##SUF(const T *p) { return *p; }  \
static inline __attribute__((always_inline)) void le4nn_wk_store1_##SUF(T *p, double v) { *p = (T)v; }
LE4NN_WK_MOVES(float, f)
LE4NN_WK_MOVES(double, d)

/* A block of L output channels k (L = 8: VT the vector; L = 1: double) of one input channel, for n = N
   (G = GM), from and to rows of the thread's scratch K elements apart, the intermediates in registers:
   the kernel transform d (9 taps) -> u (n n), and the filter gradient P (n n, double) -> w (9). */
#define LE4NN_WK_BLOCKS(T, SUF, VT, L, N, GM)                                                         \
static inline __attribute__((always_inline)) LE4NN_NO_CONTRACT void le4nn_wk_kernel_##SUF##L##_##N(  \
    const T *restrict d_rows, T *restrict u_rows, Py_ssize_t K, Py_ssize_t k0)                        \
{                                                                                                     \
    const double *G = &GM[0][0];                                                                      \
    VT d[9], t[3 * N];                                                                                \
    LE4NN_WK_UNROLL for (int tap = 0; tap < 9; ++tap) d[tap] = le4nn_wk_load##L##_##SUF(d_rows + tap * K + k0);       \
    LE4NN_WK_UNROLL for (int x = 0; x < N; ++x)   /* t[x][j] = sum_i G[x][i] d[i][j]   (G g) */                       \
        LE4NN_WK_UNROLL for (int j = 0; j < 3; ++j) t[x * 3 + j] = le4nn_wk_combine_##VT(d + j, 3, G + x * 3, 1, 3); \
    LE4NN_WK_UNROLL for (int x = 0; x < N; ++x)   /* u[x][y] = sum_j G[y][j] t[x][j]   ((G g) G^T) */                 \
        LE4NN_WK_UNROLL for (int y = 0; y < N; ++y)                                                                   \
            le4nn_wk_store##L##_##SUF(u_rows + (x * N + y) * K + k0,                                  \
                                      le4nn_wk_combine_##VT(t + x * 3, 1, G + y * 3, 1, 3));          \
}                                                                                                     \
static inline __attribute__((always_inline)) LE4NN_NO_CONTRACT void le4nn_wk_grad_##SUF##L##_##N(    \
    const double *restrict P_rows, T *restrict w_rows, Py_ssize_t K, Py_ssize_t k0)                   \
{                                                                                                     \
    const double *G = &GM[0][0];                                                                      \
    VT P[N * N], t[3 * N];                                                                            \
    LE4NN_WK_UNROLL for (int p = 0; p < N * N; ++p) P[p] = le4nn_wk_load##L##_d(P_rows + p * K + k0);                 \
    LE4NN_WK_UNROLL for (int i = 0; i < 3; ++i)   /* t[i][y] = sum_x G[x][i] P[x][y]   (G^T P) */                     \
        LE4NN_WK_UNROLL for (int y = 0; y < N; ++y) t[i * N + y] = le4nn_wk_combine_##VT(P + y, N, G + i, 3, N);      \
    LE4NN_WK_UNROLL for (int i = 0; i < 3; ++i)   /* w[i][j] = sum_y G[y][j] t[i][y]   ((G^T P) G) */                 \
        LE4NN_WK_UNROLL for (int j = 0; j < 3; ++j)                                                                   \
            le4nn_wk_store##L##_##SUF(w_rows + (i * 3 + j) * K + k0,                                  \
                                      le4nn_wk_combine_##VT(t + i * N, 1, G + j, 3, N));              \
}

/* All K columns of a row for n = N: blocks of 8 (the last one overlapping the one before, its values
   computed again, the same), or one at a time when K < 8. */
#define LE4NN_WK_ROW(T, SUF, N, GM)                                                                   \
LE4NN_WK_BLOCKS(T, SUF, le4nn_wk_v8, 8, N, GM)                                                        \
LE4NN_WK_BLOCKS(T, SUF, double, 1, N, GM)                                                             \
static inline __attribute__((always_inline)) LE4NN_NO_CONTRACT void le4nn_wk_kernel_row_##SUF##N(     \
    const T *d_rows, T *u_rows, Py_ssize_t K)                                                         \
{                                                                                                     \
    if (K < 8)                                                                                        \
        for (Py_ssize_t k = 0; k < K; ++k) le4nn_wk_kernel_##SUF##1_##N(d_rows, u_rows, K, k);        \
    else                                                                                              \
        for (Py_ssize_t kb = 0; kb < K; kb += 8)                                                      \
            le4nn_wk_kernel_##SUF##8_##N(d_rows, u_rows, K, kb + 8 <= K ? kb : K - 8);                \
}                                                                                                     \
static inline __attribute__((always_inline)) LE4NN_NO_CONTRACT void le4nn_wk_grad_row_##SUF##N(       \
    const double *P_rows, T *w_rows, Py_ssize_t K)                                                    \
{                                                                                                     \
    if (K < 8)                                                                                        \
        for (Py_ssize_t k = 0; k < K; ++k) le4nn_wk_grad_##SUF##1_##N(P_rows, w_rows, K, k);          \
    else                                                                                              \
        for (Py_ssize_t kb = 0; kb < K; kb += 8)                                                      \
            le4nn_wk_grad_##SUF##8_##N(P_rows, w_rows, K, kb + 8 <= K ? kb : K - 8);                  \
}

/* The rows of one input channel c go through the thread's scratch: the planes of W, U, partials and
   dW lie C K elements apart, often a multiple of 4 KiB, so reading or writing 9 to 144 of them at once
   would put every stream in the same L1 set (8 ways); copying whole rows is one stream at a time. */
#define LE4NN_WK_TRANSFORMS(T, SUF)                                                                   \
LE4NN_WK_ROW(T, SUF, 4, le4nn_wk_g2)                                                                  \
LE4NN_WK_ROW(T, SUF, 6, le4nn_wk_g4)                                                                  \
/* W (3, 3, C, K) -> U (n n, C, K), input channels c0 .. c0 + cb (cb <= LE4NN_WK_CB).  With flip, the
   kernel of the input gradient (rotated by 180 degrees, channels swapped: g[i][j] = W[2 - i][2 - j]^T)
   -> U (n n, K, C): the block's rows are transposed out of the scratch, cb values per (plane, k).
   Scratch: (9 + LE4NN_WK_CB n n) K T. */                                                             \
static LE4NN_V4_CLONES LE4NN_NO_CONTRACT void le4nn_wino_kernel_rows_##SUF(                          \
    const T *restrict Wt, T *restrict U, Py_ssize_t C, Py_ssize_t K, Py_ssize_t c0, Py_ssize_t cb,    \
    int n, int flip, void *scratch)                                                                   \
{                                                                                                     \
    T *d_rows = (T *)scratch, *u_block = d_rows + 9 * K;                                              \
    const Py_ssize_t planes = (Py_ssize_t)n * n;                                                      \
    for (Py_ssize_t cc = 0; cc < cb; ++cc) {                                                          \
        T *u_rows = u_block + cc * planes * K;                                                        \
        for (int tap = 0; tap < 9; ++tap)                                                             \
            memcpy(d_rows + tap * K, Wt + ((Py_ssize_t)(flip ? 8 - tap : tap) * C + c0 + cc) * K,     \
                   K * sizeof(T));                                                                    \
        if (n == 6) le4nn_wk_kernel_row_##SUF##6(d_rows, u_rows, K);                                  \
        else le4nn_wk_kernel_row_##SUF##4(d_rows, u_rows, K);                                         \
        if (!flip)                                                                                    \
            for (Py_ssize_t p = 0; p < planes; ++p)                                                   \
                memcpy(U + (p * C + c0 + cc) * K, u_rows + p * K, K * sizeof(T));                     \
    }                                                                                                 \
    if (flip)                                                                                         \
        for (Py_ssize_t p = 0; p < planes; ++p)                                                       \
            for (Py_ssize_t k = 0; k < K; ++k) {                                                      \
                T *restrict dst = U + (p * K + k) * C + c0;                                           \
                const T *restrict src = u_block + p * K + k;                                          \
                for (Py_ssize_t cc = 0; cc < cb; ++cc) dst[cc] = src[cc * planes * K];                \
            }                                                                                         \
}                                                                                                     \
/* partials (S, n n, C, K) -> dW (3, 3, C, K), row c; scratch: n n K doubles + 9 K T. */               \
static LE4NN_V4_CLONES LE4NN_NO_CONTRACT void le4nn_wino_filter_grad_row_##SUF(                      \
    const T *restrict partials, T *restrict dW, Py_ssize_t S, Py_ssize_t C, Py_ssize_t K,             \
    Py_ssize_t c, int n, void *scratch)                                                               \
{                                                                                                     \
    double *P_rows = (double *)scratch;                                                               \
    T *w_rows = (T *)(P_rows + (Py_ssize_t)n * n * K);                                                \
    const Py_ssize_t plane = C * K, step = (Py_ssize_t)n * n * plane;                                 \
    for (int p = 0; p < n * n; ++p) {   /* P = partials[0] + partials[1] + ... (in order) */          \
        double *restrict acc = P_rows + p * K;                                                        \
        for (Py_ssize_t k = 0; k < K; ++k) acc[k] = 0;                                                \
        for (Py_ssize_t s = 0; s < S; ++s) {                                                          \
            const T *restrict src = partials + s * step + p * plane + c * K;                          \
            for (Py_ssize_t k = 0; k < K; ++k) acc[k] = acc[k] + (double)src[k];                      \
        }                                                                                             \
    }                                                                                                 \
    if (n == 6) le4nn_wk_grad_row_##SUF##6(P_rows, w_rows, K);                                        \
    else le4nn_wk_grad_row_##SUF##4(P_rows, w_rows, K);                                               \
    for (int tap = 0; tap < 9; ++tap)                                                                 \
        memcpy(dW + ((Py_ssize_t)tap * C + c) * K, w_rows + tap * K, K * sizeof(T));                  \
}

#define LE4NN_WK_CB 8  /* input channels per block of the flipped kernel transform */

LE4NN_WK_TRANSFORMS(float, f)
LE4NN_WK_TRANSFORMS(double, d)

/* Scratch bytes per thread for either transform (rows of K elements of itemsize bytes), whole cache
   lines, so that each thread's part stays aligned. */
static inline Py_ssize_t le4nn_wino_kernel_scratch_bytes(int n, Py_ssize_t K, Py_ssize_t itemsize)
{
    const Py_ssize_t a = (9 + LE4NN_WK_CB * (Py_ssize_t)n * n) * K * itemsize;
    const Py_ssize_t b = (Py_ssize_t)n * n * K * 8 + 9 * K * itemsize;
    return ((a > b ? a : b) + 63) / 64 * 64;
}

#endif /* LE4NN_WINOGRAD_KERNEL_H */
