"""A 2D grid image tokenizer: a convolutional autoencoder around the shared FSQ.

Each ``downsample`` x ``downsample`` patch of an image becomes one token in
``[0, vocab_size)``, so a language model can read and write images as a grid
of integers. The tokens are not entropy coded: this is a tokenizer, not a
codec; :mod:`latentcodec.codecs.tokenizers` saves and loads it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from latentcodec.codecs.tokenizers import checked_tokens, float_batch, to_uint8
from latentcodec.quantizers import FiniteScalarQuantizer

DOWNSAMPLES = (8, 16)


def stage_widths(width: int, stages: int) -> list[int]:
    """Channels before and after each stride-2 stage: ``width`` at full
    resolution, then twice that, where a pixel costs a quarter as much."""
    return [width] + [2 * width] * stages


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions around a skip, so depth does not cost the gradient path."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.GELU(), nn.Conv2d(channels, channels, 3, padding=1), nn.GELU(), nn.Conv2d(channels, channels, 3, padding=1)
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def encoder(width: int, stages: int, dim: int) -> nn.Sequential:
    """Stride-2 convolutions, each followed by a residual block at its lower resolution."""
    widths = stage_widths(width, stages)
    layers: list[nn.Module] = [nn.Conv2d(3, widths[0], 3, padding=1)]
    for c_in, c_out in zip(widths, widths[1:]):
        layers += [nn.GELU(), nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), ResidualBlock(c_out)]
    return nn.Sequential(*layers, nn.GELU(), nn.Conv2d(widths[-1], dim, 1))


def decoder(width: int, stages: int, dim: int) -> nn.Sequential:
    """The encoder mirrored, upsampling by nearest neighbour then a 3x3 conv (no checkerboard)."""
    widths = stage_widths(width, stages)
    layers: list[nn.Module] = [nn.Conv2d(dim, widths[-1], 1)]
    for c_in, c_out in zip(widths[:0:-1], widths[-2::-1]):
        layers += [ResidualBlock(c_in), nn.GELU(), nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, padding=1)]
    return nn.Sequential(*layers, nn.GELU(), nn.Conv2d(widths[0], 3, 3, padding=1))


class ImageTokenizer(nn.Module):
    """RGB images <-> ``[B, H / downsample, W / downsample]`` tokens of ``vocab_size``.

    ``forward`` is for training (straight-through gradients from the FSQ);
    ``tokenize`` and ``detokenize`` are for use. ``info`` holds what a weight
    file says about the weights (training steps, measured PSNR), empty for new ones.
    """

    architecture = "image-tokenizer-fsq"
    image_size = None  # any size on the downsampling grid

    def __init__(self, downsample: int = 8, levels: Sequence[int] = (8, 5, 5, 5), width: int = 64):
        super().__init__()
        if downsample not in DOWNSAMPLES:
            raise ValueError(f"downsample must be one of {DOWNSAMPLES}, got {downsample}")
        self.downsample, self.width = downsample, width
        self.quantizer = FiniteScalarQuantizer(levels)
        stages = downsample.bit_length() - 1
        self.encoder = encoder(width, stages, self.quantizer.dim)
        self.decoder = decoder(width, stages, self.quantizer.dim)
        self.info: dict = {}

    @property
    def config(self) -> dict:
        return {"downsample": self.downsample, "levels": list(self.levels), "width": self.width}

    @property
    def levels(self) -> tuple[int, ...]:
        return self.quantizer.levels

    @property
    def vocab_size(self) -> int:
        return self.quantizer.codebook_size

    @property
    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def token_shape(self, height: int, width: int) -> tuple[int, int]:
        if height <= 0 or width <= 0 or height % self.downsample or width % self.downsample:
            raise ValueError(f"image size {height}x{width} is not a multiple of the tokenizer's downsampling "
                             f"{self.downsample}; crop or pad it first")
        return height // self.downsample, width // self.downsample

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``x`` [B, 3, H, W] in [0, 1] -> (unclamped reconstruction [B, 3, H, W], tokens [B, H/d, W/d],
        auxiliary loss: none, FSQ has no codebook to learn)."""
        self.token_shape(*x.shape[-2:])
        # inputs and outputs centred on 0, the scale freshly initialized convolutions work at
        z = self.encoder(x * 2 - 1).permute(0, 2, 3, 1)  # the FSQ quantizes the last dimension
        codes, indices = self.quantizer(z)
        return self._decode(codes), indices, x.new_zeros(())

    def _decode(self, codes: Tensor) -> Tensor:
        return self.decoder(codes.permute(0, 3, 1, 2)) / 2 + 0.5

    @torch.no_grad()
    def tokenize(self, images: np.ndarray | Tensor) -> Tensor:
        """uint8 [B, H, W, 3] (or one [H, W, 3]) or float [B, 3, H, W] in [0, 1] -> LongTensor [B, H/d, W/d]."""
        x = float_batch(images).to(self._device)
        return self(x)[1]

    @torch.no_grad()
    def detokenize(self, tokens: Tensor) -> Tensor:
        """Integer tokens [B, h, w] (or one [h, w]) -> uint8 images [B, h*d, w*d, 3]."""
        tokens = checked_tokens(tokens, self.vocab_size, ("row", "column"))
        codes = self.quantizer.indices_to_codes(tokens.to(self._device))
        x_hat = self._decode(codes)
        return to_uint8(x_hat)
