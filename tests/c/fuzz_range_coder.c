/* Sanitizer fuzz driver for latentcodec/entropy/csrc/range_coder.c.
 *
 * Links the coder directly (no Python) so AddressSanitizer and UBSan see every
 * access. Each iteration builds random tables (escapes, offsets up to the
 * int32 extremes), round-trips random symbols through every API path (several
 * encode calls with take() between them, decoding in several calls, streaming
 * feeds with NEED_MORE retries), then feeds truncated, bit-flipped, spliced and
 * random bytes to the decoder and checks it answers with a defined status.
 * Built and run by run_sanitizers.sh; exits non-zero on the first failure.
 *
 *   fuzz_range_coder [iterations] [seed]
 */
#include "range_coder.h"
#include "fuzz_rng.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ONE (1 << LC_PRECISION)


#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "FAIL %s:%d (%s): ", __FILE__, __LINE__, #cond);     \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
            exit(1);                                                            \
        }                                                                       \
    } while (0)

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    CHECK(p != NULL, "out of memory");
    return p;
}

/* ------------------------------------------------------------- tables */

typedef struct {
    lc_tables t;
    int32_t *cdfs, *lengths, *offsets; /* exactly sized, so ASan sees overruns */
} tables;

static int32_t random_offset(int32_t len) {
    switch (below(6)) {
    case 0: return INT32_MIN;
    case 1: return INT32_MAX;
    case 2: return INT32_MAX - (len - 2);
    case 3: return (int32_t)next_u64();
    case 4: return -(len - 2) / 2;
    default: return (int32_t)below(200) - 100;
    }
}

/* Random positive frequencies summing to 2^16 (zero_freq: some are zero).
 * Row entries past a table's length are garbage the coder must not read. */
static tables make_tables(int zero_freq) {
    static const int32_t max_lens[] = {2, 3, 5, 40, 300, 3000};
    tables tb;
    tb.t.n_tables = 1 + (int32_t)below(6);
    tb.t.max_len = max_lens[below(6)];
    const size_t rows = (size_t)tb.t.n_tables, cols = (size_t)tb.t.max_len;
    tb.cdfs = xmalloc(rows * cols * sizeof(int32_t));
    tb.lengths = xmalloc(rows * sizeof(int32_t));
    tb.offsets = xmalloc(rows * sizeof(int32_t));
    uint64_t *w = xmalloc(cols * sizeof(uint64_t));
    for (size_t r = 0; r < rows; r++) {
        const int32_t len = 2 + (int32_t)below((uint32_t)tb.t.max_len - 1);
        const int32_t nsym = len - 1;
        int32_t *cdf = tb.cdfs + r * cols;
        const int skew = (int)below(40); /* spread of the weights, in bits */
        uint64_t total = 0;
        for (int32_t s = 0; s < nsym; s++) {
            w[s] = next_u64() >> (24 + below((uint32_t)skew + 1));
            if (zero_freq && below(4) == 0) w[s] = 0;
            total += w[s];
        }
        /* freq = 1 (0 if zeroed) + share of what is left, remainder to one symbol */
        int32_t base = 0;
        for (int32_t s = 0; s < nsym; s++) base += (!zero_freq || w[s] != 0);
        const uint64_t spare = (uint64_t)(ONE - base);
        cdf[0] = 0;
        uint64_t given = 0;
        for (int32_t s = 0; s < nsym; s++) {
            const uint64_t share = total ? (uint64_t)((double)w[s] / (double)total * (double)spare) : 0;
            given += share;
            cdf[s + 1] = cdf[s] + ((!zero_freq || w[s] != 0) ? 1 : 0) + (int32_t)share;
        }
        CHECK(given <= spare, "frequency shares overshoot");
        const int32_t lucky = 1 + (int32_t)below((uint32_t)nsym);
        for (int32_t s = lucky; s < len; s++) cdf[s] += (int32_t)(spare - given);
        CHECK(cdf[len - 1] == ONE, "table %zu sums to %d", r, cdf[len - 1]);
        for (int32_t s = len; s < tb.t.max_len; s++) cdf[s] = (int32_t)next_u64();
        tb.lengths[r] = len;
        tb.offsets[r] = random_offset(len);
    }
    free(w);
    tb.t.cdfs = tb.cdfs;
    tb.t.lengths = tb.lengths;
    tb.t.offsets = tb.offsets;
    int32_t bad;
    CHECK(lc_tables_check(&tb.t, &bad) == LC_OK, "generated table %d is malformed", bad);
    return tb;
}

static void free_tables(tables *tb) {
    free(tb->cdfs);
    free(tb->lengths);
    free(tb->offsets);
}

static int32_t saturate(int64_t v) {
    return v < INT32_MIN ? INT32_MIN : v > INT32_MAX ? INT32_MAX : (int32_t)v;
}

/* A symbol for table ti: usually drawn from the table's own distribution,
 * sometimes an escape (far out, the int32 extremes, just past either end). */
static int32_t random_symbol(const tables *tb, int32_t ti) {
    const int32_t *cdf = tb->cdfs + (size_t)ti * (size_t)tb->t.max_len;
    const int64_t off = tb->offsets[ti], max_value = tb->lengths[ti] - 2;
    switch (below(16)) {
    case 0: return INT32_MIN;
    case 1: return INT32_MAX;
    case 2: return (int32_t)next_u64();
    case 3: return saturate(off - 1 - below(1000));
    case 4: return saturate(off + max_value + below(1000));
    default: {
        const int32_t u = (int32_t)below(ONE);
        int32_t s = 0;
        while (cdf[s + 1] <= u) s++;
        return saturate(off + s);
    }
    }
}

static int symbol_has_mass(const tables *tb, int32_t ti, int32_t symbol) {
    const int32_t *cdf = tb->cdfs + (size_t)ti * (size_t)tb->t.max_len;
    const int64_t max_value = tb->lengths[ti] - 2;
    int64_t v = (int64_t)symbol - tb->offsets[ti];
    if (v < 0 || v > max_value) v = max_value;
    return cdf[v + 1] > cdf[v];
}

/* ------------------------------------------------------------- streams */

typedef struct {
    uint8_t *data;
    size_t len, cap;
} bytes;

static void append(bytes *b, const uint8_t *p, size_t n) {
    if (b->len + n > b->cap) {
        b->cap = 2 * (b->len + n) + 16;
        b->data = realloc(b->data, b->cap);
        CHECK(b->data != NULL, "out of memory");
    }
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
}

/* What RangeEncoder.take() does: move the final bytes out. */
static void take(lc_encoder *e, bytes *out) {
    append(out, e->out, e->out_len);
    e->out_len = 0;
}

/* Encodes in random pieces with take() between, or all at once. */
static bytes encode(const tables *tb, const int32_t *sym, const int32_t *idx, size_t n, int pieces) {
    lc_encoder e;
    lc_encoder_init(&e);
    bytes out = {0};
    size_t i = 0, at;
    while (i < n) {
        const size_t m = pieces ? 1 + below((uint32_t)(n - i)) : n - i;
        CHECK(lc_encode(&e, sym + i, idx + i, m, &tb->t, &at) == LC_OK, "encode failed at %zu", i + at);
        i += m;
        if (pieces) take(&e, &out);
    }
    CHECK(lc_encoder_finish(&e) == LC_OK, "finish failed");
    take(&e, &out);
    lc_encoder_free(&e);
    return out;
}

static long status_count[LC_ERR_OVERFLOW + 1];
static long n_symbols_round_tripped, n_need_more, n_mutated;

static int is_decode_error(lc_status st) {
    return st == LC_ERR_CORRUPT || st == LC_ERR_TRUNCATED || st == LC_ERR_OVERFLOW;
}

static int same_state(const lc_decoder *a, const lc_decoder *b) {
    return a->code == b->code && a->range == b->range && a->started == b->started &&
           a->last == b->last && a->buf == b->buf && a->len == b->len && a->pos == b->pos &&
           a->base == b->base;
}

/* Decodes n symbols in random calls from a decoder fed `data` whole or, when
 * streaming, in random pieces (marked last with the final piece). A call that
 * gets NEED_MORE must leave the decoder untouched; it is retried after the
 * next piece. Returns LC_OK or the first error status. */
static lc_status decode(const tables *tb, const uint8_t *data, size_t len, const int32_t *idx,
                        size_t n, int32_t *out, int streaming) {
    lc_decoder d;
    lc_decoder_init(&d);
    size_t fed = streaming ? 0 : len, i = 0, at;
    uint64_t byte_offset;
    lc_status st;
    if (!streaming) CHECK(lc_decoder_feed(&d, data, len, 1) == LC_OK, "feed failed");
    for (;;) {
        const size_t m = n > i ? 1 + below((uint32_t)(n - i)) : 0;
        const lc_decoder before = d;
        st = lc_decode(&d, out + i, idx + i, m, &tb->t, &at, &byte_offset);
        status_count[st]++;
        if (st == LC_NEED_MORE) {
            n_need_more++;
            CHECK(same_state(&before, &d), "NEED_MORE changed the decoder state");
            CHECK(!d.last, "NEED_MORE after the input was marked last");
            const size_t piece = below(4) ? below(8) : below((uint32_t)(len - fed) + 1);
            const size_t k = piece < len - fed ? piece : len - fed;
            CHECK(lc_decoder_feed(&d, data + fed, k, fed + k == len) == LC_OK, "feed failed");
            fed += k;
            continue;
        }
        if (st != LC_OK) {
            CHECK(is_decode_error(st), "decode returned status %d", (int)st);
            CHECK(st != LC_ERR_TRUNCATED || d.last, "TRUNCATED before the input was marked last");
            CHECK(same_state(&before, &d), "a failed decode changed the decoder state");
            CHECK(at <= m, "error position %zu outside the call's %zu symbols", at, m);
            break;
        }
        CHECK(d.pos <= d.len + LC_DECODER_PADDING, "read past the padding");
        i += m;
        if (i >= n) break;
    }
    /* Input handed over after the input was marked last is refused. */
    if (st == LC_OK && d.last && below(4) == 0) {
        uint8_t junk[8];
        for (int k = 0; k < 8; k++) junk[k] = (uint8_t)next_u64();
        CHECK(lc_decoder_feed(&d, junk, below(9), 1) == LC_ERR_ENDED, "feed after the end was accepted");
    }
    lc_decoder_free(&d);
    return st;
}

/* ------------------------------------------------------------- cases */

static void round_trip_case(void) {
    tables tb = make_tables(0);
    const size_t n = below(4) ? below(64) : below(4000);
    int32_t *sym = xmalloc(n * sizeof(int32_t)), *idx = xmalloc(n * sizeof(int32_t));
    int32_t *out = xmalloc(n * sizeof(int32_t));
    for (size_t i = 0; i < n; i++) {
        idx[i] = (int32_t)below((uint32_t)tb.t.n_tables);
        sym[i] = random_symbol(&tb, idx[i]);
    }
    bytes whole = encode(&tb, sym, idx, n, 0), pieces = encode(&tb, sym, idx, n, 1);
    CHECK(whole.len == pieces.len && memcmp(whole.data, pieces.data, whole.len) == 0,
          "take() between calls changed the stream");
    for (int streaming = 0; streaming < 2; streaming++) {
        memset(out, 0, n * sizeof(int32_t));
        const lc_status st = decode(&tb, whole.data, whole.len, idx, n, out, streaming);
        CHECK(st == LC_OK, "valid stream failed to decode: status %d", (int)st);
        for (size_t i = 0; i < n; i++)
            CHECK(out[i] == sym[i], "symbol %zu: decoded %" PRId32 ", encoded %" PRId32, i, out[i], sym[i]);
    }
    n_symbols_round_tripped += (long)n;

    /* the same stream, damaged */
    for (int k = 0; k < 4; k++) {
        bytes bad = {0};
        switch (below(6)) {
        case 0: append(&bad, whole.data, below((uint32_t)whole.len)); break; /* truncated */
        case 1: /* bit flips */
            append(&bad, whole.data, whole.len);
            for (uint32_t f = 1 + below(8); f--;) bad.data[below((uint32_t)bad.len)] ^= (uint8_t)(1u << below(8));
            break;
        case 2: /* random garbage */
            for (uint32_t g = below(600); g--;) { uint8_t b = (uint8_t)next_u64(); append(&bad, &b, 1); }
            break;
        case 3: break; /* empty */
        case 4: { /* spliced: a prefix of the stream, then a tail from elsewhere in it */
            const size_t cut = below((uint32_t)whole.len), from = below((uint32_t)whole.len);
            append(&bad, whole.data, cut);
            append(&bad, whole.data + from, whole.len - from);
            break;
        }
        default: { /* a run of bytes set to 0x00 or 0xFF */
            append(&bad, whole.data, whole.len);
            const size_t a = below((uint32_t)bad.len), b = a + below((uint32_t)(bad.len - a) + 1);
            memset(bad.data + a, below(2) ? 0xFF : 0x00, b - a);
        }
        }
        n_mutated++;
        /* decode the damaged bytes, half the time with tables they were not made with */
        if (below(2)) {
            decode(&tb, bad.data, bad.len, idx, n, out, (int)below(2));
        } else {
            tables other = make_tables(0);
            int32_t *oidx = xmalloc(n * sizeof(int32_t));
            for (size_t i = 0; i < n; i++) oidx[i] = (int32_t)below((uint32_t)other.t.n_tables);
            decode(&other, bad.data, bad.len, oidx, n, out, (int)below(2));
            free(oidx);
            free_tables(&other);
        }
        free(bad.data);
    }
    free(whole.data);
    free(pieces.data);
    free(sym);
    free(idx);
    free(out);
    free_tables(&tb);
}

/* Tables whose interior is not a CDF (non-monotone, negative, above 2^16):
 * lc_tables_check passes them, so the decoder must cope with random bytes. */
static void hostile_table_case(void) {
    tables tb = make_tables(0);
    for (int32_t r = 0; r < tb.t.n_tables; r++)
        for (int32_t s = 1; s < tb.lengths[r] - 1; s++)
            if (below(3) == 0) tb.cdfs[(size_t)r * (size_t)tb.t.max_len + (size_t)s] = (int32_t)next_u64() >> below(32);
    const size_t n = below(200), len = below(300);
    int32_t *idx = xmalloc(n * sizeof(int32_t)), *out = xmalloc(n * sizeof(int32_t));
    uint8_t *data = xmalloc(len);
    for (size_t i = 0; i < n; i++) idx[i] = (int32_t)below((uint32_t)tb.t.n_tables);
    for (size_t i = 0; i < len; i++) data[i] = (uint8_t)next_u64();
    decode(&tb, data, len, idx, n, out, (int)below(2));
    free(idx);
    free(out);
    free(data);
    free_tables(&tb);
}

/* The encoder's argument errors: a zero-probability symbol and a table index
 * out of range stop it at that symbol; bad table layouts fail the check. */
static void error_case(void) {
    tables tb = make_tables(1);
    const size_t n = 1 + below(300);
    int32_t *sym = xmalloc(n * sizeof(int32_t)), *idx = xmalloc(n * sizeof(int32_t));
    size_t expect = n;
    for (size_t i = 0; i < n; i++) {
        idx[i] = below(50) ? (int32_t)below((uint32_t)tb.t.n_tables) : (below(2) ? -1 : tb.t.n_tables);
        if (idx[i] < 0 || idx[i] >= tb.t.n_tables) {
            sym[i] = 0;
            if (expect == n) expect = i;
            continue;
        }
        sym[i] = below(2) ? random_symbol(&tb, idx[i]) : saturate((int64_t)tb.offsets[idx[i]] + below(8));
        if (expect == n && !symbol_has_mass(&tb, idx[i], sym[i])) expect = i;
    }
    lc_encoder e;
    lc_encoder_init(&e);
    size_t at;
    const lc_status st = lc_encode(&e, sym, idx, n, &tb.t, &at);
    status_count[st]++;
    CHECK(at == expect, "encoder stopped at %zu, expected %zu", at, expect);
    if (expect == n) CHECK(st == LC_OK, "status %d", (int)st);
    else if (idx[expect] < 0 || idx[expect] >= tb.t.n_tables) CHECK(st == LC_ERR_INDEX, "status %d", (int)st);
    else CHECK(st == LC_ERR_ZERO_FREQ, "status %d", (int)st);
    CHECK(lc_encoder_finish(&e) == LC_OK, "finish failed");
    lc_encoder_free(&e);

    /* each way to break the layout */
    int32_t bad;
    const int32_t r = (int32_t)below((uint32_t)tb.t.n_tables);
    int32_t *cdf = tb.cdfs + (size_t)r * (size_t)tb.t.max_len;
    const int32_t len = tb.lengths[r];
    switch (below(4)) {
    case 0: tb.lengths[r] = below(2) ? 1 : -(int32_t)below(100); break;
    case 1: tb.lengths[r] = tb.t.max_len + 1 + (int32_t)below(100); break;
    case 2: cdf[0] = 1 + (int32_t)below(100); break;
    default: cdf[len - 1] = ONE + (below(2) ? 1 : -1);
    }
    CHECK(lc_tables_check(&tb.t, &bad) == LC_ERR_TABLE && bad == r, "bad table %d not caught", r);
    free(sym);
    free(idx);
    free_tables(&tb);
}

int main(int argc, char **argv) {
    const long iterations = argc > 1 ? atol(argv[1]) : 20000;
    rng_state = argc > 2 ? strtoull(argv[2], NULL, 10) : (uint64_t)time(NULL);
    const uint64_t seed = rng_state;
    const clock_t start = clock();
    for (long it = 0; it < iterations; it++) {
        round_trip_case();
        hostile_table_case();
        error_case();
    }
    static const char *names[] = {"OK", "NEED_MORE", "NOMEM", "INDEX", "TABLE",
                                  "ZERO_FREQ", "CORRUPT", "TRUNCATED", "OVERFLOW"};
    printf("fuzz_range_coder: %ld iterations, seed %" PRIu64 ", %.1f s\n", iterations, seed,
           (double)(clock() - start) / CLOCKS_PER_SEC);
    printf("  %ld symbols round-tripped, %ld damaged streams, %ld NEED_MORE retries (state unchanged)\n",
           n_symbols_round_tripped, n_mutated, n_need_more);
    printf("  statuses of encode and decode calls:");
    for (int s = 0; s <= LC_ERR_OVERFLOW; s++) printf(" %s=%ld", names[s], status_count[s]);
    printf("\n");
    CHECK(status_count[LC_ERR_NOMEM] == 0, "allocation failed");
    return 0;
}
