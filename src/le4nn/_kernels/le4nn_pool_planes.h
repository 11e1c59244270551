/* le4nn_pool_planes.h: 2x2 / stride 2 / unpadded max pooling of float32 NCHW planes, 8 outputs per
   vector step (le4nn_vec8.h: one AVX register in the x86-64-v3 clone, two SSE ones on the baseline),
   for a run of consecutive planes (pooling.pyx hands each thread groups of planes: a ResNet's 8x8 and
   16x16 planes are too small for per-plane and per-row loops).  Handout eq. 63-64; the step rule is
   le4nn_maxpool_2x2.h's (the new element wins when !(v <= best) && best == best), so the results
   are bitwise those of the 4-wide path and of the reference.  Included by pooling.pyx after
   le4nn_pooling.h (Py_ssize_t).

   Two layouts of a step, by the output width OW (the caller checks which applies):
   - OW a multiple of 8: 8 outputs of one output row, from 16 floats of each of its two input rows;
   - OW == 4 and H == 2·OH (the input rows of a run of planes are one array of 8-float rows): 8
     outputs from two consecutive output rows (possibly of two planes), 32 consecutive input floats. */
#ifndef LE4NN_POOL_PLANES_H
#define LE4NN_POOL_PLANES_H

#include "le4nn_clones.h"
#include "le4nn_vec8.h"

#if defined(__clang__)
#define LE4NN_SHUF8(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define LE4NN_SHUF8(a, b, ...) __builtin_shuffle(a, b, (le4nn_v8i){__VA_ARGS__})
#endif
#define LE4NN_EVEN8(a, b) LE4NN_SHUF8(a, b, 0, 2, 4, 6, 8, 10, 12, 14)
#define LE4NN_ODD8(a, b) LE4NN_SHUF8(a, b, 1, 3, 5, 7, 9, 11, 13, 15)
#define LE4NN_LO8(a, b) LE4NN_SHUF8(a, b, 0, 8, 1, 9, 2, 10, 3, 11)
#define LE4NN_HI8(a, b) LE4NN_SHUF8(a, b, 4, 12, 5, 13, 6, 14, 7, 15)

/* Whether pooling.pyx may call the functions below for planes of this geometry. */
#define LE4NN_POOL_PLANES_OK(H, W, OH, OW) \
    (((OW) % 8 == 0 && 2 * (OH) <= (H) && 2 * (OW) <= (W)) || ((OW) == 4 && (W) == 8 && (H) == 2 * (OH)))

/* One step: the running best of v0..v3 (window order) and its offset k in the window. */
#define LE4NN_MP8_STEP(best, k, v, kv)                                                                  \
    do {                                                                                                \
        const le4nn_v8i u_ = ~((v) <= (best)) & ((best) == (best));                                     \
        best = le4nn_sel8f(u_, (v), best);                                                              \
        k = ((kv) & u_) | (k & ~u_);                                                                    \
    } while (0)

/* Max pooling of np planes (x: H·W each, out and argmax: OH·OW each). */
static LE4NN_V3_CLONES void le4nn_maxpool_planes_f(const float *xp, float *op, int *ap, Py_ssize_t np_,
                                                   Py_ssize_t H, Py_ssize_t W, Py_ssize_t OH, Py_ssize_t OW)
{
    const le4nn_v8i k1 = {1, 1, 1, 1, 1, 1, 1, 1};
    const le4nn_v8i kw = k1 * (int)W, kw1 = kw + 1;
    if (OW == 4) { /* rows of 8 floats: output rows 2 at a time across the run of planes */
        const Py_ssize_t rows = np_ * OH;
        Py_ssize_t R = 0;
        for (; R + 2 <= rows; R += 2) {
            const float *in = xp + 16 * R;
            const le4nn_v8f a = le4nn_load8(in), b = le4nn_load8(in + 8);
            const le4nn_v8f c = le4nn_load8(in + 16), d = le4nn_load8(in + 24);
            const le4nn_v8f v1 = LE4NN_ODD8(a, c), v2 = LE4NN_EVEN8(b, d), v3 = LE4NN_ODD8(b, d);
            le4nn_v8f best = LE4NN_EVEN8(a, c);
            le4nn_v8i k = {0};
            LE4NN_MP8_STEP(best, k, v1, k1);
            LE4NN_MP8_STEP(best, k, v2, kw);
            LE4NN_MP8_STEP(best, k, v3, kw1);
            const int b0 = (int)(16 * (R % OH)), b1 = (int)(16 * ((R + 1) % OH));
            const le4nn_v8i base = {b0, b0 + 2, b0 + 4, b0 + 6, b1, b1 + 2, b1 + 4, b1 + 6};
            le4nn_store8(op + 4 * R, best);
            le4nn_store8i(ap + 4 * R, base + k);
        }
        if (R < rows) { /* an odd number of rows: the last one with the scalar rule */
            const float *r0 = xp + 16 * R, *r1 = r0 + 8;
            for (int ow = 0; ow < 4; ++ow) {
                float best = r0[2 * ow], v;
                int k = 0, u;
                v = r0[2 * ow + 1]; u = !(v <= best) & (best == best); best = u ? v : best; k = u ? 1 : k;
                v = r1[2 * ow]; u = !(v <= best) & (best == best); best = u ? v : best; k = u ? 8 : k;
                v = r1[2 * ow + 1]; u = !(v <= best) & (best == best); best = u ? v : best; k = u ? 9 : k;
                op[4 * R + ow] = best;
                ap[4 * R + ow] = (int)(16 * (R % OH)) + 2 * ow + k;
            }
        }
        return;
    }
    const le4nn_v8i lane2 = {0, 2, 4, 6, 8, 10, 12, 14};
    for (Py_ssize_t p = 0; p < np_; ++p)
        for (Py_ssize_t oh = 0; oh < OH; ++oh) {
            const float *r0 = xp + p * H * W + 2 * oh * W, *r1 = r0 + W;
            float *o = op + (p * OH + oh) * OW;
            int *a = ap + (p * OH + oh) * OW;
            for (Py_ssize_t ow = 0; ow < OW; ow += 8) {
                const le4nn_v8f a0 = le4nn_load8(r0 + 2 * ow), a1 = le4nn_load8(r0 + 2 * ow + 8);
                const le4nn_v8f c0 = le4nn_load8(r1 + 2 * ow), c1 = le4nn_load8(r1 + 2 * ow + 8);
                const le4nn_v8f v1 = LE4NN_ODD8(a0, a1), v2 = LE4NN_EVEN8(c0, c1), v3 = LE4NN_ODD8(c0, c1);
                le4nn_v8f best = LE4NN_EVEN8(a0, a1);
                le4nn_v8i k = {0};
                LE4NN_MP8_STEP(best, k, v1, k1);
                LE4NN_MP8_STEP(best, k, v2, kw);
                LE4NN_MP8_STEP(best, k, v3, kw1);
                le4nn_store8(o + ow, best);
                le4nn_store8i(a + ow, lane2 + (int)(2 * oh * W + 2 * ow) + k);
            }
        }
}

/* The backward of np planes: every element of dx written once, the gradient (+ 0, as the reference
   adds it into zeros) where its window's index points, else 0.  Returns nonzero when some index is
   not in its 2x2 block (the caller redoes those planes with the scatter-add). */
static LE4NN_V3_CLONES int le4nn_maxpool_bwd_planes_f(const float *dp, const int *ap, float *xp, Py_ssize_t np_,
                                                      Py_ssize_t H, Py_ssize_t W, Py_ssize_t OH, Py_ssize_t OW)
{
    const le4nn_v8i k1 = {1, 1, 1, 1, 1, 1, 1, 1}, z = {0};
    const le4nn_v8i kw = k1 * (int)W, kw1 = kw + 1;
    const le4nn_v8f zero = {0};
    le4nn_v8i missed = {0};
#define LE4NN_MP8_BWD(idx, g_, a_, RA, RB, RC, RD)                                                      \
    do {                                                                                                \
        const le4nn_v8f g = (g_) + zero;                                                                \
        const le4nn_v8i k = (a_) - (idx);                                                               \
        const le4nn_v8i m0 = k == z, m1 = k == k1, m2 = k == kw, m3 = k == kw1;                         \
        const le4nn_v8f e0 = le4nn_sel8f(m0, g, zero), o0 = le4nn_sel8f(m1, g, zero);                   \
        const le4nn_v8f e1 = le4nn_sel8f(m2, g, zero), o1 = le4nn_sel8f(m3, g, zero);                   \
        missed |= ~(m0 | m1 | m2 | m3);                                                                 \
        le4nn_store8(RA, LE4NN_LO8(e0, o0));                                                            \
        le4nn_store8(RB, LE4NN_HI8(e0, o0));                                                            \
        le4nn_store8(RC, LE4NN_LO8(e1, o1));                                                            \
        le4nn_store8(RD, LE4NN_HI8(e1, o1));                                                            \
    } while (0)
    if (OW == 4) {
        const Py_ssize_t rows = np_ * OH;
        Py_ssize_t R = 0;
        for (; R + 2 <= rows; R += 2) {
            const int b0 = (int)(16 * (R % OH)), b1 = (int)(16 * ((R + 1) % OH));
            const le4nn_v8i idx = {b0, b0 + 2, b0 + 4, b0 + 6, b1, b1 + 2, b1 + 4, b1 + 6};
            float *out = xp + 16 * R;
            LE4NN_MP8_BWD(idx, le4nn_load8(dp + 4 * R), le4nn_load8i(ap + 4 * R), out, out + 16, out + 8,
                          out + 24);
        }
        int miss = 0;
        if (R < rows) {
            float *r0 = xp + 16 * R, *r1 = r0 + 8;
            for (int ow = 0; ow < 4; ++ow) {
                const float g = dp[4 * R + ow] + 0.0f;
                const int k = ap[4 * R + ow] - (int)(16 * (R % OH)) - 2 * ow;
                r0[2 * ow] = k == 0 ? g : 0.0f;
                r0[2 * ow + 1] = k == 1 ? g : 0.0f;
                r1[2 * ow] = k == 8 ? g : 0.0f;
                r1[2 * ow + 1] = k == 9 ? g : 0.0f;
                miss |= (k != 0) & (k != 1) & (k != 8) & (k != 9);
            }
        }
        for (int q = 0; q < 8; ++q) miss |= missed[q];
        return miss;
    }
    const le4nn_v8i lane2 = {0, 2, 4, 6, 8, 10, 12, 14};
    for (Py_ssize_t p = 0; p < np_; ++p) {
        float *x = xp + p * H * W;
        for (Py_ssize_t oh = 0; oh < OH; ++oh) {
            float *r0 = x + 2 * oh * W, *r1 = r0 + W;
            const float *d = dp + (p * OH + oh) * OW;
            const int *a = ap + (p * OH + oh) * OW;
            for (Py_ssize_t ow = 0; ow < OW; ow += 8)
                LE4NN_MP8_BWD(lane2 + (int)(2 * oh * W + 2 * ow), le4nn_load8(d + ow), le4nn_load8i(a + ow),
                              r0 + 2 * ow, r0 + 2 * ow + 8, r1 + 2 * ow, r1 + 2 * ow + 8);
            for (Py_ssize_t w = 2 * OW; w < W; ++w) r0[w] = r1[w] = 0.0f;
        }
        for (Py_ssize_t t = 2 * OH * W; t < H * W; ++t) x[t] = 0.0f;
    }
#undef LE4NN_MP8_BWD
    int miss = 0;
    for (int q = 0; q < 8; ++q) miss |= missed[q];
    return miss;
}

#endif /* LE4NN_POOL_PLANES_H */
