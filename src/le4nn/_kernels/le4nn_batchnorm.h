/* le4nn_batchnorm.h: the float32/float64 loops of batchnorm.pyx, BatchNormalization (handout
   eq. 28-38) over a block of data, with an optional ReLU after it.  Two layouts:
     rows:   x (rows, C), the feature last (Dense outputs, channels_last images);
     planes: one plane of S values of one feature (channels_first images, x (N, C, S)).
   Statistics are accumulated in double.  Every loop is compiled without contraction (no fused
   multiply-add), so the clones give the same bits and the backward pass recomputes exactly the
   forward's pre-ReLU value v = (x - mean) a + beta (a = gamma inv_std) for its ReLU mask.
   Included by batchnorm.pyx (after Python.h: Py_ssize_t). */
#ifndef LE4NN_BATCHNORM_H
#define LE4NN_BATCHNORM_H

#include <stdint.h>
#include <string.h>

#include "le4nn_clones.h"

#define LE4NN_BN_LANES 8  /* independent partial sums along a plane (they vectorize), added in order */

#define LE4NN_BN_ATTR LE4NN_V3_CLONES LE4NN_NO_CONTRACT

/* ReLU of the forward (NaN passes) and its mask on the gradient (a NaN v passes the gradient), as
   relu_forward / relu_backward. */
#define LE4NN_BN_RELU(v) ((v) <= 0 ? 0 : (v))
#define LE4NN_BN_MASK(v, g) ((v) <= 0 ? 0 : (g))

#define LE4NN_BN_LOOPS(S_, T, U_)                                                                      \
/* The mask LE4NN_BN_MASK(v, g) as bits: g's bits ANDed with all ones where !(v <= 0) (a NaN v    \
   passes g), else +0.  Exactly the select, but without control flow: GCC keeps a select followed   \
   by a float -> double conversion scalar (one branch per element) under -ftrapping-math. */          \
static inline T le4nn_bn_mask_##S_(T v, T g)                                                         \
{                                                                                                    \
    U_ bits;                                                                                         \
    memcpy(&bits, &g, sizeof bits);                                                                  \
    bits &= -(U_)!(v <= 0);                                                                          \
    memcpy(&g, &bits, sizeof bits);                                                                  \
    return g;                                                                                        \
}                                                                                                    \
                                                                                                     \
/* s1[k] = sum over the rows of (x - shift[k]), s2[k] = the sum of its squares, in double. */        \
static LE4NN_BN_ATTR void le4nn_bn_stats_rows_##S_(const T *restrict x, const T *restrict shift,     \
                                                   double *restrict s1, double *restrict s2,         \
                                                   Py_ssize_t rows, Py_ssize_t C)                    \
{                                                                                                    \
    for (Py_ssize_t k = 0; k < C; ++k) { s1[k] = 0; s2[k] = 0; }                                     \
    for (Py_ssize_t r = 0; r < rows; ++r) {                                                          \
        const T *xr = x + r * C;                                                                     \
        for (Py_ssize_t k = 0; k < C; ++k) {                                                         \
            const double d = (double)xr[k] - (double)shift[k];                                       \
            s1[k] += d;                                                                              \
            s2[k] += d * d;                                                                          \
        }                                                                                            \
    }                                                                                                \
}                                                                                                    \
                                                                                                     \
/* y = (x - mean) a + beta, then max(., 0) if relu (y may be x). */                                  \
static LE4NN_BN_ATTR void le4nn_bn_apply_rows_##S_(const T *x, const T *restrict mean,               \
                                                   const T *restrict a, const T *restrict beta,      \
                                                   T *y, Py_ssize_t rows, Py_ssize_t C, int relu)    \
{                                                                                                    \
    for (Py_ssize_t r = 0; r < rows; ++r) {                                                          \
        const T *xr = x + r * C;                                                                     \
        T *yr = y + r * C;                                                                           \
        if (relu) {                                                                                  \
            for (Py_ssize_t k = 0; k < C; ++k) {                                                     \
                const T v = (xr[k] - mean[k]) * a[k] + beta[k];                                      \
                yr[k] = LE4NN_BN_RELU(v);                                                            \
            }                                                                                        \
        } else {                                                                                     \
            for (Py_ssize_t k = 0; k < C; ++k) yr[k] = (xr[k] - mean[k]) * a[k] + beta[k];           \
        }                                                                                            \
    }                                                                                                \
}                                                                                                    \
                                                                                                     \
/* sg[k] = sum of g', sgx[k] = sum of g' (x - mean), in double; g' = g masked by v > 0 if relu. */   \
static LE4NN_BN_ATTR void le4nn_bn_bsums_rows_##S_(const T *restrict g, const T *restrict x,         \
                                                   const T *restrict mean, const T *restrict a,      \
                                                   const T *restrict beta, double *restrict sg,      \
                                                   double *restrict sgx, Py_ssize_t rows,            \
                                                   Py_ssize_t C, int relu)                           \
{                                                                                                    \
    for (Py_ssize_t k = 0; k < C; ++k) { sg[k] = 0; sgx[k] = 0; }                                    \
    for (Py_ssize_t r = 0; r < rows; ++r) {                                                          \
        const T *xr = x + r * C, *gr = g + r * C;                                                    \
        if (relu) {                                                                                  \
            for (Py_ssize_t k = 0; k < C; ++k) {                                                     \
                const T c = xr[k] - mean[k];                                                         \
                const T v = c * a[k] + beta[k];                                                      \
                const double gm = (double)le4nn_bn_mask_##S_(v, gr[k]);                                   \
                sg[k] += gm;                                                                         \
                sgx[k] += gm * (double)c;                                                            \
            }                                                                                        \
        } else {                                                                                     \
            for (Py_ssize_t k = 0; k < C; ++k) {                                                     \
                const double gm = (double)gr[k];                                                     \
                sg[k] += gm;                                                                         \
                sgx[k] += gm * (double)(xr[k] - mean[k]);                                            \
            }                                                                                        \
        }                                                                                            \
    }                                                                                                \
}                                                                                                    \
                                                                                                     \
/* dx = g' k1 + (x - mean) k2 + k3 (dx may be g or x). */                                            \
static LE4NN_BN_ATTR void le4nn_bn_bapply_rows_##S_(const T *g, const T *x, const T *restrict mean,  \
                                                    const T *restrict a, const T *restrict beta,     \
                                                    const T *restrict k1, const T *restrict k2,      \
                                                    const T *restrict k3, T *dx, Py_ssize_t rows,    \
                                                    Py_ssize_t C, int relu)                          \
{                                                                                                    \
    for (Py_ssize_t r = 0; r < rows; ++r) {                                                          \
        const T *xr = x + r * C, *gr = g + r * C;                                                    \
        T *dr = dx + r * C;                                                                          \
        if (relu) {                                                                                  \
            for (Py_ssize_t k = 0; k < C; ++k) {                                                     \
                const T c = xr[k] - mean[k];                                                         \
                const T v = c * a[k] + beta[k];                                                      \
                const T gm = le4nn_bn_mask_##S_(v, gr[k]);                                                \
                dr[k] = gm * k1[k] + c * k2[k] + k3[k];                                              \
            }                                                                                        \
        } else {                                                                                     \
            for (Py_ssize_t k = 0; k < C; ++k)                                                       \
                dr[k] = gr[k] * k1[k] + (xr[k] - mean[k]) * k2[k] + k3[k];                           \
        }                                                                                            \
    }                                                                                                \
}                                                                                                    \
                                                                                                     \
/* One plane of S values: out[0] = sum of (x - shift), out[1] = sum of squares, in double, over       \
   LE4NN_BN_LANES lanes (element j in lane j % LANES) added in lane order. */                         \
static LE4NN_BN_ATTR void le4nn_bn_stats_plane_##S_(const T *restrict x, double shift,              \
                                                    Py_ssize_t S, double *restrict out)              \
{                                                                                                    \
    double p1[LE4NN_BN_LANES] = {0}, p2[LE4NN_BN_LANES] = {0};                                       \
    Py_ssize_t j = 0;                                                                                \
    for (; j + LE4NN_BN_LANES <= S; j += LE4NN_BN_LANES)                                             \
        for (int l = 0; l < LE4NN_BN_LANES; ++l) {                                                   \
            const double d = (double)x[j + l] - shift;                                               \
            p1[l] += d;                                                                              \
            p2[l] += d * d;                                                                          \
        }                                                                                            \
    for (int l = 0; j < S; ++j, ++l) {                                                               \
        const double d = (double)x[j] - shift;                                                       \
        p1[l] += d;                                                                                  \
        p2[l] += d * d;                                                                              \
    }                                                                                                \
    double t1 = 0, t2 = 0;                                                                           \
    for (int l = 0; l < LE4NN_BN_LANES; ++l) { t1 += p1[l]; t2 += p2[l]; }                           \
    out[0] = t1;                                                                                     \
    out[1] = t2;                                                                                     \
}                                                                                                    \
                                                                                                     \
static LE4NN_BN_ATTR void le4nn_bn_apply_plane_##S_(const T *x, T mean, T a, T beta, T *y,          \
                                                    Py_ssize_t S, int relu)                          \
{                                                                                                    \
    if (relu) {                                                                                      \
        for (Py_ssize_t j = 0; j < S; ++j) {                                                         \
            const T v = (x[j] - mean) * a + beta;                                                    \
            y[j] = LE4NN_BN_RELU(v);                                                                 \
        }                                                                                            \
    } else {                                                                                         \
        for (Py_ssize_t j = 0; j < S; ++j) y[j] = (x[j] - mean) * a + beta;                          \
    }                                                                                                \
}                                                                                                    \
                                                                                                     \
/* out[0] = sum of g', out[1] = sum of g' (x - mean), in double, in lanes as the statistics.  Lanes  \
   0-3 and 4-7 are two 4-wide vectors (GCC vector extensions; GCC vectorized neither form of the     \
   scalar lane loop: `relu ? v : 1` was control flow, and the lane arrays had "no vectype"); each    \
   lane is the same sequence of operations as the scalar tail, so the same bits. */                  \
typedef T le4nn_bn_v4##S_ __attribute__((vector_size(4 * sizeof(T))));                               \
typedef U_ le4nn_bn_u4##S_ __attribute__((vector_size(4 * sizeof(T))));                              \
typedef double le4nn_bn_v4d##S_ __attribute__((vector_size(32)));                                    \
static inline __attribute__((always_inline)) LE4NN_NO_CONTRACT void le4nn_bn_bsums_plane_body_##S_(  \
    const T *restrict g, const T *restrict x, T mean, T a, T beta, Py_ssize_t S, const int relu,     \
    double *restrict out)                                                                            \
{                                                                                                    \
    le4nn_bn_v4d##S_ p1[2] = {{0}}, p2[2] = {{0}};                                                   \
    const le4nn_bn_v4##S_ zero = {0};                                                                \
    Py_ssize_t j = 0;                                                                                \
    for (; j + LE4NN_BN_LANES <= S; j += LE4NN_BN_LANES)                                             \
        for (int h = 0; h < 2; ++h) {                                                                \
            le4nn_bn_v4##S_ xv, gv;                                                                  \
            memcpy(&xv, x + j + 4 * h, sizeof xv);                                                   \
            memcpy(&gv, g + j + 4 * h, sizeof gv);                                                   \
            const le4nn_bn_v4##S_ c = xv - mean;                                                     \
            if (relu) {                                                                              \
                const le4nn_bn_v4##S_ v = c * a + beta;                                              \
                gv = (le4nn_bn_v4##S_)((le4nn_bn_u4##S_)gv & (le4nn_bn_u4##S_)~(v <= zero));         \
            }                                                                                        \
            const le4nn_bn_v4d##S_ gm = __builtin_convertvector(gv, le4nn_bn_v4d##S_);               \
            p1[h] += gm;                                                                             \
            p2[h] += gm * __builtin_convertvector(c, le4nn_bn_v4d##S_);                              \
        }                                                                                            \
    double q1[LE4NN_BN_LANES], q2[LE4NN_BN_LANES];                                                   \
    memcpy(q1, p1, sizeof q1);                                                                       \
    memcpy(q2, p2, sizeof q2);                                                                       \
    for (int l = 0; j < S; ++j, ++l) {                                                               \
        const T c = x[j] - mean;                                                                     \
        const double gm = relu ? (double)le4nn_bn_mask_##S_(c * a + beta, g[j]) : (double)g[j];      \
        q1[l] += gm;                                                                                 \
        q2[l] += gm * (double)c;                                                                     \
    }                                                                                                \
    double t1 = 0, t2 = 0;                                                                           \
    for (int l = 0; l < LE4NN_BN_LANES; ++l) { t1 += q1[l]; t2 += q2[l]; }                           \
    out[0] = t1;                                                                                     \
    out[1] = t2;                                                                                     \
}                                                                                                    \
                                                                                                     \
static LE4NN_BN_ATTR void le4nn_bn_bsums_plane_##S_(const T *restrict g, const T *restrict x,        \
                                                    T mean, T a, T beta, Py_ssize_t S, int relu,     \
                                                    double *restrict out)                            \
{                                                                                                    \
    if (relu)                                                                                        \
        le4nn_bn_bsums_plane_body_##S_(g, x, mean, a, beta, S, 1, out);                              \
    else                                                                                             \
        le4nn_bn_bsums_plane_body_##S_(g, x, mean, a, beta, S, 0, out);                              \
}                                                                                                    \
                                                                                                     \
static LE4NN_BN_ATTR void le4nn_bn_bapply_plane_##S_(const T *g, const T *x, T mean, T a, T beta,   \
                                                     T k1, T k2, T k3, T *dx, Py_ssize_t S,          \
                                                     int relu)                                       \
{                                                                                                    \
    if (relu) {                                                                                      \
        for (Py_ssize_t j = 0; j < S; ++j) {                                                         \
            const T c = x[j] - mean;                                                                 \
            const T v = c * a + beta;                                                                \
            const T gm = le4nn_bn_mask_##S_(v, g[j]);                                                     \
            dx[j] = gm * k1 + c * k2 + k3;                                                           \
        }                                                                                            \
    } else {                                                                                         \
        for (Py_ssize_t j = 0; j < S; ++j) dx[j] = g[j] * k1 + (x[j] - mean) * k2 + k3;              \
    }                                                                                                \
}

LE4NN_BN_LOOPS(f, float, uint32_t)
LE4NN_BN_LOOPS(d, double, uint64_t)

#endif /* LE4NN_BATCHNORM_H */
