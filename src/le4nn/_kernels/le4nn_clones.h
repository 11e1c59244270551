/* le4nn_clones.h: the function attributes the kernels' C loops share (fused.pyx, nhwc_*.pyx,
   winograd.pyx, optim.pyx, sparse.pyx).

   LE4NN_V3_CLONES: on Linux/GCC >= 11 a loop is compiled twice, for x86-64-v3 (AVX2, FMA) and the
   baseline, and the loader picks one by CPU.  LE4NN_V4_CLONES adds an AVX-512 (x86-64-v4) clone.
   Elsewhere both are empty (one baseline build).  LE4NN_NO_CONTRACT: no multiply-add is fused
   (fp-contract=off) where a kernel must give the bits of separate multiplies and adds (the
   reference's order of operations) in every clone.  Never -ffast-math (see CMakeLists.txt). */
#ifndef LE4NN_CLONES_H
#define LE4NN_CLONES_H

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && defined(__x86_64__) && defined(__linux__)
#define LE4NN_V3_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#define LE4NN_V4_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define LE4NN_V3_CLONES
#define LE4NN_V4_CLONES
#endif
#if defined(__GNUC__) && !defined(__clang__)
#define LE4NN_NO_CONTRACT __attribute__((optimize("fp-contract=off")))
#else
#define LE4NN_NO_CONTRACT  /* clang does not contract across statements by default */
#endif

#endif /* LE4NN_CLONES_H */
