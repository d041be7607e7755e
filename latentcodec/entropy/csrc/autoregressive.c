/* Integer autoregressive model: see autoregressive.h. */
#include "autoregressive.h"

#include <stdlib.h>
#include <string.h>

#include "../../csrc/matvec.h" /* lc_plain_only, LC_WIDE, LC_HAS_WIDE */

const int8_t lc_arm_neighbours[LC_ARM_MAX_CONTEXT][2] = {
    {0, -1}, {-1, 0}, {-1, -1}, {-1, 1}, {0, -2}, {-2, 0}, {-2, -1}, {-2, 1},
    {-1, -2}, {-1, 2}, {-2, -2}, {-2, 2}, {0, -3}, {-3, 0}, {-3, -1}, {-3, 1},
    {-1, -3}, {-1, 3}, {-3, -2}, {-3, 2}, {-2, -3}, {-2, 3}, {0, -4}, {-4, 0}};

const char *lc_arm_check(const lc_arm *a) {
    if (a->n_context < 1 || a->n_context > LC_ARM_MAX_CONTEXT) return "context size out of range";
    if (a->hidden < 1 || a->hidden > LC_ARM_MAX_HIDDEN) return "hidden size out of range";
    for (int l = 0; l < 3; l++)
        if (a->shift[l] < 0 || a->shift[l] > LC_ARM_MAX_SHIFT) return "weight exponent out of range";
    const int32_t n_in = a->n_context + LC_ARM_PARENTS, h = a->hidden;
    const int32_t *weights[3] = {a->w0, a->w1, a->w2}, *biases[3] = {a->b0, a->b1, a->b2};
    const int32_t n_weights[3] = {n_in * h, h * h, 2 * h}, n_biases[3] = {h, h, 2};
    for (int l = 0; l < 3; l++) {
        for (int32_t i = 0; i < n_weights[l]; i++)
            if (weights[l][i] < -LC_ARM_MAX_WEIGHT || weights[l][i] > LC_ARM_MAX_WEIGHT) return "weight out of range";
        for (int32_t i = 0; i < n_biases[l]; i++)
            if (biases[l][i] < -LC_ARM_MAX_BIAS || biases[l][i] > LC_ARM_MAX_BIAS) return "bias out of range";
    }
    return 0;
}

static inline int32_t round_shift(int32_t x, int32_t s) { return s ? (x + (1 << (s - 1))) >> s : x; }

static inline int32_t activation(int32_t x) {
    return x < 0 ? 0 : x > LC_ARM_MAX_ACTIVATION ? LC_ARM_MAX_ACTIVATION : x;
}

/* NAME(arm, in, &mu16) -> scale index; in holds n_context + LC_ARM_PARENTS latents.
 * Integer sums are exact in any order, so the wide and plain builds agree. */
#define LC_ARM_FORWARD(NAME, TARGET)                                                              \
    TARGET static int32_t NAME(const lc_arm *a, const int32_t *in, int32_t *mu16) {                 \
        int32_t h0[LC_ARM_MAX_HIDDEN], h1[LC_ARM_MAX_HIDDEN];                                     \
        const int32_t h = a->hidden, n_in = a->n_context + LC_ARM_PARENTS;                        \
        for (int32_t j = 0; j < h; j++) h0[j] = 0;                                                \
        for (int32_t i = 0; i < n_in; i++) {                                                      \
            const int32_t x = in[i], *w = a->w0 + i * h;                                          \
            for (int32_t j = 0; j < h; j++) h0[j] += w[j] * x;                                    \
        }                                                                                         \
        for (int32_t j = 0; j < h; j++)                                                           \
            h0[j] = activation(round_shift(h0[j] * (1 << LC_ARM_FRAC) + a->b0[j], a->shift[0]));  \
        for (int32_t j = 0; j < h; j++) h1[j] = a->b1[j];                                         \
        for (int32_t i = 0; i < h; i++) {                                                         \
            const int32_t x = h0[i], *w = a->w1 + i * h;                                          \
            for (int32_t j = 0; j < h; j++) h1[j] += w[j] * x;                                    \
        }                                                                                         \
        for (int32_t j = 0; j < h; j++) h1[j] = activation(h0[j] + activation(round_shift(h1[j], a->shift[1]))); \
        int32_t mu = a->b2[0], log_scale = a->b2[1];                                              \
        for (int32_t i = 0; i < h; i++) {                                                         \
            mu += a->w2[2 * i] * h1[i];                                                           \
            log_scale += a->w2[2 * i + 1] * h1[i];                                                \
        }                                                                                         \
        mu = round_shift(mu, a->shift[2]);                                                        \
        log_scale = round_shift(log_scale, a->shift[2]);                                          \
        *mu16 = (mu + (1 << (LC_ARM_FRAC - 5))) >> (LC_ARM_FRAC - 4); /* the mean in 1/16, rounded */ \
        /* log scale in 1/8 from LC_ARM_LOG_SCALE_MIN, rounded and clamped */                    \
        const int32_t step = LC_ARM_FRAC - LC_ARM_LOG_SCALE_STEP_BITS;                            \
        int32_t s = (log_scale - LC_ARM_LOG_SCALE_MIN * (1 << LC_ARM_FRAC) + (1 << (step - 1))) >> step; \
        return s < 0 ? 0 : s >= LC_ARM_SCALES ? LC_ARM_SCALES - 1 : s;                            \
    }

LC_ARM_FORWARD(forward_wide, LC_WIDE)
LC_ARM_FORWARD(forward_plain, )

typedef int32_t (*forward_fn)(const lc_arm *, const int32_t *, int32_t *);

/* Table index of a mean (in 1/16) and scale index; *mean is the mean's floor. */
static inline int32_t table_of(int32_t mu16, int32_t s, int32_t *mean) {
    *mean = mu16 >> 4;
    return (mu16 - *mean * 16) * LC_ARM_SCALES + s;
}

static inline int32_t clamp_to(int64_t v, int32_t bound) { return v < -bound ? -bound : v > bound ? bound : (int32_t)v; }

/* A trellis index's mean (in 1/16) on quantizer q: see lc_arm_trellis. */
static inline int32_t trellis_mean(int32_t mu16, int32_t q) { return q ? mu16 + clamp_to(mu16, 8) : mu16; }

/* Grids with a zero border: neighbours and parents need no bounds checks. */
typedef struct {
    int32_t *data;
    int32_t h, w, stride;
} padded;

static int32_t *at_(const padded *g, int32_t y, int32_t x) {
    return g->data + (size_t)(y + LC_ARM_PAD) * g->stride + (x + LC_ARM_PAD);
}

static padded *alloc_grids(const lc_pyramid *p) {
    padded *g = calloc((size_t)p->n_levels, sizeof *g);
    if (!g) return 0;
    for (int32_t l = 0; l < p->n_levels; l++) {
        g[l].h = p->heights[l];
        g[l].w = p->widths[l];
        g[l].stride = g[l].w + 2 * LC_ARM_PAD;
        g[l].data = calloc((size_t)(g[l].h + LC_ARM_PAD + 1) * g[l].stride, sizeof(int32_t));
        if (!g[l].data) {
            for (int32_t k = 0; k <= l; k++) free(g[k].data);
            free(g);
            return 0;
        }
    }
    return g;
}

static void free_grids(padded *g, int32_t n) {
    for (int32_t l = 0; l < n; l++) free(g[l].data);
    free(g);
}

static void gather(const lc_arm *a, const padded *g, const padded *parent, int32_t y, int32_t x, int32_t *in) {
    for (int32_t k = 0; k < a->n_context; k++) in[k] = *at_(g, y + lc_arm_neighbours[k][0], x + lc_arm_neighbours[k][1]);
    if (parent) {
        const int32_t *q = at_(parent, y >> 1, x >> 1);
        in[a->n_context] = q[0];
        in[a->n_context + 1] = q[1];
        in[a->n_context + 2] = q[parent->stride];
    } else {
        in[a->n_context] = in[a->n_context + 1] = in[a->n_context + 2] = 0;
    }
}

lc_status lc_arm_symbols(const lc_arm *a, const lc_pyramid *p, const lc_arm_trellis *tr,
                         const int32_t *const *levels, int32_t *symbols, int32_t *indexes, size_t *at) {
    padded *g = alloc_grids(p);
    if (!g) return LC_ERR_NOMEM;
    const forward_fn forward = LC_HAS_WIDE() ? forward_wide : forward_plain;
    for (int32_t l = 0; l < p->n_levels; l++)
        for (int32_t y = 0; y < g[l].h; y++)
            memcpy(at_(&g[l], y, 0), levels[l] + (size_t)y * g[l].w, (size_t)g[l].w * sizeof(int32_t));
    size_t n = 0;
    lc_status status = LC_OK;
    int32_t in[LC_ARM_MAX_CONTEXT + LC_ARM_PARENTS];
    for (int32_t l = p->n_levels - 1; l >= 0 && status == LC_OK; l--) {
        const padded *parent = l + 1 < p->n_levels ? &g[l + 1] : 0;
        int32_t state = 0;
        for (int32_t y = 0; y < g[l].h && status == LC_OK; y++)
            for (int32_t x = 0; x < g[l].w; x++, n++) {
                int32_t mu16, mean, value = *at_(&g[l], y, x);
                gather(a, &g[l], parent, y, x, in);
                const int32_t s = forward(a, in, &mu16);
                if (tr) {
                    const int32_t q = state & 1;
                    if (q ? value != 0 && !(value & 1) : value & 1) {
                        status = LC_ERR_INDEX;
                        break;
                    }
                    mu16 = trellis_mean(mu16, q);
                    value = q ? (value + clamp_to(value, 1)) / 2 : value / 2; /* the index */
                    state = tr->next[2 * state + (value & 1)];
                }
                indexes[n] = table_of(mu16, s, &mean);
                symbols[n] = value - mean;
            }
    }
    *at = n;
    free_grids(g, p->n_levels);
    return status;
}

lc_status lc_arm_decode(const lc_arm *a, const lc_pyramid *p, const lc_arm_trellis *tr, lc_decoder *d,
                        const lc_tables *t,
                        int32_t *const *levels, size_t *at, uint64_t *byte_offset) {
    padded *g = alloc_grids(p);
    if (!g) return LC_ERR_NOMEM;
    const forward_fn forward = LC_HAS_WIDE() ? forward_wide : forward_plain;
    lc_status status = LC_OK;
    size_t n = 0;
    int32_t in[LC_ARM_MAX_CONTEXT + LC_ARM_PARENTS];
    for (int32_t l = p->n_levels - 1; l >= 0 && status == LC_OK; l--) {
        const padded *parent = l + 1 < p->n_levels ? &g[l + 1] : 0;
        int32_t state = 0;
        for (int32_t y = 0; y < g[l].h && status == LC_OK; y++) {
            int32_t *row = at_(&g[l], y, 0);
            for (int32_t x = 0; x < g[l].w; x++, n++) {
                int32_t mu16, mean, symbol;
                size_t unused;
                gather(a, &g[l], parent, y, x, in);
                const int32_t s = forward(a, in, &mu16), q = tr ? state & 1 : 0;
                const int32_t index = table_of(tr ? trellis_mean(mu16, q) : mu16, s, &mean);
                status = lc_decode(d, &symbol, &index, 1, t, &unused, byte_offset);
                if (status != LC_OK) break;
                const int64_t k = (int64_t)symbol + mean, value = !tr ? k : q ? 2 * k - clamp_to(k, 1) : 2 * k;
                if (value < -LC_ARM_LATENT_MAX || value > LC_ARM_LATENT_MAX) {
                    status = LC_ERR_CORRUPT;
                    break;
                }
                row[x] = (int32_t)value;
                if (tr) state = tr->next[2 * state + (int32_t)(k & 1)];
            }
            memcpy(levels[l] + (size_t)y * g[l].w, row, (size_t)g[l].w * sizeof(int32_t));
        }
    }
    *at = n;
    free_grids(g, p->n_levels);
    return status;
}
