/* le4nn_softmax.h: exp in place over a block of shifted logits, the inner loop of the softmax
   (handout eq. 5-6, y_k = exp(a_k - max a) / sum_j exp(a_j - max a)) in softmax.pyx; float32 and
   float64, compiled with LE4NN_SIMD_CLONES.  Included by softmax.pyx (after Python.h). */
#ifndef LE4NN_SOFTMAX_H
#define LE4NN_SOFTMAX_H

#include "le4nn_exp.h"  /* exp(a) for a <= 0, vectorizable; LE4NN_SIMD_CLONES */

/* y = exp(y) in place, for y <= 0 (or NaN). */
static LE4NN_SIMD_CLONES void le4nn_exp_inplace_f(float *y, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++)
        y[i] = le4nn_exp_nonpos_f(y[i]);
}

static LE4NN_SIMD_CLONES void le4nn_exp_inplace_d(double *y, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++)
        y[i] = le4nn_exp_nonpos_d(y[i]);
}

#endif /* LE4NN_SOFTMAX_H */
