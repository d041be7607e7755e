/* Streaming range coder over 16-bit integer CDF tables (plain C99, no Python).
 *
 * Queue semantics: symbols are decoded in the order they were encoded, so a
 * causal producer can hand out bytes as it goes. Tables use CompressAI's
 * quantized-CDF layout: table t is cdfs[t * max_len + 0 .. lengths[t] - 1],
 * cdf[0] == 0, cdf[lengths[t] - 1] == 1 << 16, and the last symbol
 * (lengths[t] - 2) is the escape that introduces a bypass-coded value.
 */
#ifndef LC_RANGE_CODER_H
#define LC_RANGE_CODER_H

#include <stddef.h>
#include <stdint.h>

#define LC_PRECISION 16
#define LC_DECODER_PADDING 3 /* zero bytes a decoder may read past the end */

typedef enum {
    LC_OK = 0,
    LC_NEED_MORE,        /* streaming decoder: more input is needed, nothing consumed */
    LC_ERR_NOMEM,
    LC_ERR_INDEX,        /* a table index outside [0, n_tables) */
    LC_ERR_TABLE,        /* a table violates the layout (length, first or last value) */
    LC_ERR_ZERO_FREQ,    /* encoder: symbol has zero probability in its table */
    LC_ERR_CORRUPT,      /* decoder: the bytes cannot come from a valid stream */
    LC_ERR_TRUNCATED,    /* decoder: the stream ended before the symbols did */
    LC_ERR_OVERFLOW,     /* decoder: a decoded value does not fit in int32 */
    LC_ERR_ENDED         /* decoder: input fed after input marked last */
} lc_status;

typedef struct {
    const int32_t *cdfs;    /* [n_tables][max_len] */
    const int32_t *lengths; /* [n_tables] */
    const int32_t *offsets; /* [n_tables] */
    int32_t n_tables;
    int32_t max_len;
} lc_tables;

typedef struct {
    uint64_t low;       /* 32-bit window plus one carry bit */
    uint32_t range;
    uint8_t cache;      /* last byte shifted out, not final until the carry is known */
    int has_cache;
    uint64_t ff_run;    /* 0xFF bytes after the cache, equally undecided */
    uint8_t *out;       /* final bytes not yet taken */
    size_t out_len, out_cap;
} lc_encoder;

typedef struct {
    uint32_t code, range;
    int started;        /* the first four bytes have been read */
    int last;           /* no more input will be fed */
    uint8_t *buf;       /* fed bytes; buf[0] is stream byte `base` */
    size_t len, pos, cap;
    uint64_t base;
} lc_decoder;

/* A state machine driven by the parity of each decoded value, as in
 * trellis-coded quantization: in state s a symbol uses table
 * indexes[i] + shift[s], and the state then becomes next[2 * s + (value & 1)].
 * The caller checks that every entry of next lies in [0, n_states). */
typedef struct {
    const int32_t *next;  /* [n_states][2] */
    const int32_t *shift; /* [n_states] */
    int32_t n_states;
} lc_state_machine;

/* Checks the per-table layout (O(n_tables)); per-symbol checks do the rest. */
lc_status lc_tables_check(const lc_tables *t, int32_t *bad_table);

void lc_encoder_init(lc_encoder *e);
void lc_encoder_free(lc_encoder *e);
/* On error *at is the symbol that failed; symbols before it are encoded. */
lc_status lc_encode(lc_encoder *e, const int32_t *symbols, const int32_t *indexes,
                    size_t n, const lc_tables *t, size_t *at);
/* Ends the stream: the remaining bytes join the output and the state resets. */
lc_status lc_encoder_finish(lc_encoder *e);

void lc_decoder_init(lc_decoder *d);
void lc_decoder_free(lc_decoder *d);
lc_status lc_decoder_feed(lc_decoder *d, const uint8_t *data, size_t n, int last);
/* All or nothing: on any status but LC_OK the decoder state is unchanged.
 * On error *at is the failing symbol and *byte_offset the stream position. */
lc_status lc_decode(lc_decoder *d, int32_t *out, const int32_t *indexes, size_t n,
                    const lc_tables *t, size_t *at, uint64_t *byte_offset);
/* lc_decode under a state machine: *state is the state before the first
 * symbol and, on LC_OK, after the last; states[i] receives the state that
 * symbol i was decoded in. */
lc_status lc_decode_states(lc_decoder *d, int32_t *out, const int32_t *indexes, size_t n,
                           const lc_tables *t, const lc_state_machine *m, int32_t *state,
                           int32_t *states, size_t *at, uint64_t *byte_offset);

#endif
