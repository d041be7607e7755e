/* Matrix-vector products for streaming one frame at a time (plain C99 with
 * the GCC/Clang vector extension).
 *
 * Written by hand: streams multiply matrices of a few hundred rows by one
 * vector per call, where BLAS's sgemv measured 3x slower than this (its
 * per-call work dominates at these sizes), and its order of summation is its
 * own. Here each sum runs over the input in order, in independent lanes
 * across outputs, with no contraction into FMA, so the SSE2 and AVX2 builds
 * give the same bits.
 */
#ifndef LC_MATVEC_H
#define LC_MATVEC_H

#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__)
#define LC_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define LC_CLONES
#endif

typedef float lc_lanes __attribute__((vector_size(32))); /* eight floats */
#define LC_MATVEC_BLOCK 8                                 /* lanes of sums kept in registers: 64 outputs */

/* y = W x, plus bias unless it is NULL, from W transposed: wt [in][out]. */
LC_CLONES static void lc_matvec(const float *wt, const float *bias, int32_t in, int32_t out, const float *x,
                                float *y) {
    const int32_t step = 8 * LC_MATVEC_BLOCK;
    int32_t o = 0;
    for (; o + step <= out; o += step) {
        lc_lanes acc[LC_MATVEC_BLOCK] = {{0}};
        for (int32_t i = 0; i < in; i++) {
            const lc_lanes xi = (lc_lanes){0} + x[i];
            const float *row = wt + (size_t)i * out + o;
            for (int j = 0; j < LC_MATVEC_BLOCK; j++) {
                lc_lanes w;
                memcpy(&w, row + 8 * j, sizeof w);
                acc[j] += xi * w;
            }
        }
        for (int j = 0; j < LC_MATVEC_BLOCK; j++)
            for (int k = 0; k < 8; k++) y[o + 8 * j + k] = acc[j][k] + (bias ? bias[o + 8 * j + k] : 0.0f);
    }
    for (; o < out; o++) {
        float acc = 0.0f;
        for (int32_t i = 0; i < in; i++) acc += x[i] * wt[(size_t)i * out + o];
        y[o] = acc + (bias ? bias[o] : 0.0f);
    }
}

#endif
