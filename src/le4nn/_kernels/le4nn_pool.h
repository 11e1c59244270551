/* The interface of le4nn's helper-thread pool (le4nn_pool_impl.h, compiled into the threads module
   only; the other kernel modules reach it through ``from le4nn._kernels.threads cimport pool_run``,
   so the process has one pool). */
#ifndef LE4NN_POOL_H
#define LE4NN_POOL_H

#include <stdint.h>

/* One item of a job: fn(ctx, item, slot), slot = 0 on the calling thread, 1 .. on the helpers. */
typedef void (*le4nn_pool_fn)(void *ctx, Py_ssize_t item, int slot);

/* pool_run's type: runs fn for every item < items on up to `threads` threads, then returns; the
   helper threads stay awake (spinning) for spin_ns nanoseconds after it (spin_ns < 0: use the helpers
   only if they are awake already, and add no spin). */
typedef void (*le4nn_pool_runner)(int threads, Py_ssize_t items, le4nn_pool_fn fn, void *ctx,
                                  long long spin_ns);

#endif /* LE4NN_POOL_H */
