/* le4nn_winograd4.h: the tile transforms of the Winograd convolution F(4x4, 3x3) in winograd.pyx
   (the handout's convolution, eq. 59-62, with 36 instead of 144 multiplies per 4x4 output tile;
   the points 0, 1, -1, 1/2, -2, inf, see le4nn/ops/reference_winograd.py): the input transform
   V = B^T d B of every 6x6 patch, the output transform Y = A^T m A (+ bias, ReLU) and the gradient's
   Q = A g A^T, float32 and float64, compiled for AVX-512, AVX2 and the baseline.

   Vectorized over the channels (contiguous in NHWC) with GCC vector types of 32 bytes: 8 floats or
   4 doubles (one AVX register; the AVX-512 clone gains 32 registers, fewer spills), or one value for
   fewer channels than lanes.  A ragged end (C % lanes) is one more block overlapping the previous
   one; its lanes compute the same values again.  Every formula sums its nonzero terms in the order of
   the reference's _combine (column order), so a NaN or inf reaches the same entries.

   The transformed planes are often a multiple of 4 KiB apart (e.g. 10 images of 32x32x16: 40 KiB):
   writing all 36 per tile would put 36 store streams into a few L1 sets (8 ways each).  So the input
   and gradient transforms run in two stages per row of tiles: the row transform (B^T d or A g) of
   every patch column, once per column (neighbouring tiles share two), into the thread's scratch E
   (6 rows of columns, 6 streams); then 6 passes over the tiles, pass xi reading row xi of E and
   writing planes 6 xi .. 6 xi + 5 (6 streams).  Border handling (zeros outside the image) is in the
   first stage only.  Included by winograd.pyx (after Python.h: Py_ssize_t). */
#ifndef LE4NN_WINOGRAD4_H
#define LE4NN_WINOGRAD4_H

#include <string.h>
#include "le4nn_clones.h"

typedef float le4nn_w4f8 __attribute__((vector_size(32)));
typedef double le4nn_w4d4 __attribute__((vector_size(32)));
typedef int le4nn_w4i8 __attribute__((vector_size(32)));
typedef long long le4nn_w4l4 __attribute__((vector_size(32)));

/* B^T (6x6) applied to d[0..5]: o[xi] = sum_r B^T[xi, r] d[r]. */
#define LE4NN_W4_BT(VT, T)                                                                        \
    o[0] = (((d[0] + (T)-1.5 * d[1]) + (T)-2 * d[2]) + (T)1.5 * d[3]) + d[4];                     \
    o[1] = ((-d[1] + (T)0.5 * d[2]) + (T)2.5 * d[3]) + d[4];                                      \
    o[2] = ((d[1] + (T)-2.5 * d[2]) + (T)0.5 * d[3]) + d[4];                                      \
    o[3] = (((T)-2 * d[1] - d[2]) + (T)2 * d[3]) + d[4];                                          \
    o[4] = (((T)0.5 * d[1] - d[2]) + (T)-0.5 * d[3]) + d[4];                                      \
    o[5] = (((d[1] + (T)-1.5 * d[2]) + (T)-2 * d[3]) + (T)1.5 * d[4]) + d[5];

/* A^T (4x6) applied to m[0..5]. */
#define LE4NN_W4_AT(o, m, T)                                                                      \
    o[0] = (((m[0] + m[1]) + m[2]) + m[3]) + m[4];                                                \
    o[1] = ((m[1] - m[2]) + (T)0.5 * m[3]) + (T)-2 * m[4];                                        \
    o[2] = ((m[1] + m[2]) + (T)0.25 * m[3]) + (T)4 * m[4];                                        \
    o[3] = (((m[1] - m[2]) + (T)0.125 * m[3]) + (T)-8 * m[4]) + m[5];

/* A = (A^T)^T (6x4) applied to g[0..3]. */
#define LE4NN_W4_A(T)                                                                             \
    o[0] = g[0];                                                                                  \
    o[1] = ((g[0] + g[1]) + g[2]) + g[3];                                                         \
    o[2] = ((g[0] - g[1]) + g[2]) - g[3];                                                         \
    o[3] = ((g[0] + (T)0.5 * g[1]) + (T)0.25 * g[2]) + (T)0.125 * g[3];                           \
    o[4] = ((g[0] + (T)-2 * g[1]) + (T)4 * g[2]) + (T)-8 * g[3];                                  \
    o[5] = g[3];

/* The kernels for one vector type VT of L lanes of T (SUF names them); RELU(v) keeps v > 0 and NaN. */
#define LE4NN_WINO4(T, VT, L, SUF, RELU)                                                          \
static inline __attribute__((always_inline)) VT le4nn_w4ld_##SUF(const T *p)                     \
{ VT v; memcpy(&v, p, sizeof v); return v; }                                                      \
static inline __attribute__((always_inline)) void le4nn_w4st_##SUF(T *p, VT v)                   \
{ memcpy(p, &v, sizeof v); }                                                                      \
static inline __attribute__((always_inline)) void le4nn_w4bt_##SUF(const VT d[6], VT o[6])       \
{ LE4NN_W4_BT(VT, T) }                                                                            \
static inline __attribute__((always_inline)) void le4nn_w4a_##SUF(const VT g[4], VT o[6])        \
{ LE4NN_W4_A(T) }                                                                                 \
/* Stage 2 of the input and gradient transforms: pass xi reads row xi of E (columns 4 tx + s, s <    \
   ns: 6 patch columns, or the gradient's 4) and writes planes 6 xi .. 6 xi + 5 of tiles t0 .. */    \
static inline __attribute__((always_inline)) void le4nn_w4cols_##SUF(                            \
    const T *restrict E, Py_ssize_t ecols, T *restrict V, Py_ssize_t plane, Py_ssize_t t0,        \
    Py_ssize_t C, Py_ssize_t TW, int ns)                                                          \
{                                                                                                 \
    for (int x = 0; x < 6; ++x) {                                                                 \
        const T *e = E + (Py_ssize_t)x * ecols * C;                                               \
        T *o = V + (Py_ssize_t)(6 * x) * plane + t0 * C;                                          \
        for (Py_ssize_t tx = 0; tx < TW; ++tx, e += 4 * C, o += C)                                \
            for (Py_ssize_t cb = 0; cb < C; cb += L) {                                            \
                const Py_ssize_t c = cb + L <= C ? cb : C - L;                                    \
                VT d[6], r[6];                                                                    \
                for (int s = 0; s < ns; ++s) d[s] = le4nn_w4ld_##SUF(e + s * C + c);              \
                if (ns == 6) le4nn_w4bt_##SUF(d, r); else le4nn_w4a_##SUF(d, r);                  \
                for (int y = 0; y < 6; ++y) le4nn_w4st_##SUF(o + y * plane + c, r[y]);            \
            }                                                                                     \
    }                                                                                             \
}                                                                                                 \
/* Input transform, one row of tiles (image xb, tile row ty); E: 6 (4 TW + 2) C scratch. */         \
static LE4NN_V4_CLONES void le4nn_wino4_in_row_##SUF(                                            \
    const T *restrict xb, const T *restrict zeros, T *restrict V, Py_ssize_t Tn, Py_ssize_t t0,   \
    Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t ty, Py_ssize_t TW, int pt, int pl,       \
    T *restrict E)                                                                                \
{                                                                                                 \
    const Py_ssize_t ecols = 4 * TW + 2;                                                          \
    const T *rows[6];                                                                             \
    for (int r = 0; r < 6; ++r) {                                                                 \
        Py_ssize_t h = 4 * ty + r - pt;                                                           \
        rows[r] = (h >= 0 && h < H) ? xb + h * W * C : 0;                                         \
    }                                                                                             \
    for (Py_ssize_t col = 0; col < ecols; ++col) {                                                \
        const Py_ssize_t w = col - pl;                                                            \
        const T *p[6];                                                                            \
        for (int r = 0; r < 6; ++r) p[r] = (rows[r] && w >= 0 && w < W) ? rows[r] + w * C : zeros;\
        for (Py_ssize_t cb = 0; cb < C; cb += L) {                                                \
            const Py_ssize_t c = cb + L <= C ? cb : C - L;                                        \
            VT d[6], o[6];                                                                        \
            for (int r = 0; r < 6; ++r) d[r] = le4nn_w4ld_##SUF(p[r] + c);                        \
            le4nn_w4bt_##SUF(d, o);                                                               \
            for (int x = 0; x < 6; ++x) le4nn_w4st_##SUF(E + (x * ecols + col) * C + c, o[x]);    \
        }                                                                                         \
    }                                                                                             \
    le4nn_w4cols_##SUF(E, ecols, V, Tn * C, t0, C, TW, 6);                                        \
}                                                                                                 \
/* Gradient transform, one row of tiles; E: 6 (4 TW) K scratch. */                                 \
static LE4NN_V4_CLONES void le4nn_wino4_grad_row_##SUF(                                          \
    const T *restrict gb, const T *restrict zeros, T *restrict Q, Py_ssize_t Tn, Py_ssize_t t0,  \
    Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t K, Py_ssize_t ty, Py_ssize_t TW, T *restrict E)      \
{                                                                                                 \
    const Py_ssize_t ecols = 4 * TW;                                                              \
    const T *rows[4];                                                                             \
    for (int i = 0; i < 4; ++i) rows[i] = 4 * ty + i < OH ? gb + (4 * ty + i) * OW * K : 0;       \
    for (Py_ssize_t col = 0; col < ecols; ++col) {                                                \
        const T *p[4];                                                                            \
        for (int i = 0; i < 4; ++i) p[i] = (rows[i] && col < OW) ? rows[i] + col * K : zeros;     \
        for (Py_ssize_t kb = 0; kb < K; kb += L) {                                                \
            const Py_ssize_t k = kb + L <= K ? kb : K - L;                                        \
            VT g[4], o[6];                                                                        \
            for (int i = 0; i < 4; ++i) g[i] = le4nn_w4ld_##SUF(p[i] + k);                        \
            le4nn_w4a_##SUF(g, o);                                                                \
            for (int x = 0; x < 6; ++x) le4nn_w4st_##SUF(E + (x * ecols + col) * K + k, o[x]);    \
        }                                                                                         \
    }                                                                                             \
    le4nn_w4cols_##SUF(E, ecols, Q, Tn * K, t0, K, TW, 4);                                        \
}                                                                                                 \
/* Output transform, one row of tiles: y rows 4 ty .. 4 ty + 3 of image yb (OH OW K); m's planes     \
   lie `plane` elements apart; outputs beyond OH, OW go to the thread's scratch (K values). */      \
static LE4NN_V4_CLONES void le4nn_wino4_out_row_##SUF(                                           \
    const T *restrict m, const T *restrict bias, T *restrict yb, Py_ssize_t plane, Py_ssize_t t0, \
    Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t K, Py_ssize_t ty, Py_ssize_t TW, int relu,           \
    T *restrict scratch)                                                                          \
{                                                                                                 \
    for (Py_ssize_t tx = 0; tx < TW; ++tx) {                                                      \
        const T *mt = m + (t0 + tx) * K;                                                          \
        T *q[4][4];                                                                               \
        for (int i = 0; i < 4; ++i)                                                               \
            for (int j = 0; j < 4; ++j) {                                                         \
                Py_ssize_t h = 4 * ty + i, w = 4 * tx + j;                                        \
                q[i][j] = (h < OH && w < OW) ? yb + (h * OW + w) * K : scratch;                   \
            }                                                                                     \
        for (Py_ssize_t kb = 0; kb < K; kb += L) {                                                \
            const Py_ssize_t k = kb + L <= K ? kb : K - L;                                        \
            VT r[6][4], c[6], y[4];                                                               \
            for (int v = 0; v < 6; ++v) {   /* A^T m: column v of the 4 x 6 product */             \
                for (int x = 0; x < 6; ++x) c[x] = le4nn_w4ld_##SUF(mt + (x * 6 + v) * plane + k); \
                LE4NN_W4_AT(r[v], c, T)                                                           \
            }                                                                                     \
            const VT b = bias ? le4nn_w4ld_##SUF(bias + k) : (VT){0};                             \
            for (int i = 0; i < 4; ++i) {   /* (A^T m) A: row i */                                 \
                for (int v = 0; v < 6; ++v) c[v] = r[v][i];                                       \
                LE4NN_W4_AT(y, c, T)                                                              \
                for (int j = 0; j < 4; ++j) {                                                     \
                    VT val = bias ? y[j] + b : y[j];                                              \
                    if (relu) val = RELU(val);                                                    \
                    le4nn_w4st_##SUF(q[i][j] + k, val);                                           \
                }                                                                                 \
            }                                                                                     \
        }                                                                                         \
    }                                                                                             \
}

static inline __attribute__((always_inline)) le4nn_w4f8 le4nn_w4relu_f8(le4nn_w4f8 v)
{ return (le4nn_w4f8)((le4nn_w4i8)v & ~(v <= (le4nn_w4f8){0})); }
static inline __attribute__((always_inline)) le4nn_w4d4 le4nn_w4relu_d4(le4nn_w4d4 v)
{ return (le4nn_w4d4)((le4nn_w4l4)v & ~(v <= (le4nn_w4d4){0})); }
#define LE4NN_W4_RELU1(v) ((v) <= 0 ? 0 : (v))

LE4NN_WINO4(float, le4nn_w4f8, 8, f8, le4nn_w4relu_f8)
LE4NN_WINO4(float, float, 1, f1, LE4NN_W4_RELU1)
LE4NN_WINO4(double, le4nn_w4d4, 4, d4, le4nn_w4relu_d4)
LE4NN_WINO4(double, double, 1, d1, LE4NN_W4_RELU1)

/* Entry points by dtype: vectors for at least as many channels as lanes. */
static inline void le4nn_wino4_in_row_f(const float *xb, const float *zeros, float *V, Py_ssize_t Tn,
    Py_ssize_t t0, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t ty, Py_ssize_t TW, int pt,
    int pl, float *E)
{
    if (C >= 8) le4nn_wino4_in_row_f8(xb, zeros, V, Tn, t0, H, W, C, ty, TW, pt, pl, E);
    else le4nn_wino4_in_row_f1(xb, zeros, V, Tn, t0, H, W, C, ty, TW, pt, pl, E);
}
static inline void le4nn_wino4_in_row_d(const double *xb, const double *zeros, double *V, Py_ssize_t Tn,
    Py_ssize_t t0, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t ty, Py_ssize_t TW, int pt,
    int pl, double *E)
{
    if (C >= 4) le4nn_wino4_in_row_d4(xb, zeros, V, Tn, t0, H, W, C, ty, TW, pt, pl, E);
    else le4nn_wino4_in_row_d1(xb, zeros, V, Tn, t0, H, W, C, ty, TW, pt, pl, E);
}
static inline void le4nn_wino4_grad_row_f(const float *gb, const float *zeros, float *Q, Py_ssize_t Tn,
    Py_ssize_t t0, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t K, Py_ssize_t ty, Py_ssize_t TW, float *E)
{
    if (K >= 8) le4nn_wino4_grad_row_f8(gb, zeros, Q, Tn, t0, OH, OW, K, ty, TW, E);
    else le4nn_wino4_grad_row_f1(gb, zeros, Q, Tn, t0, OH, OW, K, ty, TW, E);
}
static inline void le4nn_wino4_grad_row_d(const double *gb, const double *zeros, double *Q, Py_ssize_t Tn,
    Py_ssize_t t0, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t K, Py_ssize_t ty, Py_ssize_t TW, double *E)
{
    if (K >= 4) le4nn_wino4_grad_row_d4(gb, zeros, Q, Tn, t0, OH, OW, K, ty, TW, E);
    else le4nn_wino4_grad_row_d1(gb, zeros, Q, Tn, t0, OH, OW, K, ty, TW, E);
}
static inline void le4nn_wino4_out_row_f(const float *m, const float *bias, float *yb, Py_ssize_t plane,
    Py_ssize_t t0, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t K, Py_ssize_t ty, Py_ssize_t TW, int relu,
    float *scratch)
{
    if (K >= 8) le4nn_wino4_out_row_f8(m, bias, yb, plane, t0, OH, OW, K, ty, TW, relu, scratch);
    else le4nn_wino4_out_row_f1(m, bias, yb, plane, t0, OH, OW, K, ty, TW, relu, scratch);
}
static inline void le4nn_wino4_out_row_d(const double *m, const double *bias, double *yb, Py_ssize_t plane,
    Py_ssize_t t0, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t K, Py_ssize_t ty, Py_ssize_t TW, int relu,
    double *scratch)
{
    if (K >= 4) le4nn_wino4_out_row_d4(m, bias, yb, plane, t0, OH, OW, K, ty, TW, relu, scratch);
    else le4nn_wino4_out_row_d1(m, bias, yb, plane, t0, OH, OW, K, ty, TW, relu, scratch);
}

#endif /* LE4NN_WINOGRAD4_H */
