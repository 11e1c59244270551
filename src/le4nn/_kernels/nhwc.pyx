# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Channels-last (NHWC) window kernels: im2col/col2im, max pooling, and a direct convolution.

Semantics are those of the ``*_nhwc`` functions and ``conv2d_nhwc_*`` of :mod:`le4nn.ops.reference`;
the wrappers in :mod:`le4nn.ops.native` validate every argument.  Keras's layout (B, H, W, C) keeps
the C channels of a pixel contiguous, so every inner loop here runs over channels (or filters): a
unit-stride loop that GCC vectorizes.

Work split: the forward kernels give each thread whole output rows (b, oh) and the backward kernels
whole input rows (b, h) or whole images, statically; no output element is written by two threads.
Reductions (the filter gradient) are summed per image in a fixed order and then over the images in
order, so every result is bitwise the same for any thread count.  Arrays too small to pay for an
OpenMP team run on the calling thread.

- im2col_nhwc: one row of the column matrix per output pixel; for each window row i the kw·C
  inputs are one contiguous run of the input row, copied at once (zeros for padding).
- col2im_nhwc: each input row (b, h) gathers its contributions, window offsets (i, j) in row-major
  order as the reference, so the sums are bitwise the reference's.
- max pooling: the running max/argmax of a window is kept in the output row (in L1), updated with
  branch-free selects over the channels; the rule of pooling.pyx (first maximum, first NaN wins,
  padding never wins).  Backward, for windows that tile the input (2×2 stride 2 and the like),
  writes every element of dx exactly once (the gradient or 0), and checks that each index was
  found in its window; otherwise (overlapping windows, or an argmax from another geometry) the
  image is redone by a scatter-add in float64, rounded once, as the reference's ``np.bincount``.
- the direct convolution (forward with bias and optional ReLU, and the filter gradient with the
  ReLU's backward fused in) is written in C below, vectorized over the K filters, and compiled
  twice (x86-64-v3 with FMA, and the baseline) with the loader choosing by CPU.  It avoids the
  column matrix, which pays off when C·kh·kw is small (a first layer on gray images: C = 1).
"""

from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.string cimport memcpy, memset

import numpy as np

cdef extern from *:
    """
    #include <string.h>
    #if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && defined(__x86_64__) && defined(__linux__)
    /* Compiled twice, for x86-64-v3 (AVX2, FMA) and the baseline; the loader picks by CPU. */
    #define LE4NN_V3_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
    #else
    #define LE4NN_V3_CLONES
    #endif

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
    static inline __attribute__((always_inline)) le4nn_v8f le4nn_sel8f(le4nn_v8i m, le4nn_v8f a, le4nn_v8f b)
    { return (le4nn_v8f)(((le4nn_v8i)a & m) | ((le4nn_v8i)b & ~m)); }
    static inline __attribute__((always_inline)) le4nn_v8i le4nn_load8i(const int *p)
    { le4nn_v8i v; memcpy(&v, p, sizeof v); return v; }
    static inline __attribute__((always_inline)) void le4nn_store8i(int *p, le4nn_v8i v)
    { memcpy(p, &v, sizeof v); }

    static LE4NN_V3_CLONES void le4nn_maxpool_row_2x2_f(
        const float *restrict xb, float *restrict o, int *restrict a, Py_ssize_t W, Py_ssize_t C,
        Py_ssize_t oh, Py_ssize_t OW)
    {
        const float *r0 = xb + (2 * oh) * W * C, *r1 = r0 + W * C;
        for (Py_ssize_t ow = 0; ow < OW; ++ow) {
            const int p00 = (int)((2 * oh) * W + 2 * ow);
            const le4nn_v8i i00 = {p00, p00, p00, p00, p00, p00, p00, p00};
            const le4nn_v8i i01 = i00 + 1, i10 = i00 + (int)W, i11 = i10 + 1;
            for (Py_ssize_t cb = 0; cb < C; cb += 8) {
                const Py_ssize_t c = cb + 8 <= C ? cb : C - 8;
                const Py_ssize_t q0 = (2 * ow) * C + c, q1 = q0 + C;
                le4nn_v8f best = le4nn_load8(r0 + q0), v;
                le4nn_v8i idx = i00, m;
                v = le4nn_load8(r0 + q1); m = ~(v <= best) & (best == best);
                best = le4nn_sel8f(m, v, best); idx = (i01 & m) | (idx & ~m);
                v = le4nn_load8(r1 + q0); m = ~(v <= best) & (best == best);
                best = le4nn_sel8f(m, v, best); idx = (i10 & m) | (idx & ~m);
                v = le4nn_load8(r1 + q1); m = ~(v <= best) & (best == best);
                best = le4nn_sel8f(m, v, best); idx = (i11 & m) | (idx & ~m);
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
                const int p00 = (int)((2 * oh) * W + 2 * ow);
                const le4nn_v8i i00 = {p00, p00, p00, p00, p00, p00, p00, p00};
                const le4nn_v8i i01 = i00 + 1, i10 = i00 + (int)W, i11 = i10 + 1;
                for (Py_ssize_t cb = 0; cb < C; cb += 8) {
                    const Py_ssize_t c = cb + 8 <= C ? cb : C - 8;
                    const le4nn_v8i g = (le4nn_v8i)le4nn_load8(d + (oh * OW + ow) * C + c);
                    const le4nn_v8i k = le4nn_load8i(a + (oh * OW + ow) * C + c);
                    const le4nn_v8i m00 = k == i00, m01 = k == i01, m10 = k == i10, m11 = k == i11;
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
    """
    void le4nn_pad_image_f(const float* x, float* xp, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C,
                           int pt, int pl, Py_ssize_t Hp, Py_ssize_t Wp) noexcept nogil
    void le4nn_conv_row_f(const float* xp, const float* k, const float* bias, float* y, Py_ssize_t Wp,
                          Py_ssize_t C, Py_ssize_t F, int kh, int kw, int sh, int sw, Py_ssize_t oh,
                          Py_ssize_t OW, int relu) noexcept nogil
    void le4nn_conv_wgrad_f(const float* xp, const float* dout, const float* y, float* gw, float* gb,
                            float* G, Py_ssize_t Wp, Py_ssize_t C, Py_ssize_t F, int kh, int kw, int sh,
                            int sw, Py_ssize_t OH, Py_ssize_t OW) noexcept nogil
    void le4nn_maxpool_row_f(const float* xb, float* o, int* a, Py_ssize_t H, Py_ssize_t W,
                             Py_ssize_t C, int kh, int kw, int sh, int sw, int pt, int pl,
                             Py_ssize_t oh, Py_ssize_t OW) noexcept nogil
    void le4nn_maxpool_row_2x2_f(const float* xb, float* o, int* a, Py_ssize_t W, Py_ssize_t C,
                                 Py_ssize_t oh, Py_ssize_t OW) noexcept nogil
    int le4nn_maxpool_backward_2x2_f(const float* d, const int* a, float* dx, Py_ssize_t H, Py_ssize_t W,
                                     Py_ssize_t C, Py_ssize_t OH, Py_ssize_t OW) noexcept nogil
    int le4nn_maxpool_backward_tiled_f(const float* d, const int* a, float* dx, Py_ssize_t H,
                                       Py_ssize_t W, Py_ssize_t C, int kh, int kw, Py_ssize_t OH,
                                       Py_ssize_t OW) noexcept nogil
    void le4nn_col2im_row_f(const float* cb, float* xr, Py_ssize_t W, Py_ssize_t C, int kh, int kw,
                            int sh, int sw, int pt, int pl, Py_ssize_t h, Py_ssize_t OH,
                            Py_ssize_t OW) noexcept nogil


cdef enum:
    # Below this many elements moved, a kernel runs on the calling thread (no OpenMP team).
    SERIAL_LIMIT = 32768


cdef inline int _team(Py_ssize_t work, int num_threads) noexcept nogil:
    if num_threads < 1 or work < SERIAL_LIMIT:
        return 1
    return num_threads


cdef inline void _copy(floating* dst, const floating* src, Py_ssize_t n) noexcept nogil:
    """Short copies as a loop (memcpy's call costs more than a few elements)."""
    cdef Py_ssize_t t
    if n >= 32:
        memcpy(dst, src, n * sizeof(floating))
    else:
        for t in range(n):
            dst[t] = src[t]


cdef inline void _zero(floating* dst, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t t
    for t in range(n):
        dst[t] = 0


# --- im2col / col2im ---------------------------------------------------------------------------------

cdef void _im2col_row(const floating* xb, floating* dst, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C,
                      int kh, int kw, int sh, int sw, int pt, int pl, Py_ssize_t oh,
                      Py_ssize_t OW) noexcept nogil:
    """The OW rows of the column matrix for output row oh of one image (xb: its H·W·C inputs)."""
    cdef Py_ssize_t ow, h, w0, w, K = kh * kw * C, run = kw * C
    cdef int i, j
    cdef floating* d
    for ow in range(OW):
        w0 = ow * sw - pl
        for i in range(kh):
            d = dst + ow * K + i * run
            h = oh * sh - pt + i
            if h < 0 or h >= H:
                _zero(d, run)
            elif w0 >= 0 and w0 + kw <= W:
                _copy(d, xb + (h * W + w0) * C, run)  # the window row is one contiguous run
            else:
                for j in range(kw):
                    w = w0 + j
                    if w < 0 or w >= W:
                        _zero(d + j * C, C)
                    else:
                        _copy(d + j * C, xb + (h * W + w) * C, C)


def im2col_nhwc(const floating[:, :, :, ::1] x, floating[:, ::1] cols, int kh, int kw, int sh, int sw,
                int pt, int pl, int OH, int OW, int num_threads):
    """Fill ``cols`` (B·OH·OW, kh·kw·C) with the windows of ``x`` (B, H, W, C); padding reads 0."""
    cdef Py_ssize_t B = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef Py_ssize_t K = <Py_ssize_t>kh * kw * C, r, b, oh
    cdef int team = _team(cols.shape[0] * K, num_threads)
    if cols.shape[0] != B * OH * OW or cols.shape[1] != K:
        raise ValueError("im2col_nhwc: cols has the wrong shape")
    if cols.shape[0] == 0 or K == 0:
        return
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef floating* cp = &cols[0, 0]
    with nogil:
        for r in prange(B * OH, schedule="static", num_threads=team):
            b = r // OH
            oh = r - b * OH
            _im2col_row(xp + b * H * W * C, cp + r * OW * K, H, W, C, kh, kw, sh, sw, pt, pl, oh, OW)


cdef void _col2im_row(const floating* cb, floating* xr, Py_ssize_t W, Py_ssize_t C, int kh, int kw,
                      int sh, int sw, int pt, int pl, Py_ssize_t h, Py_ssize_t OH,
                      Py_ssize_t OW) noexcept nogil:
    """Input row h of one image (xr: W·C) as the sum of its window contributions (cb: the image's
    rows of the column matrix), offsets (i, j) in row-major order as the reference."""
    cdef Py_ssize_t K = kh * kw * C, t, oh, ow, w, c
    cdef int i, j
    cdef const floating* src
    cdef floating* dst
    if floating is float:
        le4nn_col2im_row_f(cb, xr, W, C, kh, kw, sh, sw, pt, pl, h, OH, OW)
    else:
        _zero(xr, W * C)
        for i in range(kh):
            t = h + pt - i
            if t < 0 or t % sh != 0:
                continue
            oh = t // sh
            if oh >= OH:
                continue
            for j in range(kw):
                for ow in range(OW):
                    w = ow * sw - pl + j
                    if w < 0 or w >= W:
                        continue
                    src = cb + (oh * OW + ow) * K + (i * kw + j) * C
                    dst = xr + w * C
                    for c in range(C):
                        dst[c] += src[c]


def col2im_nhwc(const floating[:, ::1] cols, floating[:, :, :, ::1] x, int kh, int kw, int sh, int sw,
                int pt, int pl, int OH, int OW, int num_threads):
    """Overwrite ``x`` (B, H, W, C) with the scatter-add of ``cols`` (B·OH·OW, kh·kw·C)."""
    cdef Py_ssize_t B = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef Py_ssize_t K = <Py_ssize_t>kh * kw * C, r, b, h
    cdef int team = _team(cols.shape[0] * K, num_threads)
    if cols.shape[0] != B * OH * OW or cols.shape[1] != K:
        raise ValueError("col2im_nhwc: cols has the wrong shape")
    if B * H * W * C == 0:
        return
    cdef const floating* cp = &cols[0, 0] if cols.shape[0] * K else NULL
    cdef floating* xp = &x[0, 0, 0, 0]
    with nogil:
        for r in prange(B * H, schedule="static", num_threads=team):
            b = r // H
            h = r - b * H
            _col2im_row(cp + b * OH * OW * K, xp + r * W * C, W, C, kh, kw, sh, sw, pt, pl, h, OH, OW)


# --- max pooling -------------------------------------------------------------------------------------

cdef void _maxpool_row(const floating* xb, floating* o, int* a, Py_ssize_t H, Py_ssize_t W,
                       Py_ssize_t C, int kh, int kw, int sh, int sw, int pt, int pl, Py_ssize_t oh,
                       Py_ssize_t OW) noexcept nogil:
    """Output row oh of one image: o, a (OW, C).  The first real element of a window starts the
    running max; each later one replaces it where v > best or v is the first NaN."""
    cdef Py_ssize_t ow, h, w, c
    cdef int i, j, pos
    cdef bint first
    cdef const floating* xp
    cdef floating* ob
    cdef int* ab
    cdef floating v, best
    cdef int k
    cdef bint u
    if floating is float:
        if (kh == 2 and kw == 2 and sh == 2 and sw == 2 and pt == 0 and pl == 0 and C >= 8
                and 2 * oh + 1 < H and 2 * OW <= W):
            le4nn_maxpool_row_2x2_f(xb, o, a, W, C, oh, OW)
        else:
            le4nn_maxpool_row_f(xb, o, a, H, W, C, kh, kw, sh, sw, pt, pl, oh, OW)
    else:
        for ow in range(OW):
            ob = o + ow * C
            ab = a + ow * C
            first = True
            for i in range(kh):
                h = oh * sh - pt + i
                if h < 0 or h >= H:
                    continue
                for j in range(kw):
                    w = ow * sw - pl + j
                    if w < 0 or w >= W:
                        continue
                    xp = xb + (h * W + w) * C
                    pos = <int>(h * W + w)
                    if first:
                        for c in range(C):
                            ob[c] = xp[c]
                            ab[c] = pos
                        first = False
                    else:
                        for c in range(C):
                            v = xp[c]  # every load unconditional, so that the selects vectorize
                            best = ob[c]
                            k = ab[c]
                            u = (not (v <= best)) & (best == best)
                            ob[c] = v if u else best
                            ab[c] = pos if u else k


def maxpool2d_nhwc_forward(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] out,
                           int[:, :, :, ::1] argmax, int kh, int kw, int sh, int sw, int pt, int pl,
                           int num_threads):
    """Max pooling of ``x`` (B, H, W, C) into ``out`` and ``argmax`` (B, OH, OW, C)."""
    cdef Py_ssize_t B = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef Py_ssize_t OH = out.shape[1], OW = out.shape[2], r, b, oh
    cdef int team = _team(B * H * W * C, num_threads)
    if (out.shape[0] != B or out.shape[3] != C or argmax.shape[0] != B or argmax.shape[1] != OH
            or argmax.shape[2] != OW or argmax.shape[3] != C):
        raise ValueError("maxpool2d_nhwc_forward: out/argmax have the wrong shape")
    if B * OH * OW * C == 0:
        return
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef floating* op = &out[0, 0, 0, 0]
    cdef int* ap = &argmax[0, 0, 0, 0]
    with nogil:
        for r in prange(B * OH, schedule="static", num_threads=team):
            b = r // OH
            oh = r - b * OH
            _maxpool_row(xp + b * H * W * C, op + r * OW * C, ap + r * OW * C, H, W, C,
                         kh, kw, sh, sw, pt, pl, oh, OW)


cdef bint _outside(const int* ap, Py_ssize_t n, Py_ssize_t HW) noexcept nogil:
    """Whether some of the n indices lies outside [0, HW) (one flat, vectorized pass)."""
    cdef Py_ssize_t k
    cdef unsigned int hw = <unsigned int>HW
    cdef bint bad = False
    for k in range(n):
        bad |= <unsigned int>ap[k] >= hw
    return bad


cdef bint _maxpool_backward_tiled(const floating* d, const int* a, floating* dx, Py_ssize_t H,
                                  Py_ssize_t W, Py_ssize_t C, int kh, int kw, Py_ssize_t OH,
                                  Py_ssize_t OW) noexcept nogil:
    """One image, windows that tile the input (stride = pool size, no padding): every element of
    dx is written once, the gradient where it won, else 0.  Returns True when some index was not
    found in its window (then the image must be redone by the scatter-add)."""
    cdef Py_ssize_t oh, ow, h, w, c, found = 0
    cdef int i, j, p, m, hits
    cdef const floating* dp
    cdef const int* ap
    cdef floating* xr
    cdef floating g
    if floating is float:
        if kh == 2 and kw == 2 and C >= 8:
            return le4nn_maxpool_backward_2x2_f(d, a, dx, H, W, C, OH, OW) != 0
        return le4nn_maxpool_backward_tiled_f(d, a, dx, H, W, C, kh, kw, OH, OW) != 0
    else:
        for oh in range(OH):
            for i in range(kh):
                h = oh * kh + i
                for ow in range(OW):
                    dp = d + (oh * OW + ow) * C
                    ap = a + (oh * OW + ow) * C
                    for j in range(kw):
                        w = ow * kw + j
                        p = <int>(h * W + w)
                        xr = dx + (h * W + w) * C
                        hits = 0
                        for c in range(C):
                            g = dp[c]  # unconditional load: the select vectorizes
                            m = ap[c] == p
                            xr[c] = g if m else 0
                            hits += m
                        found += hits
                _zero(dx + (h * W + OW * kw) * C, (W - OW * kw) * C)  # columns no window covers
        _zero(dx + OH * kh * W * C, (H - OH * kh) * W * C)  # rows no window covers
        return found != OH * OW * C


cdef void _maxpool_backward_scatter(const floating* d, const int* a, floating* dx, double* acc,
                                    Py_ssize_t HWC, Py_ssize_t C, Py_ssize_t L) noexcept nogil:
    """One image, any geometry: zero, then dx[argmax, c] += dout in output order; float32 sums in
    a float64 scratch image ``acc`` and rounded once, as the reference's ``np.bincount``."""
    cdef Py_ssize_t k, c
    cdef const floating* dp
    cdef const int* ap
    if floating is double:
        memset(dx, 0, HWC * sizeof(double))
        for k in range(L):
            dp = d + k * C
            ap = a + k * C
            for c in range(C):
                dx[ap[c] * C + c] += dp[c]
    else:
        memset(acc, 0, HWC * sizeof(double))
        for k in range(L):
            dp = d + k * C
            ap = a + k * C
            for c in range(C):
                acc[ap[c] * C + c] += dp[c]
        for k in range(HWC):
            dx[k] = <floating>acc[k]


def maxpool2d_nhwc_backward(const floating[:, :, :, ::1] dout, const int[:, :, :, ::1] argmax,
                            floating[:, :, :, ::1] dx, int kh, int kw, int sh, int sw, int pt, int pl,
                            int num_threads):
    """Overwrite ``dx`` (B, H, W, C) with the gradient of max pooling: dx[b, argmax, c] += dout.

    The pooling geometry (kh, kw, sh, sw, pt, pl) only chooses the path: windows that tile the
    input are written directly; any other geometry, or an index outside its window, takes the
    scatter-add.  Raises ValueError before writing anything if an index lies outside the plane.
    """
    cdef Py_ssize_t B = dx.shape[0], H = dx.shape[1], W = dx.shape[2], C = dx.shape[3]
    cdef Py_ssize_t OH = dout.shape[1], OW = dout.shape[2], L = OH * OW, HWC = H * W * C, b
    cdef int team = _team(B * HWC, num_threads)
    cdef bint tiled = (kh > 0 and kw > 0 and kh == sh and kw == sw and pt == 0 and pl == 0
                       and OH * kh <= H and OW * kw <= W)
    cdef unsigned char[::1] flags
    cdef bint bad = False
    cdef double[:, ::1] scratch
    cdef double* acc = NULL
    if (dout.shape[0] != B or dout.shape[3] != C or argmax.shape[0] != B or argmax.shape[1] != OH
            or argmax.shape[2] != OW or argmax.shape[3] != C):
        raise ValueError("maxpool2d_nhwc_backward: dout/argmax/dx shapes do not match")
    if B * HWC == 0:
        return
    if L * C == 0:
        dx[...] = 0
        return
    cdef const floating* dp = &dout[0, 0, 0, 0]
    cdef const int* ap = &argmax[0, 0, 0, 0]
    cdef floating* xp = &dx[0, 0, 0, 0]
    flags = np.zeros(B, dtype=np.uint8)
    with nogil:
        for b in prange(B, schedule="static", num_threads=team):
            flags[b] = _outside(ap + b * L * C, L * C, H * W)
        for b in range(B):
            bad |= flags[b]
    if bad:
        raise ValueError(f"maxpool2d_nhwc_backward: argmax holds indices outside the {H}x{W} input plane")
    if floating is float:  # a float64 scratch image per thread for the scatter-add
        scratch = np.empty((max(team, 1), HWC), dtype=np.float64)
        acc = &scratch[0, 0]
    with nogil:
        for b in prange(B, schedule="static", num_threads=team):
            if not tiled or _maxpool_backward_tiled(dp + b * L * C, ap + b * L * C, xp + b * HWC,
                                                    H, W, C, kh, kw, OH, OW):
                _maxpool_backward_scatter(dp + b * L * C, ap + b * L * C, xp + b * HWC,
                                          acc + threadid() * HWC if acc != NULL else NULL, HWC, C, L)


# --- direct convolution ------------------------------------------------------------------------------

cdef inline Py_ssize_t _padded(Py_ssize_t n, int p, Py_ssize_t out, int s, int k) noexcept nogil:
    """Size of the zero-padded axis: the input after p leading zeros, long enough for every window."""
    cdef Py_ssize_t need = (out - 1) * s + k
    return need if need > n + p else n + p


cdef void _pad_image(const floating* x, floating* xp, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C,
                     int pt, int pl, Py_ssize_t Hp, Py_ssize_t Wp) noexcept nogil:
    cdef Py_ssize_t h
    if floating is float:
        le4nn_pad_image_f(x, xp, H, W, C, pt, pl, Hp, Wp)
    else:
        _zero(xp, Hp * Wp * C)
        for h in range(H):
            if h + pt < Hp:
                _copy(xp + ((h + pt) * Wp + pl) * C, x + h * W * C, min(W, Wp - pl) * C)


cdef void _conv_image(const floating* xp, const floating* k, const floating* bias, floating* y,
                      Py_ssize_t Wp, Py_ssize_t C, Py_ssize_t F, int kh, int kw, int sh, int sw,
                      Py_ssize_t OH, Py_ssize_t OW, bint relu) noexcept nogil:
    """y (OH, OW, F) of one zero-padded image xp (Hp, Wp, C)."""
    cdef Py_ssize_t oh, ow, f, t
    cdef int i
    cdef const floating* xw
    cdef floating* yo
    cdef floating acc
    for oh in range(OH):
        if floating is float:
            le4nn_conv_row_f(xp, k, bias, y + oh * OW * F, Wp, C, F, kh, kw, sh, sw, oh, OW, relu)
        else:
            for ow in range(OW):
                xw = xp + ((oh * sh) * Wp + ow * sw) * C
                yo = y + (oh * OW + ow) * F
                for f in range(F):
                    acc = bias[f] if bias != NULL else 0
                    for i in range(kh):
                        for t in range(kw * C):
                            acc = acc + xw[i * Wp * C + t] * k[(i * kw * C + t) * F + f]
                    yo[f] = 0 if (relu and acc <= 0) else acc


cdef void _conv_wgrad_image(const floating* xp, const floating* dout, const floating* y, floating* gw,
                            floating* gb, floating* G, Py_ssize_t Wp, Py_ssize_t C, Py_ssize_t F,
                            int kh, int kw, int sh, int sw, Py_ssize_t OH, Py_ssize_t OW) noexcept nogil:
    """gw (kh, kw, C, F) and gb (F) of one zero-padded image, overwritten (G: float32 scratch)."""
    cdef Py_ssize_t oh, ow, f, t, p
    cdef int i
    cdef const floating* xw
    cdef floating g
    if floating is float:
        le4nn_conv_wgrad_f(xp, dout, y, gw, gb, G, Wp, C, F, kh, kw, sh, sw, OH, OW)
    else:
        _zero(gw, kh * kw * C * F)
        _zero(gb, F)
        for oh in range(OH):
            for ow in range(OW):
                xw = xp + ((oh * sh) * Wp + ow * sw) * C
                for f in range(F):
                    p = (oh * OW + ow) * F + f
                    g = dout[p]
                    if y != NULL and y[p] <= 0:
                        g = 0
                    gb[f] += g
                    for i in range(kh):
                        for t in range(kw * C):
                            gw[(i * kw * C + t) * F + f] += xw[i * Wp * C + t] * g


def conv2d_nhwc_forward(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] kernel, bias,
                        floating[:, :, :, ::1] y, int sh, int sw, int pt, int pl, bint relu,
                        int num_threads):
    """y (B, OH, OW, F) = [relu](conv(x, kernel) + bias), computed directly (no column matrix):
    each image is copied into a zero-padded scratch image, then convolved row by row."""
    cdef Py_ssize_t B = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef int kh = kernel.shape[0], kw = kernel.shape[1]
    cdef Py_ssize_t F = kernel.shape[3], OH = y.shape[1], OW = y.shape[2], b
    cdef Py_ssize_t Hp = _padded(H, pt, OH, sh, kh), Wp = _padded(W, pl, OW, sw, kw)
    cdef const floating[::1] bias_view
    cdef const floating* bp = NULL
    cdef int team = _team(B * OH * OW * F * C * kh * kw // 4, num_threads)
    if kernel.shape[2] != C or y.shape[0] != B or y.shape[3] != F:
        raise ValueError("conv2d_nhwc_forward: shapes do not match")
    if bias is not None:
        bias_view = bias
        if bias_view.shape[0] != F:
            raise ValueError("conv2d_nhwc_forward: bias has the wrong size")
        if F:
            bp = &bias_view[0]
    if B * OH * OW * F == 0 or C == 0:  # (the wrappers' checks exclude C == 0)
        return
    team = min(team, B)
    cdef floating[:, ::1] scratch = np.empty((team, Hp * Wp * C), dtype=np.asarray(y).dtype)
    cdef floating* sp = &scratch[0, 0]
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef const floating* kp = &kernel[0, 0, 0, 0]
    cdef floating* yp = &y[0, 0, 0, 0]
    cdef floating* pad
    with nogil:
        for b in prange(B, schedule="static", num_threads=team):
            pad = sp + threadid() * Hp * Wp * C
            _pad_image(xp + b * H * W * C, pad, H, W, C, pt, pl, Hp, Wp)
            _conv_image(pad, kp, bp, yp + b * OH * OW * F, Wp, C, F, kh, kw, sh, sw, OH, OW, relu)


def conv2d_nhwc_filter_grad(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] dout, y,
                            floating[:, :, :, ::1] kernel_grad, floating[::1] bias_grad,
                            int sh, int sw, int pt, int pl, int num_threads):
    """kernel_grad (kh, kw, C, F) and bias_grad (F) of the direct convolution, with the ReLU's
    backward fused in when ``y`` (the forward output) is given.  Per-image sums, then the images
    added in order in float64: bitwise the same for any thread count."""
    cdef Py_ssize_t B = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef int kh = kernel_grad.shape[0], kw = kernel_grad.shape[1]
    cdef Py_ssize_t F = dout.shape[3], OH = dout.shape[1], OW = dout.shape[2], b, t
    cdef Py_ssize_t Hp = _padded(H, pt, OH, sh, kh), Wp = _padded(W, pl, OW, sw, kw)
    cdef Py_ssize_t KF = <Py_ssize_t>kh * kw * C * F, n = KF + F
    cdef const floating[:, :, :, ::1] y_view
    cdef const floating* yp = NULL
    cdef int team = _team(B * OH * OW * F * C * kh * kw // 4, num_threads)
    if (kernel_grad.shape[2] != C or kernel_grad.shape[3] != F or bias_grad.shape[0] != F
            or dout.shape[0] != B):
        raise ValueError("conv2d_nhwc_filter_grad: shapes do not match")
    if y is not None:
        y_view = y
        if (y_view.shape[0] != B or y_view.shape[1] != OH or y_view.shape[2] != OW
                or y_view.shape[3] != F):
            raise ValueError("conv2d_nhwc_filter_grad: y has the wrong shape")
    dtype = np.float32 if floating is float else np.float64
    if F == 0:
        return
    if B * OH * OW * C == 0:  # (the wrappers' checks exclude this)
        raise ValueError("conv2d_nhwc_filter_grad: empty input")
    if y is not None:
        yp = &y_view[0, 0, 0, 0]
    team = min(team, B)
    cdef floating[:, ::1] partial = np.empty((B, n), dtype=dtype)
    cdef Py_ssize_t per_thread = Hp * Wp * C + OH * OW * 8  # padded image, then G
    cdef floating[:, ::1] scratch = np.empty((team, per_thread), dtype=dtype)
    cdef double[::1] total = np.zeros(n, dtype=np.float64)
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef const floating* dp = &dout[0, 0, 0, 0]
    cdef floating* pp = &partial[0, 0]
    cdef floating* sp = &scratch[0, 0]
    cdef floating* gw = &kernel_grad[0, 0, 0, 0]
    cdef floating* pad
    with nogil:
        for b in prange(B, schedule="static", num_threads=team):
            pad = sp + threadid() * per_thread
            _pad_image(xp + b * H * W * C, pad, H, W, C, pt, pl, Hp, Wp)
            _conv_wgrad_image(pad, dp + b * OH * OW * F, yp + b * OH * OW * F if yp != NULL else NULL,
                              pp + b * n, pp + b * n + KF, pad + Hp * Wp * C, Wp, C, F,
                              kh, kw, sh, sw, OH, OW)
        for b in range(B):
            for t in range(n):
                total[t] += pp[b * n + t]
        for t in range(KF):
            gw[t] = <floating>total[t]
        for t in range(F):
            bias_grad[t] = <floating>total[KF + t]


cdef void _unpool_image(const floating* d, const int* a, const floating* pooled, floating* g,
                        floating* masked, double* acc, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t F,
                        Py_ssize_t PH, Py_ssize_t PW) noexcept nogil:
    """∂E/∂(convolution output) of one image, g (OH, OW, F): the max pooling's backward of the
    pooled gradient d, masked where the pooled value (the ReLU's output at the winner) is <= 0."""
    cdef Py_ssize_t k, L = PH * PW * F
    cdef floating v, e
    cdef bint tiled = 2 * PH <= OH and 2 * PW <= OW and PH * 2 + 1 >= OH and PW * 2 + 1 >= OW
    if pooled != NULL:
        for k in range(L):
            e = d[k]  # both loads unconditional, so that the select vectorizes
            v = pooled[k]
            masked[k] = 0 if v <= 0 else e
        d = masked
    if floating is float:  # the 2×2 fast path, unless some index is not in its block
        if (tiled and F >= 8 and OH // PH == 2 and OW // PW == 2
                and not le4nn_maxpool_backward_2x2_f(d, a, g, OH, OW, F, PH, PW)):
            return
    _maxpool_backward_scatter(d, a, g, acc, OH * OW * F, F, PH * PW)


def conv2d_nhwc_filter_grad_pooled(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] dout,
                                   const int[:, :, :, ::1] argmax, pooled,
                                   floating[:, :, :, ::1] kernel_grad, floating[::1] bias_grad,
                                   int sh, int sw, int pt, int pl, int OH, int OW, int num_threads):
    """kernel_grad and bias_grad of conv → ReLU → max pool from the pooled gradient ``dout`` and
    the pooling's ``argmax`` (flat indices into the OH × OW convolution output): image by image,
    the unpooled gradient is built in a per-thread scratch image (it stays in the cache) and fed to
    the filter gradient of the direct convolution.  The caller has checked every index."""
    cdef Py_ssize_t B = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef int kh = kernel_grad.shape[0], kw = kernel_grad.shape[1]
    cdef Py_ssize_t F = dout.shape[3], PH = dout.shape[1], PW = dout.shape[2], b, t
    cdef Py_ssize_t Hp = _padded(H, pt, OH, sh, kh), Wp = _padded(W, pl, OW, sw, kw)
    cdef Py_ssize_t KF = <Py_ssize_t>kh * kw * C * F, n = KF + F, HWF = <Py_ssize_t>OH * OW * F
    cdef const floating[:, :, :, ::1] p_view
    cdef const floating* pp_ = NULL
    cdef int team = _team(B * OH * OW * F * C * kh * kw // 4, num_threads)
    if (kernel_grad.shape[2] != C or kernel_grad.shape[3] != F or bias_grad.shape[0] != F
            or dout.shape[0] != B or argmax.shape[0] != B or argmax.shape[1] != PH
            or argmax.shape[2] != PW or argmax.shape[3] != F):
        raise ValueError("conv2d_nhwc_filter_grad_pooled: shapes do not match")
    if pooled is not None:
        p_view = pooled
        if (p_view.shape[0] != B or p_view.shape[1] != PH or p_view.shape[2] != PW
                or p_view.shape[3] != F):
            raise ValueError("conv2d_nhwc_filter_grad_pooled: pooled has the wrong shape")
        if B * PH * PW * F:
            pp_ = &p_view[0, 0, 0, 0]
    dtype = np.float32 if floating is float else np.float64
    if F == 0:
        return
    if B * OH * OW * C == 0 or PH * PW == 0:
        kernel_grad[...] = 0
        bias_grad[...] = 0
        return
    team = min(team, B)
    cdef floating[:, ::1] partial = np.empty((B, n), dtype=dtype)
    # per thread: padded image, G (see the wgrad kernel), the unpooled gradient, the masked dout
    cdef Py_ssize_t per_thread = Hp * Wp * C + OH * OW * 8 + HWF + PH * PW * F
    cdef floating[:, ::1] scratch = np.empty((team, per_thread), dtype=dtype)
    cdef double[:, ::1] acc = np.empty((team, HWF if floating is float else 1), dtype=np.float64)
    cdef double[::1] total = np.zeros(n, dtype=np.float64)
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef const floating* dp = &dout[0, 0, 0, 0]
    cdef const int* ap = &argmax[0, 0, 0, 0]
    cdef floating* parts = &partial[0, 0]
    cdef floating* sp = &scratch[0, 0]
    cdef double* accp = &acc[0, 0]
    cdef floating* gw = &kernel_grad[0, 0, 0, 0]
    cdef floating* pad
    cdef floating* g
    cdef Py_ssize_t L = PH * PW * F
    with nogil:
        for b in prange(B, schedule="static", num_threads=team):
            pad = sp + threadid() * per_thread
            g = pad + Hp * Wp * C + OH * OW * 8
            _unpool_image(dp + b * L, ap + b * L, pp_ + b * L if pp_ != NULL else NULL, g, g + HWF,
                          accp + threadid() * (HWF if floating is float else 1), OH, OW, F, PH, PW)
            _pad_image(xp + b * H * W * C, pad, H, W, C, pt, pl, Hp, Wp)
            _conv_wgrad_image(pad, g, NULL, parts + b * n, parts + b * n + KF, pad + Hp * Wp * C,
                              Wp, C, F, kh, kw, sh, sw, OH, OW)
        for b in range(B):
            for t in range(n):
                total[t] += parts[b * n + t]
        for t in range(KF):
            gw[t] = <floating>total[t]
        for t in range(F):
            bias_grad[t] = <floating>total[KF + t]


def conv2d_nhwc_pool_forward(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] kernel, bias,
                             floating[:, :, :, ::1] out, int[:, :, :, ::1] argmax, int sh, int sw,
                             int pt, int pl, int OH, int OW, bint relu, int pkh, int pkw, int psh,
                             int psw, int ppt, int ppl, int num_threads):
    """(out, argmax) = max pooling of [relu](conv(x) + bias), image by image: each image's
    convolution output (OH, OW, F) is built in a per-thread scratch image, which stays in the
    cache for the pooling, and is never written to memory."""
    cdef Py_ssize_t B = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef int kh = kernel.shape[0], kw = kernel.shape[1]
    cdef Py_ssize_t F = kernel.shape[3], PH = out.shape[1], PW = out.shape[2], b, oh
    cdef Py_ssize_t Hp = _padded(H, pt, OH, sh, kh), Wp = _padded(W, pl, OW, sw, kw)
    cdef Py_ssize_t HWF = <Py_ssize_t>OH * OW * F, L = PH * PW * F
    cdef const floating[::1] bias_view
    cdef const floating* bp = NULL
    cdef int team = _team(B * OH * OW * F * C * kh * kw // 4, num_threads)
    if (kernel.shape[2] != C or out.shape[0] != B or out.shape[3] != F or argmax.shape[0] != B
            or argmax.shape[1] != PH or argmax.shape[2] != PW or argmax.shape[3] != F):
        raise ValueError("conv2d_nhwc_pool_forward: shapes do not match")
    if bias is not None:
        bias_view = bias
        if bias_view.shape[0] != F:
            raise ValueError("conv2d_nhwc_pool_forward: bias has the wrong size")
        if F:
            bp = &bias_view[0]
    if B * PH * PW * F == 0 or C == 0:
        return
    team = min(team, B)
    cdef Py_ssize_t per_thread = Hp * Wp * C + HWF
    cdef floating[:, ::1] scratch = np.empty((team, per_thread), dtype=np.asarray(out).dtype)
    cdef floating* sp = &scratch[0, 0]
    cdef const floating* xp = &x[0, 0, 0, 0]
    cdef const floating* kp = &kernel[0, 0, 0, 0]
    cdef floating* op = &out[0, 0, 0, 0]
    cdef int* ap = &argmax[0, 0, 0, 0]
    cdef floating* pad
    cdef floating* y
    with nogil:
        for b in prange(B, schedule="static", num_threads=team):
            pad = sp + threadid() * per_thread
            y = pad + Hp * Wp * C
            _pad_image(xp + b * H * W * C, pad, H, W, C, pt, pl, Hp, Wp)
            _conv_image(pad, kp, bp, y, Wp, C, F, kh, kw, sh, sw, OH, OW, relu)
            for oh in range(PH):
                _maxpool_row(y, op + b * L + oh * PW * F, ap + b * L + oh * PW * F, OH, OW, F,
                             pkh, pkw, psh, psw, ppt, ppl, oh, PW)
