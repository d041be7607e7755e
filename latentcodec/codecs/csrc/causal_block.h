/* One frame through the audio codec's streaming trunk (codecs/audio.py):
 * its causal ConvNeXt blocks (CausalBlock) and linear maps, with the
 * matrices as the weight files store them (fp16).
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
    const uint16_t *expand;      /* [channels][wide]: transposed, fp16 bits */
    const float *expand_bias;    /* [wide] */
    const uint16_t *project;     /* [wide][channels]: transposed, fp16 bits */
    const float *project_bias;   /* [channels] */
    const float *gain;           /* [channels] */
    float eps;                   /* the norm's */
} lc_causal_block;

/* x += block(x): window [kernel][channels] holds the inputs of the frames
 * before (oldest first) and is updated. Returns -1 when out of memory. */
int lc_causal_block_step(const lc_causal_block *b, float *x, float *window);

/* y = W x + bias from W transposed (fp16 [in][out]): the trunk's linear maps. */
void lc_half_matvec(const uint16_t *wt, const float *bias, int32_t in, int32_t out, const float *x, float *y);

#endif
