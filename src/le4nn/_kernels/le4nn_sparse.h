/* le4nn_sparse.h: the products of sparse.pyx, z = x . w (the affine layer of handout 4.2, with
   the bias + ReLU/sigmoid epilogue fused) and g = x^T . d (its weight gradient), visiting only the
   nonzero terms of x; compiled for AVX-512, AVX2 and the baseline, and shared among threads by the
   helper-thread pool (le4nn_pool.h).  Included by sparse.pyx (after
   Python.h: Py_ssize_t). */
#ifndef LE4NN_SPARSE_H
#define LE4NN_SPARSE_H

#include "le4nn_clones.h"

#include <stdint.h>
#include <string.h>
#include "le4nn_pool.h"  /* le4nn_pool_runner: threads.pool_run shares items among spinning threads */
#include "le4nn_exp.h"   /* le4nn_sigmoid1_*, LE4NN_SIMD_CLONES: the epilogue's sigmoid */

enum { LE4NN_ACT_NONE = 0, LE4NN_ACT_RELU = 1, LE4NN_ACT_SIGMOID = 2 };

/* The epilogue of z = x . w on rows that were just computed (still in L1): z + bias (if any), then
   ReLU or the sigmoid, with the same operations as ops.bias_relu_forward and ops.sigmoid_forward
   (no contraction), so the fused product gives their bits. */
#define LE4NN_EPILOGUE_DEFINE(T, SUFFIX)                                                           \
static LE4NN_SIMD_CLONES void le4nn_sparse_epilogue_##SUFFIX(                                      \
    T *restrict z, const T *restrict bias, Py_ssize_t rows, Py_ssize_t K, int act)                 \
{                                                                                                  \
    for (Py_ssize_t r = 0; r < rows; ++r) {                                                        \
        T *zr = z + r * K;                                                                         \
        if (bias) for (Py_ssize_t k = 0; k < K; ++k) zr[k] = zr[k] + bias[k];                      \
        if (act == LE4NN_ACT_RELU)                                                                 \
            for (Py_ssize_t k = 0; k < K; ++k) zr[k] = zr[k] <= 0 ? (T)0 : zr[k];                  \
        else if (act == LE4NN_ACT_SIGMOID)                                                         \
            for (Py_ssize_t k = 0; k < K; ++k) zr[k] = le4nn_sigmoid1_##SUFFIX(zr[k]);             \
    }                                                                                              \
}
LE4NN_EPILOGUE_DEFINE(float, f)
LE4NN_EPILOGUE_DEFINE(double, d)

/* GCC/Clang vector extensions (as in le4nn_vec8.h).  V: 64 bytes (one AVX-512 register in the
   x86-64-v4 clone, two AVX registers in the v3 clone, four SSE registers on the baseline); V2 and
   V4: 32 and 16 bytes, for the last columns.  Unaligned loads and stores go through memcpy. */
typedef float le4nn_v16f __attribute__((vector_size(64)));
typedef float le4nn_v8f __attribute__((vector_size(32)));
typedef float le4nn_v4f __attribute__((vector_size(16)));
typedef double le4nn_v8d __attribute__((vector_size(64)));
typedef double le4nn_v4d __attribute__((vector_size(32)));
typedef double le4nn_v2d __attribute__((vector_size(16)));
static const le4nn_v16f le4nn_ones16f = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
static const le4nn_v8f le4nn_ones8f = {1, 1, 1, 1, 1, 1, 1, 1};
static const le4nn_v4f le4nn_ones4f = {1, 1, 1, 1};
static const le4nn_v8d le4nn_ones8d = {1, 1, 1, 1, 1, 1, 1, 1};
static const le4nn_v4d le4nn_ones4d = {1, 1, 1, 1};
static const le4nn_v2d le4nn_ones2d = {1, 1};

/* x in every lane: x * 1 is exactly x, so GCC folds the product away and loads x with one
   broadcast (it builds {x, x, ...} lane by lane, and x + 0 is not exact for x = -0). */
#define LE4NN_SPLAT(ONES, x) ((x) * (ONES))

/* Columns [k0, k0 + lanes of VT) of the four sums, one vector each (the last columns). */
#define LE4NN_PANEL_BLOCK(T, VT, ONES)                                                             \
    {                                                                                              \
        VT a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};                                                 \
        for (Py_ssize_t u = 0; u < n; ++u) {                                                       \
            const Py_ssize_t i = idx[u];                                                           \
            VT s0;                                                                                 \
            memcpy(&s0, S + i * ld + k0, sizeof s0);                                               \
            const Py_ssize_t at = i * cs;                                                          \
            a0 += LE4NN_SPLAT(ONES, q0[at]) * s0; a1 += LE4NN_SPLAT(ONES, q1[at]) * s0;            \
            a2 += LE4NN_SPLAT(ONES, q2[at]) * s0; a3 += LE4NN_SPLAT(ONES, q3[at]) * s0;            \
        }                                                                                          \
        const VT sums[4] = {a0, a1, a2, a3};                                                       \
        for (int r = 0; r < rows; ++r) memcpy(out + r * ldo + k0, &sums[r], sizeof a0);            \
        k0 += sizeof(VT) / sizeof(T);                                                              \
    }

/* For T = float (V of L = 16 lanes) and T = double (L = 8):

   le4nn_panel4_T(q, cs, idx, n, S, ld, K, out, ldo, rows):
       out[r * ldo + k] = sum over u < n of q[r][idx[u] * cs] * S[idx[u] * ld + k]
   for r < rows (<= 4), k < K, summed in order of u: four output rows at once, so that each
   vector of S loaded feeds four multiply-adds; up to four vectors of columns per pass over the
   nonzeros (16 accumulators), so K = 100 floats takes two passes (64 + 36 columns, the last
   vector overlapping the one before it).

   le4nn_flags_to_list(flag, n, idx): the positions of the nonzero bytes of flag[0 .. n) (n a
   multiple of 8), in ascending order; returns their count. */
static inline __attribute__((always_inline)) Py_ssize_t le4nn_flags_to_list(
    const unsigned char *restrict flag, Py_ssize_t n, int *restrict idx)
{
    Py_ssize_t count = 0;
    for (Py_ssize_t i = 0; i < n; i += 8) {
        uint64_t word;
        memcpy(&word, flag + i, 8);
        while (word) {  /* one iteration per set byte; a zero word costs one test */
            idx[count++] = (int)(i + (__builtin_ctzll(word) >> 3));
            word &= word - 1;
        }
    }
    return count;
}

/* Columns off[0 .. NV) of the four sums (NV vectors, each a whole V; the last may overlap its
   neighbour, which then gets the same values twice): one pass over the nonzeros. */
#define LE4NN_PANEL_PASS(T, V, ONES, NV)                                                           \
    {                                                                                              \
        V acc[4][NV];                                                                              \
        for (int r = 0; r < 4; ++r) for (int j = 0; j < NV; ++j) acc[r][j] = (V){0};               \
        for (Py_ssize_t u = 0; u < n; ++u) {                                                       \
            const Py_ssize_t i = idx[u], at = i * cs;                                              \
            const T *srow = S + i * ld;                                                            \
            const V p0 = LE4NN_SPLAT(ONES, q0[at]), p1 = LE4NN_SPLAT(ONES, q1[at]);                \
            const V p2 = LE4NN_SPLAT(ONES, q2[at]), p3 = LE4NN_SPLAT(ONES, q3[at]);                \
            for (int j = 0; j < NV; ++j) {                                                         \
                V s;                                                                               \
                memcpy(&s, srow + off[j], sizeof s);                                               \
                acc[0][j] += p0 * s; acc[1][j] += p1 * s; acc[2][j] += p2 * s; acc[3][j] += p3 * s; \
            }                                                                                      \
        }                                                                                          \
        for (int r = 0; r < rows; ++r)                                                             \
            for (int j = 0; j < NV; ++j) memcpy(out + r * ldo + off[j], &acc[r][j], sizeof(V));    \
    }

/* The union list of a group of four float32 rows straight from AVX-512 compares and compresses
   (16 pixels per step, no byte flags): where the CPU has AVX-512F, checked once. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && defined(__x86_64__) && defined(__linux__)
#include <immintrin.h>
#define LE4NN_HAVE_UNION4_AVX512 1
__attribute__((target("avx512f"))) static Py_ssize_t le4nn_union4_avx512_f(
    const float *x, Py_ssize_t N, int *idx)
{
    const uint32_t *r = (const uint32_t *)x;
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    Py_ssize_t count = 0;
    for (Py_ssize_t i = 0; i < N; i += 16) {
        const __mmask16 live = N - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (N - i)) - 1);
        __m512i a = _mm512_maskz_loadu_epi32(live, r + i);
        a = _mm512_or_si512(a, _mm512_maskz_loadu_epi32(live, r + N + i));
        a = _mm512_or_si512(a, _mm512_maskz_loadu_epi32(live, r + 2 * N + i));
        a = _mm512_or_si512(a, _mm512_maskz_loadu_epi32(live, r + 3 * N + i));
        a = _mm512_slli_epi32(a, 1);  /* drop the sign bit: -0.0 counts as zero */
        const __mmask16 m = _mm512_test_epi32_mask(a, a);
        const __m512i at = _mm512_add_epi32(iota, _mm512_set1_epi32((int)i));
        _mm512_storeu_si512((void *)(idx + count), _mm512_maskz_compress_epi32(m, at));
        count += __builtin_popcount((unsigned)m);
    }
    return count;
}
static int le4nn_union4_cpu = -1;         /* the CPU has AVX-512F: unknown, no, yes */
static int le4nn_union4_avx512_ok = -1;  /* in use: unknown (as the CPU), no, yes */
static inline int le4nn_use_union4_avx512(void) {
    if (le4nn_union4_avx512_ok < 0) {
        __builtin_cpu_init();
        le4nn_union4_cpu = __builtin_cpu_supports("avx512f") ? 1 : 0;
        le4nn_union4_avx512_ok = le4nn_union4_cpu;
    }
    return le4nn_union4_avx512_ok;
}
/* For the tests: use (1) or not (0) the AVX-512 union lists where the CPU has them; returns whether
   they were in use. */
static int le4nn_set_union4_avx512(int on) {
    const int before = le4nn_use_union4_avx512();
    le4nn_union4_avx512_ok = on && le4nn_union4_cpu;
    return before;
}
#else
#define LE4NN_HAVE_UNION4_AVX512 0
static int le4nn_set_union4_avx512(int on) { (void)on; return 0; }
#endif

#if LE4NN_HAVE_UNION4_AVX512
#define LE4NN_UNION4_FAST(T, x, N, idx, n)                                                          \
    (sizeof(T) == 4 && le4nn_use_union4_avx512()                                                   \
     && (*(n) = le4nn_union4_avx512_f((const float *)(x), (N), (idx)), 1))
#else
#define LE4NN_UNION4_FAST(T, x, N, idx, n) 0
#endif

#define LE4NN_SPARSE_DEFINE(T, UT, V, V2, V4, ONES, ONES2, ONES4, L, SUFFIX)                       \
static inline __attribute__((always_inline)) void le4nn_panel4_##SUFFIX(                          \
    const T *const q[4], Py_ssize_t cs, const int *restrict idx, Py_ssize_t n,                     \
    const T *restrict S, Py_ssize_t ld, Py_ssize_t K, T *restrict out, Py_ssize_t ldo, int rows)   \
{                                                                                                  \
    const T *restrict q0 = q[0], *restrict q1 = q[1], *restrict q2 = q[2], *restrict q3 = q[3];    \
    if (K >= L) {  /* passes of up to four whole vectors, the last overlapping where L does not divide K */ \
        for (Py_ssize_t c0 = 0; c0 < K; c0 += 4 * L) {                                             \
            Py_ssize_t off[4];                                                                     \
            int nv = 0;                                                                            \
            for (; nv < 4 && c0 + nv * L < K; ++nv)                                                \
                off[nv] = c0 + nv * L < K - L ? c0 + nv * L : K - L;                               \
            switch (nv) {                                                                          \
            case 1: LE4NN_PANEL_PASS(T, V, ONES, 1) break;                                         \
            case 2: LE4NN_PANEL_PASS(T, V, ONES, 2) break;                                         \
            case 3: LE4NN_PANEL_PASS(T, V, ONES, 3) break;                                         \
            default: LE4NN_PANEL_PASS(T, V, ONES, 4) break;                                        \
            }                                                                                      \
        }                                                                                          \
        return;                                                                                    \
    }                                                                                              \
    Py_ssize_t k0 = 0;  /* K < L: L/2 and L/4 columns at a time, then single columns */            \
    if (k0 + L / 2 <= K) LE4NN_PANEL_BLOCK(T, V2, ONES2)                                           \
    if (k0 + L / 4 <= K) LE4NN_PANEL_BLOCK(T, V4, ONES4)                                           \
    for (; k0 < K; ++k0) {  /* at most 3 (float) or 1 (double) columns */                        \
        T a0 = 0, a1 = 0, a2 = 0, a3 = 0;                                                          \
        for (Py_ssize_t u = 0; u < n; ++u) {                                                       \
            const Py_ssize_t i = idx[u], at = i * cs;                                              \
            const T s0 = S[i * ld + k0];                                                           \
            a0 += q0[at] * s0; a1 += q1[at] * s0; a2 += q2[at] * s0; a3 += q3[at] * s0;            \
        }                                                                                          \
        const T sums[4] = {a0, a1, a2, a3};                                                        \
        for (int r = 0; r < rows; ++r) out[r * ldo + k0] = sums[r];                                \
    }                                                                                              \
}                                                                                                  \
                                                                                                   \
/* z[0 .. rows) = x[0 .. rows) . w, from x with four rows (rows <= 4; the caller pads with zero    \
   rows); flag: N + 8 bytes, idx: N ints of scratch.  Returns the size of the union. */            \
static LE4NN_V4_CLONES Py_ssize_t le4nn_sparse_group_##SUFFIX(                                    \
    const T *x, const T *w, T *z, Py_ssize_t N, Py_ssize_t K, int rows, unsigned char *flag,       \
    int *idx)                                                                                      \
{                                                                                                  \
    Py_ssize_t n;                                                                                  \
    if (!LE4NN_UNION4_FAST(T, x, N, idx, &n)) {  /* byte flags, then their positions */           \
        const UT *r0 = (const UT *)x, *r1 = r0 + N, *r2 = r0 + 2 * N, *r3 = r0 + 3 * N;            \
        for (Py_ssize_t i = 0; i < N; ++i)  /* << 1 drops the sign bit: -0.0 counts as zero */     \
            flag[i] = ((r0[i] | r1[i] | r2[i] | r3[i]) << 1) != 0;                                 \
        const Py_ssize_t padded = (N + 7) / 8 * 8;                                                 \
        memset(flag + N, 0, (size_t)(padded - N));                                                 \
        n = le4nn_flags_to_list(flag, padded, idx);                                                \
    }                                                                                              \
    const T *q[4] = {x, x + N, x + 2 * N, x + 3 * N};                                              \
    le4nn_panel4_##SUFFIX(q, 1, idx, n, w, K, K, z, K, rows);                                      \
    return n;                                                                                      \
}                                                                                                  \
                                                                                                   \
/* g[i0 .. i0 + width) = (x[:, i0 .. i0 + width))^T . d (width <= 4); flag: B + 8 bytes, idx: B ints \
   of scratch. */                                                                                  \
static LE4NN_V4_CLONES void le4nn_sparse_tn_group_##SUFFIX(                                       \
    const T *x, const T *d, T *g, Py_ssize_t B, Py_ssize_t N, Py_ssize_t K, Py_ssize_t i0,         \
    int width, unsigned char *flag, int *idx)                                                      \
{                                                                                                  \
    const UT *xb = (const UT *)x + i0;                                                             \
    if (width == 4) {                                                                              \
        for (Py_ssize_t b = 0; b < B; ++b, xb += N)                                                \
            flag[b] = ((xb[0] | xb[1] | xb[2] | xb[3]) << 1) != 0;                                 \
    } else {                                                                                       \
        for (Py_ssize_t b = 0; b < B; ++b, xb += N) {                                              \
            UT any = 0;                                                                            \
            for (int c = 0; c < width; ++c) any |= xb[c];                                          \
            flag[b] = (any << 1) != 0;                                                             \
        }                                                                                          \
    }                                                                                              \
    const Py_ssize_t padded = (B + 7) / 8 * 8;                                                     \
    memset(flag + B, 0, (size_t)(padded - B));                                                     \
    const Py_ssize_t n = le4nn_flags_to_list(flag, padded, idx);                                   \
    const T *base = x + i0;  /* columns past the end alias the last one (computed, not stored) */  \
    const T *q[4] = {base, base + (width > 1), base + (width > 2 ? 2 : 0), base + (width > 3 ? 3 : 0)}; \
    le4nn_panel4_##SUFFIX(q, N, idx, n, d, K, K, g + i0 * K, K, width);                            \
}

LE4NN_SPARSE_DEFINE(float, uint32_t, le4nn_v16f, le4nn_v8f, le4nn_v4f, le4nn_ones16f, le4nn_ones8f,
                    le4nn_ones4f, 16, f)
LE4NN_SPARSE_DEFINE(double, uint64_t, le4nn_v8d, le4nn_v4d, le4nn_v2d, le4nn_ones8d, le4nn_ones4d,
                    le4nn_ones2d, 8, d)

/* The work split: groups of four (rows of z, or columns of x for the gradient), a few groups per
   item, items shared out by `run` (threads.pool_run); slot picks the scratch. */
#define LE4NN_SPARSE_JOBS(T, SUFFIX)                                                                 \
typedef struct {                                                                                   \
    const T *x, *w; T *z, *pad; Py_ssize_t B, N, K, full, groups, per_item, stride;                \
    unsigned char *flag; int *idx; Py_ssize_t *visited; const T *bias; int act;                    \
} le4nn_sparse_job_##SUFFIX;                                                                       \
                                                                                                   \
static void le4nn_sparse_item_##SUFFIX(void *ctx, Py_ssize_t item, int slot) {                    \
    const le4nn_sparse_job_##SUFFIX *j = (const le4nn_sparse_job_##SUFFIX *)ctx;                   \
    unsigned char *flag = j->flag + slot * j->stride;                                              \
    int *idx = j->idx + slot * j->stride;                                                          \
    const Py_ssize_t N = j->N, K = j->K, end = (item + 1) * j->per_item;                           \
    for (Py_ssize_t grp = item * j->per_item; grp < end && grp < j->groups; ++grp) {               \
        if (grp < j->full) {                                                                       \
            j->visited[grp] = le4nn_sparse_group_##SUFFIX(j->x + grp * 4 * N, j->w,                \
                                                          j->z + grp * 4 * K, N, K, 4, flag, idx); \
        } else {  /* the last rows, padded with zero rows to a group of four */                     \
            const int rows = (int)(j->B - grp * 4);                                                \
            memcpy(j->pad, j->x + grp * 4 * N, (size_t)(rows * N) * sizeof(T));                    \
            j->visited[grp] = le4nn_sparse_group_##SUFFIX(j->pad, j->w, j->z + grp * 4 * K, N, K,  \
                                                          rows, flag, idx);                        \
        }                                                                                          \
        if (j->bias || j->act != LE4NN_ACT_NONE) {                                                 \
            const Py_ssize_t rows = j->B - grp * 4 < 4 ? j->B - grp * 4 : 4;                       \
            le4nn_sparse_epilogue_##SUFFIX(j->z + grp * 4 * K, j->bias, rows, K, j->act);          \
        }                                                                                          \
    }                                                                                              \
}                                                                                                  \
                                                                                                   \
static void le4nn_sparse_tn_item_##SUFFIX(void *ctx, Py_ssize_t item, int slot) {                 \
    const le4nn_sparse_job_##SUFFIX *j = (const le4nn_sparse_job_##SUFFIX *)ctx;                   \
    unsigned char *flag = j->flag + slot * j->stride;                                              \
    int *idx = j->idx + slot * j->stride;                                                          \
    const Py_ssize_t N = j->N, end = (item + 1) * j->per_item;                                     \
    for (Py_ssize_t grp = item * j->per_item; grp < end && grp < j->groups; ++grp) {               \
        const Py_ssize_t start = grp * 4;                                                          \
        le4nn_sparse_tn_group_##SUFFIX(j->x, j->w, j->z, j->B, N, j->K, start,                     \
                                       (int)(N - start < 4 ? N - start : 4), flag, idx);            \
    }                                                                                              \
}                                                                                                  \
                                                                                                   \
/* z = x . w (tn = 0) or z = x^T . w (tn = 1) on up to `threads` threads; scratch: threads * stride \
   flag bytes and ints; visited (groups of z, tn = 0): the size of each group's union. */          \
static void le4nn_sparse_run_##SUFFIX(                                                             \
    const T *x, const T *w, T *z, T *pad, Py_ssize_t B, Py_ssize_t N, Py_ssize_t K, int tn,       \
    int threads, unsigned char *flag, int *idx, Py_ssize_t stride, Py_ssize_t *visited,            \
    const T *bias, int act, le4nn_pool_runner run)                                                 \
{                                                                                                  \
    const Py_ssize_t groups = ((tn ? N : B) + 3) / 4;                                              \
    Py_ssize_t per_item = groups / ((Py_ssize_t)threads * LE4NN_SPARSE_ITEMS_PER_THREAD);          \
    if (per_item < 1) per_item = 1;                                                                \
    le4nn_sparse_job_##SUFFIX job = {x, w, z, pad, B, N, K, B / 4, groups, per_item, stride,        \
                                     flag, idx, visited, bias, act};                               \
    run(threads, (groups + per_item - 1) / per_item,                                               \
        tn ? le4nn_sparse_tn_item_##SUFFIX : le4nn_sparse_item_##SUFFIX, &job, LE4NN_SPARSE_SPIN_NS);  \
}

#define LE4NN_SPARSE_ITEMS_PER_THREAD 4
/* The helpers stay awake this long after a product: longer than the rest of a training step of
   an MNIST MLP (≈ 0.2 ms), so the next step's products find them spinning. */
#define LE4NN_SPARSE_SPIN_NS 500000
LE4NN_SPARSE_JOBS(float, f)
LE4NN_SPARSE_JOBS(double, d)

#endif /* LE4NN_SPARSE_H */
