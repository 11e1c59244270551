/* le4nn_nhwc_im2col.h: col2im for NHWC batches for nhwc_im2col.pyx (the adjoint of handout eq. 59's
   im2col), float32 and float64.  Compiled for x86-64-v3 and the baseline.  Included after Python.h
   (Py_ssize_t).

   A gather, not a scatter: each input pixel (h, w) of a row sums its <= kh·kw window contributions
   (C-long contiguous runs of the column matrix) in registers, window offsets (i, j) in row-major
   order starting from 0 as the reference does (so the sums are bitwise the reference's), and is
   written once.  The runs a pixel reads lie in at most kh rows of the column matrix and move forward
   with w: a few sequential streams that the prefetcher follows (the earlier scatter walked each
   offset (i, j) over a whole row at the matrix's row stride, and re-added into the input row 9 times). */
#ifndef LE4NN_NHWC_IM2COL_H
#define LE4NN_NHWC_IM2COL_H

#include "le4nn_clones.h"

/* Window sides up to this many taps gather through fixed-size tables; larger ones (not used by any
   layer of the library's models, but legal) fall back to the same gather with a smaller table per
   pixel: see LE4NN_COL2IM_GATHER. */
#define LE4NN_COL2IM_MAX_SIDE 16

/* The gather prefetches the runs of the output pixel this many columns ahead. */
#define LE4NN_COL2IM_AHEAD 4

/* Prefetch the cache lines of nbytes at p (a hint: nothing where the compiler has no builtin). */
#if defined(__GNUC__)
#define LE4NN_PREFETCH_RUN(p, nbytes)                                                                   \
    do {                                                                                                \
        const char *pf_ = (const char *)(p);                                                            \
        for (Py_ssize_t b_ = 0; b_ < (nbytes); b_ += 64) __builtin_prefetch(pf_ + b_);                  \
    } while (0)
#else
#define LE4NN_PREFETCH_RUN(p, nbytes) ((void)0)
#endif

/* One input row h of one image (xr: W·C) from the image's rows of the column matrix (cb).  For
   every pixel, srcs[] lists its contributions in (i, j) row-major order; each channel block sums
   them from 0 and is stored once. */
#define LE4NN_COL2IM_GATHER(NAME, T)                                                                    \
static LE4NN_V3_CLONES void NAME(                                                                       \
    const T *restrict cb, T *restrict xr, Py_ssize_t W, Py_ssize_t C, int kh, int kw,                   \
    int sh, int sw, int pt, int pl, Py_ssize_t h, Py_ssize_t OH, Py_ssize_t OW)                         \
{                                                                                                       \
    const Py_ssize_t K = (Py_ssize_t)kh * kw * C;                                                       \
    const T *rows[LE4NN_COL2IM_MAX_SIDE];                                                               \
    const T *srcs[LE4NN_COL2IM_MAX_SIDE * LE4NN_COL2IM_MAX_SIDE];                                       \
    const T *first = cb; /* the start of the lowest row of the column matrix read (see below) */       \
    int nrows = 0;                                                                                      \
    for (int i = 0; i < kh; ++i) {                                                                      \
        Py_ssize_t t = h + pt - i;                                                                      \
        if (t < 0 || t % sh != 0 || t / sh >= OH) continue;                                             \
        if (nrows == 0) first = cb + (t / sh) * OW * K;                                                 \
        rows[nrows++] = cb + (t / sh) * OW * K + (Py_ssize_t)i * kw * C;                                \
    }                                                                                                   \
    /* The lowest row of the column matrix this input row reads (its largest oh) is read here for the \
       first time: the prefetch below fetches its whole runs (all kh·kw offsets; the next input rows  \
       read the rest), so that memory streams it in order, not a third of every run at a time. */    \
    if (nrows == 0) { /* a row between strides: no window reads it */                                  \
        for (Py_ssize_t c = 0; c < W * C; ++c) xr[c] = 0;                                               \
        return;                                                                                         \
    }                                                                                                   \
    for (Py_ssize_t w = 0; w < W; ++w) {                                                                \
        T *restrict dst = xr + w * C;                                                                   \
        Py_ssize_t joff[LE4NN_COL2IM_MAX_SIDE];                                                         \
        Py_ssize_t ow_next = -1;                                                                        \
        int nj = 0, n = 0;                                                                              \
        for (int j = 0; j < kw; ++j) {                                                                  \
            Py_ssize_t u = w + pl - j, ow;                                                              \
            if (u < 0) break;                                                                           \
            if (sw == 1) ow = u;                                                                        \
            else if (sw == 2) { if (u & 1) continue; ow = u >> 1; }                                     \
            else { if (u % sw != 0) continue; ow = u / sw; }                                            \
            if (ow >= OW) continue;                                                                     \
            if (j == 0) ow_next = ow + LE4NN_COL2IM_AHEAD;                                              \
            joff[nj++] = ow * K + (Py_ssize_t)j * C;                                                    \
        }                                                                                               \
        if (ow_next >= 0 && ow_next < OW) {                                                             \
            LE4NN_PREFETCH_RUN(first + ow_next * K, (Py_ssize_t)(K * sizeof(T)));                       \
        }                                                                                               \
        for (int r = 0; r < nrows; ++r)                                                                 \
            for (int q = 0; q < nj; ++q) srcs[n++] = rows[r] + joff[q];                                 \
        Py_ssize_t c = 0;                                                                               \
        for (; c + 16 <= C; c += 16) {                                                                  \
            T acc[16] = {0};                                                                            \
            for (int s = 0; s < n; ++s)                                                                 \
                for (int q = 0; q < 16; ++q) acc[q] += srcs[s][c + q];                                  \
            for (int q = 0; q < 16; ++q) dst[c + q] = acc[q];                                           \
        }                                                                                               \
        for (; c + 4 <= C; c += 4) {                                                                    \
            T acc[4] = {0};                                                                             \
            for (int s = 0; s < n; ++s)                                                                 \
                for (int q = 0; q < 4; ++q) acc[q] += srcs[s][c + q];                                   \
            for (int q = 0; q < 4; ++q) dst[c + q] = acc[q];                                            \
        }                                                                                               \
        for (; c < C; ++c) {                                                                            \
            T acc = 0;                                                                                  \
            for (int s = 0; s < n; ++s) acc += srcs[s][c];                                              \
            dst[c] = acc;                                                                               \
        }                                                                                               \
    }                                                                                                   \
}

LE4NN_COL2IM_GATHER(le4nn_col2im_gather_row_f, float)
LE4NN_COL2IM_GATHER(le4nn_col2im_gather_row_d, double)

/* ---- col2im as a scatter (any window size) -------------------------------------------------- */

/* Input row h of one image (xr: W·C) as the sum of its window contributions (cb: the image's
   rows of the column matrix), window offsets (i, j) in row-major order, as the reference.  For
   windows wider or taller than LE4NN_COL2IM_MAX_SIDE. */
#define LE4NN_COL2IM_SCATTER(NAME, T)                                                                   \
static LE4NN_V3_CLONES void NAME(                                                                       \
    const T *restrict cb, T *restrict xr, Py_ssize_t W, Py_ssize_t C, int kh, int kw,                   \
    int sh, int sw, int pt, int pl, Py_ssize_t h, Py_ssize_t OH, Py_ssize_t OW)                         \
{                                                                                                       \
    const Py_ssize_t K = (Py_ssize_t)kh * kw * C;                                                       \
    for (Py_ssize_t c = 0; c < W * C; ++c) xr[c] = 0;                                                   \
    for (int i = 0; i < kh; ++i) {                                                                      \
        Py_ssize_t t = h + pt - i;                                                                      \
        if (t < 0 || t % sh != 0) continue;                                                             \
        Py_ssize_t oh = t / sh;                                                                         \
        if (oh >= OH) continue;                                                                         \
        for (int j = 0; j < kw; ++j) {                                                                  \
            for (Py_ssize_t ow = 0; ow < OW; ++ow) {                                                    \
                Py_ssize_t w = ow * sw - pl + j;                                                        \
                if (w < 0 || w >= W) continue;                                                          \
                const T *src = cb + (oh * OW + ow) * K + (Py_ssize_t)(i * kw + j) * C;                  \
                T *dst = xr + w * C;                                                                    \
                for (Py_ssize_t c = 0; c < C; ++c) dst[c] += src[c];                                    \
            }                                                                                           \
        }                                                                                               \
    }                                                                                                   \
}

LE4NN_COL2IM_SCATTER(le4nn_col2im_scatter_row_f, float)
LE4NN_COL2IM_SCATTER(le4nn_col2im_scatter_row_d, double)

#endif /* LE4NN_NHWC_IM2COL_H */
