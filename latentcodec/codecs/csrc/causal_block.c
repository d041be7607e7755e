#include "causal_block.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../csrc/matvec.h"

LC_DEFINE_MATVEC(matvec_half, uint16_t, half)
LC_DEFINE_MATVEC(matvec_float, float, float)

#define GELU_LINEAR 0.7978845608028654f /* sqrt(2 / pi): F.gelu(approximate="tanh") */
#define GELU_CUBIC (0.044715f * GELU_LINEAR)

void lc_trunk_matvec(const void *wt, int half, const float *bias, int32_t in, int32_t out, const float *x, float *y) {
    if (half)
        matvec_half(wt, bias, in, out, x, y);
    else
        matvec_float(wt, bias, in, out, x, y);
}

int lc_fast_fp16(void) { return LC_HAS_WIDE(); }

int lc_causal_block_step(const lc_causal_block *b, float *x, float *window) {
    const int32_t c = b->channels, w = b->wide, k = b->kernel;
    float *h = malloc(((size_t)c + 2 * (size_t)w) * sizeof *h), *wide = h + c, *t = wide + w;
    if (!h) return -1;
    memmove(window, window + c, (size_t)(k - 1) * c * sizeof *window);
    memcpy(window + (size_t)(k - 1) * c, x, (size_t)c * sizeof *x);
    for (int32_t j = 0; j < c; j++) h[j] = 0.0f;
    for (int32_t i = 0; i < k; i++) /* depthwise convolution over the window */
        for (int32_t j = 0; j < c; j++) h[j] += window[(size_t)i * c + j] * b->depthwise[(size_t)i * c + j];
    double mean = 0.0, power = 0.0;
    for (int32_t j = 0; j < c; j++) mean += h[j] += b->depthwise_bias[j];
    mean /= c;
    for (int32_t j = 0; j < c; j++) {
        h[j] -= (float)mean;
        power += (double)h[j] * h[j];
    }
    const float scale = (float)(1.0 / sqrt(power / c + b->eps)); /* LayerNorm, biased variance as torch's */
    for (int32_t j = 0; j < c; j++) h[j] = h[j] * scale * b->norm_scale[j] + b->norm_shift[j];
    lc_trunk_matvec(b->expand, b->half, b->expand_bias, c, w, h, wide);
    for (int32_t j = 0; j < w; j++) { /* gelu(u) = u (1 + tanh(sqrt(2/pi) (u + 0.044715 u^3))) / 2 */
        const float u = wide[j];
        t[j] = 0.5f * u * (1.0f + tanhf(u * (GELU_LINEAR + GELU_CUBIC * u * u)));
    }
    lc_trunk_matvec(b->project, b->half, b->project_bias, w, c, t, h);
    for (int32_t j = 0; j < c; j++) x[j] += b->gain[j] * h[j];
    free(h);
    return 0;
}
