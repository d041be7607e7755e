"""The range coder on its own: exact round trips on CompressAI's tables and on
random ones, escapes up to the int32 extremes, streaming in every direction,
and a defined error for every kind of bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from latentcodec.entropy.range_coder import RangeDecoder, RangeEncoder
from latentcodec.errors import BitstreamError, IncompleteStreamError

ONE = 1 << 16
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


@pytest.fixture(scope="module")
def compressai_tables():
    """CompressAI's GaussianConditional tables, the job this coder replaces."""
    from compressai.entropy_models import GaussianConditional
    from compressai.models.google import get_scale_table

    model = GaussianConditional(get_scale_table().tolist())
    model.update()
    return (
        model._quantized_cdf.numpy().astype(np.int32),
        model._cdf_length.numpy().astype(np.int32),
        model._offset.numpy().astype(np.int32),
    )


def latents(tables, n, seed):
    """Symbols drawn from their tables, plus 1 % far outside them and the int32 extremes."""
    cdfs, lengths, offsets = tables
    rng = np.random.default_rng(seed)
    indexes = rng.integers(0, len(lengths), n).astype(np.int32)
    scale = (lengths[indexes] - 2) / 12.0  # about the table's own scale
    symbols = np.round(rng.normal(0, np.maximum(scale, 0.5))).astype(np.int64)
    far = rng.random(n) < 0.01
    symbols[far] = rng.choice([-1, 1], far.sum()) * rng.integers(10_000, 10**8, far.sum())
    symbols[rng.integers(0, n, 8)] = [INT32_MIN, INT32_MAX, INT32_MIN + 1, INT32_MAX - 1] * 2
    return symbols.astype(np.int32), indexes


def encode(tables, symbols, indexes) -> bytes:
    encoder = RangeEncoder()
    encoder.encode_with_indexes(symbols, indexes, *tables)
    return encoder.flush()


def tiny_tables(offset=0):
    """One table over values offset + {0, 1, 2}, the last being the escape."""
    return np.array([[0, 30000, 60000, ONE]], np.int32), np.array([4], np.int32), np.array([offset], np.int32)


def test_round_trip_on_compressai_tables_with_escapes(compressai_tables):
    symbols, indexes = latents(compressai_tables, 50_000, seed=0)
    data = encode(compressai_tables, symbols, indexes)
    decoded = RangeDecoder(data).decode_with_indexes(indexes, *compressai_tables)
    np.testing.assert_array_equal(decoded, symbols)


@pytest.mark.parametrize("offset", [INT32_MIN, -1, 0, INT32_MAX - 2, INT32_MAX])
def test_int32_extremes_round_trip_whatever_the_offset(offset):
    tables = tiny_tables(offset)
    extremes = [INT32_MIN, INT32_MIN + 1, -1, 0, 1, INT32_MAX - 1, INT32_MAX]
    near = [min(max(offset + d, INT32_MIN), INT32_MAX) for d in range(-3, 6)]
    symbols = np.array(extremes + near, np.int32)
    indexes = np.zeros(len(symbols), np.int32)
    decoded = RangeDecoder(encode(tables, symbols, indexes)).decode_with_indexes(indexes, *tables)
    np.testing.assert_array_equal(decoded, symbols)


def test_several_encode_and_decode_calls_make_and_read_one_stream(compressai_tables):
    symbols, indexes = latents(compressai_tables, 10_000, seed=1)
    cuts = [0, 1, 1, 777, 5000, 9999, 10_000]
    encoder = RangeEncoder()
    for a, b in zip(cuts, cuts[1:]):
        encoder.encode_with_indexes(symbols[a:b], indexes[a:b], *compressai_tables)
    data = encoder.flush()
    assert data == encode(compressai_tables, symbols, indexes)

    decoder = RangeDecoder(data)
    parts = [decoder.decode_with_indexes(indexes[a:b], *compressai_tables) for a, b in zip(cuts, cuts[1:])]
    np.testing.assert_array_equal(np.concatenate(parts), symbols)


def test_take_and_a_decoder_fed_byte_by_byte(compressai_tables):
    """The decoder raises IncompleteStreamError while bytes are missing, keeps
    its state, and goes on once they arrive."""
    symbols, indexes = latents(compressai_tables, 3000, seed=2)
    encoder, decoder = RangeEncoder(), RangeDecoder()
    pending, decoded, incomplete = bytearray(), [], 0
    for a in range(0, 3000, 100):
        encoder.encode_with_indexes(symbols[a : a + 100], indexes[a : a + 100], *compressai_tables)
        pending += encoder.take()
    pending += encoder.flush()
    stream = bytes(pending)
    assert stream == encode(compressai_tables, symbols, indexes)

    fed, a = 0, 0
    while a < 3000:
        try:
            decoded.append(decoder.decode_with_indexes(indexes[a : a + 100], *compressai_tables))
            a += 100
        except IncompleteStreamError:
            incomplete += 1
            decoder.feed(stream[fed : fed + 1], last=fed + 1 == len(stream))
            fed += 1
    np.testing.assert_array_equal(np.concatenate(decoded), symbols)
    assert incomplete == len(stream)  # each byte was fed only once a call needed it


def test_a_thousand_flushed_chunks_decode_independently(compressai_tables):
    symbols, indexes = latents(compressai_tables, 20_000, seed=3)
    bounds = np.linspace(0, 20_000, 1001).astype(int)
    encoder = RangeEncoder()
    chunks = []
    for a, b in zip(bounds, bounds[1:]):
        encoder.encode_with_indexes(symbols[a:b], indexes[a:b], *compressai_tables)
        chunks.append(encoder.flush())
    for (a, b), data in reversed(list(zip(zip(bounds, bounds[1:]), chunks))):
        decoded = RangeDecoder(data).decode_with_indexes(indexes[a:b], *compressai_tables)
        np.testing.assert_array_equal(decoded, symbols[a:b])
    one_shot = encode(compressai_tables, symbols, indexes)
    assert sum(map(len, chunks)) - len(one_shot) <= 2 * 999


def test_truncated_stream_raises_bitstream_error(compressai_tables):
    symbols, indexes = latents(compressai_tables, 2000, seed=4)
    data = encode(compressai_tables, symbols, indexes)
    for cut in (0, 1, len(data) // 2, len(data) - 1):
        with pytest.raises(BitstreamError, match="truncated") as caught:
            RangeDecoder(data[:cut]).decode_with_indexes(indexes, *compressai_tables)
        assert not isinstance(caught.value, IncompleteStreamError)


def test_feeding_after_the_end_is_refused():
    """Regression: a decoder that had read into the zero padding past its last
    byte underflowed its buffer length when fed again, corrupting the heap."""
    tables = tiny_tables()
    symbols = np.zeros(10, np.int32)
    decoder = RangeDecoder(encode(tables, symbols, symbols))
    np.testing.assert_array_equal(decoder.decode_with_indexes(symbols, *tables), symbols)
    with pytest.raises(ValueError, match="marked last"):
        decoder.feed(b"more bytes")


def test_invalid_tables_and_indexes_raise_value_error():
    cdfs, lengths, offsets = tiny_tables()
    symbols, indexes = np.zeros(3, np.int32), np.zeros(3, np.int32)
    bad_tables = [
        (cdfs + np.array([[1, 0, 0, 0]], np.int32), lengths, offsets),  # cdf[0] != 0
        (cdfs - np.array([[0, 0, 0, 1]], np.int32), lengths, offsets),  # cdf[-1] != 2^16
        (cdfs, np.array([5], np.int32), offsets),  # longer than its row
        (cdfs, np.array([1], np.int32), offsets),  # no room for a symbol
        (cdfs, np.array([4, 4], np.int32), offsets),  # lengths for two tables, cdfs for one
    ]
    data = encode((cdfs, lengths, offsets), symbols, indexes)
    for tables in bad_tables:
        with pytest.raises(ValueError):
            encode(tables, symbols, indexes)
        with pytest.raises(ValueError):
            RangeDecoder(data).decode_with_indexes(indexes, *tables)
    for bad_index in (-1, 1):
        wrong = np.array([0, bad_index, 0], np.int32)
        with pytest.raises(ValueError, match="outside"):
            encode((cdfs, lengths, offsets), symbols, wrong)
        with pytest.raises(ValueError, match="outside"):
            RangeDecoder(data).decode_with_indexes(wrong, cdfs, lengths, offsets)
    with pytest.raises(ValueError, match="differ in length"):
        encode((cdfs, lengths, offsets), symbols, indexes[:2])


def test_zero_frequency_symbol_raises_value_error():
    cdfs = np.array([[0, 30000, 30000, ONE]], np.int32)  # value 1 has zero frequency
    tables = (cdfs, np.array([4], np.int32), np.array([0], np.int32))
    encode(tables, np.array([0, 2, 5], np.int32), np.zeros(3, np.int32))  # escape has mass
    with pytest.raises(ValueError, match="zero probability"):
        encode(tables, np.array([0, 1], np.int32), np.zeros(2, np.int32))


@st.composite
def tables_and_symbols(draw):
    """1-4 tables of random positive frequencies (summing to 2^16), random
    offsets, and symbols in and far outside them."""
    cdfs, lengths, offsets = [], [], []
    for _ in range(draw(st.integers(1, 4))):
        weights = np.array(draw(st.lists(st.integers(1, 10**6), min_size=1, max_size=40)), np.float64)
        freqs = 1 + np.floor(weights / weights.sum() * (ONE - len(weights))).astype(np.int64)
        freqs[np.argmax(freqs)] += ONE - freqs.sum()
        cdfs.append(np.concatenate([[0], np.cumsum(freqs)]))
        lengths.append(len(weights) + 1)
        offsets.append(draw(st.integers(INT32_MIN, INT32_MAX) | st.integers(-50, 50)))
    table = np.zeros((len(cdfs), max(lengths)), np.int32)
    for t, cdf in enumerate(cdfs):
        table[t, : len(cdf)] = cdf
    value = st.integers(-3, 45) | st.integers(INT32_MIN, INT32_MAX)
    pairs = draw(st.lists(st.tuples(st.integers(0, len(cdfs) - 1), value, st.booleans()), max_size=300))
    indexes = np.array([t for t, _, _ in pairs], np.int32)
    # a value is either relative to its table's offset or an absolute int32
    symbols = np.array(
        [np.clip(offsets[t] + v, INT32_MIN, INT32_MAX) if relative else v for t, v, relative in pairs], np.int64
    ).astype(np.int32)
    return (table, np.array(lengths, np.int32), np.array(offsets, np.int32)), symbols, indexes


@settings(max_examples=200, deadline=None)
@given(tables_and_symbols())
def test_random_tables_round_trip_exactly(case):
    tables, symbols, indexes = case
    decoded = RangeDecoder(encode(tables, symbols, indexes)).decode_with_indexes(indexes, *tables)
    np.testing.assert_array_equal(decoded, symbols)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=64), n=st.integers(0, 40), last=st.booleans())
def test_random_bytes_decode_or_raise_bitstream_error(data, n, last):
    cdfs = np.array([[0, 1, 2, 40000, ONE, 0], [0, 20000, 40000, 60000, 65535, ONE]], np.int32)
    tables = (cdfs, np.array([5, 6], np.int32), np.array([INT32_MAX - 1, -2], np.int32))
    decoder = RangeDecoder()
    decoder.feed(data, last=last)
    indexes = (np.arange(n) % 2).astype(np.int32)
    try:
        assert decoder.decode_with_indexes(indexes, *tables).shape == (n,)
    except BitstreamError:
        pass  # the one other allowed outcome (IncompleteStreamError included while not last)


def test_a_finished_stream_is_read_exactly_three_bytes_past_its_end(compressai_tables):
    """The flush writes one byte; the decoder's 32-bit window reads three zeros past it."""
    symbols, indexes = latents(compressai_tables, 5000, seed=9)
    data = encode(compressai_tables, symbols, indexes)
    decoder = RangeDecoder(data)
    decoder.decode_with_indexes(indexes, *compressai_tables)
    assert decoder.position == len(data) + 3
