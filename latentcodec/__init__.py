"""latentcodec: learned neural codecs and tokenizers sharing one entropy stack.

    import latentcodec
    data = latentcodec.load("lossless-image").compress(image)
    image = latentcodec.decompress(data)     # the header names the codec
"""

from importlib import import_module

from latentcodec.errors import BitstreamError, IncompleteStreamError, MediaError
from latentcodec.files import decode_file, encode_file
from latentcodec.registry import available_codecs, decompress, load, read, register_codec

# these import torch, so only when first used: `import latentcodec` stays fast for the CLI
_LAZY = {"RangeDecoder": "latentcodec.entropy", "RangeEncoder": "latentcodec.entropy", "read_tokens": "latentcodec.batch_tokenize"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__version__ = "0.1.0"
__all__ = [
    "BitstreamError",
    "IncompleteStreamError",
    "MediaError",
    "RangeDecoder",
    "RangeEncoder",
    "available_codecs",
    "decode_file",
    "decompress",
    "encode_file",
    "load",
    "read",
    "read_tokens",
    "register_codec",
]
