/* le4nn_activations.h: the sigmoid forward loop of activations.pyx (handout 4.2,
   sigma(x) = 1 / (1 + exp(-x))), float32 and float64, compiled with LE4NN_SIMD_CLONES so that the
   exp of le4nn_exp.h vectorizes.  Included by activations.pyx (after Python.h: Py_ssize_t). */
#ifndef LE4NN_ACTIVATIONS_H
#define LE4NN_ACTIVATIONS_H

#include "le4nn_exp.h"  /* exp(a) for a <= 0, vectorizable; LE4NN_SIMD_CLONES */

/* y = sigma(x) elementwise (le4nn_sigmoid1_*: never overflows, NaN propagates). */
static LE4NN_SIMD_CLONES void le4nn_sigmoid_f(const float *x, float *y, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) y[i] = le4nn_sigmoid1_f(x[i]);
}

static LE4NN_SIMD_CLONES void le4nn_sigmoid_d(const double *x, double *y, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) y[i] = le4nn_sigmoid1_d(x[i]);
}

#endif /* LE4NN_ACTIVATIONS_H */
