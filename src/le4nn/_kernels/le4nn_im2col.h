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
static void le4nn_stream_copy(char *dst, const char *src, Py_ssize_t nbytes) {
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
static void le4nn_store_fence(void) {
#ifdef LE4NN_STREAM
    _mm_sfence();
#endif
}

/* ---- stride-2 rows (deinterleave / interleave), float32 and float64 ---------------------------- */

#include "le4nn_clones.h"

/* dst[t] = src[2t], t < n: an im2col row at horizontal stride 2 (the even elements of an input run).
   With a constant stride the compiler turns the loop into loads and shuffles instead of a scalar
   gather. */
#define LE4NN_GATHER_S2(NAME, T)                                                                        \
static LE4NN_V3_CLONES void NAME(T *restrict dst, const T *restrict src, Py_ssize_t n) {                \
    for (Py_ssize_t t = 0; t < n; ++t) dst[t] = src[2 * t];                                             \
}
LE4NN_GATHER_S2(le4nn_gather_s2_f, float)
LE4NN_GATHER_S2(le4nn_gather_s2_d, double)

/* dst[2t] += src[t], t < n: a col2im row at horizontal stride 2 (one addition per element, in the
   caller's order of window offsets). */
#define LE4NN_SCATTER_ADD_S2(NAME, T)                                                                   \
static LE4NN_V3_CLONES void NAME(T *restrict dst, const T *restrict src, Py_ssize_t n) {                \
    for (Py_ssize_t t = 0; t < n; ++t) dst[2 * t] += src[t];                                            \
}
LE4NN_SCATTER_ADD_S2(le4nn_scatter_add_s2_f, float)
LE4NN_SCATTER_ADD_S2(le4nn_scatter_add_s2_d, double)

#endif /* LE4NN_IM2COL_H */
