"""Modality codecs; importing this package registers them."""

from latentcodec.codecs.lossless_image import LosslessImageCodec

__all__ = ["LosslessImageCodec"]
