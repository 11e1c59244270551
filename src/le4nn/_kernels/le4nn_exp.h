#ifndef LE4NN_EXP_H
#define LE4NN_EXP_H
/* le4nn_exp.h: the vectorizable exp shared by activations.pyx and softmax.pyx.

   exp(a) for a <= 0 (or NaN), in plain branch-free arithmetic so that GCC vectorizes the loops that
   call it (libm's scalar exp/expf is vectorized only under -ffast-math, and the scalar calls made
   the kernels slower than NumPy's SIMD exp).  Cody-Waite reduction a = n ln2 + r, |r| <= ln2/2, and
   the Cephes (S. Moshier) polynomial (float32) or rational function (float64) for exp(r): 1 ulp (float32)
   and 2 ulp (float64) from the exact value.  The scale 2^n is applied as two normal factors, so
   that results below the normal range are rounded once, as by libm.  Arguments below -110 (float32)
   or -760 (float64), -inf included, are clamped there, where the result rounds to 0; the clamp uses
   copysign(bound, a) rather than the constant, which GCC would fold into a separate code path and
   then not vectorize.  A NaN is not clamped and goes through every step: the polynomial is NaN, so
   the result is NaN whatever integer bits the scale got.  No fast-math anywhere.

   LE4NN_SIMD_CLONES: on Linux/GCC the exp-heavy loops are compiled three times, for AVX-512
   (x86-64-v4), AVX2 and the baseline (SSE2), and the loader picks one for the CPU.  No multiply-add
   is fused (fp-contract=off: the v4 clone has FMA instructions but may not contract), so the clones
   give bitwise identical results. */
#include <stdint.h>
#include <string.h>
#include <math.h>

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 8 && defined(__x86_64__) && defined(__linux__)
#define LE4NN_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "avx2", "default"), optimize("fp-contract=off")))
#else
#define LE4NN_SIMD_CLONES
#endif

static inline float le4nn_exp_nonpos_f(float a)
{
    const float magic = 12582912.0f;             /* 1.5 * 2^23: adding it rounds to an integer */
    float c = a < -110.0f ? copysignf(110.0f, a) : a;
    float t = c * 1.44269504088896341f + magic;
    float fn = t - magic;                        /* n = round(c / ln 2) */
    uint32_t tb;
    memcpy(&tb, &t, sizeof tb);
    int32_t n = (int32_t)(tb - UINT32_C(0x4B400000));
    float r = c - fn * 0.693359375f;             /* ln 2 split in two (Cody-Waite) */
    r = r - fn * -2.12194440e-4f;
    float z = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * z + r + 1.0f;                        /* exp(r) */
    int32_t n1 = n >> 1, n2 = n - n1;
    uint32_t b1 = (uint32_t)(n1 + 127) << 23, b2 = (uint32_t)(n2 + 127) << 23;
    float s1, s2;
    memcpy(&s1, &b1, sizeof s1);
    memcpy(&s2, &b2, sizeof s2);
    return (p * s1) * s2;
}

static inline double le4nn_exp_nonpos_d(double a)
{
    const double magic = 6755399441055744.0;     /* 1.5 * 2^52 */
    double c = a < -760.0 ? copysign(760.0, a) : a;
    double t = c * 1.4426950408889634073599 + magic;
    double fn = t - magic;
    uint64_t tb;
    memcpy(&tb, &t, sizeof tb);
    int32_t n = (int32_t)(uint32_t)tb;          /* the low bits of magic are 0 */
    double r = c - fn * 6.93145751953125e-1;
    r = r - fn * 1.42860682030941723212e-6;
    double xx = r * r;                           /* exp(r) = 1 + 2 r P / (Q - r P) */
    double px = r * ((1.26177193074810590878e-4 * xx + 3.02994407707441961300e-2) * xx
                     + 9.99999999999999999910e-1);
    double qx = ((3.00198505138664455042e-6 * xx + 2.52448340349684104192e-3) * xx
                 + 2.27265548208155028766e-1) * xx + 2.00000000000000000009e0;
    double p = 1.0 + 2.0 * (px / (qx - px));
    int32_t n1 = n >> 1, n2 = n - n1;
    uint64_t b1 = (uint64_t)(uint32_t)(n1 + 1023) << 52, b2 = (uint64_t)(uint32_t)(n2 + 1023) << 52;
    double s1, s2;
    memcpy(&s1, &b1, sizeof s1);
    memcpy(&s2, &b2, sizeof s2);
    return (p * s1) * s2;
}
/* sigma(v) = 1/(1+e) for v >= 0 and e/(1+e) for v < 0, with e = exp(-|v|) in (0, 1]: never
   overflows; a NaN input makes e NaN, the select picks e, so NaN propagates.  Branch-free.  (The
   sigmoid kernel of activations.pyx and the epilogue of the sparse products, so both give the same
   bits; compile the loops that call it without contraction, as LE4NN_SIMD_CLONES does.) */
static inline float le4nn_sigmoid1_f(float v)
{
    float e = le4nn_exp_nonpos_f(-fabsf(v));
    return (v >= 0.0f ? 1.0f : e) / (1.0f + e);
}

static inline double le4nn_sigmoid1_d(double v)
{
    double e = le4nn_exp_nonpos_d(-fabs(v));
    return (v >= 0.0 ? 1.0 : e) / (1.0 + e);
}

#endif /* LE4NN_EXP_H */
