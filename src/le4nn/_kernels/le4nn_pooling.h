/* le4nn_pooling.h: the row loops of pooling.pyx, max pooling (handout eq. 63-64: the first
   maximum of each window, the first NaN winning, padding never) and average pooling over NCHW
   planes, forward and backward, float32 and float64.  Included by pooling.pyx (after Python.h:
   Py_ssize_t). */
#ifndef LE4NN_POOLING_H
#define LE4NN_POOLING_H

/* Max pooling 2x2 / stride 2 / no padding: explicit SSE2 (baseline on x86-64) with a scalar
   fallback elsewhere.  Rule of each step (window order v0, v1, v2, v3): the new element v replaces
   the running best when !(v <= best) && best == best, i.e. v > best, or v is the first NaN.  The
   vector and scalar code compute exactly the same thing. */
#include <string.h>
#if !defined(LE4NN_NO_SIMD) && (defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2))
#include <emmintrin.h>
#define LE4NN_SSE2 1
#endif

#define LE4NN_MP_STEP(T, v, kv)                                                                    \
    u = !((v) <= best) & (best == best);                                                           \
    best = u ? (v) : best;                                                                         \
    k = u ? (kv) : k;

#define LE4NN_MP_SCALAR_FWD(T)                                                                     \
    for (; ow < OW; ++ow) {                                                                        \
        T best = r0[2 * ow];                                                                       \
        int k = 0, u;                                                                              \
        LE4NN_MP_STEP(T, r0[2 * ow + 1], 1)                                                        \
        LE4NN_MP_STEP(T, r1[2 * ow], w)                                                            \
        LE4NN_MP_STEP(T, r1[2 * ow + 1], w + 1)                                                    \
        o[ow] = best;                                                                              \
        a[ow] = base + 2 * (int)ow + k;                                                            \
    }

#define LE4NN_MP_SCALAR_BWD(T)                                                                     \
    for (; ow < OW; ++ow) {                                                                        \
        T g = d[ow] + (T)0;                                                                        \
        int k = a[ow] - base - 2 * (int)ow;                                                        \
        r0[2 * ow] = k == 0 ? g : (T)0;                                                            \
        r0[2 * ow + 1] = k == 1 ? g : (T)0;                                                        \
        r1[2 * ow] = k == w ? g : (T)0;                                                            \
        r1[2 * ow + 1] = k == w + 1 ? g : (T)0;                                                    \
        missed |= (k != 0) & (k != 1) & (k != w) & (k != w + 1);                                   \
    }

static void le4nn_maxpool_2x2_f(const float *xp, float *op, int *ap, Py_ssize_t W, Py_ssize_t OH,
                                Py_ssize_t OW) {
    const int w = (int)W;
    for (Py_ssize_t oh = 0; oh < OH; ++oh) {
        const float *r0 = xp + 2 * oh * W, *r1 = r0 + W;
        float *o = op + oh * OW;
        int *a = ap + oh * OW;
        const int base = (int)(2 * oh * W);
        Py_ssize_t ow = 0;
#ifdef LE4NN_SSE2
        const __m128i one = _mm_set1_epi32(1), kw_ = _mm_set1_epi32(w), kw1 = _mm_set1_epi32(w + 1);
        const __m128i idx0 = _mm_add_epi32(_mm_set1_epi32(base), _mm_setr_epi32(0, 2, 4, 6));
        /* Blocks of 4 outputs; a ragged end is done as one last block overlapping the previous
           one (it rewrites the same values), so there is no scalar tail to mispredict. */
        for (ow = 0; OW >= 4; ow += 4) {
            if (ow + 4 > OW) ow = OW - 4;
            __m128i idx = _mm_add_epi32(idx0, _mm_set1_epi32(2 * (int)ow));
            __m128 a0 = _mm_loadu_ps(r0 + 2 * ow), a1 = _mm_loadu_ps(r0 + 2 * ow + 4);
            __m128 b0 = _mm_loadu_ps(r1 + 2 * ow), b1 = _mm_loadu_ps(r1 + 2 * ow + 4);
            __m128 v0 = _mm_shuffle_ps(a0, a1, _MM_SHUFFLE(2, 0, 2, 0));
            __m128 v1 = _mm_shuffle_ps(a0, a1, _MM_SHUFFLE(3, 1, 3, 1));
            __m128 v2 = _mm_shuffle_ps(b0, b1, _MM_SHUFFLE(2, 0, 2, 0));
            __m128 v3 = _mm_shuffle_ps(b0, b1, _MM_SHUFFLE(3, 1, 3, 1));
            __m128 best = v0, u;
            __m128i k = _mm_setzero_si128(), ui;
#define LE4NN_MP_VSTEP(v, kv)                                                                      \
            u = _mm_and_ps(_mm_cmpnle_ps(v, best), _mm_cmpord_ps(best, best));                     \
            best = _mm_or_ps(_mm_and_ps(u, v), _mm_andnot_ps(u, best));                            \
            ui = _mm_castps_si128(u);                                                              \
            k = _mm_or_si128(_mm_and_si128(ui, kv), _mm_andnot_si128(ui, k));
            LE4NN_MP_VSTEP(v1, one)
            LE4NN_MP_VSTEP(v2, kw_)
            LE4NN_MP_VSTEP(v3, kw1)
#undef LE4NN_MP_VSTEP
            _mm_storeu_ps(o + ow, best);
            _mm_storeu_si128((__m128i *)(a + ow), _mm_add_epi32(idx, k));
            if (ow + 4 >= OW) { ow = OW; break; }
        }
#endif
        LE4NN_MP_SCALAR_FWD(float)
    }
}

static void le4nn_maxpool_2x2_d(const double *xp, double *op, int *ap, Py_ssize_t W, Py_ssize_t OH,
                                Py_ssize_t OW) {
    const int w = (int)W;
    for (Py_ssize_t oh = 0; oh < OH; ++oh) {
        const double *r0 = xp + 2 * oh * W, *r1 = r0 + W;
        double *o = op + oh * OW;
        int *a = ap + oh * OW;
        const int base = (int)(2 * oh * W);
        Py_ssize_t ow = 0;
#ifdef LE4NN_SSE2
        /* Two outputs per step; the 64-bit lane masks are narrowed to 32-bit index masks. */
        const __m128i one = _mm_set1_epi32(1), kw_ = _mm_set1_epi32(w), kw1 = _mm_set1_epi32(w + 1);
        const __m128i idx0 = _mm_add_epi32(_mm_set1_epi32(base), _mm_setr_epi32(0, 2, 0, 0));
        for (ow = 0; OW >= 2; ow += 2) {
            if (ow + 2 > OW) ow = OW - 2;
            __m128i idx = _mm_add_epi32(idx0, _mm_set1_epi32(2 * (int)ow));
            __m128d a0 = _mm_loadu_pd(r0 + 2 * ow), a1 = _mm_loadu_pd(r0 + 2 * ow + 2);
            __m128d b0 = _mm_loadu_pd(r1 + 2 * ow), b1 = _mm_loadu_pd(r1 + 2 * ow + 2);
            __m128d v0 = _mm_unpacklo_pd(a0, a1), v1 = _mm_unpackhi_pd(a0, a1);
            __m128d v2 = _mm_unpacklo_pd(b0, b1), v3 = _mm_unpackhi_pd(b0, b1);
            __m128d best = v0, u;
            __m128i k = _mm_setzero_si128(), ui;
#define LE4NN_MP_VSTEP(v, kv)                                                                      \
            u = _mm_and_pd(_mm_cmpnle_pd(v, best), _mm_cmpord_pd(best, best));                     \
            best = _mm_or_pd(_mm_and_pd(u, v), _mm_andnot_pd(u, best));                            \
            ui = _mm_shuffle_epi32(_mm_castpd_si128(u), _MM_SHUFFLE(3, 3, 2, 0));                  \
            k = _mm_or_si128(_mm_and_si128(ui, kv), _mm_andnot_si128(ui, k));
            LE4NN_MP_VSTEP(v1, one)
            LE4NN_MP_VSTEP(v2, kw_)
            LE4NN_MP_VSTEP(v3, kw1)
#undef LE4NN_MP_VSTEP
            _mm_storeu_pd(o + ow, best);
            _mm_storel_epi64((__m128i *)(a + ow), _mm_add_epi32(idx, k));
            if (ow + 2 >= OW) { ow = OW; break; }
        }
#endif
        LE4NN_MP_SCALAR_FWD(double)
    }
}

static int le4nn_maxpool_bwd_2x2_f(const float *dp, const int *ap, float *xp, Py_ssize_t H,
                                   Py_ssize_t W, Py_ssize_t OH, Py_ssize_t OW) {
    const int w = (int)W;
    int missed = 0;
#ifdef LE4NN_SSE2
    __m128i vmissed = _mm_setzero_si128();
#endif
    for (Py_ssize_t oh = 0; oh < OH; ++oh) {
        float *r0 = xp + 2 * oh * W, *r1 = r0 + W;
        const float *d = dp + oh * OW;
        const int *a = ap + oh * OW;
        const int base = (int)(2 * oh * W);
        Py_ssize_t ow = 0;
#ifdef LE4NN_SSE2
        const __m128i one = _mm_set1_epi32(1), kw_ = _mm_set1_epi32(w), kw1 = _mm_set1_epi32(w + 1);
        const __m128 zero = _mm_setzero_ps();
        const __m128i idx0 = _mm_add_epi32(_mm_set1_epi32(base), _mm_setr_epi32(0, 2, 4, 6));
        for (ow = 0; OW >= 4; ow += 4) {  /* ragged end: one overlapping block, as above */
            if (ow + 4 > OW) ow = OW - 4;
            __m128i idx = _mm_add_epi32(idx0, _mm_set1_epi32(2 * (int)ow));
            __m128 g = _mm_add_ps(_mm_loadu_ps(d + ow), zero);
            __m128i k = _mm_sub_epi32(_mm_loadu_si128((const __m128i *)(a + ow)), idx);
            __m128i m0 = _mm_cmpeq_epi32(k, _mm_setzero_si128()), m1 = _mm_cmpeq_epi32(k, one);
            __m128i m2 = _mm_cmpeq_epi32(k, kw_), m3 = _mm_cmpeq_epi32(k, kw1);
            __m128 e0 = _mm_and_ps(_mm_castsi128_ps(m0), g);
            __m128 o0 = _mm_and_ps(_mm_castsi128_ps(m1), g);
            __m128 e1 = _mm_and_ps(_mm_castsi128_ps(m2), g);
            __m128 o1 = _mm_and_ps(_mm_castsi128_ps(m3), g);
            /* lanes whose index hit none of the four cells */
            vmissed = _mm_or_si128(vmissed, _mm_cmpeq_epi32(
                _mm_or_si128(_mm_or_si128(m0, m1), _mm_or_si128(m2, m3)), _mm_setzero_si128()));
            _mm_storeu_ps(r0 + 2 * ow, _mm_unpacklo_ps(e0, o0));
            _mm_storeu_ps(r0 + 2 * ow + 4, _mm_unpackhi_ps(e0, o0));
            _mm_storeu_ps(r1 + 2 * ow, _mm_unpacklo_ps(e1, o1));
            _mm_storeu_ps(r1 + 2 * ow + 4, _mm_unpackhi_ps(e1, o1));
            if (ow + 4 >= OW) { ow = OW; break; }
        }
#endif
        LE4NN_MP_SCALAR_BWD(float)
        for (ow = 2 * OW; ow < W; ++ow) r0[ow] = r1[ow] = 0.0f;
    }
    if (2 * OH < H) memset(xp + 2 * OH * W, 0, (size_t)((H - 2 * OH) * W) * sizeof(float));
#ifdef LE4NN_SSE2
    missed |= _mm_movemask_epi8(vmissed) != 0;
#endif
    return missed;
}

static int le4nn_maxpool_bwd_2x2_d(const double *dp, const int *ap, double *xp, Py_ssize_t H,
                                   Py_ssize_t W, Py_ssize_t OH, Py_ssize_t OW) {
    const int w = (int)W;
    int missed = 0;
#ifdef LE4NN_SSE2
    __m128i vmissed = _mm_setzero_si128();
#endif
    for (Py_ssize_t oh = 0; oh < OH; ++oh) {
        double *r0 = xp + 2 * oh * W, *r1 = r0 + W;
        const double *d = dp + oh * OW;
        const int *a = ap + oh * OW;
        const int base = (int)(2 * oh * W);
        Py_ssize_t ow = 0;
#ifdef LE4NN_SSE2
        const __m128i one = _mm_set1_epi32(1), kw_ = _mm_set1_epi32(w), kw1 = _mm_set1_epi32(w + 1);
        const __m128d zero = _mm_setzero_pd();
        const __m128i idx0 = _mm_add_epi32(_mm_set1_epi32(base), _mm_setr_epi32(0, 2, 0, 0));
        for (ow = 0; OW >= 2; ow += 2) {
            if (ow + 2 > OW) ow = OW - 2;
            __m128i idx = _mm_add_epi32(idx0, _mm_set1_epi32(2 * (int)ow));
            __m128d g = _mm_add_pd(_mm_loadu_pd(d + ow), zero);
            __m128i k = _mm_sub_epi32(_mm_loadl_epi64((const __m128i *)(a + ow)), idx);
            /* 32-bit lane masks [m0, m1, ...] widened to 64-bit lanes [m0, m0, m1, m1]. */
            __m128i m0 = _mm_cmpeq_epi32(k, _mm_setzero_si128()), m1 = _mm_cmpeq_epi32(k, one);
            __m128i m2 = _mm_cmpeq_epi32(k, kw_), m3 = _mm_cmpeq_epi32(k, kw1);
            __m128d e0 = _mm_and_pd(_mm_castsi128_pd(_mm_unpacklo_epi32(m0, m0)), g);
            __m128d o0 = _mm_and_pd(_mm_castsi128_pd(_mm_unpacklo_epi32(m1, m1)), g);
            __m128d e1 = _mm_and_pd(_mm_castsi128_pd(_mm_unpacklo_epi32(m2, m2)), g);
            __m128d o1 = _mm_and_pd(_mm_castsi128_pd(_mm_unpacklo_epi32(m3, m3)), g);
            /* lanes 0 and 1 (the two outputs) whose index hit none of the four cells */
            vmissed = _mm_or_si128(vmissed, _mm_move_epi64(_mm_cmpeq_epi32(
                _mm_or_si128(_mm_or_si128(m0, m1), _mm_or_si128(m2, m3)), _mm_setzero_si128())));
            _mm_storeu_pd(r0 + 2 * ow, _mm_unpacklo_pd(e0, o0));
            _mm_storeu_pd(r0 + 2 * ow + 2, _mm_unpackhi_pd(e0, o0));
            _mm_storeu_pd(r1 + 2 * ow, _mm_unpacklo_pd(e1, o1));
            _mm_storeu_pd(r1 + 2 * ow + 2, _mm_unpackhi_pd(e1, o1));
            if (ow + 2 >= OW) { ow = OW; break; }
        }
#endif
        LE4NN_MP_SCALAR_BWD(double)
        for (ow = 2 * OW; ow < W; ++ow) r0[ow] = r1[ow] = 0.0;
    }
    if (2 * OH < H) memset(xp + 2 * OH * W, 0, (size_t)((H - 2 * OH) * W) * sizeof(double));
#ifdef LE4NN_SSE2
    missed |= _mm_movemask_epi8(vmissed) != 0;
#endif
    return missed;
}
#if defined(_MSC_VER)
#define LE4NN_INLINE static __forceinline
#define LE4NN_RESTRICT __restrict
#else
#define LE4NN_INLINE static inline __attribute__((always_inline))
#define LE4NN_RESTRICT __restrict__
#endif

/* One pass of a window offset over an output row, for the general pooling paths.  Each helper is
   specialized for column strides 1 and 2 (compile-time constants, so GCC vectorizes with plain or
   de-interleaving loads) and falls back to a runtime stride. */
#define LE4NN_ROW_OPS(T, S)                                                                        \
LE4NN_INLINE void le4nn_max_row_impl_##S(T *LE4NN_RESTRICT o, int *LE4NN_RESTRICT a,              \
        const T *LE4NN_RESTRICT row, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t sw, Py_ssize_t iw0, \
        int idx_row) {                                                                             \
    for (Py_ssize_t ow = lo; ow < hi; ++ow) {                                                      \
        Py_ssize_t iw = ow * sw + iw0;                                                             \
        T v = row[iw], b = o[ow];                                                                  \
        int k = a[ow];                                                                             \
        int u = (k < 0) | (!(v <= b) & (b == b));                                                  \
        o[ow] = u ? v : b;                                                                         \
        a[ow] = u ? idx_row + (int)iw : k;                                                         \
    }                                                                                              \
}                                                                                                  \
static void le4nn_max_row_##S(T *o, int *a, const T *row, Py_ssize_t lo, Py_ssize_t hi,           \
                              Py_ssize_t sw, Py_ssize_t iw0, int idx_row) {                        \
    if (sw == 1) le4nn_max_row_impl_##S(o, a, row, lo, hi, 1, iw0, idx_row);                       \
    else if (sw == 2) le4nn_max_row_impl_##S(o, a, row, lo, hi, 2, iw0, idx_row);                  \
    else le4nn_max_row_impl_##S(o, a, row, lo, hi, sw, iw0, idx_row);                              \
}                                                                                                  \
LE4NN_INLINE void le4nn_sum_row_impl_##S(T *LE4NN_RESTRICT o, const T *LE4NN_RESTRICT row,        \
        Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t sw, Py_ssize_t iw0) {                             \
    for (Py_ssize_t ow = lo; ow < hi; ++ow) o[ow] += row[ow * sw + iw0];                           \
}                                                                                                  \
static void le4nn_sum_row_##S(T *o, const T *row, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t sw,    \
                              Py_ssize_t iw0) {                                                    \
    if (sw == 1) le4nn_sum_row_impl_##S(o, row, lo, hi, 1, iw0);                                   \
    else if (sw == 2) le4nn_sum_row_impl_##S(o, row, lo, hi, 2, iw0);                              \
    else le4nn_sum_row_impl_##S(o, row, lo, hi, sw, iw0);                                          \
}                                                                                                  \
LE4NN_INLINE void le4nn_spread_row_impl_##S(T *LE4NN_RESTRICT row, const T *LE4NN_RESTRICT s,     \
        Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t sw, Py_ssize_t iw0) {                             \
    for (Py_ssize_t ow = lo; ow < hi; ++ow) row[ow * sw + iw0] += s[ow];                           \
}                                                                                                  \
static void le4nn_spread_row_##S(T *row, const T *s, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t sw, \
                                 Py_ssize_t iw0) {                                                 \
    if (sw == 1) le4nn_spread_row_impl_##S(row, s, lo, hi, 1, iw0);                                \
    else if (sw == 2) le4nn_spread_row_impl_##S(row, s, lo, hi, 2, iw0);                           \
    else le4nn_spread_row_impl_##S(row, s, lo, hi, sw, iw0);                                       \
}
LE4NN_ROW_OPS(float, f)
LE4NN_ROW_OPS(double, d)

#endif /* LE4NN_POOLING_H */
