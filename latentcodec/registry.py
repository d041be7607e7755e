"""Codecs by name: the name in a container header finds the codec that reads it."""

from __future__ import annotations

import re
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


def family(name: str) -> list[str]:
    """Installed codecs named ``name-q<N>``, lowest quality first."""
    members = [n for n in _FACTORIES if re.fullmatch(re.escape(name) + r"-q\d+", n)]
    return sorted(members, key=lambda n: int(n.rsplit("-q", 1)[1]))


def resolve(name: str, quality: int | None = None) -> str:
    """``name`` itself, or member ``name-q<quality>`` of a family (its middle
    quality when none is given)."""
    if quality is None and name in _FACTORIES:
        return name
    members = family(name)
    if not members:
        raise KeyError(f"no codec {name!r} is installed; installed: {', '.join(available_codecs())}")
    if quality is None:
        return members[(len(members) - 1) // 2]
    if f"{name}-q{quality}" not in members:
        raise KeyError(f"{name!r} has no quality {quality}; it has {', '.join(n.rsplit('-q', 1)[1] for n in members)}")
    return f"{name}-q{quality}"


def load(name: str) -> Codec:
    """The installed codec called ``name`` (built once, then shared)."""
    if name not in _FACTORIES:
        raise KeyError(f"no codec {name!r} is installed; installed: {', '.join(available_codecs())}")
    if name not in _LOADED:
        _LOADED[name] = _FACTORIES[name]()
    return _LOADED[name]


def load_for(header) -> Codec:
    """The installed codec that reads a stream with this header, or BitstreamError."""
    if header.codec not in _FACTORIES:
        installed = ", ".join(available_codecs())
        raise BitstreamError(f"stream needs codec {header.codec!r}, which is not installed (installed: {installed})")
    codec = load(header.codec)
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
