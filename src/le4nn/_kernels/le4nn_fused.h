/* le4nn_fused.h: the float32/float64 row loops of fused.pyx, the affine layers' fused epilogues:
   y = max(0, x + b) forward (the affine layer and ReLU of handout 4.2), and the ReLU or sigmoid
   backward with the bias gradient (the column sums of dx) in the same pass.  Included by fused.pyx
   (after Python.h: Py_ssize_t). */
#ifndef LE4NN_FUSED_H
#define LE4NN_FUSED_H

#include "le4nn_clones.h"

/* float32 loops in C with restrict pointers (no aliasing to rule out at run time), compiled for
   x86-64-v3 (AVX2) and the baseline, the loader choosing by CPU.  No FMA is involved, so both
   clones give bitwise the same results.  Both loads are unconditional so that the selects
   vectorize (a conditional load would become a branch). */

static LE4NN_V3_CLONES void le4nn_bias_relu_rows_f(const float *restrict x, const float *restrict b,
                                                    float *y, Py_ssize_t rows, Py_ssize_t K)
{
    for (Py_ssize_t r = 0; r < rows; ++r) {
        const float *xr = x + r * K;
        float *yr = y + r * K;
        for (Py_ssize_t k = 0; k < K; ++k) {
            float v = xr[k] + b[k];
            yr[k] = v <= 0.0f ? 0.0f : v;
        }
    }
}


/* NAME(d, y, dx, acc, rows, K): dx = GRAD (an expression of g = dout and v = y, element by element)
   over a block of rows, and the column sums of dx over the block (in T: at most BLOCK_ELEMENTS
   terms per column) into acc (K).  dx may be d or y. */
#define LE4NN_BACKWARD_BIAS_ROWS(NAME, T, ATTRIBUTES, GRAD)                                          \
static ATTRIBUTES void NAME(const T *d, const T *y, T *dx, T *restrict acc, Py_ssize_t rows,       \
                            Py_ssize_t K)                                                          \
{                                                                                                  \
    for (Py_ssize_t k = 0; k < K; ++k) acc[k] = 0;                                                 \
    for (Py_ssize_t r = 0; r < rows; ++r) {                                                        \
        const T *dr = d + r * K, *yr = y + r * K;                                                  \
        T *xr = dx + r * K;                                                                        \
        for (Py_ssize_t k = 0; k < K; ++k) {                                                       \
            const T g = dr[k], v = yr[k];  /* both loads unconditional: the select vectorizes */   \
            const T grad = GRAD;                                                                   \
            xr[k] = grad;                                                                          \
            acc[k] += grad;                                                                        \
        }                                                                                          \
    }                                                                                              \
}

/* ReLU: dout where y > 0, else 0 (a NaN in y passes the gradient). */
LE4NN_BACKWARD_BIAS_ROWS(le4nn_relu_backward_bias_rows_f, float, LE4NN_V3_CLONES, v <= 0 ? 0.0f : g)
LE4NN_BACKWARD_BIAS_ROWS(le4nn_relu_backward_bias_rows_d, double, , v <= 0 ? 0.0 : g)
/* Sigmoid: dout * (y (1 - y)), in sigmoid_backward's order and without contraction: its bits. */
LE4NN_BACKWARD_BIAS_ROWS(le4nn_sigmoid_backward_bias_rows_f, float, LE4NN_V3_CLONES LE4NN_NO_CONTRACT,
                         g * (v * (1.0f - v)))
LE4NN_BACKWARD_BIAS_ROWS(le4nn_sigmoid_backward_bias_rows_d, double, LE4NN_NO_CONTRACT, g * (v * (1.0 - v)))

/* The residual add fused with its ReLU (add_relu_forward in fused.pyx): y = max(0, a + b) element by
   element, NaN passing through (NaN <= 0 is false).  y may be a or b: each element is read before it
   is written and no iteration reads another's output, which ivdep tells the vectorizer (no run-time
   overlap test that would send the in-place call down the scalar loop).  No FMA: both clones give
   the same bits. */
#define LE4NN_ADD_RELU(NAME, T, ATTRIBUTES)                                                        \
static ATTRIBUTES void NAME(const T *a, const T *b, T *y, Py_ssize_t n)                            \
{                                                                                                  \
    _Pragma("GCC ivdep")                                                                           \
    for (Py_ssize_t i = 0; i < n; ++i) {                                                           \
        const T v = a[i] + b[i];                                                                   \
        y[i] = v <= 0 ? (T)0 : v;                                                                  \
    }                                                                                              \
}

LE4NN_ADD_RELU(le4nn_add_relu_f, float, LE4NN_V3_CLONES)
LE4NN_ADD_RELU(le4nn_add_relu_d, double, LE4NN_V3_CLONES)

#endif /* LE4NN_FUSED_H */
