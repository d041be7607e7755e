/* Codebook search of residual vector quantization: greedy, or a beam of
 * partial codes (the M-algorithm of multistage VQ).
 *
 * Written by hand: a streaming codec searches one vector per call, where
 * numpy spends more time dispatching its dozen small operations per stage
 * than computing, and no maintained library has a beam search over residual
 * codebooks. Sums run in a fixed order with no contraction into FMA (see
 * csrc/matvec.h), so the plain and the AVX2 builds give the same bits.
 */
#ifndef LC_RESIDUAL_SEARCH_H
#define LC_RESIDUAL_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#define LC_SEARCH_MAX_BEAM 64

/* For each of the n vectors z[i] (dim floats), searches stages 1..stages of
 * codebooks [*][size][dim] (also transposed, [*][dim][size]; half_norms
 * [*][size] = |c|^2 / 2), keeping the `beam` best partial codes per stage
 * (1: greedy, each stage the nearest entry, ties to the lowest index). Writes, per vector, paths[s][0..s]: the
 * best indices found for s + 1 stages (-1 after), and norms[s]: the norm of
 * the residual the best path leaves to stage s (INFINITY for s = 0). With a
 * threshold >= 0 a vector stops at the first stage whose norm is at most it
 * (later norms 0, paths -1). Returns 0, or -1 when out of memory. */
int lc_residual_search(const float *codebooks, const float *transposed, const float *half_norms, int32_t size,
                       int32_t dim, const float *z, size_t n, int32_t stages, int32_t beam, double threshold,
                       int64_t *paths, float *norms);

#endif
