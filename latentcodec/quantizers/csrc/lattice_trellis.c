/* Viterbi search of TCQ on Z/2: see lattice_trellis.h. */
#include "lattice_trellis.h"

#include <math.h>
#include <stdlib.h>

static double clamp_half(double v) { return v < -0.5 ? -0.5 : v > 0.5 ? 0.5 : v; }

static double laplace_bits(int32_t k, double mean, double scale) {
    const double a = (k - 0.5 - mean) / scale, b = (k + 0.5 - mean) / scale;
    double p;
    if (b <= 0) p = 0.5 * (exp(b) - exp(a));
    else if (a >= 0) p = 0.5 * (exp(-a) - exp(-b));
    else p = 1 - 0.5 * exp(a) - 0.5 * exp(-b);
    return -log2(p > 1.0 / 65536 ? p : 1.0 / 65536);
}

int lc_lattice_trellis_search(const float *y, const float *mean, const float *scale, size_t n,
                              const lc_trellis *m, double lambda, int32_t limit, int32_t *twice) {
    const int32_t S = m->n_states;
    int8_t *from = malloc(n * (size_t)S);
    int32_t *choice = malloc(n * (size_t)S * sizeof *choice);
    if ((!from || !choice) && n) {
        free(from);
        free(choice);
        return -2;
    }
    double cost[LC_TRELLIS_MAX_STATES], next_cost[LC_TRELLIS_MAX_STATES];
    for (int32_t s = 0; s < S; s++) cost[s] = s ? INFINITY : 0;
    for (size_t i = 0; i < n; i++) {
        for (int32_t s = 0; s < S; s++) next_cost[s] = INFINITY;
        for (int32_t s = 0; s < S; s++) {
            if (cost[s] == INFINITY) continue;
            const int32_t q = m->quantizer[s];
            const double k_of_y = y[i] + (q ? clamp_half(y[i]) : 0), k_mean = mean[i] + (q ? clamp_half(mean[i]) : 0);
            /* the two indices of each parity around y's index */
            for (int32_t k = (int32_t)floor(k_of_y) - 1, end = k + 4; k < end; k++) {
                const int32_t t = q ? 2 * k - (k > 0) + (k < 0) : 2 * k; /* twice the reconstruction */
                if (t < -limit || t > limit) continue;
                const double r = 0.5 * t, c = cost[s] + (y[i] - r) * (y[i] - r) + lambda * laplace_bits(k, k_mean, scale[i]);
                const int32_t to = m->next[2 * s + (k & 1)];
                if (c < next_cost[to]) {
                    next_cost[to] = c;
                    from[i * S + to] = (int8_t)s;
                    choice[i * S + to] = t;
                }
            }
        }
        for (int32_t s = 0; s < S; s++) cost[s] = next_cost[s];
    }
    int32_t s = 0;
    for (int32_t k = 1; k < S; k++)
        if (cost[k] < cost[s]) s = k;
    for (size_t i = n; i-- > 0;) {
        twice[i] = choice[i * S + s];
        s = from[i * S + s];
    }
    free(from);
    free(choice);
    return 0;
}
