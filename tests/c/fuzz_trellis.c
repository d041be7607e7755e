/* Sanitizer fuzz driver for latentcodec/quantizers/csrc/trellis.c.
 *
 * Random cost tables (2 to 6 of them, lengths 2 to 40, escapes), random
 * residuals including extremes, infinities and NaN, 4- and 8-state machines
 * and any start state; checks that the returned path is one the machine
 * allows (each state follows from the one before by the index's parity) and
 * that the search reports bad table indices. Built and run by
 * run_sanitizers.sh; exits non-zero on the first failure.
 *
 *   fuzz_trellis [iterations] [seed]
 */
#include "trellis.h"
#include "fuzz_rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static double uniform(void) { return (next_u64() >> 11) * 0x1.0p-53; }

#define CHECK(cond, msg)                                                   \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "FAIL %s:%d (%s): %s\n", __FILE__, __LINE__, #cond, msg); \
            exit(1);                                                       \
        }                                                                  \
    } while (0)

static const int32_t next4[] = {0, 1, 2, 3, 1, 0, 3, 2};
static const int32_t next8[] = {0, 2, 5, 7, 1, 3, 6, 4, 2, 0, 4, 6, 3, 1, 7, 5};
static const int32_t quant[] = {0, 1, 0, 1, 0, 1, 0, 1};

int main(int argc, char **argv) {
    const long iterations = argc > 1 ? atol(argv[1]) : 1000;
    rng_state = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    long searched = 0;
    for (long it = 0; it < iterations; it++) {
        const int32_t n_tables = 2 + 2 * (int32_t)below(3), max_len = 2 + (int32_t)below(39);
        float *bits = malloc(sizeof(float) * (size_t)(n_tables * max_len));
        int32_t lengths[6], offsets[6];
        for (int32_t t = 0; t < n_tables; t++) {
            lengths[t] = 2 + (int32_t)below((uint32_t)max_len - 1);
            offsets[t] = -(int32_t)below(20);
            for (int32_t k = 0; k < max_len; k++) bits[t * max_len + k] = k < lengths[t] ? (float)(20 * uniform()) : INFINITY;
        }
        lc_trellis m = {below(2) ? 8 : 4, NULL, quant};
        m.next = m.n_states == 8 ? next8 : next4;
        lc_trellis_costs c = {bits, lengths, offsets, n_tables, max_len, n_tables / 2};
        const size_t n = below(2000);
        float *r = malloc(sizeof(float) * (n + 1));
        int32_t *tables = malloc(sizeof(int32_t) * (n + 1));
        int32_t *sym = malloc(sizeof(int32_t) * (n + 1)), *st = malloc(sizeof(int32_t) * (n + 1));
        static const float extremes[] = {1e30f, -1e30f, INFINITY, -INFINITY, NAN, 3e9f, -3e9f};
        for (size_t i = 0; i < n; i++) {
            r[i] = below(50) ? (float)((uniform() - 0.5) * 60) : extremes[below(7)];
            tables[i] = (int32_t)below((uint32_t)n_tables / 2);
        }
        const int bad = n && !below(20);
        if (bad) tables[below((uint32_t)n)] = below(2) ? -1 : n_tables;
        const int32_t start = (int32_t)below((uint32_t)m.n_states);
        int32_t state = start;
        const int status = lc_trellis_search(r, tables, n, &m, &c, 3 * uniform(), &state, sym, st);
        if (bad) {
            CHECK(status == -1, "a bad table index was not reported");
        } else {
            CHECK(status == 0, "search failed");
            int32_t s = start;
            for (size_t i = 0; i < n; i++) {
                CHECK(st[i] == s, "a state does not follow from the path");
                s = m.next[2 * s + (sym[i] & 1)];
            }
            CHECK(s == state, "the end state does not follow from the path");
            searched += (long)n;
        }
        free(bits);
        free(r);
        free(tables);
        free(sym);
        free(st);
    }
    printf("trellis: %ld iterations, %ld latents searched\n", iterations, searched);
    return 0;
}
