/* le4nn_maxpool_2x2.h: max pooling 2x2 / stride 2 / no padding over one NCHW plane, forward and
   backward, written once for float32 and float64.

   A template header (no include guard, on purpose): le4nn_pooling.h includes it twice, once after
       #define LE4NN_T float   / LE4NN_SUF f / LE4NN_DOUBLE 0
   and once after double / d / 1, so that it defines le4nn_maxpool_2x2_f and le4nn_maxpool_bwd_2x2_f,
   then the _d pair; at its end it #undefs the three.  Read LE4NN_T as the element type and LE4NN_NAME(le4nn_maxpool_2x2) as
   le4nn_maxpool_2x2_f or _d.  The loops are plain C and the same for both types; only the SSE2
   blocks differ (4 floats or 2 doubles per register), side by side under #if LE4NN_DOUBLE.

   Rule of each step (window order v0, v1, v2, v3): the new element v replaces the running best
   when !(v <= best) && best == best, i.e. v > best, or v is the first NaN.  The vector and scalar
   code compute exactly the same thing. */

#define LE4NN_NAME(base) LE4NN_NAME_(base, LE4NN_SUF)
#define LE4NN_NAME_(base, suf) LE4NN_NAME__(base, suf)
#define LE4NN_NAME__(base, suf) base##_##suf
#define LE4NN_MP_STEP(v, kv)                                                                       \
    u = !((v) <= best) & (best == best);                                                           \
    best = u ? (v) : best;                                                                         \
    k = u ? (kv) : k;

static void LE4NN_NAME(le4nn_maxpool_2x2)(const LE4NN_T *xp, LE4NN_T *op, int *ap, Py_ssize_t W,
                                          Py_ssize_t OH, Py_ssize_t OW) {
    const int w = (int)W;
    for (Py_ssize_t oh = 0; oh < OH; ++oh) {
        const LE4NN_T *r0 = xp + 2 * oh * W, *r1 = r0 + W;
        LE4NN_T *o = op + oh * OW;
        int *a = ap + oh * OW;
        const int base = (int)(2 * oh * W);
        Py_ssize_t ow = 0;
#ifdef LE4NN_SSE2
#if LE4NN_DOUBLE
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
#else
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
#endif
        for (; ow < OW; ++ow) {  /* the scalar end (all of the row without SSE2) */
            LE4NN_T best = r0[2 * ow];
            int k = 0, u;
            LE4NN_MP_STEP(r0[2 * ow + 1], 1)
            LE4NN_MP_STEP(r1[2 * ow], w)
            LE4NN_MP_STEP(r1[2 * ow + 1], w + 1)
            o[ow] = best;
            a[ow] = base + 2 * (int)ow + k;
        }
    }
}

/* The backward: every element of the plane's dx written once (the gradient where its window's
   index points, else 0); returns nonzero when some index is not in its 2x2 block. */
static int LE4NN_NAME(le4nn_maxpool_bwd_2x2)(const LE4NN_T *dp, const int *ap, LE4NN_T *xp,
                                             Py_ssize_t H, Py_ssize_t W, Py_ssize_t OH,
                                             Py_ssize_t OW) {
    const int w = (int)W;
    int missed = 0;
#ifdef LE4NN_SSE2
    __m128i vmissed = _mm_setzero_si128();
#endif
    for (Py_ssize_t oh = 0; oh < OH; ++oh) {
        LE4NN_T *r0 = xp + 2 * oh * W, *r1 = r0 + W;
        const LE4NN_T *d = dp + oh * OW;
        const int *a = ap + oh * OW;
        const int base = (int)(2 * oh * W);
        Py_ssize_t ow = 0;
#ifdef LE4NN_SSE2
        const __m128i one = _mm_set1_epi32(1), kw_ = _mm_set1_epi32(w), kw1 = _mm_set1_epi32(w + 1);
#if LE4NN_DOUBLE
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
#else
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
#endif
        for (; ow < OW; ++ow) {  /* the scalar end (all of the row without SSE2) */
            LE4NN_T g = d[ow] + (LE4NN_T)0;
            int k = a[ow] - base - 2 * (int)ow;
            r0[2 * ow] = k == 0 ? g : (LE4NN_T)0;
            r0[2 * ow + 1] = k == 1 ? g : (LE4NN_T)0;
            r1[2 * ow] = k == w ? g : (LE4NN_T)0;
            r1[2 * ow + 1] = k == w + 1 ? g : (LE4NN_T)0;
            missed |= (k != 0) & (k != 1) & (k != w) & (k != w + 1);
        }
        for (ow = 2 * OW; ow < W; ++ow) r0[ow] = r1[ow] = (LE4NN_T)0;
    }
    if (2 * OH < H) memset(xp + 2 * OH * W, 0, (size_t)((H - 2 * OH) * W) * sizeof(LE4NN_T));
#ifdef LE4NN_SSE2
    missed |= _mm_movemask_epi8(vmissed) != 0;
#endif
    return missed;
}

#undef LE4NN_NAME
#undef LE4NN_NAME_
#undef LE4NN_NAME__
#undef LE4NN_MP_STEP
#undef LE4NN_T
#undef LE4NN_SUF
#undef LE4NN_DOUBLE
