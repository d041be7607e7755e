"""latentcodec: learned neural codecs and tokenizers sharing one entropy stack.

    import latentcodec
    data = latentcodec.load("lossless-image").compress(image)
    image = latentcodec.decompress(data)     # the header names the codec
"""

from latentcodec.errors import BitstreamError, IncompleteStreamError
from latentcodec.entropy import RangeDecoder, RangeEncoder
from latentcodec.batch_tokenize import read_tokens
from latentcodec.files import decode_file, encode_file
from latentcodec.media import MediaError
from latentcodec.registry import available_codecs, decompress, load, read, register_codec
from latentcodec import codecs  # noqa: F401  (registers the built-in codecs)

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
