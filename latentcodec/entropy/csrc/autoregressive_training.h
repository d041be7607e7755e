/* The autoregressive model's float training step, fused (plain C99, no Python).
 *
 * Written by hand: per latent the model is a 15 -> 12 -> 12 -> 2 MLP and a
 * Laplace likelihood, so PyTorch's kernels (one pass over memory per matmul,
 * ReLU, CDF, log and each of their backward steps) spend the training step
 * reading and writing [N, hidden] intermediates: 100 ms of a 240 ms
 * iteration on a 768x512 image. Here one pass over the latents computes the
 * bits and every gradient, eight latents per vector, the intermediates in
 * registers. It matches the float model (AutoregressiveModel.bits) up to
 * float rounding; it is not the coding path (that is the integer model).
 */
#ifndef LC_AUTOREGRESSIVE_TRAINING_H
#define LC_AUTOREGRESSIVE_TRAINING_H

#include <stdint.h>

#define LC_ARM_TRAIN_MAX_IN 32
#define LC_ARM_TRAIN_MAX_HIDDEN 32

typedef struct {
    int32_t n_in, hidden;
    float log_scale_min, log_scale_max, probability_min;
    /* Transposed weights, as the integer model: w0 [n_in][hidden], w1 [hidden][hidden], w2 [hidden][2]. */
    const float *w0, *b0, *w1, *b1, *w2, *b2;
} lc_arm_float;

/* Parameters (and gradients) of a model: w0, b0, w1, b1, w2, b2. */
static inline int32_t lc_arm_float_params(int32_t n_in, int32_t hidden) {
    return n_in * hidden + hidden + hidden * hidden + hidden + 2 * hidden + 2;
}

/* Bits -sum log2 max(p, probability_min) of the n latents y under the model
 * given their contexts x [n_in][n] (one row per input), p the Laplace mass
 * of [y - 1/2, y + 1/2]. Writes d bits / d x into grad_x [n_in][n], d bits /
 * d y into grad_y [n], and d bits / d parameters into grad_params (w0, b0,
 * w1, b1, w2, b2 in the layout above, overwritten). Runs on `threads`
 * threads; the result depends on the thread count only through float
 * summation order. Returns -1 when a thread could not start. */
int lc_arm_float_bits(const lc_arm_float *arm, const float *x, const float *y, int64_t n, float *grad_x,
                      float *grad_y, float *grad_params, int threads, double *bits);

#endif
