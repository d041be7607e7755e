/* The autoregressive model's fused float training step: see autoregressive_training.h. */
#include "autoregressive_training.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "../../csrc/matvec.h" /* lc_lanes, LC_WIDE, LC_HAS_WIDE */

typedef int32_t lc_mask __attribute__((vector_size(32)));
#define LN2 0.69314718055994531f
#define INLINE static inline __attribute__((always_inline)) /* into each build, with its vector width */
#define FLUSH_BLOCKS 64 /* float lane sums go into doubles this often, so long images lose no precision */

typedef struct {
    const lc_arm_float *arm;
    const float *x, *y;
    float *grad_x, *grad_y;
    int64_t n, first, last; /* latents [first, last) of n */
    double bits, grads[LC_ARM_TRAIN_MAX_IN * LC_ARM_TRAIN_MAX_HIDDEN + LC_ARM_TRAIN_MAX_HIDDEN * (LC_ARM_TRAIN_MAX_HIDDEN + 4) + 2];
} job;

#define MASKED(a, keep) ((lc_lanes)((lc_mask)(a) & (keep))) /* a where keep, else 0 */

/* Eight latents (lanes; `valid` of them real) forward and backward; adds to
 * the parameter gradients g (same layout as the parameters) and returns the bits. */
INLINE double block(const lc_arm_float *a, const lc_lanes *x, lc_lanes y,
                                                          int valid, lc_lanes *gx, lc_lanes *gy, lc_lanes *g) {
    const int32_t n_in = a->n_in, h = a->hidden;
    lc_lanes *gw0 = g, *gb0 = gw0 + n_in * h, *gw1 = gb0 + h, *gb1 = gw1 + h * h, *gw2 = gb1 + h, *gb2 = gw2 + 2 * h;
    lc_lanes a0[LC_ARM_TRAIN_MAX_HIDDEN], h0[LC_ARM_TRAIN_MAX_HIDDEN], h1[LC_ARM_TRAIN_MAX_HIDDEN];
    lc_mask p0[LC_ARM_TRAIN_MAX_HIDDEN], p1[LC_ARM_TRAIN_MAX_HIDDEN];
    for (int32_t j = 0; j < h; j++) a0[j] = (lc_lanes){0} + a->b0[j];
    for (int32_t k = 0; k < n_in; k++)
        for (int32_t j = 0; j < h; j++) a0[j] += a->w0[k * h + j] * x[k];
    for (int32_t j = 0; j < h; j++) p0[j] = a0[j] > 0, h0[j] = MASKED(a0[j], p0[j]);
    for (int32_t j = 0; j < h; j++) h1[j] = (lc_lanes){0} + a->b1[j];
    for (int32_t i = 0; i < h; i++)
        for (int32_t j = 0; j < h; j++) h1[j] += a->w1[i * h + j] * h0[i];
    for (int32_t j = 0; j < h; j++) p1[j] = h1[j] > 0, h1[j] = h0[j] + MASKED(h1[j], p1[j]);
    lc_lanes mu = (lc_lanes){0} + a->b2[0], log_scale = (lc_lanes){0} + a->b2[1];
    for (int32_t i = 0; i < h; i++) {
        mu += a->w2[2 * i] * h1[i];
        log_scale += a->w2[2 * i + 1] * h1[i];
    }

    /* the likelihood, lane by lane (exp and log have no portable vector form) */
    double bits = 0;
    lc_lanes d_mu, d_log_scale;
    for (int k = 0; k < 8; k++) {
        const float ls = log_scale[k];
        const float clamped = ls < a->log_scale_min ? a->log_scale_min : ls > a->log_scale_max ? a->log_scale_max : ls;
        const float scale = expf(clamped), v = y[k] - mu[k];
        const float t_hi = (v + 0.5f) / scale, t_lo = (v - 0.5f) / scale;
        const float e_hi = 0.5f * expf(-fabsf(t_hi)), e_lo = 0.5f * expf(-fabsf(t_lo)); /* density, and the tail */
        const float p = (t_hi < 0 ? e_hi : 1 - e_hi) - (t_lo < 0 ? e_lo : 1 - e_lo);
        float d_p = 0; /* d bits / d p */
        if (k < valid) {
            bits -= log2f(p > a->probability_min ? p : a->probability_min);
            if (p >= a->probability_min) d_p = -1.0f / (p * LN2);
        }
        const float d_v = d_p * (e_hi - e_lo) / scale;
        (*gy)[k] = d_v;
        d_mu[k] = -d_v;
        d_log_scale[k] = ls >= a->log_scale_min && ls <= a->log_scale_max ? d_p * (e_lo * t_lo - e_hi * t_hi) : 0;
    }

    lc_lanes d_h1[LC_ARM_TRAIN_MAX_HIDDEN], d_a1[LC_ARM_TRAIN_MAX_HIDDEN], d_a0[LC_ARM_TRAIN_MAX_HIDDEN];
    gb2[0] += d_mu;
    gb2[1] += d_log_scale;
    for (int32_t i = 0; i < h; i++) {
        d_h1[i] = a->w2[2 * i] * d_mu + a->w2[2 * i + 1] * d_log_scale;
        gw2[2 * i] += h1[i] * d_mu;
        gw2[2 * i + 1] += h1[i] * d_log_scale;
    }
    for (int32_t j = 0; j < h; j++) {
        d_a1[j] = MASKED(d_h1[j], p1[j]);
        gb1[j] += d_a1[j];
    }
    for (int32_t i = 0; i < h; i++) {
        lc_lanes d = d_h1[i]; /* the residual path */
        for (int32_t j = 0; j < h; j++) {
            d += a->w1[i * h + j] * d_a1[j];
            gw1[i * h + j] += h0[i] * d_a1[j];
        }
        d_a0[i] = MASKED(d, p0[i]);
        gb0[i] += d_a0[i];
    }
    for (int32_t k = 0; k < n_in; k++) {
        lc_lanes d = {0};
        for (int32_t j = 0; j < h; j++) {
            d += a->w0[k * h + j] * d_a0[j];
            gw0[k * h + j] += x[k] * d_a0[j];
        }
        gx[k] = d;
    }
    return bits;
}

#define LC_ARM_RUN(NAME, TARGET)                                                                          \
    TARGET static void NAME(job *t) {                                                                     \
        const lc_arm_float *a = t->arm;                                                                   \
        const int32_t n_in = a->n_in, h = a->hidden;                                                      \
        const int32_t n_grads = lc_arm_float_params(n_in, h);                                             \
        lc_lanes g[sizeof t->grads / sizeof t->grads[0]], x[LC_ARM_TRAIN_MAX_IN], gx[LC_ARM_TRAIN_MAX_IN], y, gy; \
        memset(g, 0, sizeof g);                                                                           \
        memset(t->grads, 0, sizeof t->grads);                                                             \
        t->bits = 0;                                                                                      \
        int blocks = 0;                                                                                   \
        for (int64_t i = t->first; i < t->last; i += 8) {                                                 \
            const int valid = t->last - i < 8 ? (int)(t->last - i) : 8;                                   \
            if (valid == 8) { /* a constant size: the copies become vector loads and stores */            \
                for (int32_t k = 0; k < n_in; k++) memcpy(&x[k], t->x + k * t->n + i, sizeof x[k]);      \
                memcpy(&y, t->y + i, sizeof y);                                                           \
            } else {                                                                                      \
                memset(x, 0, sizeof x);                                                                   \
                y = (lc_lanes){0};                                                                        \
                for (int32_t k = 0; k < n_in; k++) memcpy(&x[k], t->x + k * t->n + i, valid * sizeof(float)); \
                memcpy(&y, t->y + i, valid * sizeof(float));                                              \
            }                                                                                             \
            t->bits += block(a, x, y, valid, gx, &gy, g);                                                 \
            if (valid == 8) {                                                                             \
                for (int32_t k = 0; k < n_in; k++) memcpy(t->grad_x + k * t->n + i, &gx[k], sizeof gx[k]); \
                memcpy(t->grad_y + i, &gy, sizeof gy);                                                    \
            } else {                                                                                      \
                for (int32_t k = 0; k < n_in; k++) memcpy(t->grad_x + k * t->n + i, &gx[k], valid * sizeof(float)); \
                memcpy(t->grad_y + i, &gy, valid * sizeof(float));                                        \
            }                                                                                             \
            if (++blocks == FLUSH_BLOCKS || i + 8 >= t->last) {                                           \
                for (int32_t p = 0; p < n_grads; p++) {                                                   \
                    for (int k = 0; k < 8; k++) t->grads[p] += g[p][k];                                   \
                    g[p] = (lc_lanes){0};                                                                 \
                }                                                                                         \
                blocks = 0;                                                                               \
            }                                                                                             \
        }                                                                                                 \
    }

LC_ARM_RUN(run_wide, LC_WIDE)
LC_ARM_RUN(run_plain, )

static void *run(void *t) {
    (LC_HAS_WIDE() ? run_wide : run_plain)(t);
    return 0;
}

int lc_arm_float_bits(const lc_arm_float *arm, const float *x, const float *y, int64_t n, float *grad_x,
                      float *grad_y, float *grad_params, int threads, double *bits) {
    enum { MAX_THREADS = 16, MIN_LATENTS = 4096 }; /* below MIN_LATENTS per thread, starting one costs more */
    const int64_t most = n / MIN_LATENTS;
    threads = threads > most ? (int)most : threads;
    threads = threads < 1 ? 1 : threads > MAX_THREADS ? MAX_THREADS : threads;
    job local[MAX_THREADS];
    const int64_t per = (n / threads + 7) / 8 * 8; /* whole blocks, except the last thread's */
    for (int t = 0; t < threads; t++) {
        const int64_t first = t * per < n ? t * per : n, last = t + 1 == threads || (t + 1) * per > n ? n : (t + 1) * per;
        local[t] = (job){arm, x, y, grad_x, grad_y, n, first, last, 0, {0}};
    }
    pthread_t ids[MAX_THREADS];
    int started = 0, failed = 0;
    for (int t = 1; t < threads; t++, started++)
        if (pthread_create(&ids[t], 0, run, &local[t])) { failed = 1; break; }
    run(&local[0]);
    for (int t = 1; t <= started; t++) pthread_join(ids[t], 0);
    if (failed) return -1;
    const int32_t n_grads = lc_arm_float_params(arm->n_in, arm->hidden);
    *bits = 0;
    for (int p = 0; p < n_grads; p++) {
        double sum = 0;
        for (int t = 0; t < threads; t++) sum += local[t].grads[p];
        grad_params[p] = (float)sum;
    }
    for (int t = 0; t < threads; t++) *bits += local[t].bits;
    return 0;
}
