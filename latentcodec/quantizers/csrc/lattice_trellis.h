/* Trellis-coded quantization on the lattice Z/2 for latents under an
 * autoregressive Laplace model (plain C99).
 *
 * Classic TCQ (Marcellin & Fischer): Q0 = Z and Q1 = Z + 1/2, both with
 * cells of width 1, so a latent's rate is the same Laplace cell mass
 * whichever quantizer codes it. Reconstructions do not depend on the
 * model's mean, which is what lets the search use means from a pre-pass
 * while the coder codes the chosen values under the exact, path-dependent
 * means: a stale mean costs rate, never synchronisation. The search
 * minimizes sum (y - r)^2 + lambda * bits over the paths the state machine
 * allows, starting in state 0; bits are -log2 of the Laplace(mean, scale)
 * mass of [r - 1/2, r + 1/2], floored at 2^-16.
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
