/* le4nn_nhwc_im2col.h: col2im for NHWC batches in float32 for nhwc_im2col.pyx (the adjoint of
   handout eq. 59's im2col: each input row gathers its window contributions in the reference's
   order).  Compiled for x86-64-v3 and the baseline.  Included after Python.h (Py_ssize_t). */
#ifndef LE4NN_NHWC_IM2COL_H
#define LE4NN_NHWC_IM2COL_H

#include "le4nn_clones.h"

/* ---- col2im, float32 ----------------------------------------------------------------------- */

/* Input row h of one image (xr: W·C) as the sum of its window contributions (cb: the image's
   rows of the column matrix), window offsets (i, j) in row-major order, as the reference. */
static LE4NN_V3_CLONES void le4nn_col2im_row_f(
    const float *restrict cb, float *restrict xr, Py_ssize_t W, Py_ssize_t C, int kh, int kw,
    int sh, int sw, int pt, int pl, Py_ssize_t h, Py_ssize_t OH, Py_ssize_t OW)
{
    const Py_ssize_t K = (Py_ssize_t)kh * kw * C;
    memset(xr, 0, sizeof(float) * (size_t)(W * C));
    for (int i = 0; i < kh; ++i) {
        Py_ssize_t t = h + pt - i;
        if (t < 0 || t % sh != 0) continue;
        Py_ssize_t oh = t / sh;
        if (oh >= OH) continue;
        for (int j = 0; j < kw; ++j) {
            for (Py_ssize_t ow = 0; ow < OW; ++ow) {
                Py_ssize_t w = ow * sw - pl + j;
                if (w < 0 || w >= W) continue;
                const float *src = cb + (oh * OW + ow) * K + (Py_ssize_t)(i * kw + j) * C;
                float *dst = xr + w * C;
                for (Py_ssize_t c = 0; c < C; ++c) dst[c] += src[c];
            }
        }
    }
}

#endif /* LE4NN_NHWC_IM2COL_H */
