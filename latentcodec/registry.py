"""Codecs by name: the name in a container header finds the codec that reads it.

Names are known before any codec module is imported (:mod:`latentcodec.codecs`
says which module registers which codecs), so listing and resolving names
imports no torch; a codec's module is imported when the codec is first loaded.
"""

from __future__ import annotations

import re
from importlib import import_module
from pathlib import Path
from typing import Callable

from latentcodec import codecs
from latentcodec.codec import Codec
from latentcodec.container import ContainerReader, unpack
from latentcodec.errors import BitstreamError
from latentcodec.pretrained import pretrained_dirs

_FACTORIES: dict[str, Callable[[], Codec]] = {}
_LOADED: dict[str, Codec] = {}
_MODULES: dict[str, str] = {}  # codec name: the module whose import registers it


def weight_files(folder: str) -> list[Path]:
    """The weight files ``NAME.safetensors`` in ``folder`` of the pretrained directories: codecs ``NAME``."""
    return [path for d in pretrained_dirs() for path in sorted((d / folder).glob("*.safetensors"))]


def register_codec(name: str):
    """Class or factory decorator: ``@register_codec("name")``."""

    def add(factory):
        if name in _FACTORIES:
            raise ValueError(f"codec {name!r} is already registered")
        _FACTORIES[name] = factory
        return factory

    return add


def available_codecs() -> list[str]:
    return sorted(_FACTORIES.keys() | _MODULES.keys())


def _factory(name: str) -> Callable[[], Codec] | None:
    if name not in _FACTORIES and name in _MODULES:
        import_module(_MODULES[name])
    return _FACTORIES.get(name)


def family(name: str) -> list[str]:
    """Installed codecs named ``name-q<N>``, lowest quality first."""
    members = [n for n in available_codecs() if re.fullmatch(re.escape(name) + r"-q\d+", n)]
    return sorted(members, key=lambda n: int(n.rsplit("-q", 1)[1]))


def resolve(name: str, quality: int | None = None) -> str:
    """``name`` itself, or member ``name-q<quality>`` of a family (its middle
    quality when none is given)."""
    if quality is None and name in available_codecs():
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
    if name not in _LOADED:
        factory = _factory(name)
        if factory is None:
            raise KeyError(f"no codec {name!r} is installed; installed: {', '.join(available_codecs())}")
        _LOADED[name] = factory()
    return _LOADED[name]


def load_for(header) -> Codec:
    """The installed codec that reads a stream with this header, or BitstreamError."""
    if header.codec not in available_codecs():
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


_MODULES.update(codecs.CODECS)
_MODULES.update((path.stem, module) for folder, module in codecs.WEIGHT_FOLDERS.items() for path in weight_files(folder))
