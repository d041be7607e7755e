/* Viterbi search of TCQ on Z/2: see lattice_trellis.h. */
#include "lattice_trellis.h"

#include <math.h>
#include <stdlib.h>

static double laplace_bits(double r, double mean, double scale) {
    const double a = (r - 0.5 - mean) / scale, b = (r + 0.5 - mean) / scale;
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
            for (int32_t parity = 0; parity < 2; parity++) {
                /* the subset's points are 2j + parity + q/2; try the two around y */
                const double base = parity + 0.5 * q, j0 = floor((y[i] - base) / 2);
                const int32_t to = m->next[2 * s + parity];
                for (int32_t dj = 0; dj < 2; dj++) {
                    const double r = 2 * (j0 + dj) + base;
                    const int32_t t = (int32_t)lrint(2 * r);
                    if (t < -limit || t > limit) continue;
                    const double c = cost[s] + (y[i] - r) * (y[i] - r) + lambda * laplace_bits(r, mean[i], scale[i]);
                    if (c < next_cost[to]) {
                        next_cost[to] = c;
                        from[i * S + to] = (int8_t)s;
                        choice[i * S + to] = t;
                    }
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
