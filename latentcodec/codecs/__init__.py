"""Modality codecs; importing this package registers them (and every weight
file in ``pretrained/``)."""

from latentcodec.codecs.image import ImageCodec
from latentcodec.codecs.lossless_image import LosslessImageCodec

__all__ = ["ImageCodec", "LosslessImageCodec"]
