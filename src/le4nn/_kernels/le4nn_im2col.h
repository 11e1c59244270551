/* le4nn_im2col.h: streaming copies for im2col.pyx (handout eq. 59-62: the NCHW column matrix,
   written with non-temporal stores when it is too large to stay in the cache).  Included by
   im2col.pyx (after Python.h: Py_ssize_t). */
#ifndef LE4NN_IM2COL_H
#define LE4NN_IM2COL_H

/* Copy with non-temporal (streaming) stores for the whole 64-byte lines of dst: a store that
   fills a line need not first read it from memory (no read-for-ownership), which is what
   limits a plain store loop into a large, cold buffer.  Partial lines at either end use
   ordinary stores.  Without SSE2 (non-x86 targets) this is memcpy. */
#include <string.h>
#include <stdint.h>
#if !defined(LE4NN_NO_SIMD) && (defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2))
#include <emmintrin.h>
#define LE4NN_STREAM 1
#endif
static inline void le4nn_stream_copy(char *dst, const char *src, Py_ssize_t nbytes) {
#ifdef LE4NN_STREAM
    Py_ssize_t head = (Py_ssize_t)((64 - ((uintptr_t)dst & 63)) & 63);
    Py_ssize_t i;
    if (head > nbytes) head = nbytes;
    memcpy(dst, src, (size_t)head);
    for (i = head; i + 64 <= nbytes; i += 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(src + i + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(src + i + 32));
        __m128i d = _mm_loadu_si128((const __m128i *)(src + i + 48));
        _mm_stream_si128((__m128i *)(dst + i), a);
        _mm_stream_si128((__m128i *)(dst + i + 16), b);
        _mm_stream_si128((__m128i *)(dst + i + 32), c);
        _mm_stream_si128((__m128i *)(dst + i + 48), d);
    }
    memcpy(dst + i, src + i, (size_t)(nbytes - i));
#else
    memcpy(dst, src, (size_t)nbytes);
#endif
}
/* Make the streaming stores visible before the OpenMP barrier (they are weakly ordered). */
static inline void le4nn_store_fence(void) {
#ifdef LE4NN_STREAM
    _mm_sfence();
#endif
}

/* ---- whole planes, float32 and float64 ---------------------------------------------------------- */

/* The plane loops copy and zero runs of a few elements (8 on a ResNet's 16×16 planes at stride 2):
   GCC would turn them into memcpy/memset calls, which cost more than the runs themselves. */
#if defined(__GNUC__) && !defined(__clang__)
#define LE4NN_INLINE_LOOPS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define LE4NN_INLINE_LOOPS
#endif

/* bnd (from im2col.pyx's _bounds): row i < kh holds (oh_lo, oh_hi), the output rows whose offset
   row i lies inside the input; row kh + j holds (ow_lo, ow_hi) for offset column j. */

/* Consecutive planes of a thread's work are (b, c), (b + 1, c): C·H·W apart in x, each a new page
   that the hardware prefetcher does not anticipate, so every plane would start with a dozen cache
   misses in a row.  So each call prefetches the next plane (its first 16 KB). */
#if defined(__GNUC__)
#define LE4NN_PREFETCH_PLANE(p, nbytes, rw)                                                             \
    do {                                                                                                \
        if (p) {                                                                                        \
            const char *pf_ = (const char *)(p);                                                        \
            const Py_ssize_t end_ = (nbytes) < 16384 ? (nbytes) : 16384;                                \
            for (Py_ssize_t b_ = 0; b_ < end_; b_ += 64) __builtin_prefetch(pf_ + b_, rw);              \
        }                                                                                               \
    } while (0)
#else
#define LE4NN_PREFETCH_PLANE(p, nbytes, rw) ((void)0)
#endif

/* ---- phase planes (strides 2) ------------------------------------------------------------------- */

/* At vertical and horizontal strides up to 2 (not both 1), a plane of up to this many elements is
   first split into its sh·sw phase planes, P[ph][pw][r][c] = x[r·sh + ph][c·sw + pw] (zeros beyond
   the plane), each ceil(H/sh) × ceil(W/sw), on the stack.  Window offset (i, j) then reads phase
   plane ((i − pt) mod sh, (j − pl) mod sw) at a shift, as at stride 1: every output row is one
   contiguous run, and where the output is as wide as the phase plane a whole segment is one shifted
   copy.  (Without the split, a ResNet's 16×16 planes at stride 2 are rows of 8 strided elements:
   the loop overhead is most of the time.)  im2col only: col2im measured no faster this way than
   its plain loops in im2col.pyx. */
#define LE4NN_PHASE_MAX 4096

/* Whether a plane takes the phase split (worth it when the kh·kw segments read each phase plane
   twice or more on average: not for a 1×1 window at stride 2, which reads one phase); the element
   count of its phase planes. */
#define LE4NN_PHASED(H, W, kh, kw, sh, sw)                                                              \
    ((sh) * (sw) > 1 && (sh) <= 2 && (sw) <= 2 && (kh) * (kw) >= 2 * (sh) * (sw)                        \
     && LE4NN_PHASE_SIZE(H, W, sh, sw) <= LE4NN_PHASE_MAX)
#define LE4NN_PHASE_SIZE(H, W, sh, sw) (((H) + (sh) - 1) / (sh) * (sh) * (((W) + (sw) - 1) / (sw) * (sw)))

/* Where window offset (i, j) reads, as a stride-1 window on plane P of row length PW: output (oh, ow)
   reads P[(oh + dr)·PW + ow + dc] (set by LE4NN_OFFSET_PLANE from the plane xp or its phases). */
#define LE4NN_OFFSET_PLANE(P, PW, dr, dc, base, phases, Hc, Wc, W, i, j, sh, sw, pt, pl)               \
    do {                                                                                                \
        if (phases) {                                                                                   \
            /* strides 1 or 2 here: the phase is the low bit, the shift an exact halving */             \
            const int ph_ = ((i) - (pt)) & ((sh) - 1), pw_ = ((j) - (pl)) & ((sw) - 1);                 \
            P = (phases) + (Py_ssize_t)(ph_ * (sw) + pw_) * (Hc) * (Wc);                                \
            PW = (Wc);                                                                                  \
            dr = (sh) == 2 ? ((i) - (pt) - ph_) / 2 : (i) - (pt);                                       \
            dc = (sw) == 2 ? ((j) - (pl) - pw_) / 2 : (j) - (pl);                                       \
        } else {                                                                                        \
            P = (base); PW = (W); dr = (i) - (pt); dc = (j) - (pl);                                     \
        }                                                                                               \
    } while (0)

/* ---- whole planes, float32 and float64 (the strided fallbacks for larger strides) ---------------- */

/* dst[t] = src[t], t < n, for short runs (a row of 8 to 32 elements): blocks of 8 and 4 (one AVX or
   SSE operation each), at most 3 scalar steps.  The compiler's own vectorized loop would leave up to
   7 scalar iterations on a row of 31 (the row beside a padding column). */
#define LE4NN_COPY_RUN(dst, src, n)                                                                     \
    do {                                                                                                \
        Py_ssize_t t_ = 0;                                                                              \
        for (; t_ + 8 <= (n); t_ += 8) for (int q_ = 0; q_ < 8; ++q_) (dst)[t_ + q_] = (src)[t_ + q_];  \
        for (; t_ + 4 <= (n); t_ += 4) for (int q_ = 0; q_ < 4; ++q_) (dst)[t_ + q_] = (src)[t_ + q_];  \
        for (; t_ < (n); ++t_) (dst)[t_] = (src)[t_];                                                   \
    } while (0)

/* out[t] = in[t·s], t < n (a plain loop: spelling out stride 2 measured slower on short rows). */
#define LE4NN_STRIDED_ROW(out, in, n, s)                                                                \
    do { for (Py_ssize_t t_ = 0; t_ < (n); ++t_) (out)[t_] = (in)[t_ * (s)]; } while (0)

/* The kh·kw segments (ld apart) of one input plane xp (H·W): segment (i, j) holds, for every output
   (oh, ow), the input at (oh·sh − pt + i, ow·sw − pl + j), 0 on the padding.  With a scratch segment
   (L1) each segment is built there and streamed out whole (large column matrices).  Everything
   inline: a ResNet's small planes (8×8 outputs) leave no room for a call per row.  One baseline
   build (no x86-64-v3 clone: it measured no faster on these short rows, and slower where AVX2
   turns a strided row into gathers). */
#define LE4NN_IM2COL_PLANE(NAME, T)                                                                     \
static LE4NN_INLINE_LOOPS void NAME(const T *restrict xp, T *restrict dst0, Py_ssize_t ld, \
                                 const T *next, T *restrict scratch, Py_ssize_t H, Py_ssize_t W, int kh, \
                                 int kw, int sh, int sw, int pt, int pl, Py_ssize_t OH, Py_ssize_t OW,  \
                                 const Py_ssize_t *bnd)                                                 \
{                                                                                                       \
    const Py_ssize_t L = OH * OW;                                                                       \
    const int phased = LE4NN_PHASED(H, W, kh, kw, sh, sw);                                                      \
    const Py_ssize_t Hc = (H + sh - 1) / sh, Wc = (W + sw - 1) / sw;                                    \
    T buf[phased ? LE4NN_PHASE_SIZE(H, W, sh, sw) : 1];                                                 \
    if (kh >= sh && kw >= sw) /* the windows read the whole plane (not so a 1×1 at stride 2) */        \
        LE4NN_PREFETCH_PLANE(next, H * W * (Py_ssize_t)sizeof(T), 0);                                   \
    if (phased) {                                                                                       \
        for (int ph = 0; ph < sh; ++ph)                                                                 \
            for (int pw = 0; pw < sw; ++pw) {                                                           \
                T *restrict q = buf + (Py_ssize_t)(ph * sw + pw) * Hc * Wc;                             \
                const Py_ssize_t nv = (W - pw + sw - 1) / sw;                                           \
                for (Py_ssize_t r = 0; r < Hc; ++r) {                                                   \
                    const Py_ssize_t h = r * sh + ph;                                                   \
                    T *restrict qr = q + r * Wc;                                                        \
                    Py_ssize_t c = 0;                                                                   \
                    if (h < H) {                                                                        \
                        const T *restrict in = xp + h * W + pw;                                         \
                        if (sw == 2) for (; c < nv; ++c) qr[c] = in[2 * c];                             \
                        else for (; c < nv; ++c) qr[c] = in[c];                                         \
                    }                                                                                   \
                    for (; c < Wc; ++c) qr[c] = 0;                                                      \
                }                                                                                       \
            }                                                                                           \
    }                                                                                                   \
    for (int i = 0; i < kh; ++i) {                                                                      \
        const Py_ssize_t oh_lo = bnd[2 * i], oh_hi = bnd[2 * i + 1];                                    \
        for (int j = 0; j < kw; ++j) {                                                                  \
            const Py_ssize_t ow_lo = bnd[2 * (kh + j)], ow_hi = bnd[2 * (kh + j) + 1];                  \
            const Py_ssize_t n = ow_hi - ow_lo;                                                         \
            T *restrict dst = scratch ? scratch : dst0 + (Py_ssize_t)(i * kw + j) * ld;                 \
            const T *P; Py_ssize_t PW, dr, dc;                                                          \
            LE4NN_OFFSET_PLANE(P, PW, dr, dc, xp, phased ? buf : NULL, Hc, Wc, W, i, j, sh, sw, pt, pl); \
            if (oh_lo == oh_hi || n == 0) {                                                             \
                for (Py_ssize_t t = 0; t < L; ++t) dst[t] = 0;                                          \
            } else if ((phased || (sh == 1 && sw == 1)) && OW == PW) {                                  \
                /* Rows are consecutive in both the plane and the segment: one shifted copy, then   \
                   zero the border columns (they received the neighbouring row's elements). */     \
                const Py_ssize_t start = oh_lo * OW + ow_lo, end = (oh_hi - 1) * OW + ow_hi;           \
                const T *restrict src = P + (oh_lo + dr) * PW + ow_lo + dc;                             \
                for (Py_ssize_t t = 0; t < start; ++t) dst[t] = 0;                                      \
                if (end - start >= 512) /* a call pays only for long runs (8×8 planes: 9 calls each) */ \
                    memcpy(dst + start, src, (size_t)(end - start) * sizeof(T));                        \
                else                                                                                    \
                    LE4NN_COPY_RUN(dst + start, src, end - start);                                      \
                for (Py_ssize_t t = end; t < L; ++t) dst[t] = 0;                                        \
                if (n != OW) {                                                                          \
                    for (Py_ssize_t oh = oh_lo; oh < oh_hi; ++oh) {                                     \
                        for (Py_ssize_t o = 0; o < ow_lo; ++o) dst[oh * OW + o] = 0;                    \
                        for (Py_ssize_t o = ow_hi; o < OW; ++o) dst[oh * OW + o] = 0;                   \
                    }                                                                                   \
                }                                                                                       \
            } else {                                                                                    \
                const int unit = phased || (sh == 1 && sw == 1);                                        \
                for (Py_ssize_t t = 0; t < oh_lo * OW; ++t) dst[t] = 0;                                 \
                for (Py_ssize_t oh = oh_lo; oh < oh_hi; ++oh) {                                         \
                    T *restrict row = dst + oh * OW;                                                    \
                    for (Py_ssize_t o = 0; o < ow_lo; ++o) row[o] = 0;                                  \
                    if (unit) {                                                                         \
                        const T *restrict src = P + (oh + dr) * PW + ow_lo + dc;                        \
                        LE4NN_COPY_RUN(row + ow_lo, src, n);                                            \
                    } else {                                                                            \
                        LE4NN_STRIDED_ROW(row + ow_lo, xp + (oh * sh - pt + i) * W + ow_lo * sw - pl + j, \
                                          n, sw);                                                       \
                    }                                                                                   \
                    for (Py_ssize_t o = ow_hi; o < OW; ++o) row[o] = 0;                                 \
                }                                                                                       \
                for (Py_ssize_t t = oh_hi * OW; t < L; ++t) dst[t] = 0;                                 \
            }                                                                                           \
            if (scratch)                                                                                \
                le4nn_stream_copy((char *)(dst0 + (Py_ssize_t)(i * kw + j) * ld), (const char *)scratch, \
                                  L * (Py_ssize_t)sizeof(T));                                           \
        }                                                                                               \
    }                                                                                                   \
    if (scratch) le4nn_store_fence();                                                                   \
}
LE4NN_IM2COL_PLANE(le4nn_im2col_plane_f, float)
LE4NN_IM2COL_PLANE(le4nn_im2col_plane_d, double)

/* ---- col2im on phase planes (strides up to 2) --------------------------------------------------- */

/* dst[t] += src[t], t < n, for short runs (as LE4NN_COPY_RUN). */
#define LE4NN_ADD_RUN(dst, src, n)                                                                      \
    do {                                                                                                \
        Py_ssize_t t_ = 0;                                                                              \
        for (; t_ + 8 <= (n); t_ += 8) for (int q_ = 0; q_ < 8; ++q_) (dst)[t_ + q_] += (src)[t_ + q_]; \
        for (; t_ + 4 <= (n); t_ += 4) for (int q_ = 0; q_ < 4; ++q_) (dst)[t_ + q_] += (src)[t_ + q_]; \
        for (; t_ < (n); ++t_) (dst)[t_] += (src)[t_];                                                  \
    } while (0)

/* Overwrite one plane xp (H·W) with the sum of its kh·kw segments (src0, ld apart), for the planes
   that LE4NN_PHASED accepts (strides 1 or 2, the phase planes on the stack).  The segments are
   added into the zeroed phase planes, where every output row of offset (i, j) is one contiguous run
   (at stride 2 on the plane itself it would be a strided read-modify-write, one scalar per element);
   then each input row is written once, interleaved from its phase rows.  The offsets are visited in
   the reference's row-major order and every sum starts from 0, so each element is summed exactly as
   the reference sums it (the same bits, −0 + 0 = +0 included). */
#define LE4NN_COL2IM_PHASED(NAME, T)                                                                    \
static LE4NN_INLINE_LOOPS void NAME(const T *restrict src0, T *restrict xp, Py_ssize_t ld, Py_ssize_t H, \
                                    Py_ssize_t W, int kh, int kw, int sh, int sw, int pt, int pl,      \
                                    Py_ssize_t OH, Py_ssize_t OW, const Py_ssize_t *bnd, T *next)       \
{                                                                                                       \
    const Py_ssize_t Hc = (H + sh - 1) / sh, Wc = (W + sw - 1) / sw, HWc = Hc * Wc;                     \
    LE4NN_PREFETCH_PLANE(next, H * W * (Py_ssize_t)sizeof(T), 1); /* the thread's next plane: a new page */ \
    if (next) /* and the next plane's kh·kw segments (L further on): kh·kw streams, too many for the    \
                 hardware prefetcher to follow alone */                                                \
        for (int k_ = 0; k_ < kh * kw; ++k_)                                                            \
            LE4NN_PREFETCH_PLANE(src0 + (Py_ssize_t)k_ * ld + OH * OW, OH * OW * (Py_ssize_t)sizeof(T), 0); \
    T buf[LE4NN_PHASE_SIZE(H, W, sh, sw)];                                                              \
    for (Py_ssize_t t = 0; t < sh * sw * HWc; ++t) buf[t] = 0;                                          \
    for (int i = 0; i < kh; ++i) {                                                                      \
        const Py_ssize_t oh_lo = bnd[2 * i], oh_hi = bnd[2 * i + 1];                                    \
        for (int j = 0; j < kw; ++j) {                                                                  \
            const Py_ssize_t ow_lo = bnd[2 * (kh + j)], ow_hi = bnd[2 * (kh + j) + 1];                  \
            const Py_ssize_t n = ow_hi - ow_lo;                                                         \
            const T *restrict seg = src0 + (Py_ssize_t)(i * kw + j) * ld;                               \
            T *P; Py_ssize_t PW, dr, dc;                                                                \
            LE4NN_OFFSET_PLANE(P, PW, dr, dc, NULL, buf, Hc, Wc, W, i, j, sh, sw, pt, pl);              \
            if (n <= 0 || oh_lo == oh_hi) continue;                                                     \
            if (n == OW && PW == OW) { /* whole rows on both sides: one run */                          \
                T *restrict d = P + (oh_lo + dr) * PW + dc;                                             \
                const T *restrict s = seg + oh_lo * OW;                                                 \
                const Py_ssize_t m = (oh_hi - oh_lo) * OW;                                              \
                for (Py_ssize_t t = 0; t < m; ++t) d[t] += s[t];                                        \
                continue;                                                                               \
            }                                                                                           \
            for (Py_ssize_t oh = oh_lo; oh < oh_hi; ++oh) {                                             \
                T *restrict d = P + (oh + dr) * PW + ow_lo + dc;                                        \
                const T *restrict s = seg + oh * OW + ow_lo;                                            \
                LE4NN_ADD_RUN(d, s, n);                                                                 \
            }                                                                                           \
        }                                                                                               \
    }                                                                                                   \
    for (Py_ssize_t h = 0; h < H; ++h) {                                                                \
        const int ph = (int)(h & (sh - 1));                                                             \
        const Py_ssize_t r = sh == 2 ? h >> 1 : h;                                                      \
        T *restrict xr = xp + h * W;                                                                    \
        const T *restrict q0 = buf + (Py_ssize_t)(ph * sw) * HWc + r * Wc;                              \
        if (sw == 2) {                                                                                  \
            const T *restrict q1 = q0 + HWc;                                                            \
            const Py_ssize_t half = W >> 1;                                                             \
            for (Py_ssize_t c = 0; c < half; ++c) {                                                     \
                xr[2 * c] = q0[c];                                                                      \
                xr[2 * c + 1] = q1[c];                                                                  \
            }                                                                                           \
            if (W & 1) xr[W - 1] = q0[half];                                                            \
        } else {                                                                                        \
            LE4NN_COPY_RUN(xr, q0, W);                                                                  \
        }                                                                                               \
    }                                                                                                   \
}
LE4NN_COL2IM_PHASED(le4nn_col2im_phased_f, float)
LE4NN_COL2IM_PHASED(le4nn_col2im_phased_d, double)

/* ---- 1×1 windows that read no padding (a ResNet's stride-2 projections) ------------------------- */

/* im2col: the segment is the plane subsampled, dst[oh·OW + ow] = xp[oh·sh·W + ow·sw]; at column
   stride 2 (float32, SSE2) four outputs are one shuffle of two loads.  Rows between the strides
   are never read. */
#define LE4NN_POINTWISE_IM2COL(NAME, T, VEC2)                                                           \
static LE4NN_INLINE_LOOPS void NAME(const T *restrict xp, T *restrict dst, Py_ssize_t W, int sh,       \
                                    int sw, Py_ssize_t OH, Py_ssize_t OW, const T *next)                \
{                                                                                                       \
    if (next) /* the rows of the thread's next plane that it reads (a new page, see above) */           \
        for (Py_ssize_t oh = 0; oh < OH; ++oh)                                                          \
            LE4NN_PREFETCH_PLANE(next + oh * sh * W, (Py_ssize_t)((OW - 1) * sw + 1) * (Py_ssize_t)sizeof(T), 0); \
    for (Py_ssize_t oh = 0; oh < OH; ++oh) {                                                            \
        const T *restrict in = xp + oh * sh * W;                                                        \
        T *restrict out = dst + oh * OW;                                                                \
        Py_ssize_t ow = 0;                                                                              \
        if (sw == 2) {                                                                                  \
            VEC2                                                                                        \
            for (; ow < OW; ++ow) out[ow] = in[2 * ow];                                                 \
        } else if (sw == 1) {                                                                           \
            LE4NN_COPY_RUN(out, in, OW);                                                                \
        } else {                                                                                        \
            LE4NN_STRIDED_ROW(out, in, OW, sw);                                                         \
        }                                                                                               \
    }                                                                                                   \
}
#ifdef LE4NN_STREAM
#define LE4NN_DEINTERLEAVE_F                                                                            \
    for (; ow + 4 <= OW && 2 * ow + 8 <= W; ow += 4) {                                                  \
        const __m128 a_ = _mm_loadu_ps(in + 2 * ow), b_ = _mm_loadu_ps(in + 2 * ow + 4);                \
        _mm_storeu_ps(out + ow, _mm_shuffle_ps(a_, b_, _MM_SHUFFLE(2, 0, 2, 0)));                       \
    }
#define LE4NN_INTERLEAVE_F                                                                              \
    for (; ow + 4 <= OW && 2 * ow + 8 <= W; ow += 4) {                                                  \
        const __m128 v_ = _mm_add_ps(_mm_loadu_ps(src + ow), _mm_setzero_ps());                         \
        _mm_storeu_ps(out + 2 * ow, _mm_unpacklo_ps(v_, _mm_setzero_ps()));                             \
        _mm_storeu_ps(out + 2 * ow + 4, _mm_unpackhi_ps(v_, _mm_setzero_ps()));                         \
    }
#else
#define LE4NN_DEINTERLEAVE_F
#define LE4NN_INTERLEAVE_F
#endif
LE4NN_POINTWISE_IM2COL(le4nn_pointwise_im2col_f, float, LE4NN_DEINTERLEAVE_F)
LE4NN_POINTWISE_IM2COL(le4nn_pointwise_im2col_d, double, )

/* col2im: the plane is 0 except x[oh·sh][ow·sw] = 0 + segment[oh·OW + ow] (the reference adds the
   segment into zeros: −0 becomes +0); every element written once, no read-modify-write. */
#define LE4NN_POINTWISE_COL2IM(NAME, T, VEC2)                                                           \
static LE4NN_INLINE_LOOPS void NAME(const T *restrict seg, T *restrict xp, Py_ssize_t H, Py_ssize_t W, \
                                    int sh, int sw, Py_ssize_t OH, Py_ssize_t OW, T *next)              \
{                                                                                                       \
    LE4NN_PREFETCH_PLANE(next, H * W * (Py_ssize_t)sizeof(T), 1); /* the thread's next plane: a new page */ \
    for (Py_ssize_t h = 0; h < H; ++h) {                                                                \
        T *restrict out = xp + h * W;                                                                   \
        const Py_ssize_t oh = h / sh;                                                                   \
        if (h != oh * sh || oh >= OH) {                                                                 \
            for (Py_ssize_t w = 0; w < W; ++w) out[w] = 0;                                              \
            continue;                                                                                   \
        }                                                                                               \
        const T *restrict src = seg + oh * OW;                                                          \
        Py_ssize_t ow = 0;                                                                              \
        if (sw == 2) {                                                                                  \
            VEC2                                                                                        \
            for (; ow < OW; ++ow) {                                                                     \
                out[2 * ow] = src[ow] + (T)0;                                                           \
                if (2 * ow + 1 < W) out[2 * ow + 1] = 0;                                                \
            }                                                                                           \
            for (Py_ssize_t w = 2 * OW; w < W; ++w) out[w] = 0;                                         \
        } else {                                                                                        \
            for (Py_ssize_t w = 0; w < W; ++w) out[w] = 0;                                              \
            for (; ow < OW; ++ow) out[ow * sw] = src[ow] + (T)0;                                        \
        }                                                                                               \
    }                                                                                                   \
}
LE4NN_POINTWISE_COL2IM(le4nn_pointwise_col2im_f, float, LE4NN_INTERLEAVE_F)
LE4NN_POINTWISE_COL2IM(le4nn_pointwise_col2im_d, double, )


#endif /* LE4NN_IM2COL_H */
