/* le4nn_optim.h: the SGD update in place for optim.pyx (handout eq. 39, p <- p - lr g; with
   momentum, eq. 40-41, v <- m v - lr g, p <- p + v), float32 and float64, compiled for AVX-512,
   AVX2 and the baseline without contraction (every clone gives the reference's bits), and the job
   that splits it into chunks for the helper-thread pool (le4nn_pool.h).  Included by optim.pyx
   (after Python.h: Py_ssize_t). */
#ifndef LE4NN_OPTIM_H
#define LE4NN_OPTIM_H

#include "le4nn_clones.h"

/* p -= lr g;  or with momentum m: v = m v - lr g, then p += v (nesterov: p += m v - lr g). */
#define LE4NN_SGD_DEFINE(T, SUFFIX)                                                                 \
static LE4NN_V4_CLONES LE4NN_NO_CONTRACT void le4nn_sgd_##SUFFIX(                                \
    T *restrict p, const T *restrict g, Py_ssize_t n, T lr)                                        \
{                                                                                                  \
    for (Py_ssize_t i = 0; i < n; ++i) {                                                           \
        const T step = lr * g[i];                                                                  \
        p[i] = p[i] - step;                                                                        \
    }                                                                                              \
}                                                                                                  \
static LE4NN_V4_CLONES LE4NN_NO_CONTRACT void le4nn_sgd_momentum_##SUFFIX(                       \
    T *restrict p, const T *restrict g, T *restrict v, Py_ssize_t n, T lr, T m, int nesterov)      \
{                                                                                                  \
    if (nesterov) {                                                                                \
        for (Py_ssize_t i = 0; i < n; ++i) {                                                       \
            const T step = lr * g[i];                                                              \
            const T decayed = v[i] * m;                                                            \
            const T vel = decayed - step;                                                          \
            v[i] = vel;                                                                            \
            const T ahead = m * vel;                                                               \
            const T change = ahead - step;                                                         \
            p[i] = p[i] + change;                                                                  \
        }                                                                                          \
    } else {                                                                                       \
        for (Py_ssize_t i = 0; i < n; ++i) {                                                       \
            const T step = lr * g[i];                                                              \
            const T decayed = v[i] * m;                                                            \
            const T vel = decayed - step;                                                          \
            v[i] = vel;                                                                            \
            p[i] = p[i] + vel;                                                                     \
        }                                                                                          \
    }                                                                                              \
}

LE4NN_SGD_DEFINE(float, f)
LE4NN_SGD_DEFINE(double, d)

#include "le4nn_pool.h"  /* le4nn_pool_runner: threads.pool_run */

/* The update of one chunk of the arrays (an item of le4nn_pool_run). */
typedef struct { void *p; const void *g; void *v; Py_ssize_t n, chunk; double lr, m; int nesterov, is_double; }
    le4nn_sgd_job;

static void le4nn_sgd_item(void *ctx, Py_ssize_t item, int slot) {
    const le4nn_sgd_job *j = (const le4nn_sgd_job *)ctx;
    const Py_ssize_t start = item * j->chunk;
    const Py_ssize_t n = j->n - start < j->chunk ? j->n - start : j->chunk;
    (void)slot;
    if (j->is_double) {
        double *p = (double *)j->p + start;
        const double *g = (const double *)j->g + start;
        if (j->v) le4nn_sgd_momentum_d(p, g, (double *)j->v + start, n, j->lr, j->m, j->nesterov);
        else le4nn_sgd_d(p, g, n, j->lr);
    } else {
        float *p = (float *)j->p + start;
        const float *g = (const float *)j->g + start;
        if (j->v) le4nn_sgd_momentum_f(p, g, (float *)j->v + start, n, (float)j->lr, (float)j->m, j->nesterov);
        else le4nn_sgd_f(p, g, n, (float)j->lr);
    }
}

/* The whole update on up to `threads` threads, in chunks of `chunk` elements. */
static void le4nn_sgd_run(void *p, const void *g, void *v, Py_ssize_t n, Py_ssize_t chunk, double lr,
                          double m, int nesterov, int is_double, int threads, Py_ssize_t wake_limit,
                          le4nn_pool_runner run) {
    le4nn_sgd_job job = {p, g, v, n, chunk, lr, m, nesterov, is_double};
    /* below wake_limit elements, the helpers only if they are awake (waking one costs ~0.1 ms) */
    run(threads, (n + chunk - 1) / chunk, le4nn_sgd_item, &job, n >= wake_limit ? 0 : -1);
}

#endif /* LE4NN_OPTIM_H */
