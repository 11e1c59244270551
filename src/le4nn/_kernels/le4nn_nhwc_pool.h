/* le4nn_nhwc_pool.h: NHWC max pooling in float32 for nhwc_pool.pyx and nhwc_conv.pyx (handout
   eq. 63-64): the running max and argmax of a window row, branch-free over the channels, and the
   backward for windows that tile the input (each element of dx written once).  Compiled for
   x86-64-v3 and the baseline.  Included after Python.h (Py_ssize_t). */
#ifndef LE4NN_NHWC_POOL_H
#define LE4NN_NHWC_POOL_H

#include <string.h>
#include "le4nn_clones.h"
#include "le4nn_vec8.h"

/* ---- max pooling, float32 ---------------------------------------------------------------- */

/* Output row oh of one image: o, a (OW, C).  Rule of pooling.pyx: the first real element of a
   window starts the running max; a later one replaces it where !(v <= best) && best == best
   (v > best, or v is the first NaN).  Every load is unconditional so the selects vectorize. */
static LE4NN_V3_CLONES void le4nn_maxpool_row_f(
    const float *restrict xb, float *restrict o, int *restrict a, Py_ssize_t H, Py_ssize_t W,
    Py_ssize_t C, int kh, int kw, int sh, int sw, int pt, int pl, Py_ssize_t oh, Py_ssize_t OW)
{
    for (Py_ssize_t ow = 0; ow < OW; ++ow) {
        float *ob = o + ow * C;
        int *ab = a + ow * C;
        int first = 1;
        for (int i = 0; i < kh; ++i) {
            Py_ssize_t h = oh * sh - pt + i;
            if (h < 0 || h >= H) continue;
            for (int j = 0; j < kw; ++j) {
                Py_ssize_t w = ow * sw - pl + j;
                if (w < 0 || w >= W) continue;
                const float *xp = xb + (h * W + w) * C;
                const int pos = (int)(h * W + w);
                if (first) {
                    for (Py_ssize_t c = 0; c < C; ++c) { ob[c] = xp[c]; ab[c] = pos; }
                    first = 0;
                } else {
                    for (Py_ssize_t c = 0; c < C; ++c) {
                        float v = xp[c], best = ob[c];
                        int k = ab[c];
                        int u = !(v <= best) & (best == best);
                        ob[c] = u ? v : best;
                        ab[c] = u ? pos : k;
                    }
                }
            }
        }
    }
}

/* 2×2 stride-2 windows without padding, C >= 8 channels: blocks of 8 channels as vectors (a
   ragged end overlaps the previous block and recomputes the same lanes); the running max and
   argmax are updated with the compare masks of the rule above, no branches. */

/* The flat input indices h·W + w of the four cells of output (oh, ow)'s window, in all 8 lanes:
   top left, top right, bottom left, bottom right. */
typedef struct { le4nn_v8i i00, i01, i10, i11; } le4nn_cells_2x2;
static inline __attribute__((always_inline)) le4nn_cells_2x2 le4nn_window_2x2(Py_ssize_t W,
                                                                            Py_ssize_t oh,
                                                                            Py_ssize_t ow)
{
    const int p00 = (int)((2 * oh) * W + 2 * ow);
    const le4nn_v8i i00 = {p00, p00, p00, p00, p00, p00, p00, p00};
    const le4nn_cells_2x2 cell = {i00, i00 + 1, i00 + (int)W, i00 + (int)W + 1};
    return cell;
}

static LE4NN_V3_CLONES void le4nn_maxpool_row_2x2_f(
    const float *restrict xb, float *restrict o, int *restrict a, Py_ssize_t W, Py_ssize_t C,
    Py_ssize_t oh, Py_ssize_t OW)
{
    const float *r0 = xb + (2 * oh) * W * C, *r1 = r0 + W * C;
    for (Py_ssize_t ow = 0; ow < OW; ++ow) {
        const le4nn_cells_2x2 cell = le4nn_window_2x2(W, oh, ow);
        for (Py_ssize_t cb = 0; cb < C; cb += 8) {
            const Py_ssize_t c = cb + 8 <= C ? cb : C - 8;
            const Py_ssize_t q0 = (2 * ow) * C + c, q1 = q0 + C;
            le4nn_v8f best = le4nn_load8(r0 + q0), v;
            le4nn_v8i idx = cell.i00, m;
            v = le4nn_load8(r0 + q1); m = ~(v <= best) & (best == best);
            best = le4nn_sel8f(m, v, best); idx = (cell.i01 & m) | (idx & ~m);
            v = le4nn_load8(r1 + q0); m = ~(v <= best) & (best == best);
            best = le4nn_sel8f(m, v, best); idx = (cell.i10 & m) | (idx & ~m);
            v = le4nn_load8(r1 + q1); m = ~(v <= best) & (best == best);
            best = le4nn_sel8f(m, v, best); idx = (cell.i11 & m) | (idx & ~m);
            le4nn_store8(o + ow * C + c, best);
            le4nn_store8i(a + ow * C + c, idx);
        }
    }
}

/* The backward of the above for one image: every element of the covered rows and columns of
   dx written once; returns nonzero when some index is not in its 2×2 block. */
static LE4NN_V3_CLONES int le4nn_maxpool_backward_2x2_f(
    const float *restrict d, const int *restrict a, float *restrict dx, Py_ssize_t H,
    Py_ssize_t W, Py_ssize_t C, Py_ssize_t OH, Py_ssize_t OW)
{
    le4nn_v8i missed = {0};
    for (Py_ssize_t oh = 0; oh < OH; ++oh) {
        float *x0 = dx + (2 * oh) * W * C, *x1 = x0 + W * C;
        for (Py_ssize_t ow = 0; ow < OW; ++ow) {
            const le4nn_cells_2x2 cell = le4nn_window_2x2(W, oh, ow);
            for (Py_ssize_t cb = 0; cb < C; cb += 8) {
                const Py_ssize_t c = cb + 8 <= C ? cb : C - 8;
                const le4nn_v8i g = (le4nn_v8i)le4nn_load8(d + (oh * OW + ow) * C + c);
                const le4nn_v8i k = le4nn_load8i(a + (oh * OW + ow) * C + c);
                const le4nn_v8i m00 = k == cell.i00, m01 = k == cell.i01, m10 = k == cell.i10;
                const le4nn_v8i m11 = k == cell.i11;
                const Py_ssize_t q0 = (2 * ow) * C + c, q1 = q0 + C;
                le4nn_store8(x0 + q0, (le4nn_v8f)(g & m00));
                le4nn_store8(x0 + q1, (le4nn_v8f)(g & m01));
                le4nn_store8(x1 + q0, (le4nn_v8f)(g & m10));
                le4nn_store8(x1 + q1, (le4nn_v8f)(g & m11));
                missed |= ~(m00 | m01 | m10 | m11);
            }
        }
        memset(x0 + 2 * OW * C, 0, sizeof(float) * (size_t)((W - 2 * OW) * C));
        memset(x1 + 2 * OW * C, 0, sizeof(float) * (size_t)((W - 2 * OW) * C));
    }
    memset(dx + 2 * OH * W * C, 0, sizeof(float) * (size_t)((H - 2 * OH) * W * C));
    int any = 0;
    for (int q = 0; q < 8; ++q) any |= missed[q];
    return any != 0;
}

/* One image, windows that tile the input (kh × kw at stride (kh, kw), no padding): every
   element of dx is written once, the gradient where it won, else 0.  Returns nonzero when some
   index was not found in its window (then the image must be redone by the scatter-add). */
static LE4NN_V3_CLONES int le4nn_maxpool_backward_tiled_f(
    const float *restrict d, const int *restrict a, float *restrict dx, Py_ssize_t H,
    Py_ssize_t W, Py_ssize_t C, int kh, int kw, Py_ssize_t OH, Py_ssize_t OW)
{
    Py_ssize_t found = 0;
    for (Py_ssize_t oh = 0; oh < OH; ++oh) {
        for (int i = 0; i < kh; ++i) {
            const Py_ssize_t h = oh * kh + i;
            for (Py_ssize_t ow = 0; ow < OW; ++ow) {
                const float *dp = d + (oh * OW + ow) * C;
                const int *ap = a + (oh * OW + ow) * C;
                for (int j = 0; j < kw; ++j) {
                    const Py_ssize_t w = ow * kw + j;
                    const int p = (int)(h * W + w);
                    float *xr = dx + (h * W + w) * C;
                    int hits = 0;
                    for (Py_ssize_t c = 0; c < C; ++c) {
                        float g = dp[c];
                        int m = ap[c] == p;
                        xr[c] = m ? g : 0.0f;
                        hits += m;
                    }
                    found += hits;
                }
            }
            memset(dx + (h * W + OW * kw) * C, 0, sizeof(float) * (size_t)((W - OW * kw) * C));
        }
    }
    memset(dx + OH * kh * W * C, 0, sizeof(float) * (size_t)((H - OH * kh) * W * C));
    return found != OH * OW * C;
}

#endif /* LE4NN_NHWC_POOL_H */
