/* Trellis-coded quantization on the lattice Z/2 for latents under an
 * autoregressive Laplace model (plain C99).
 *
 * Dependent quantization as in VVC (Schwarz et al.): Q0 = Z and
 * Q1 = {0, +-1/2, +-3/2, ...}, so both quantizers hold zero and a run of
 * zeros costs little in any state. An index k means k on Q0 and
 * k - clamp(k, -1, 1) / 2 on Q1; its bits are -log2 of the Laplace mass of
 * [k - 1/2, k + 1/2] around the mean mapped the same way (mean on Q0,
 * mean + clamp(mean, -1/2, 1/2) on Q1), floored at 2^-16, and the state moves
 * on k's parity. Reconstructions do not depend on the model's mean, which is
 * what lets the search use means from a pre-pass while the coder codes the
 * chosen values under the exact, path-dependent means: a stale mean costs
 * rate, never synchronisation. The search minimizes
 * sum (y - r)^2 + lambda * bits over the paths the state machine allows,
 * starting in state 0.
 */
#ifndef LC_LATTICE_TRELLIS_H
#define LC_LATTICE_TRELLIS_H

#include <stddef.h>
#include <stdint.h>

#include "trellis.h" /* lc_trellis */

/* Writes twice each chosen reconstruction (an integer, |twice| <= limit).
 * Returns 0, or -2 when out of memory. */
int lc_lattice_trellis_search(const float *y, const float *mean, const float *scale, size_t n,
                              const lc_trellis *m, double lambda, int32_t limit, int32_t *twice);

#endif
