/* Integer autoregressive probability model over a pyramid of latent grids
 * (plain C99, no Python).
 *
 * Each latent gets a (mean, scale) from a small MLP over its causal
 * neighbours in the same grid and three values of the next coarser grid,
 * computed in fixed point with integer arithmetic only, then a table index:
 * the decoder repeats the encoder's arithmetic exactly on any machine, build
 * or thread count, so the entropy-coded part of a stream is bit-exact by
 * construction. Grids are coded coarsest first, each in raster order.
 *
 * Fixed point: activations carry LC_ARM_FRAC fractional bits; layer l's
 * weights are integers k meaning k * 2^-shift[l], its biases integers in the
 * accumulator's units (2^-(LC_ARM_FRAC + shift[l])). Sums are int32: the
 * bounds checked by lc_arm_check (|k| <= LC_ARM_MAX_WEIGHT, fan-in <= 32,
 * activations clamped to LC_ARM_MAX_ACTIVATION) keep them from overflowing.
 * Right shifts of negative values are arithmetic (GCC and Clang document it).
 */
#ifndef LC_AUTOREGRESSIVE_H
#define LC_AUTOREGRESSIVE_H

#include <stdint.h>

#include "range_coder.h"

#define LC_ARM_MAX_CONTEXT 24        /* causal neighbours the MLP may look at */
#define LC_ARM_PARENTS 3             /* coarser-grid values: (y/2, x/2), right of it, below it */
#define LC_ARM_MAX_HIDDEN 32
#define LC_ARM_FRAC 8                /* fractional bits of activations */
#define LC_ARM_MAX_SHIFT 16
#define LC_ARM_MAX_WEIGHT 1023
#define LC_ARM_MAX_BIAS (1 << 29)
#define LC_ARM_MAX_ACTIVATION 32767  /* 128 in real units */
#define LC_ARM_LATENT_MAX 127        /* latents lie in [-127, 127] */
#define LC_ARM_PAD 4                 /* neighbours reach 4 rows up and 4 columns either side */
#define LC_ARM_MEAN_STEPS 16         /* the mean's fraction, in 1/16 */
#define LC_ARM_SCALES 64             /* scale index s: Laplace scale exp(-4 + s / 8) */
#define LC_ARM_LOG_SCALE_MIN (-4)
#define LC_ARM_LOG_SCALE_STEP_BITS 3
#define LC_ARM_TABLES (LC_ARM_MEAN_STEPS * LC_ARM_SCALES) /* table = fraction * LC_ARM_SCALES + s */

/* (dy, dx) of the causal neighbours, nearest first; a model uses the first n_context. */
extern const int8_t lc_arm_neighbours[LC_ARM_MAX_CONTEXT][2];

typedef struct {
    int32_t n_context, hidden;
    int32_t shift[3];
    /* Transposed weights: w0 [n_context + LC_ARM_PARENTS][hidden], w1 [hidden][hidden],
     * w2 [hidden][2] (mean, log scale); h1 = h0 + relu(layer1(h0)). */
    const int32_t *w0, *b0, *w1, *b1, *w2, *b2;
} lc_arm;

typedef struct {
    int32_t n_levels;              /* grids, finest first */
    const int32_t *heights, *widths;
} lc_pyramid;

/* Trellis-coded latents (dependent quantization on the lattice Z/2): a
 * latent coded in state s lies on quantizer s & 1, Q0 = Z or
 * Q1 = {0, +-1/2, +-3/2, ...}. Its index k (the value on Q0; on Q1 the value
 * plus its clamp to [-1/2, 1/2]) is coded under the model's mean mapped the
 * same way, and the state moves to next[2 s + (k & 1)]. Each grid starts in
 * state 0. With a trellis, levels hold twice each latent (and the model's
 * first layer reads them so); NULL codes plain integers. */
typedef struct {
    int32_t n_states;
    const int32_t *next;
} lc_arm_trellis;

/* 0 when the model keeps to the bounds above, else a message. */
const char *lc_arm_check(const lc_arm *arm);

/* Encoder: every latent is known, so it is one pass. Writes, in coding
 * order, each latent's symbol (value minus its integer mean) and table
 * index. levels[i] is grid i, row-major, values within +-LC_ARM_LATENT_MAX.
 * Returns LC_OK, LC_ERR_NOMEM, or LC_ERR_INDEX (at the latent *at) for a
 * latent off its state's quantizer. */
lc_status lc_arm_symbols(const lc_arm *arm, const lc_pyramid *p, const lc_arm_trellis *trellis,
                         const int32_t *const *levels, int32_t *symbols, int32_t *indexes, size_t *at);

/* Decoder: decodes every grid from d under tables t (LC_ARM_TABLES of them).
 * A value outside +-LC_ARM_LATENT_MAX is LC_ERR_CORRUPT. On error *at is
 * the latent (in coding order) that failed. */
lc_status lc_arm_decode(const lc_arm *arm, const lc_pyramid *p, const lc_arm_trellis *trellis,
                        lc_decoder *d, const lc_tables *t,
                        int32_t *const *levels, size_t *at, uint64_t *byte_offset);

#endif
