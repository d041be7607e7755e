"""Modality codecs; importing this package registers them (and every weight
file in ``pretrained/``)."""

from latentcodec.codecs.audio_codec import AudioCodec
from latentcodec.codecs.image import ImageCodec
from latentcodec.codecs.lossless_image import LosslessImageCodec
from latentcodec.codecs.video_codec import VideoCodec

__all__ = ["AudioCodec", "ImageCodec", "LosslessImageCodec", "VideoCodec"]
