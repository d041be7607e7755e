/* One frame through a causal ConvNeXt block of the audio codec's trunk
 * (codecs/audio.py, CausalBlock), for streams.
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
    const float *expand;         /* [channels][wide]: transposed, the norm's scale folded in */
    const float *expand_bias;    /* [wide]: the norm's shift folded in */
    const float *project;        /* [wide][channels]: transposed, GELU's 1/2 and the gain folded in */
    const float *project_bias;   /* [channels]: the gain folded in */
    float eps;                   /* the norm's */
} lc_causal_block;

/* x += block(x): window [kernel][channels] holds the inputs of the frames
 * before (oldest first) and is updated. Returns -1 when out of memory. */
int lc_causal_block_step(const lc_causal_block *b, float *x, float *window);

#endif
