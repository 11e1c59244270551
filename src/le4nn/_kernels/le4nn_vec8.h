/* le4nn_vec8.h: 8-lane float and int vectors (GCC/Clang vector extensions) for the NHWC kernels
   (le4nn_nhwc_conv.h, le4nn_nhwc_pool.h): unaligned loads and stores through memcpy, ReLU and
   selects as bit masks.  Always inlined into the LE4NN_V3_CLONES loops, so each clone gets its own
   instructions (two SSE registers on the baseline, one AVX register in the x86-64-v3 clone). */
#ifndef LE4NN_VEC8_H
#define LE4NN_VEC8_H

#include <string.h>

/* GCC/Clang vector extensions: 8 floats, compiled to two SSE registers on the baseline and one
   AVX register in the x86-64-v3 clone.  Unaligned loads and stores go through memcpy. */
typedef float le4nn_v8f __attribute__((vector_size(32)));
typedef int le4nn_v8i __attribute__((vector_size(32)));
static inline __attribute__((always_inline)) le4nn_v8f le4nn_load8(const float *p)
{ le4nn_v8f v; memcpy(&v, p, sizeof v); return v; }
static inline __attribute__((always_inline)) void le4nn_store8(float *p, le4nn_v8f v)
{ memcpy(p, &v, sizeof v); }
static inline __attribute__((always_inline)) le4nn_v8f le4nn_relu8(le4nn_v8f a)
{   /* 0 where a <= 0; NaN (a <= 0 false) passes through */
    const le4nn_v8f zero = {0};
    return (le4nn_v8f)((le4nn_v8i)a & ~(a <= zero));
}

/* Selects (a where the mask m is set, else b) and int vectors, for the 2x2 max pooling. */
static inline __attribute__((always_inline)) le4nn_v8f le4nn_sel8f(le4nn_v8i m, le4nn_v8f a, le4nn_v8f b)
{ return (le4nn_v8f)(((le4nn_v8i)a & m) | ((le4nn_v8i)b & ~m)); }
static inline __attribute__((always_inline)) le4nn_v8i le4nn_load8i(const int *p)
{ le4nn_v8i v; memcpy(&v, p, sizeof v); return v; }
static inline __attribute__((always_inline)) void le4nn_store8i(int *p, le4nn_v8i v)
{ memcpy(p, &v, sizeof v); }

#endif /* LE4NN_VEC8_H */
