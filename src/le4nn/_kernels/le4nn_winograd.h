/* le4nn_winograd.h: the tile transforms of the Winograd convolution F(2x2, 3x3) in winograd.pyx
   (the same result as the handout's convolution, eq. 59-62, with 16 instead of 36 multiplies per
   2x2 output tile): the input transform V = B^T d B, the output transform Y = A^T m A (+ bias,
   ReLU) and the gradient's transform, float32 and float64, compiled for AVX2 and the baseline.
   Included by winograd.pyx (after Python.h: Py_ssize_t). */
#ifndef LE4NN_WINOGRAD_H
#define LE4NN_WINOGRAD_H

#include <string.h>
#include "le4nn_clones.h"

/* One row of tiles (image b, tile row ty) of the input transform.  p: the 16 patch rows of C
   values for tile tx are found by the caller-independent rule below; zeros: C zeros. */
#define LE4NN_WINO_IN(T, SUF)                                                                     \
static LE4NN_V3_CLONES void le4nn_wino_in_row_##SUF(                                              \
    const T *restrict xb, const T *restrict zeros, T *restrict V, Py_ssize_t Tn,                  \
    Py_ssize_t t0, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t ty, Py_ssize_t TW,       \
    int pt, int pl)                                                                               \
{                                                                                                 \
    const Py_ssize_t plane = Tn * C;                                                              \
    for (Py_ssize_t tx = 0; tx < TW; ++tx) {                                                      \
        const T *p[4][4];                                                                         \
        for (int r = 0; r < 4; ++r) {                                                             \
            Py_ssize_t h = 2 * ty + r - pt;                                                       \
            for (int s = 0; s < 4; ++s) {                                                         \
                Py_ssize_t w = 2 * tx + s - pl;                                                   \
                p[r][s] = (h >= 0 && h < H && w >= 0 && w < W) ? xb + (h * W + w) * C : zeros;    \
            }                                                                                     \
        }                                                                                         \
        T *restrict o = V + (t0 + tx) * C;                                                        \
        for (Py_ssize_t c = 0; c < C; ++c) {                                                      \
            T d[4][4], e[4][4];                                                                   \
            for (int r = 0; r < 4; ++r)                                                           \
                for (int s = 0; s < 4; ++s) d[r][s] = p[r][s][c];                                 \
            for (int s = 0; s < 4; ++s) {   /* Bᵀ d: rows */                                      \
                e[0][s] = d[0][s] - d[2][s];                                                      \
                e[1][s] = d[1][s] + d[2][s];                                                      \
                e[2][s] = -d[1][s] + d[2][s];                                                     \
                e[3][s] = d[1][s] - d[3][s];                                                      \
            }                                                                                     \
            for (int x = 0; x < 4; ++x) {   /* (Bᵀ d) B: columns */                               \
                o[(x * 4 + 0) * plane + c] = e[x][0] - e[x][2];                                   \
                o[(x * 4 + 1) * plane + c] = e[x][1] + e[x][2];                                   \
                o[(x * 4 + 2) * plane + c] = -e[x][1] + e[x][2];                                  \
                o[(x * 4 + 3) * plane + c] = e[x][1] - e[x][3];                                   \
            }                                                                                     \
        }                                                                                         \
    }                                                                                             \
}

/* One row of tiles of the output transform: y rows 2·ty, 2·ty + 1 of image b (yb: OH·OW·K).
   Per tile, first the 2×2 outputs for all K channels into the thread's scratch (4·K), from the
   16 planes of m, then (+ bias, ReLU) copied to the output pixels that exist: two simple loops
   that GCC vectorizes.  Plane ξν of m starts at m + ξν·plane (plane ≥ Tn·K elements): the caller
   may pad the planes apart so that the 16 read streams of a tile do not share one L1 set (a plane
   of Tn·K elements is often a multiple of 4 KiB). */
#define LE4NN_WINO_OUT(T, SUF)                                                                    \
static inline __attribute__((always_inline)) void le4nn_wino_out_tile_##SUF(                     \
    const T *restrict mt, Py_ssize_t plane, T *restrict o, Py_ssize_t K)                         \
{                                                                                                 \
    for (Py_ssize_t k = 0; k < K; ++k) {                                                          \
        T a[4][4], r[2][4];                                                                       \
        for (int x = 0; x < 4; ++x)                                                               \
            for (int y = 0; y < 4; ++y) a[x][y] = mt[(x * 4 + y) * plane + k];                    \
        for (int y = 0; y < 4; ++y) {   /* Aᵀ m: rows */                                          \
            r[0][y] = (a[0][y] + a[1][y]) + a[2][y];                                              \
            r[1][y] = (a[1][y] - a[2][y]) - a[3][y];                                              \
        }                                                                                         \
        for (int i = 0; i < 2; ++i) {   /* (Aᵀ m) A: columns */                                   \
            o[(2 * i) * K + k] = (r[i][0] + r[i][1]) + r[i][2];                                   \
            o[(2 * i + 1) * K + k] = (r[i][1] - r[i][2]) - r[i][3];                               \
        }                                                                                         \
    }                                                                                             \
}                                                                                                 \
static LE4NN_V3_CLONES void le4nn_wino_out_row_##SUF(                                             \
    const T *restrict m, const T *restrict bias, T *restrict yb, Py_ssize_t plane, Py_ssize_t t0,\
    Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t K, Py_ssize_t ty, Py_ssize_t TW, int relu,          \
    T *restrict o)                                                                                \
{                                                                                                 \
    for (Py_ssize_t tx = 0; tx < TW; ++tx) {                                                      \
        le4nn_wino_out_tile_##SUF(m + (t0 + tx) * K, plane, o, K);                                \
        for (int i = 0; i < 2; ++i)                                                               \
            for (int j = 0; j < 2; ++j) {                                                         \
                Py_ssize_t h = 2 * ty + i, w = 2 * tx + j;                                        \
                if (h >= OH || w >= OW) continue;                                                 \
                const T *restrict src = o + (2 * i + j) * K;                                      \
                T *restrict dst = yb + (h * OW + w) * K;                                          \
                if (bias && relu) {                                                               \
                    for (Py_ssize_t k = 0; k < K; ++k) {                                          \
                        T v = src[k] + bias[k];                                                   \
                        dst[k] = v <= (T)0 ? (T)0 : v;                                            \
                    }                                                                             \
                } else if (bias) {                                                                \
                    for (Py_ssize_t k = 0; k < K; ++k) dst[k] = src[k] + bias[k];                 \
                } else if (relu) {                                                                \
                    for (Py_ssize_t k = 0; k < K; ++k) dst[k] = src[k] <= (T)0 ? (T)0 : src[k];   \
                } else {                                                                          \
                    for (Py_ssize_t k = 0; k < K; ++k) dst[k] = src[k];                           \
                }                                                                                 \
            }                                                                                     \
    }                                                                                             \
}

/* One row of tiles of the gradient transform: Q = A g Aᵀ, g the 2×2 tile of ∂E/∂Y (zeros
   beyond OH, OW).  A = [[1, 0], [1, 1], [1, -1], [0, -1]]. */
#define LE4NN_WINO_GRAD(T, SUF)                                                                   \
static LE4NN_V3_CLONES void le4nn_wino_grad_row_##SUF(                                            \
    const T *restrict gb, const T *restrict zeros, T *restrict Q, Py_ssize_t Tn, Py_ssize_t t0,  \
    Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t K, Py_ssize_t ty, Py_ssize_t TW)                    \
{                                                                                                 \
    const Py_ssize_t plane = Tn * K;                                                              \
    for (Py_ssize_t tx = 0; tx < TW; ++tx) {                                                      \
        const T *p[2][2];                                                                         \
        for (int i = 0; i < 2; ++i)                                                               \
            for (int j = 0; j < 2; ++j) {                                                         \
                Py_ssize_t h = 2 * ty + i, w = 2 * tx + j;                                        \
                p[i][j] = (h < OH && w < OW) ? gb + (h * OW + w) * K : zeros;                     \
            }                                                                                     \
        T *restrict o = Q + (t0 + tx) * K;                                                        \
        for (Py_ssize_t k = 0; k < K; ++k) {                                                      \
            T g[2][2], e[4][2];                                                                   \
            for (int i = 0; i < 2; ++i)                                                           \
                for (int j = 0; j < 2; ++j) g[i][j] = p[i][j][k];                                 \
            for (int j = 0; j < 2; ++j) {   /* A g: rows */                                       \
                e[0][j] = g[0][j];                                                                \
                e[1][j] = g[0][j] + g[1][j];                                                      \
                e[2][j] = g[0][j] - g[1][j];                                                      \
                e[3][j] = -g[1][j];                                                               \
            }                                                                                     \
            for (int x = 0; x < 4; ++x) {   /* (A g) Aᵀ: columns */                               \
                o[(x * 4 + 0) * plane + k] = e[x][0];                                             \
                o[(x * 4 + 1) * plane + k] = e[x][0] + e[x][1];                                   \
                o[(x * 4 + 2) * plane + k] = e[x][0] - e[x][1];                                   \
                o[(x * 4 + 3) * plane + k] = -e[x][1];                                            \
            }                                                                                     \
        }                                                                                         \
    }                                                                                             \
}

LE4NN_WINO_IN(float, generic_f)
LE4NN_WINO_IN(double, d)
LE4NN_WINO_OUT(float, generic_f)
LE4NN_WINO_OUT(double, d)
LE4NN_WINO_GRAD(float, generic_f)
LE4NN_WINO_GRAD(double, d)

/* float32 with 8-wide vectors (GCC vector extensions: two SSE registers on the baseline, one
   AVX register in the v3 clone) for 8 channels or more: GCC does not vectorize the generic loops
   above (16 streams through a pointer table).  A ragged end (C % 8) is one more block
   overlapping the previous one; its lanes compute the same values again. */
typedef float le4nn_w8f __attribute__((vector_size(32)));
static inline __attribute__((always_inline)) le4nn_w8f le4nn_wl8(const float *p)
{ le4nn_w8f v; memcpy(&v, p, sizeof v); return v; }
static inline __attribute__((always_inline)) void le4nn_ws8(float *p, le4nn_w8f v)
{ memcpy(p, &v, sizeof v); }

/* The plane stride Tn·C is often a multiple of 4 KiB (e.g. 6 images of 32×32×16): writing all 16
   planes per tile puts 16 store streams into one L1 set (8 ways), and the stores ran at a third of
   the speed of a non-aligned stride.  So the fast loops below make 4 passes over a row of tiles,
   pass ξ writing only planes 4ξ..4ξ+3 (row ξ of Bᵀ d B, from patch rows ξ's two inputs): 4 streams.
   Each element is the same sequence of adds as in the generic loops (the same bits).
   Patch row r of tile tx: pointers to its 4 pixels (zeros outside the image); interior tiles (all
   4 columns inside) step by C from the row's first pixel, border tiles select per pixel. */
static inline __attribute__((always_inline)) void le4nn_wino_in_cols_f(
    const float *restrict row, const float *restrict zeros, Py_ssize_t W, Py_ssize_t C,
    Py_ssize_t w0, const float *p[4])
{
    for (int s = 0; s < 4; ++s) {
        Py_ssize_t w = w0 + s;
        p[s] = (row != zeros && w >= 0 && w < W) ? row + w * C : zeros;
    }
}

static LE4NN_V3_CLONES void le4nn_wino_in_row_f(
    const float *restrict xb, const float *restrict zeros, float *restrict V, Py_ssize_t Tn,
    Py_ssize_t t0, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t ty, Py_ssize_t TW,
    int pt, int pl)
{
    if (C < 8) { le4nn_wino_in_row_generic_f(xb, zeros, V, Tn, t0, H, W, C, ty, TW, pt, pl); return; }
    const Py_ssize_t plane = Tn * C;
    const float *rows[4];   /* patch row r: the image row 2·ty + r − pt, or zeros */
    Py_ssize_t step[4];
    for (int r = 0; r < 4; ++r) {
        Py_ssize_t h = 2 * ty + r - pt;
        rows[r] = (h >= 0 && h < H) ? xb + h * W * C : zeros;
        step[r] = rows[r] == zeros ? 0 : C;   /* a zero row: every pixel reads the same zeros */
    }
    /* interior tiles: 0 <= 2·tx − pl and 2·tx − pl + 3 < W */
    const Py_ssize_t tx_lo = (pl + 1) / 2, tx_hi = (W + pl - 3 + 1) / 2;
    static const int ra[4] = {0, 1, 1, 1}, rb[4] = {2, 2, 2, 3};   /* e[ξ] = ±d[ra] ± d[rb] */
    for (int x = 0; x < 4; ++x) {
        float *o = V + t0 * C + (Py_ssize_t)(x * 4) * plane;
        for (Py_ssize_t tx = 0; tx < TW; ++tx, o += C) {
            const float *pa[4], *pb[4];
            if (tx >= tx_lo && tx < tx_hi) {   /* interior: 4 columns from the row's pixel w0 */
                for (int s = 0; s < 4; ++s) {
                    pa[s] = rows[ra[x]] + (2 * tx - pl + s) * step[ra[x]];
                    pb[s] = rows[rb[x]] + (2 * tx - pl + s) * step[rb[x]];
                }
            } else {
                le4nn_wino_in_cols_f(rows[ra[x]], zeros, W, C, 2 * tx - pl, pa);
                le4nn_wino_in_cols_f(rows[rb[x]], zeros, W, C, 2 * tx - pl, pb);
            }
            for (Py_ssize_t cb = 0; cb < C; cb += 8) {
                const Py_ssize_t c = cb + 8 <= C ? cb : C - 8;
                le4nn_w8f e[4];
                for (int s = 0; s < 4; ++s) {
                    le4nn_w8f a = le4nn_wl8(pa[s] + c), b = le4nn_wl8(pb[s] + c);
                    e[s] = x == 0 ? a - b : x == 1 ? a + b : x == 2 ? -a + b : a - b;
                }
                le4nn_ws8(o + c, e[0] - e[2]);
                le4nn_ws8(o + plane + c, e[1] + e[2]);
                le4nn_ws8(o + 2 * plane + c, -e[1] + e[2]);
                le4nn_ws8(o + 3 * plane + c, e[1] - e[3]);
            }
        }
    }
}

static LE4NN_V3_CLONES void le4nn_wino_out_row_f(
    const float *restrict m, const float *restrict bias, float *restrict yb, Py_ssize_t plane,
    Py_ssize_t t0, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t K, Py_ssize_t ty, Py_ssize_t TW,
    int relu, float *restrict scratch)
{
    if (K < 8) {
        le4nn_wino_out_row_generic_f(m, bias, yb, plane, t0, OH, OW, K, ty, TW, relu, scratch);
        return;
    }
    const le4nn_w8f zero = {0};
    for (Py_ssize_t tx = 0; tx < TW; ++tx) {
        const float *mt = m + (t0 + tx) * K;
        float *q[2][2];
        for (int i = 0; i < 2; ++i)
            for (int j = 0; j < 2; ++j) {
                Py_ssize_t h = 2 * ty + i, w = 2 * tx + j;
                q[i][j] = (h < OH && w < OW) ? yb + (h * OW + w) * K : scratch;
            }
        for (Py_ssize_t kb = 0; kb < K; kb += 8) {
            const Py_ssize_t k = kb + 8 <= K ? kb : K - 8;
            le4nn_w8f a[4][4], r[2][4], o[2][2];
            for (int x = 0; x < 4; ++x)
                for (int y = 0; y < 4; ++y) a[x][y] = le4nn_wl8(mt + (x * 4 + y) * plane + k);
            for (int y = 0; y < 4; ++y) {
                r[0][y] = (a[0][y] + a[1][y]) + a[2][y];
                r[1][y] = (a[1][y] - a[2][y]) - a[3][y];
            }
            for (int i = 0; i < 2; ++i) {
                o[i][0] = (r[i][0] + r[i][1]) + r[i][2];
                o[i][1] = (r[i][1] - r[i][2]) - r[i][3];
            }
            const le4nn_w8f b = bias ? le4nn_wl8(bias + k) : zero;
            for (int i = 0; i < 2; ++i)
                for (int j = 0; j < 2; ++j) {
                    le4nn_w8f v = bias ? o[i][j] + b : o[i][j];
                    if (relu) v = (le4nn_w8f)((__attribute__((vector_size(32))) int)v
                                              & ~(v <= zero));
                    le4nn_ws8(q[i][j] + k, v);
                }
        }
    }
}

/* The gradient transform in 4 passes as the input transform (pass ξ: planes 4ξ..4ξ+3, row ξ of
   A g from g's two rows). */
static LE4NN_V3_CLONES void le4nn_wino_grad_row_f(
    const float *restrict gb, const float *restrict zeros, float *restrict Q, Py_ssize_t Tn,
    Py_ssize_t t0, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t K, Py_ssize_t ty, Py_ssize_t TW)
{
    if (K < 8) { le4nn_wino_grad_row_generic_f(gb, zeros, Q, Tn, t0, OH, OW, K, ty, TW); return; }
    const Py_ssize_t plane = Tn * K;
    const float *rows[2];
    for (int i = 0; i < 2; ++i)
        rows[i] = 2 * ty + i < OH ? gb + (2 * ty + i) * OW * K : zeros;
    for (int x = 0; x < 4; ++x) {
        float *o = Q + t0 * K + (Py_ssize_t)(x * 4) * plane;
        for (Py_ssize_t tx = 0; tx < TW; ++tx, o += K) {
            const float *p[2][2];
            for (int i = 0; i < 2; ++i)
                for (int j = 0; j < 2; ++j)
                    p[i][j] = (rows[i] != zeros && 2 * tx + j < OW) ? rows[i] + (2 * tx + j) * K : zeros;
            for (Py_ssize_t kb = 0; kb < K; kb += 8) {
                const Py_ssize_t k = kb + 8 <= K ? kb : K - 8;
                le4nn_w8f e[2];
                for (int j = 0; j < 2; ++j) {
                    le4nn_w8f g0 = le4nn_wl8(p[0][j] + k), g1 = le4nn_wl8(p[1][j] + k);
                    e[j] = x == 0 ? g0 : x == 1 ? g0 + g1 : x == 2 ? g0 - g1 : -g1;
                }
                le4nn_ws8(o + k, e[0]);
                le4nn_ws8(o + plane + k, e[0] + e[1]);
                le4nn_ws8(o + 2 * plane + k, e[0] - e[1]);
                le4nn_ws8(o + 3 * plane + k, -e[1]);
            }
        }
    }
}

#endif /* LE4NN_WINOGRAD_H */
