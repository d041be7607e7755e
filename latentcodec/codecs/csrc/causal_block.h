/* One frame through the audio codec's streaming trunk (codecs/audio.py):
 * its causal ConvNeXt blocks (CausalBlock) and linear maps. Matrices come
 * as fp16 bits (as weight files store them: half the reading, which bounds
 * a frame's time, where the CPU converts fp16 fast) or as float32.
 *
 * Written by hand: a stream runs each block on one vector of a few hundred
 * channels per call, where numpy spent more time dispatching a dozen small
 * operations than computing them (see matvec.h for the products).
 */
#ifndef LC_CAUSAL_BLOCK_H
#define LC_CAUSAL_BLOCK_H

#include <stdint.h>

typedef struct {
    int32_t channels, wide, kernel;
    const float *depthwise;      /* [kernel][channels], oldest frame first */
    const float *depthwise_bias; /* [channels] */
    const float *norm_scale, *norm_shift; /* [channels]: the LayerNorm's affine map */
    int half;                    /* the matrices are fp16 bits, not float32 */
    const void *expand;          /* [channels][wide]: transposed */
    const float *expand_bias;    /* [wide] */
    const void *project;         /* [wide][channels]: transposed */
    const float *project_bias;   /* [channels] */
    const float *gain;           /* [channels] */
    float eps;                   /* the norm's */
} lc_causal_block;

/* x += block(x): window [kernel][channels] holds the inputs of the frames
 * before (oldest first) and is updated. Returns -1 when out of memory. */
int lc_causal_block_step(const lc_causal_block *b, float *x, float *window);

/* y = W x + bias from W transposed ([in][out], fp16 bits if half): the trunk's linear maps. */
void lc_trunk_matvec(const void *wt, int half, const float *bias, int32_t in, int32_t out, const float *x, float *y);

/* Whether this CPU converts fp16 fast (AVX2 and F16C): only then are fp16 matrices worth passing. */
int lc_fast_fp16(void);

#endif
