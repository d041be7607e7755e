"""Quantizers shared by every modality, one per file."""

from latentcodec.quantizers.uniform import UniformQuantizer

__all__ = ["UniformQuantizer"]
