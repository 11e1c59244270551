/* le4nn_nhwc_conv.h: the direct NHWC convolution in float32 for nhwc_conv.pyx (handout eq. 59-62
   computed without the column matrix): y = [relu](conv(x, k) + b) row by row, and the filter and
   bias gradients (eq. 61-62) with the ReLU's backward fused in, vectorized over the filters and
   compiled for x86-64-v3 (FMA) and the baseline.  Included by nhwc_conv.pyx (after Python.h). */
#ifndef LE4NN_NHWC_CONV_H
#define LE4NN_NHWC_CONV_H

#include <string.h>
#include "le4nn_clones.h"
#include "le4nn_vec8.h"

/* ---- direct convolution, float32 ----------------------------------------------------------
   The image is first copied into a zero-padded scratch image xp (Hp, Wp, C), so the window
   loops need no bounds checks.  Filters are done in blocks of 32 and 8 whose accumulators are
   fixed-size arrays GCC keeps in vector registers; a last partial block runs scalar. */

static void le4nn_pad_image_f(const float *x, float *xp, Py_ssize_t H, Py_ssize_t W,
                              Py_ssize_t C, int pt, int pl, Py_ssize_t Hp, Py_ssize_t Wp)
{
    memset(xp, 0, sizeof(float) * (size_t)(Hp * Wp * C));
    for (Py_ssize_t h = 0; h < H; ++h) {
        Py_ssize_t hp = h + pt;
        if (hp < 0 || hp >= Hp) continue;
        Py_ssize_t w0 = 0, w1 = W;
        if (pl < 0) w0 = -pl;
        if (w1 + pl > Wp) w1 = Wp - pl;
        if (w1 > w0) memcpy(xp + (hp * Wp + w0 + pl) * C, x + (h * W + w0) * C,
                            sizeof(float) * (size_t)((w1 - w0) * C));
    }
}


/* NP output pixels (sw·C apart in the padded image), filters f0 .. f0 + 8·NV - 1: NP·NV
   independent accumulator vectors, enough to hide the FMA latency. */
#define LE4NN_CONV_PIXELS(NV, NP)                                                                \
static inline __attribute__((always_inline)) void le4nn_conv_px##NV##x##NP##_f(                  \
    const float *restrict xw, const float *restrict k, const float *restrict bias,              \
    float *restrict yo, Py_ssize_t Wp, Py_ssize_t C, Py_ssize_t F, int kh, int kw, int sw,      \
    int relu)                                                                                   \
{                                                                                               \
    le4nn_v8f acc[NP][NV];                                                                      \
    const le4nn_v8f z = {0};                                                                    \
    for (int q = 0; q < NV; ++q) {                                                              \
        le4nn_v8f b0 = bias ? le4nn_load8(bias + 8 * q) : z;                                    \
        for (int p = 0; p < NP; ++p) acc[p][q] = b0;                                            \
    }                                                                                           \
    const Py_ssize_t run = (Py_ssize_t)kw * C, step = (Py_ssize_t)sw * C;                       \
    for (int i = 0; i < kh; ++i) {                                                              \
        const float *xr = xw + i * Wp * C;                                                      \
        const float *kr = k + i * run * F;                                                      \
        for (Py_ssize_t t = 0; t < run; ++t) {                                                  \
            float v[NP];                                                                        \
            for (int p = 0; p < NP; ++p) v[p] = xr[p * step + t];                               \
            for (int q = 0; q < NV; ++q) {                                                      \
                const le4nn_v8f kv = le4nn_load8(kr + t * F + 8 * q);                           \
                for (int p = 0; p < NP; ++p) acc[p][q] += v[p] * kv;                            \
            }                                                                                   \
        }                                                                                       \
    }                                                                                           \
    for (int p = 0; p < NP; ++p)                                                                \
        for (int q = 0; q < NV; ++q)                                                            \
            le4nn_store8(yo + p * F + 8 * q, relu ? le4nn_relu8(acc[p][q]) : acc[p][q]);        \
}
LE4NN_CONV_PIXELS(4, 2)
LE4NN_CONV_PIXELS(4, 1)
LE4NN_CONV_PIXELS(1, 4)
LE4NN_CONV_PIXELS(1, 1)

/* Output row oh of one (padded) image: y (OW, F). */
static LE4NN_V3_CLONES void le4nn_conv_row_f(
    const float *restrict xp, const float *restrict k, const float *restrict bias, float *restrict y,
    Py_ssize_t Wp, Py_ssize_t C, Py_ssize_t F, int kh, int kw, int sh, int sw, Py_ssize_t oh,
    Py_ssize_t OW, int relu)
{
    const float *xrow = xp + (oh * sh) * Wp * C;
    const Py_ssize_t step = (Py_ssize_t)sw * C;
    Py_ssize_t f0 = 0;
    for (; f0 + 32 <= F; f0 += 32) {
        const float *b = bias ? bias + f0 : NULL;
        Py_ssize_t ow = 0;
        for (; ow + 2 <= OW; ow += 2)
            le4nn_conv_px4x2_f(xrow + ow * step, k + f0, b, y + ow * F + f0, Wp, C, F, kh, kw, sw, relu);
        for (; ow < OW; ++ow)
            le4nn_conv_px4x1_f(xrow + ow * step, k + f0, b, y + ow * F + f0, Wp, C, F, kh, kw, sw, relu);
    }
    /* Blocks of 8; a ragged end (F % 8) is one more block overlapping the previous one: its
       lanes compute the same values again, bit for bit, and store them again. */
    for (Py_ssize_t fb = f0; F >= 8 && fb < F; fb += 8) {
        const Py_ssize_t fs = fb + 8 <= F ? fb : F - 8;
        const float *b = bias ? bias + fs : NULL;
        Py_ssize_t ow = 0;
        for (; ow + 4 <= OW; ow += 4)
            le4nn_conv_px1x4_f(xrow + ow * step, k + fs, b, y + ow * F + fs, Wp, C, F, kh, kw, sw, relu);
        for (; ow < OW; ++ow)
            le4nn_conv_px1x1_f(xrow + ow * step, k + fs, b, y + ow * F + fs, Wp, C, F, kh, kw, sw, relu);
        f0 = F;
    }
    for (; f0 < F; ++f0) {
        for (Py_ssize_t ow = 0; ow < OW; ++ow) {
            const float *xw = xrow + ow * step;
            float acc = bias ? bias[f0] : 0.0f;
            for (int i = 0; i < kh; ++i)
                for (Py_ssize_t t = 0; t < kw * C; ++t)
                    acc += xw[i * Wp * C + t] * k[((Py_ssize_t)i * kw * C + t) * F + f0];
            y[ow * F + f0] = (relu && acc <= 0.0f) ? 0.0f : acc;
        }
    }
}

/* NT taps of the filter gradient for one block of 8 filters: gw[tap] = Σ_pixels x[pixel + tap] · g,
   with g the block's (masked) output gradients G (OH·OW, 8).  Pixels in pairs, so that 2·NT
   independent accumulators hide the FMA latency.  off[k]: the taps' offsets in the padded
   image relative to a window's corner. */
#define LE4NN_WGRAD_TAPS(NT)                                                                     \
static inline __attribute__((always_inline)) void le4nn_wgrad_taps##NT##_f(                      \
    const float *restrict G, const float *restrict xp, const Py_ssize_t *off,                   \
    float *restrict gw, Py_ssize_t F, Py_ssize_t Wp, Py_ssize_t C, int sh, int sw,              \
    Py_ssize_t OH, Py_ssize_t OW)                                                               \
{                                                                                               \
    le4nn_v8f a0[NT], a1[NT];                                                                   \
    const le4nn_v8f z = {0};                                                                    \
    for (int k = 0; k < NT; ++k) { a0[k] = z; a1[k] = z; }                                      \
    const Py_ssize_t step = (Py_ssize_t)sw * C;                                                 \
    for (Py_ssize_t oh = 0; oh < OH; ++oh) {                                                    \
        const float *xrow = xp + (oh * sh) * Wp * C;                                            \
        const float *Gr = G + oh * OW * 8;                                                      \
        Py_ssize_t ow = 0;                                                                      \
        for (; ow + 2 <= OW; ow += 2) {                                                         \
            const le4nn_v8f g0 = le4nn_load8(Gr + ow * 8), g1 = le4nn_load8(Gr + ow * 8 + 8);   \
            const float *x0 = xrow + ow * step, *x1 = x0 + step;                                \
            for (int k = 0; k < NT; ++k) { a0[k] += x0[off[k]] * g0; a1[k] += x1[off[k]] * g1; } \
        }                                                                                       \
        if (ow < OW) {                                                                          \
            const le4nn_v8f g0 = le4nn_load8(Gr + ow * 8);                                      \
            const float *x0 = xrow + ow * step;                                                 \
            for (int k = 0; k < NT; ++k) a0[k] += x0[off[k]] * g0;                              \
        }                                                                                       \
    }                                                                                           \
    for (int k = 0; k < NT; ++k) le4nn_store8(gw + k * F, a0[k] + a1[k]);                       \
}
LE4NN_WGRAD_TAPS(4)
LE4NN_WGRAD_TAPS(1)

/* Filter and bias gradient of one (padded) image, overwritten: gw (kh, kw, C, F), gb (F).
   g = dout (masked where y <= 0 if y); gb = Σ g; gw[i, j, c] = Σ x[pixel + (i, j), c] · g.
   G: scratch for one block of 8 filters' g over the image (OH·OW·8 floats). */
static LE4NN_V3_CLONES void le4nn_conv_wgrad_f(
    const float *restrict xp, const float *restrict dout, const float *restrict y,
    float *restrict gw, float *restrict gb, float *restrict G, Py_ssize_t Wp, Py_ssize_t C,
    Py_ssize_t F, int kh, int kw, int sh, int sw, Py_ssize_t OH, Py_ssize_t OW)
{
    const Py_ssize_t taps = (Py_ssize_t)kh * kw * C, run = (Py_ssize_t)kw * C, L = OH * OW;
    const le4nn_v8f zero = {0};
    Py_ssize_t f0 = 0;
    /* Blocks of 8 filters; a ragged end is one more block overlapping the previous one (its
       lanes recompute the same sums, bit for bit). */
    for (Py_ssize_t fb = 0; F >= 8 && fb < F; fb += 8) {
        f0 = fb + 8 <= F ? fb : F - 8;
        le4nn_v8f b0 = zero, b1 = zero;
        Py_ssize_t p = 0;
        for (; p < L; ++p) {
            le4nn_v8f g = le4nn_load8(dout + p * F + f0);
            if (y) g = (le4nn_v8f)((le4nn_v8i)g & ~(le4nn_load8(y + p * F + f0) <= zero));
            le4nn_store8(G + p * 8, g);
            if (p & 1) b1 += g; else b0 += g;
        }
        le4nn_store8(gb + f0, b0 + b1);
        Py_ssize_t tau = 0;
        for (; tau + 4 <= taps; tau += 4) {
            Py_ssize_t off[4];
            for (int k = 0; k < 4; ++k)
                off[k] = ((tau + k) / run) * Wp * C + (tau + k) % run;
            le4nn_wgrad_taps4_f(G, xp, off, gw + tau * F + f0, F, Wp, C, sh, sw, OH, OW);
        }
        for (; tau < taps; ++tau) {
            Py_ssize_t off[1] = {(tau / run) * Wp * C + tau % run};
            le4nn_wgrad_taps1_f(G, xp, off, gw + tau * F + f0, F, Wp, C, sh, sw, OH, OW);
        }
    }
    if (F >= 8) f0 = F;
    for (; f0 < F; ++f0) {
        float bacc = 0.0f;
        for (Py_ssize_t tau = 0; tau < taps; ++tau) gw[tau * F + f0] = 0.0f;
        for (Py_ssize_t oh = 0; oh < OH; ++oh) {
            for (Py_ssize_t ow = 0; ow < OW; ++ow) {
                const Py_ssize_t p = (oh * OW + ow) * F + f0;
                float g = dout[p];
                if (y && y[p] <= 0.0f) g = 0.0f;
                bacc += g;
                const float *xw = xp + ((oh * sh) * Wp + ow * sw) * C;
                for (int i = 0; i < kh; ++i)
                    for (Py_ssize_t t = 0; t < run; ++t)
                        gw[(i * run + t) * F + f0] += xw[i * Wp * C + t] * g;
            }
        }
        gb[f0] = bacc;
    }
}

#endif /* LE4NN_NHWC_CONV_H */
