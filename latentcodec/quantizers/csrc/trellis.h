/* Entropy-constrained Viterbi search for trellis-coded quantization (plain C99).
 *
 * Two scalar quantizers on a grid of step 1 (the caller divides by delta):
 * Q0 reconstructs index k at 2k, Q1 at 2k - sgn(k). A state machine driven
 * by the parity of each index picks the quantizer of the next element; the
 * search minimizes sum (r - recon)^2 + lambda * bits over all index
 * sequences the machine allows, with bits taken from per-table costs that
 * follow the coder's table layout (see range_coder.h).
 */
#ifndef LC_TRELLIS_H
#define LC_TRELLIS_H

#include <stddef.h>
#include <stdint.h>

#define LC_TRELLIS_MAX_STATES 16

typedef struct {
    int32_t n_states;
    const int32_t *next;      /* [n_states][2]: next state after an even / odd index */
    const int32_t *quantizer; /* [n_states]: 0 or 1 */
} lc_trellis;

typedef struct {
    const float *bits;      /* [n_tables][max_len]: cost of symbol slot k of table t */
    const int32_t *lengths; /* [n_tables], CompressAI layout: last slot is the escape */
    const int32_t *offsets; /* [n_tables] */
    int32_t n_tables, max_len;
    int32_t q1_shift;       /* quantizer 1 codes with table tables[i] + q1_shift */
} lc_trellis_costs;

/* Returns 0, -1 on a table index out of range, -2 when out of memory.
 * symbols[i] is the chosen index of element i and states[i] the state it was
 * coded in; *state is the start state on entry and the end state on return. */
int lc_trellis_search(const float *residual, const int32_t *tables, size_t n,
                      const lc_trellis *m, const lc_trellis_costs *c, double lambda,
                      int32_t *state, int32_t *symbols, int32_t *states);

#endif
