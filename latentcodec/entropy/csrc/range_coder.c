/* Range coder after Martin (1979) with LZMA-style carry propagation: the
 * encoder keeps the last byte it shifted out (`cache`) and any run of 0xFF
 * bytes after it undecided until a carry can no longer reach them. With a
 * 32-bit range renormalized to >= 2^24 and 16-bit CDFs the coding loss is
 * under 2^-8 of a bit per symbol, and ending a stream costs one byte. */
#include "range_coder.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define TOP (1u << 24)
#define ONE (1u << LC_PRECISION)
#define NIBBLE_BITS 4
#define NIBBLE_MAX 15u
/* Escaped values differ from the table range by less than 2^33: 9 nibbles. */
#define MAX_NIBBLES 9u

lc_status lc_tables_check(const lc_tables *t, int32_t *bad_table) {
    for (int32_t i = 0; i < t->n_tables; i++) {
        const int32_t len = t->lengths[i];
        const int32_t *cdf = t->cdfs + (size_t)i * (size_t)t->max_len;
        if (len < 2 || len > t->max_len || cdf[0] != 0 || cdf[len - 1] != (int32_t)ONE) {
            *bad_table = i;
            return LC_ERR_TABLE;
        }
    }
    return LC_OK;
}

/* ---------------------------------------------------------------- encoder */

void lc_encoder_init(lc_encoder *e) {
    memset(e, 0, sizeof *e);
    e->range = 0xFFFFFFFFu;
}

void lc_encoder_free(lc_encoder *e) {
    free(e->out);
    e->out = NULL;
    e->out_len = e->out_cap = 0;
}

static int reserve(lc_encoder *e, uint64_t extra) {
    if (e->out_len + extra <= e->out_cap) return 1;
    uint64_t cap = e->out_cap ? e->out_cap : 256;
    while (cap < e->out_len + extra) cap *= 2;
    if (cap > SIZE_MAX) return 0;
    uint8_t *p = realloc(e->out, (size_t)cap);
    if (!p) return 0;
    e->out = p;
    e->out_cap = (size_t)cap;
    return 1;
}

/* Moves the top byte of `low` out of the window. Returns 0 on allocation failure. */
static inline int shift_low(lc_encoder *e) {
    if ((uint32_t)e->low < 0xFF000000u || (e->low >> 32) != 0) {
        const uint8_t carry = (uint8_t)(e->low >> 32);
        if (!reserve(e, e->ff_run + 1)) return 0;
        if (e->has_cache) e->out[e->out_len++] = (uint8_t)(e->cache + carry);
        for (; e->ff_run; e->ff_run--) e->out[e->out_len++] = (uint8_t)(0xFFu + carry);
        e->cache = (uint8_t)(e->low >> 24);
        e->has_cache = 1;
    } else {
        e->ff_run++;
    }
    e->low = (e->low & 0x00FFFFFFu) << 8;
    return 1;
}

static inline int normalize(lc_encoder *e) {
    while (e->range < TOP) {
        if (!shift_low(e)) return 0;
        e->range <<= 8;
    }
    return 1;
}

static inline int encode_nibble(lc_encoder *e, uint32_t value) {
    const uint32_t r = e->range >> NIBBLE_BITS;
    e->low += (uint64_t)r * value;
    e->range = r;
    return normalize(e);
}

/* CompressAI's bypass layout: the nibble count, then the value's nibbles,
 * least significant first, each with probability 1/16. CompressAI codes the
 * count as runs of 15 plus a remainder; at most 9 nibbles it is one nibble. */
static int encode_bypass(lc_encoder *e, uint64_t raw) {
    uint32_t n = 0;
    while (n < MAX_NIBBLES && (raw >> (NIBBLE_BITS * n)) != 0) n++;
    if (!encode_nibble(e, n)) return 0;
    for (uint32_t j = 0; j < n; j++)
        if (!encode_nibble(e, (uint32_t)(raw >> (NIBBLE_BITS * j)) & NIBBLE_MAX)) return 0;
    return 1;
}

lc_status lc_encode(lc_encoder *e, const int32_t *symbols, const int32_t *indexes,
                    size_t n, const lc_tables *t, size_t *at) {
    for (size_t i = 0; i < n; i++) {
        const int32_t ti = indexes[i];
        *at = i;
        if ((uint32_t)ti >= (uint32_t)t->n_tables) return LC_ERR_INDEX;
        const int32_t *cdf = t->cdfs + (size_t)ti * (size_t)t->max_len;
        const int64_t max_value = t->lengths[ti] - 2;
        int64_t value = (int64_t)symbols[i] - t->offsets[ti];
        uint64_t raw = 0;
        int escape = 0;
        if (value < 0) {
            raw = (uint64_t)(-2 * value - 1);
            value = max_value;
            escape = 1;
        } else if (value >= max_value) {
            raw = (uint64_t)(2 * (value - max_value));
            value = max_value;
            escape = 1;
        }
        const int32_t lo = cdf[value], hi = cdf[value + 1];
        if (lo < 0 || hi <= lo || hi > (int32_t)ONE) return LC_ERR_ZERO_FREQ;
        const uint32_t r = e->range >> LC_PRECISION;
        e->low += (uint64_t)r * (uint32_t)lo;
        e->range = r * (uint32_t)(hi - lo);
        if (!normalize(e)) return LC_ERR_NOMEM;
        if (escape && !encode_bypass(e, raw)) return LC_ERR_NOMEM;
    }
    *at = n;
    return LC_OK;
}

lc_status lc_encoder_finish(lc_encoder *e) {
    /* Any value in [low, low + range) identifies the stream. range >= 2^24, so
     * rounding low up to a multiple of 2^24 stays inside: one byte suffices,
     * and the decoder reads the three bytes after it as zeros. */
    e->low = (e->low + (TOP - 1)) & ~(uint64_t)(TOP - 1);
    if (!shift_low(e) || !reserve(e, e->ff_run + 1)) return LC_ERR_NOMEM;
    if (e->has_cache) e->out[e->out_len++] = e->cache;
    for (; e->ff_run; e->ff_run--) e->out[e->out_len++] = 0xFF;
    e->low = 0;
    e->range = 0xFFFFFFFFu;
    e->has_cache = 0;
    return LC_OK;
}

/* ---------------------------------------------------------------- decoder */

void lc_decoder_init(lc_decoder *d) {
    memset(d, 0, sizeof *d);
}

void lc_decoder_free(lc_decoder *d) {
    free(d->buf);
    d->buf = NULL;
    d->len = d->pos = d->cap = 0;
}

lc_status lc_decoder_feed(lc_decoder *d, const uint8_t *data, size_t n, int last) {
    /* Once the input is marked last the decoder may have read zero padding
     * past it (pos > len), so nothing can be appended any more. */
    if (d->last) return LC_ERR_ENDED;
    if (d->pos > 0) { /* drop consumed bytes; pos <= len while input is open */
        memmove(d->buf, d->buf + d->pos, d->len - d->pos);
        d->len -= d->pos;
        d->base += d->pos;
        d->pos = 0;
    }
    if (n > SIZE_MAX - d->len) return LC_ERR_NOMEM;
    if (d->len + n > d->cap) {
        size_t cap = d->cap ? d->cap : 256;
        while (cap < d->len + n) cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
        uint8_t *p = realloc(d->buf, cap);
        if (!p) return LC_ERR_NOMEM;
        d->buf = p;
        d->cap = cap;
    }
    if (n) memcpy(d->buf + d->len, data, n);
    d->len += n;
    d->last = d->last || last;
    return LC_OK;
}

/* The loop works on local copies and commits them only when every symbol
 * decoded, which makes a call all-or-nothing (needed to retry after
 * LC_NEED_MORE) and keeps the state in registers. */
#define NEXT_BYTE(dst)                                                  \
    do {                                                                \
        if (pos < len) {                                                \
            (dst) = buf[pos++];                                         \
        } else if (!last) {                                             \
            status = LC_NEED_MORE;                                      \
            goto stop;                                                  \
        } else if (pos < len + LC_DECODER_PADDING) {                    \
            (dst) = 0;                                                  \
            pos++;                                                      \
        } else {                                                        \
            status = LC_ERR_TRUNCATED;                                  \
            goto stop;                                                  \
        }                                                               \
    } while (0)

#define NORMALIZE()                                                     \
    while (range < TOP) {                                               \
        uint32_t b_;                                                    \
        NEXT_BYTE(b_);                                                  \
        code = (code << 8) | b_;                                        \
        range <<= 8;                                                    \
    }

#define DECODE_NIBBLE(dst)                                              \
    do {                                                                \
        const uint32_t r_ = range >> NIBBLE_BITS;                       \
        const uint32_t v_ = code / r_;                                  \
        if (v_ > NIBBLE_MAX) { status = LC_ERR_CORRUPT; goto stop; }    \
        code -= v_ * r_;                                                \
        range = r_;                                                     \
        NORMALIZE();                                                    \
        (dst) = v_;                                                     \
    } while (0)

lc_status lc_decode_states(lc_decoder *d, int32_t *out, const int32_t *indexes, size_t n,
                           const lc_tables *t, const lc_state_machine *m, int32_t *state,
                           int32_t *states, size_t *at, uint64_t *byte_offset) {
    const uint8_t *buf = d->buf;
    const size_t len = d->len;
    const int last = d->last;
    size_t pos = d->pos;
    uint32_t code = d->code, range = d->range;
    lc_status status = LC_OK;
    size_t i = 0;
    int32_t current = m ? *state : 0;

    if (!d->started) {
        code = 0;
        for (int k = 0; k < 4; k++) {
            uint32_t b;
            NEXT_BYTE(b);
            code = (code << 8) | b;
        }
        range = 0xFFFFFFFFu;
    }
    for (; i < n; i++) {
        int64_t tw = indexes[i];
        if (m) {
            states[i] = current;
            tw += m->shift[current];
        }
        if (tw < 0 || tw >= t->n_tables) { status = LC_ERR_INDEX; goto stop; }
        const int32_t ti = (int32_t)tw;
        const int32_t *cdf = t->cdfs + (size_t)ti * (size_t)t->max_len;
        const int32_t max_value = t->lengths[ti] - 2;
        const uint32_t r = range >> LC_PRECISION;
        const uint32_t target = code / r;
        if (target >= ONE) { status = LC_ERR_CORRUPT; goto stop; }
        /* branchless binary search: largest s <= max_value with cdf[s] <= target */
        const int32_t *p = cdf;
        for (uint32_t count = (uint32_t)max_value + 1; count > 1;) {
            const uint32_t half = count >> 1;
            p = ((uint32_t)p[half] <= target) ? p + half : p;
            count -= half;
        }
        const int32_t s = (int32_t)(p - cdf);
        const uint32_t lo = (uint32_t)cdf[s], hi = (uint32_t)cdf[s + 1];
        if (target >= hi || hi > ONE) { status = LC_ERR_CORRUPT; goto stop; }
        code -= r * lo;
        range = r * (hi - lo);
        NORMALIZE();
        int64_t value = s;
        if (s == max_value) {
            uint32_t nib, count;
            DECODE_NIBBLE(count);
            if (count > MAX_NIBBLES) { status = LC_ERR_CORRUPT; goto stop; }
            uint64_t raw = 0;
            for (uint32_t j = 0; j < count; j++) {
                DECODE_NIBBLE(nib);
                raw |= (uint64_t)nib << (NIBBLE_BITS * j);
            }
            value = (raw & 1) ? -(int64_t)(raw >> 1) - 1 : (int64_t)(raw >> 1) + max_value;
        }
        value += t->offsets[ti];
        if (value < INT32_MIN || value > INT32_MAX) { status = LC_ERR_OVERFLOW; goto stop; }
        out[i] = (int32_t)value;
        if (m) current = m->next[2 * current + (int32_t)((uint64_t)value & 1)];
    }
stop:
    *at = i;
    *byte_offset = d->base + pos;
    if (status == LC_OK) {
        if (m) *state = current;
        d->pos = pos;
        d->code = code;
        d->range = range;
        d->started = 1;
    }
    return status;
}

lc_status lc_decode(lc_decoder *d, int32_t *out, const int32_t *indexes, size_t n,
                    const lc_tables *t, size_t *at, uint64_t *byte_offset) {
    return lc_decode_states(d, out, indexes, n, t, NULL, NULL, NULL, at, byte_offset);
}
