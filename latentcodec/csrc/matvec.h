/* Matrix-vector products for streaming one frame at a time (plain C99 with
 * the GCC/Clang vector extension).
 *
 * Written by hand: streams multiply matrices of a few hundred rows by one
 * vector per call, where BLAS's sgemv measured 3x slower than this (its
 * per-call work dominates at these sizes), and its order of summation is its
 * own. Here each sum runs over the input in order, in independent lanes
 * across outputs, with no contraction into FMA, so every build gives the
 * same bits. Reading the weights is what bounds a frame's time, so weights
 * stored as fp16 (as the weight files keep them) are read as fp16.
 */
#ifndef LC_MATVEC_H
#define LC_MATVEC_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef float lc_lanes __attribute__((vector_size(32))); /* eight floats */
#define LC_MATVEC_BLOCK 8                                 /* lanes of sums kept in registers: 64 outputs */

/* fp16 (IEEE binary16 bits) to float: exact. */
static inline float lc_half_to_float(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    uint32_t bits = sign;
    if (exponent == 0x1f)
        bits |= 0x7f800000u | mantissa << 13;
    else if (exponent)
        bits |= (exponent + 112) << 23 | mantissa << 13;
    else if (mantissa) { /* subnormal: normalize */
        uint32_t m = mantissa, shift = 0;
        while (!(m & 0x400)) m <<= 1, shift++;
        bits |= (113 - shift) << 23 | (m & 0x3ff) << 13;
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static inline float lc_float_to_float(float f) { return f; }

static inline void lc_load_float(lc_lanes *v, const float *p) { memcpy(v, p, sizeof *v); }

static inline void lc_load_half(lc_lanes *v, const uint16_t *p) {
    for (int k = 0; k < 8; k++) (*v)[k] = lc_half_to_float(p[k]);
}

/* LATENTCODEC_PLAIN_KERNELS=1 runs the plain build on any CPU (tests compare the two). */
static inline int lc_plain_only(void) {
    static int plain = -1;
    if (plain < 0) {
        const char *setting = getenv("LATENTCODEC_PLAIN_KERNELS");
        plain = setting && *setting && strcmp(setting, "0");
    }
    return plain;
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define LC_WIDE __attribute__((target("avx2,f16c"))) /* 8-float vectors, fp16 loads in one instruction */
#define LC_HAS_WIDE() (!lc_plain_only() && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c"))
LC_WIDE static inline void lc_load_half_wide(lc_lanes *v, const uint16_t *p) {
    const __m256 f = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
    memcpy(v, &f, sizeof *v);
}
#else
#define LC_WIDE
#define LC_HAS_WIDE() 0
#define lc_load_half_wide lc_load_half
#endif
#define lc_load_float_wide lc_load_float

/* NAME(wt, bias, in, out, x, y): y = W x, plus bias unless it is NULL, from W
 * transposed: wt [in][out] of float (KIND float) or of fp16 bits (KIND half,
 * uint16_t); built for AVX2 and for any CPU, the CPU choosing. */
#define LC_DEFINE_MATVEC(NAME, WEIGHT, KIND)                                                              \
    LC_MATVEC_BODY(NAME##_wide, LC_WIDE, WEIGHT, lc_load_##KIND##_wide, lc_##KIND##_to_float)             \
    LC_MATVEC_BODY(NAME##_plain, , WEIGHT, lc_load_##KIND, lc_##KIND##_to_float)                          \
    static void NAME(const WEIGHT *wt, const float *bias, int32_t in, int32_t out, const float *x, float *y) { \
        (LC_HAS_WIDE() ? NAME##_wide : NAME##_plain)(wt, bias, in, out, x, y);                            \
    }

#define LC_MATVEC_BODY(NAME, TARGET, WEIGHT, LOAD, SCALAR)                                                \
    TARGET static void NAME(const WEIGHT *wt, const float *bias, int32_t in, int32_t out, const float *x, \
                            float *y) {                                                                   \
        const int32_t step = 8 * LC_MATVEC_BLOCK;                                                         \
        int32_t o = 0;                                                                                    \
        for (; o + step <= out; o += step) {                                                              \
            lc_lanes acc[LC_MATVEC_BLOCK] = {{0}};                                                        \
            for (int32_t i = 0; i < in; i++) {                                                            \
                const lc_lanes xi = (lc_lanes){0} + x[i];                                                 \
                const WEIGHT *row = wt + (size_t)i * out + o;                                             \
                for (int j = 0; j < LC_MATVEC_BLOCK; j++) {                                               \
                    lc_lanes w;                                                                           \
                    LOAD(&w, row + 8 * j);                                                                \
                    acc[j] += xi * w;                                                                     \
                }                                                                                         \
            }                                                                                             \
            for (int j = 0; j < LC_MATVEC_BLOCK; j++)                                                     \
                for (int k = 0; k < 8; k++) y[o + 8 * j + k] = acc[j][k] + (bias ? bias[o + 8 * j + k] : 0.0f); \
        }                                                                                                 \
        for (; o < out; o++) {                                                                            \
            float acc = 0.0f;                                                                             \
            for (int32_t i = 0; i < in; i++) acc += x[i] * SCALAR(wt[(size_t)i * out + o]);              \
            y[o] = acc + (bias ? bias[o] : 0.0f);                                                         \
        }                                                                                                 \
    }

#endif
