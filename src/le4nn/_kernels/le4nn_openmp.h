/* le4nn_openmp.h: what the OpenMP runtime the kernels were compiled with can do (threads.pyx's
   openmp_enabled and max_threads); without OpenMP, one thread. */
#ifndef LE4NN_OPENMP_H
#define LE4NN_OPENMP_H

#ifdef _OPENMP
#include <omp.h>
static int le4nn_openmp_enabled(void) { return 1; }
static int le4nn_omp_max_threads(void) { return omp_get_max_threads(); }
#else
static int le4nn_openmp_enabled(void) { return 0; }
static int le4nn_omp_max_threads(void) { return 1; }
#endif

#endif /* LE4NN_OPENMP_H */
