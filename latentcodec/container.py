"""The ``.lc`` container: versioned, self-describing framing of coded bytes.

Layout (integers little-endian)::

    magic        8 bytes  b"\\x89LCF\\r\\n\\x1a\\n"
    version      u16      FORMAT_VERSION
    header_len   u32
    header       JSON (UTF-8): {"codec": name, "weights": hash, "meta": {...}}
    header_crc   u32      CRC32 of version .. header
    chunk*       u32 length, payload, u32 CRC32 of length + payload
    end          u32      0xFFFFFFFF

The magic follows PNG's (a high-bit byte, CR LF, ^Z) so that text-mode
transfers are caught. Chunks are written and read one at a time, so a codec
can stream; the end marker tells a file cut at a chunk boundary from a
complete one. Every defect raises :class:`~latentcodec.BitstreamError`
naming the byte offset.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator

from latentcodec.errors import BitstreamError

MAGIC = b"\x89LCF\r\n\x1a\n"
FORMAT_VERSION = 1
END = 0xFFFFFFFF
MAX_HEADER = 1 << 20


@dataclass(frozen=True)
class Header:
    codec: str  # registered codec name
    weights: str  # hash of the weights the stream was coded with
    meta: dict = field(default_factory=dict)  # media metadata, JSON-serializable

    def to_bytes(self) -> bytes:
        return json.dumps({"codec": self.codec, "weights": self.weights, "meta": self.meta}, sort_keys=True,
                          separators=(",", ":")).encode()


class ContainerWriter:
    """Writes the header at once, then chunks as they come; :meth:`close` ends the file."""

    def __init__(self, stream: BinaryIO, header: Header):
        self._stream = stream
        header_bytes = header.to_bytes()
        body = struct.pack("<HI", FORMAT_VERSION, len(header_bytes)) + header_bytes
        stream.write(MAGIC + body + _u32(zlib.crc32(body)))

    def write_chunk(self, payload: bytes) -> None:
        if len(payload) >= END:
            raise ValueError("a chunk must be smaller than 4 GiB")
        framed = _u32(len(payload)) + payload
        self._stream.write(framed + _u32(zlib.crc32(framed)))

    def close(self) -> None:
        self._stream.write(_u32(END))


class ContainerReader:
    """Reads and checks the header on construction; iterating yields chunk payloads."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        self._offset = 0
        magic = self._read(len(MAGIC), "magic bytes")
        if magic != MAGIC:
            raise BitstreamError("not a latentcodec (.lc) stream: wrong magic bytes at byte 0")
        version = struct.unpack("<H", self._read(2, "format version"))[0]
        if version > FORMAT_VERSION:
            raise BitstreamError(f"format version {version} at byte 8 is newer than this library reads ({FORMAT_VERSION})")
        if version == 0:
            raise BitstreamError("format version 0 at byte 8 is not valid")
        raw_len = self._read(4, "header length")
        length = struct.unpack("<I", raw_len)[0]
        if length > MAX_HEADER:
            raise BitstreamError(f"header length {length} at byte 10 exceeds {MAX_HEADER}")
        body = struct.pack("<H", version) + raw_len + self._read(length, "header")
        crc = struct.unpack("<I", self._read(4, "header CRC"))[0]
        if crc != zlib.crc32(body):
            raise BitstreamError(f"header CRC mismatch at byte {self._offset - 4}: the header is corrupt")
        try:
            fields = json.loads(body[6:])
            self.header = Header(str(fields["codec"]), str(fields["weights"]), dict(fields["meta"]))
        except (ValueError, KeyError, TypeError) as e:  # a valid CRC over a malformed header
            raise BitstreamError(f"malformed header at byte 14: {e}") from None
        self.version = version
        self.chunks_read = 0

    def _read(self, n: int, what: str) -> bytes:
        data = self._stream.read(n)
        if len(data) != n:
            raise BitstreamError(
                f"truncated stream: {what} at byte {self._offset} needs {n} bytes, only {len(data)} remain"
            )
        self._offset += n
        return data

    def __iter__(self) -> Iterator[bytes]:
        while True:
            start = self._offset
            raw_len = self._read(4, f"length of chunk {self.chunks_read}")
            length = struct.unpack("<I", raw_len)[0]
            if length == END:
                break
            payload = self._read(length, f"chunk {self.chunks_read}")
            crc = struct.unpack("<I", self._read(4, f"CRC of chunk {self.chunks_read}"))[0]
            if crc != zlib.crc32(raw_len + payload):
                raise BitstreamError(f"CRC mismatch in chunk {self.chunks_read} at byte {start}: the chunk is corrupt")
            self.chunks_read += 1
            yield payload
        trailing = self._stream.read(1)
        if trailing:
            raise BitstreamError(f"unexpected data after the end marker at byte {self._offset}")


def _u32(n: int) -> bytes:
    return struct.pack("<I", n)


def pack(header: Header, chunks) -> bytes:
    out = io.BytesIO()
    writer = ContainerWriter(out, header)
    for chunk in chunks:
        writer.write_chunk(chunk)
    writer.close()
    return out.getvalue()


def unpack(data: bytes) -> tuple[Header, list[bytes]]:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    reader = ContainerReader(io.BytesIO(data))
    return reader.header, list(reader)
