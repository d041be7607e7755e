/* Written by hand: no maintained library offers an entropy-constrained TCQ
 * search over arbitrary integer CDF tables, and the search is serial in the
 * number of latents, so it must not run in Python. */
#include "trellis.h"

#include <math.h>
#include <stdlib.h>

#define LIMIT 1e9 /* |residual| / delta searched at most; indices stay in int32 */

static double recon(int q, int32_t k) {
    return q ? 2.0 * k - (k > 0) + (k < 0) : 2.0 * k;
}

/* Bits of index k in table t; values outside the table pay the escape and
 * the bypass nibbles (a 4-bit count, then 4 bits per nibble). */
static double cost_bits(const lc_trellis_costs *c, int32_t t, int32_t k) {
    const float *row = c->bits + (size_t)t * (size_t)c->max_len;
    const int64_t max_value = c->lengths[t] - 2;
    const int64_t v = (int64_t)k - c->offsets[t];
    if (v >= 0 && v < max_value) return row[v];
    uint64_t raw = v < 0 ? (uint64_t)(-2 * v - 1) : (uint64_t)(2 * (v - max_value));
    int nibbles = 0;
    while (raw) {
        nibbles++;
        raw >>= 4;
    }
    return row[max_value] + 4.0 * (1 + nibbles);
}

/* Candidate indices of quantizer q around r: its two nearest levels and 0. */
static int candidates(int q, double r, int32_t *k) {
    int32_t a, b;
    if (q == 0) {
        a = (int32_t)floor(r / 2);
        b = a + 1;
    } else if (r >= 0) {
        a = (int32_t)floor((r + 1) / 2);
        b = a + 1;
    } else {
        a = -(int32_t)floor((1 - r) / 2);
        b = a - 1;
    }
    int n = 0;
    k[n++] = a;
    k[n++] = b;
    if (a != 0 && b != 0) k[n++] = 0;
    return n;
}

int lc_trellis_search(const float *residual, const int32_t *tables, size_t n,
                      const lc_trellis *m, const lc_trellis_costs *c, double lambda,
                      int32_t *state, int32_t *symbols, int32_t *states) {
    const int S = m->n_states;
    double cost[LC_TRELLIS_MAX_STATES], next_cost[LC_TRELLIS_MAX_STATES];
    uint8_t *from = malloc(n * (size_t)S + 1);
    int32_t *chosen = malloc((n * (size_t)S + 1) * sizeof *chosen);
    if (!from || !chosen) {
        free(from);
        free(chosen);
        return -2;
    }
    for (int s = 0; s < S; s++) cost[s] = INFINITY;
    cost[*state] = 0;
    for (size_t i = 0; i < n; i++) {
        /* a latent no trained network makes still needs a defined search */
        const double r = isnan(residual[i]) ? 0.0 : fmin(fmax(residual[i], -LIMIT), LIMIT);
        const int64_t t0 = tables[i], t1 = t0 + c->q1_shift;
        if (t0 < 0 || t0 >= c->n_tables || t1 < 0 || t1 >= c->n_tables) {
            free(from);
            free(chosen);
            return -1;
        }
        /* costs of each quantizer's candidates do not depend on the state */
        int32_t k[2][3];
        double j[2][3];
        int nk[2];
        for (int q = 0; q < 2; q++) {
            nk[q] = candidates(q, r, k[q]);
            for (int x = 0; x < nk[q]; x++) {
                const double e = r - recon(q, k[q][x]);
                j[q][x] = e * e + lambda * cost_bits(c, (int32_t)(q ? t1 : t0), k[q][x]);
            }
        }
        for (int s = 0; s < S; s++) next_cost[s] = INFINITY;
        uint8_t *f = from + i * (size_t)S;
        int32_t *ch = chosen + i * (size_t)S;
        for (int s = 0; s < S; s++) {
            if (cost[s] == INFINITY) continue;
            const int q = m->quantizer[s];
            for (int x = 0; x < nk[q]; x++) {
                const double total = cost[s] + j[q][x];
                const int to = m->next[2 * s + (k[q][x] & 1)];
                if (total < next_cost[to]) {
                    next_cost[to] = total;
                    f[to] = (uint8_t)s;
                    ch[to] = k[q][x];
                }
            }
        }
        for (int s = 0; s < S; s++) cost[s] = next_cost[s];
    }
    int best = 0;
    for (int s = 1; s < S; s++)
        if (cost[s] < cost[best]) best = s;
    if (n) {
        *state = best;
        for (size_t i = n; i-- > 0;) {
            symbols[i] = chosen[i * (size_t)S + best];
            best = from[i * (size_t)S + best];
            states[i] = best;
        }
    }
    free(from);
    free(chosen);
    return 0;
}
