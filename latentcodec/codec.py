"""What every codec is to the rest of the library: media in, container out.

A codec turns media into a metadata dict and a sequence of chunk payloads,
and back. Chunks are produced and consumed lazily, so codecs that stream
(audio, video, tiled images) never hold a whole file.
"""

from __future__ import annotations

import inspect
from typing import Any, Iterable, Iterator

from latentcodec.container import ContainerReader, ContainerWriter, Header, pack, unpack
from latentcodec.errors import BitstreamError


class Codec:
    name: str  # registry name, written to every header
    weights_hash: str  # identity of the weights; a stream only decodes with the same

    def encode_chunks(self, media: Any, **options) -> tuple[dict, Iterator[bytes]]:
        """``options`` are the codec's own encoder settings (e.g. an image codec's
        ``quantizer``); one it does not have raises ValueError."""
        raise NotImplementedError

    def decode_chunks(self, meta: dict, chunks: Iterable[bytes]) -> Any:
        """Must raise BitstreamError (never anything else) for streams it cannot decode."""
        raise NotImplementedError

    def header(self, meta: dict) -> Header:
        return Header(self.name, self.weights_hash, meta)

    def check_header(self, header: Header) -> None:
        if header.codec != self.name:
            raise BitstreamError(f"stream is for codec {header.codec!r}, not {self.name!r}")
        if header.weights != self.weights_hash:
            raise BitstreamError(
                f"stream was coded with weights {header.weights} of {self.name!r}; "
                f"the installed weights are {self.weights_hash}"
            )

    def _encode(self, media: Any, options: dict) -> tuple[dict, Iterator[bytes]]:
        parameters = list(inspect.signature(self.encode_chunks).parameters.values())[1:]
        own = [p.name for p in parameters if p.kind is not p.VAR_KEYWORD]
        unknown = sorted(set(options) - set(own))
        if unknown and len(own) == len(parameters):  # a codec taking **options checks them itself
            raise ValueError(f"{self.name} has no option {', '.join(unknown)} (its options: {', '.join(own) or 'none'})")
        return self.encode_chunks(media, **options)

    def compress(self, media: Any, **options) -> bytes:
        meta, chunks = self._encode(media, options)
        return pack(self.header(meta), chunks)

    def decompress(self, data: bytes) -> Any:
        header, chunks = unpack(data)
        self.check_header(header)
        return self.decode_chunks(header.meta, chunks)

    def write(self, media: Any, stream, **options) -> None:
        """Streams the container to a binary file object."""
        meta, chunks = self._encode(media, options)
        writer = ContainerWriter(stream, self.header(meta))
        for chunk in chunks:
            writer.write_chunk(chunk)
        writer.close()

    def read(self, reader: ContainerReader) -> Any:
        self.check_header(reader.header)
        return self.decode_chunks(reader.header.meta, reader)
