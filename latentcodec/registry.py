"""Codecs by name: the name in a container header finds the codec that reads it."""

from __future__ import annotations

from typing import Callable

from latentcodec.codec import Codec
from latentcodec.container import ContainerReader, unpack
from latentcodec.errors import BitstreamError

_FACTORIES: dict[str, Callable[[], Codec]] = {}
_LOADED: dict[str, Codec] = {}


def register_codec(name: str):
    """Class or factory decorator: ``@register_codec("name")``."""

    def add(factory):
        if name in _FACTORIES:
            raise ValueError(f"codec {name!r} is already registered")
        _FACTORIES[name] = factory
        return factory

    return add


def available_codecs() -> list[str]:
    return sorted(_FACTORIES)


def load(name: str) -> Codec:
    """The installed codec called ``name`` (built once, then shared)."""
    if name not in _FACTORIES:
        raise KeyError(f"no codec {name!r} is installed; installed: {', '.join(available_codecs())}")
    if name not in _LOADED:
        _LOADED[name] = _FACTORIES[name]()
    return _LOADED[name]


def load_for(header) -> Codec:
    """The installed codec that reads a stream with this header, or BitstreamError."""
    try:
        codec = load(header.codec)
    except KeyError as e:
        raise BitstreamError(f"stream needs codec {header.codec!r}, which is not installed ({e.args[0]})") from None
    codec.check_header(header)
    return codec


def decompress(data: bytes):
    """Decodes any ``.lc`` stream with the codec its header names."""
    header, chunks = unpack(data)
    return load_for(header).decode_chunks(header.meta, chunks)


def read(stream):
    """Like :func:`decompress`, from a binary file object, chunk by chunk."""
    reader = ContainerReader(stream)
    return load_for(reader.header).read(reader)
