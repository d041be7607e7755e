import io
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from latentcodec import BitstreamError
from latentcodec.container import FORMAT_VERSION, MAGIC, ContainerReader, Header, pack, unpack

HEADER = Header("lossless-image", "none", {"height": 3, "width": 5, "note": "ünïcode"})
CHUNKS = [b"first chunk", b"", bytes(range(256)) * 3]


def test_round_trip():
    header, chunks = unpack(pack(HEADER, CHUNKS))
    assert header == HEADER and chunks == CHUNKS


def test_empty_container_round_trips():
    assert unpack(pack(HEADER, [])) == (HEADER, [])


def test_reader_streams_chunks_lazily():
    reader = ContainerReader(io.BytesIO(pack(HEADER, CHUNKS)))
    assert reader.header == HEADER
    assert next(iter(reader)) == CHUNKS[0] and reader.chunks_read == 1


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: b"GIF89a" + d[6:], "wrong magic bytes at byte 0"),
        (lambda d: d[:8] + struct.pack("<H", FORMAT_VERSION + 1) + d[10:], "newer than this library reads"),
        (lambda d: d[:20] + bytes([d[20] ^ 1]) + d[21:], "header CRC mismatch"),
        (lambda d: d[:-1], "truncated stream"),
        (lambda d: d[:-4], "truncated stream: length of chunk 3"),
        (lambda d: d + b"\0", "unexpected data after the end marker"),
        (lambda d: d[:-30] + bytes([d[-30] ^ 0x40]) + d[-29:], "CRC mismatch in chunk 2"),
        (lambda d: b"", "truncated stream: magic bytes at byte 0"),
    ],
)
def test_defects_raise_bitstream_error_naming_what_and_where(mutate, message):
    with pytest.raises(BitstreamError, match=message):
        unpack(mutate(pack(HEADER, CHUNKS)))


def test_malformed_header_with_valid_crc():
    body = struct.pack("<HI", FORMAT_VERSION, 4) + b"[1]x"
    data = MAGIC + body + struct.pack("<I", zlib.crc32(body)) + struct.pack("<I", 0xFFFFFFFF)
    with pytest.raises(BitstreamError, match="malformed header at byte 14"):
        unpack(data)


def test_every_truncation_is_detected():
    data = pack(HEADER, CHUNKS)
    for n in range(len(data)):
        with pytest.raises(BitstreamError):
            unpack(data[:n])


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_bit_flips_never_pass_silently(draw):
    data = bytearray(pack(HEADER, CHUNKS))
    position = draw.draw(st.integers(0, len(data) - 1))
    data[position] ^= 1 << draw.draw(st.integers(0, 7))
    with pytest.raises(BitstreamError):
        unpack(bytes(data))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_raise_bitstream_error(blob):
    for data in (blob, MAGIC + blob):
        with pytest.raises(BitstreamError):
            unpack(data)
