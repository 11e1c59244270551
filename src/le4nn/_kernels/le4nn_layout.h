/* le4nn_layout.h: the NCHW <-> NHWC transposes (layout.pyx), float32 and float64.

   Both directions are one operation: a batch of row-major matrices (R, Q) -> (Q, R).  NCHW -> NHWC
   transposes each image's (C, H·W) matrix, NHWC -> NCHW each image's (H·W, C).  layout.pyx cuts
   every image into tiles of about LE4NN_LAYOUT_TILE_ELEMENTS elements (16 kB of float32 read, 16 kB
   written: both stay in L1), at most LE4NN_LAYOUT_TILE_SIDE on the shorter side, and hands whole
   tiles to the threads; le4nn_layout_tile_f/_d transpose one tile.

   Inside a tile, 8 × 8 blocks of float32 (4 × 4 of float64) are loaded as 8 (4) row vectors,
   transposed in registers with the unpack / shuffle / 128-bit-lane steps of the classic AVX
   transpose (GCC/Clang vector shuffles of le4nn_vec8.h's types: vunpcklps, vshufps, vperm2f128 in
   the x86-64-v3 clone; two SSE registers per vector on the baseline), and
   stored as 8 (4) column vectors; the ragged edges (R or Q not a multiple of 8, e.g. C = 3) are
   copied element by element.  A transpose only moves bits: NaN payloads, -0 and inf come through as
   they are, and the result cannot depend on the split into tiles or threads. */
#ifndef LE4NN_LAYOUT_H
#define LE4NN_LAYOUT_H

#include <stddef.h>
#include <string.h>

#include "le4nn_clones.h"
#include "le4nn_vec8.h"

#define LE4NN_LAYOUT_TILE_ELEMENTS 4096
#define LE4NN_LAYOUT_TILE_SIDE 64
#define LE4NN_LAYOUT_RUN 64  /* dst elements per row written at once (NHWC -> NCHW, rows 4 kB apart) */

/* 8 floats (le4nn_vec8.h), and 4 doubles with their 64-bit shuffle indices. */
typedef double le4nn_v4d __attribute__((vector_size(32)));
typedef long long le4nn_v4l __attribute__((vector_size(32)));
#if defined(__clang__)
#define LE4NN_SHUF8(a, b, m0, m1, m2, m3, m4, m5, m6, m7) \
    __builtin_shufflevector(a, b, m0, m1, m2, m3, m4, m5, m6, m7)
#define LE4NN_SHUF4(a, b, m0, m1, m2, m3) __builtin_shufflevector(a, b, m0, m1, m2, m3)
#else
#define LE4NN_SHUF8(a, b, m0, m1, m2, m3, m4, m5, m6, m7) \
    __builtin_shuffle(a, b, (le4nn_v8i){m0, m1, m2, m3, m4, m5, m6, m7})
#define LE4NN_SHUF4(a, b, m0, m1, m2, m3) __builtin_shuffle(a, b, (le4nn_v4l){m0, m1, m2, m3})
#endif

/* dst[j·ld_dst + i] = src[i·ld_src + j] for the 8 × 8 block at src (rows i, columns j). */
static inline __attribute__((always_inline)) void
le4nn_layout_block8_f(const float *src, ptrdiff_t ld_src, float *dst, ptrdiff_t ld_dst)
{
    le4nn_v8f r0 = le4nn_load8(src), r1 = le4nn_load8(src + ld_src);
    le4nn_v8f r2 = le4nn_load8(src + 2 * ld_src), r3 = le4nn_load8(src + 3 * ld_src);
    le4nn_v8f r4 = le4nn_load8(src + 4 * ld_src), r5 = le4nn_load8(src + 5 * ld_src);
    le4nn_v8f r6 = le4nn_load8(src + 6 * ld_src), r7 = le4nn_load8(src + 7 * ld_src);
    /* interleave row pairs: t0 = r0[0] r1[0] r0[1] r1[1] | r0[4] r1[4] r0[5] r1[5], ... */
    le4nn_v8f t0 = LE4NN_SHUF8(r0, r1, 0, 8, 1, 9, 4, 12, 5, 13), t1 = LE4NN_SHUF8(r0, r1, 2, 10, 3, 11, 6, 14, 7, 15);
    le4nn_v8f t2 = LE4NN_SHUF8(r2, r3, 0, 8, 1, 9, 4, 12, 5, 13), t3 = LE4NN_SHUF8(r2, r3, 2, 10, 3, 11, 6, 14, 7, 15);
    le4nn_v8f t4 = LE4NN_SHUF8(r4, r5, 0, 8, 1, 9, 4, 12, 5, 13), t5 = LE4NN_SHUF8(r4, r5, 2, 10, 3, 11, 6, 14, 7, 15);
    le4nn_v8f t6 = LE4NN_SHUF8(r6, r7, 0, 8, 1, 9, 4, 12, 5, 13), t7 = LE4NN_SHUF8(r6, r7, 2, 10, 3, 11, 6, 14, 7, 15);
    /* pairs of pairs: s0 = column 0 of rows 0-3 | column 4 of rows 0-3, s1 columns 1 | 5, ... */
    le4nn_v8f s0 = LE4NN_SHUF8(t0, t2, 0, 1, 8, 9, 4, 5, 12, 13), s1 = LE4NN_SHUF8(t0, t2, 2, 3, 10, 11, 6, 7, 14, 15);
    le4nn_v8f s2 = LE4NN_SHUF8(t1, t3, 0, 1, 8, 9, 4, 5, 12, 13), s3 = LE4NN_SHUF8(t1, t3, 2, 3, 10, 11, 6, 7, 14, 15);
    le4nn_v8f s4 = LE4NN_SHUF8(t4, t6, 0, 1, 8, 9, 4, 5, 12, 13), s5 = LE4NN_SHUF8(t4, t6, 2, 3, 10, 11, 6, 7, 14, 15);
    le4nn_v8f s6 = LE4NN_SHUF8(t5, t7, 0, 1, 8, 9, 4, 5, 12, 13), s7 = LE4NN_SHUF8(t5, t7, 2, 3, 10, 11, 6, 7, 14, 15);
    /* the 128-bit halves: rows 0-3 and 4-7 of each column */
    le4nn_v8f o0 = LE4NN_SHUF8(s0, s4, 0, 1, 2, 3, 8, 9, 10, 11), o4 = LE4NN_SHUF8(s0, s4, 4, 5, 6, 7, 12, 13, 14, 15);
    le4nn_v8f o1 = LE4NN_SHUF8(s1, s5, 0, 1, 2, 3, 8, 9, 10, 11), o5 = LE4NN_SHUF8(s1, s5, 4, 5, 6, 7, 12, 13, 14, 15);
    le4nn_v8f o2 = LE4NN_SHUF8(s2, s6, 0, 1, 2, 3, 8, 9, 10, 11), o6 = LE4NN_SHUF8(s2, s6, 4, 5, 6, 7, 12, 13, 14, 15);
    le4nn_v8f o3 = LE4NN_SHUF8(s3, s7, 0, 1, 2, 3, 8, 9, 10, 11), o7 = LE4NN_SHUF8(s3, s7, 4, 5, 6, 7, 12, 13, 14, 15);
    le4nn_store8(dst, o0); le4nn_store8(dst + ld_dst, o1);
    le4nn_store8(dst + 2 * ld_dst, o2); le4nn_store8(dst + 3 * ld_dst, o3);
    le4nn_store8(dst + 4 * ld_dst, o4); le4nn_store8(dst + 5 * ld_dst, o5);
    le4nn_store8(dst + 6 * ld_dst, o6); le4nn_store8(dst + 7 * ld_dst, o7);
}

/* The same for a 4 × 4 block of float64. */
static inline __attribute__((always_inline)) void
le4nn_layout_block4_d(const double *src, ptrdiff_t ld_src, double *dst, ptrdiff_t ld_dst)
{
    le4nn_v4d r0, r1, r2, r3;
    memcpy(&r0, src, 32); memcpy(&r1, src + ld_src, 32);
    memcpy(&r2, src + 2 * ld_src, 32); memcpy(&r3, src + 3 * ld_src, 32);
    le4nn_v4d t0 = LE4NN_SHUF4(r0, r1, 0, 4, 2, 6), t1 = LE4NN_SHUF4(r0, r1, 1, 5, 3, 7);
    le4nn_v4d t2 = LE4NN_SHUF4(r2, r3, 0, 4, 2, 6), t3 = LE4NN_SHUF4(r2, r3, 1, 5, 3, 7);
    le4nn_v4d o0 = LE4NN_SHUF4(t0, t2, 0, 1, 4, 5), o2 = LE4NN_SHUF4(t0, t2, 2, 3, 6, 7);
    le4nn_v4d o1 = LE4NN_SHUF4(t1, t3, 0, 1, 4, 5), o3 = LE4NN_SHUF4(t1, t3, 2, 3, 6, 7);
    memcpy(dst, &o0, 32); memcpy(dst + ld_dst, &o1, 32);
    memcpy(dst + 2 * ld_dst, &o2, 32); memcpy(dst + 3 * ld_dst, &o3, 32);
}

/* One tile: rows [i0, i1) and columns [j0, j1) of the (R, Q) matrix src (row stride ld_src = Q) into
   the (Q, R) matrix dst (row stride ld_dst = R).  Full BLOCK × BLOCK blocks in registers, then the
   ragged right and bottom edges element by element.  The blocks are visited along the longer rows:
   along src's rows when they are the longer (NCHW -> NHWC), else along dst's (NHWC -> NCHW).  Then
   each block stores to BLOCK dst rows at once; when those rows lie a multiple of 4 kB apart
   (H·W = 1024, 2048, ... floats) they all fall in one L1 set, which the src lines also need, and
   the stores thrash it (0.61 against 0.29 ms for H·W = 1000 on 128 × 16 channels): there the blocks
   go through a small buffer first, and each dst row is written LE4NN_LAYOUT_RUN elements at a time
   (0.49 ms; slower than the direct stores where they do not conflict). */
#define LE4NN_LAYOUT_TILE_FN(NAME, T, BLOCK, BLOCK_FN)                                              \
LE4NN_V3_CLONES static void NAME(const T *restrict src, ptrdiff_t ld_src, T *restrict dst,            \
                                 ptrdiff_t ld_dst, ptrdiff_t i0, ptrdiff_t i1, ptrdiff_t j0,          \
                                 ptrdiff_t j1)                                                        \
{                                                                                                     \
    const ptrdiff_t iF = i0 + (i1 - i0) / BLOCK * BLOCK, jF = j0 + (j1 - j0) / BLOCK * BLOCK;         \
    if (ld_src >= ld_dst) {                                                                           \
        for (ptrdiff_t i = i0; i < iF; i += BLOCK)                                                    \
            for (ptrdiff_t j = j0; j < jF; j += BLOCK)                                                \
                BLOCK_FN(src + i * ld_src + j, ld_src, dst + j * ld_dst + i, ld_dst);                 \
    } else if ((ld_dst * (ptrdiff_t)sizeof(T)) % 4096 != 0) {                                         \
        for (ptrdiff_t j = j0; j < jF; j += BLOCK)                                                    \
            for (ptrdiff_t i = i0; i < iF; i += BLOCK)                                                \
                BLOCK_FN(src + i * ld_src + j, ld_src, dst + j * ld_dst + i, ld_dst);                 \
    } else {                      /* through a small buffer, then one dst row at a time */          \
        T buf[BLOCK * LE4NN_LAYOUT_RUN];                                                              \
        for (ptrdiff_t j = j0; j < jF; j += BLOCK)                                                    \
            for (ptrdiff_t i = i0; i < iF; i += LE4NN_LAYOUT_RUN) {                                   \
                const ptrdiff_t run = iF - i < LE4NN_LAYOUT_RUN ? iF - i : LE4NN_LAYOUT_RUN;          \
                for (ptrdiff_t k = 0; k < run; k += BLOCK)                                            \
                    BLOCK_FN(src + (i + k) * ld_src + j, ld_src, buf + k, LE4NN_LAYOUT_RUN);          \
                for (ptrdiff_t r = 0; r < BLOCK; ++r) {                                               \
                    T *restrict to = dst + (j + r) * ld_dst + i;                                      \
                    const T *from = buf + r * LE4NN_LAYOUT_RUN;                                       \
                    for (ptrdiff_t c = 0; c < run; ++c)                                               \
                        to[c] = from[c];                                                              \
                }                                                                                     \
            }                                                                                         \
    }                                                                                                 \
    for (ptrdiff_t j = jF; j < j1; ++j)          /* right of the blocks */                            \
        for (ptrdiff_t i = i0; i < iF; ++i)                                                           \
            dst[j * ld_dst + i] = src[i * ld_src + j];                                                \
    for (ptrdiff_t i = iF; i < i1; ++i)          /* below them, full width */                         \
        for (ptrdiff_t j = j0; j < j1; ++j)                                                           \
            dst[j * ld_dst + i] = src[i * ld_src + j];                                                \
}

LE4NN_LAYOUT_TILE_FN(le4nn_layout_tile_f, float, 8, le4nn_layout_block8_f)
LE4NN_LAYOUT_TILE_FN(le4nn_layout_tile_d, double, 4, le4nn_layout_block4_d)

#endif /* LE4NN_LAYOUT_H */
