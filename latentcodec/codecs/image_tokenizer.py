"""A 2D grid image tokenizer: a convolutional autoencoder around the shared FSQ.

Each ``downsample`` x ``downsample`` patch of an image becomes one token in
``[0, vocab_size)``, so a language model can read and write images as a grid
of integers. The tokens are not entropy coded: this is a tokenizer, not a
codec, and it is not in the codec registry.

Weights are safetensors files with the architecture in their metadata, like
the image codecs' (fp16 in the file, float32 in memory).
"""

from __future__ import annotations

import json
from typing import Sequence

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor, nn

from latentcodec.codecs.image_models import to_tensor
from latentcodec.quantizers import FiniteScalarQuantizer

ARCHITECTURE = "image-tokenizer-fsq"
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
    def levels(self) -> tuple[int, ...]:
        return self.quantizer.levels

    @property
    def vocab_size(self) -> int:
        return self.quantizer.codebook_size

    @property
    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``x`` [B, 3, H, W] in [0, 1] -> (unclamped reconstruction [B, 3, H, W], tokens [B, H/d, W/d])."""
        self._check_size(x)
        # inputs and outputs centred on 0, the scale freshly initialized convolutions work at
        z = self.encoder(x * 2 - 1).permute(0, 2, 3, 1)  # the FSQ quantizes the last dimension
        codes, indices = self.quantizer(z)
        return self._decode(codes), indices

    def _decode(self, codes: Tensor) -> Tensor:
        return self.decoder(codes.permute(0, 3, 1, 2)) / 2 + 0.5

    def _check_size(self, x: Tensor) -> None:
        h, w = x.shape[-2:]
        if h == 0 or w == 0 or h % self.downsample or w % self.downsample:
            raise ValueError(
                f"image size {h}x{w} is not a multiple of the tokenizer's downsampling {self.downsample}; crop or pad it first"
            )

    @torch.no_grad()
    def tokenize(self, images: np.ndarray | Tensor) -> Tensor:
        """uint8 [B, H, W, 3] (or one [H, W, 3]) or float [B, 3, H, W] in [0, 1] -> LongTensor [B, H/d, W/d]."""
        x = _float_batch(images).to(self._device)
        return self(x)[1]

    @torch.no_grad()
    def detokenize(self, tokens: Tensor) -> Tensor:
        """Integer tokens [B, h, w] (or one [h, w]) -> uint8 images [B, h*d, w*d, 3]."""
        tokens = torch.as_tensor(tokens)
        if tokens.is_floating_point() or tokens.dim() not in (2, 3):
            raise ValueError(f"tokens must be integers [B, h, w] or [h, w], got {tokens.dtype} {tuple(tokens.shape)}")
        tokens = tokens[None] if tokens.dim() == 2 else tokens
        outside = (tokens < 0) | (tokens >= self.vocab_size)
        if outside.any():
            b, i, j = (int(k) for k in torch.nonzero(outside)[0])
            raise ValueError(f"token {int(tokens[b, i, j])} at batch {b}, row {i}, column {j} "
                             f"is outside the vocabulary [0, {self.vocab_size})")
        codes = self.quantizer.indices_to_codes(tokens.to(self._device))
        x_hat = self._decode(codes)
        return (x_hat.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu()


def _float_batch(images: np.ndarray | Tensor) -> Tensor:
    if images.dtype in (np.uint8, torch.uint8):
        batch = np.asarray(images.cpu() if isinstance(images, Tensor) else images)
        batch = batch[None] if batch.ndim == 3 else batch
        if batch.ndim != 4 or batch.shape[-1] != 3 or not len(batch):
            raise ValueError(f"uint8 images must be [B, H, W, 3] or [H, W, 3], got {tuple(images.shape)}")
        return torch.stack([to_tensor(image) for image in batch])
    x = torch.as_tensor(images, dtype=torch.float32)
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"float images must be [B, 3, H, W] in [0, 1], got {tuple(x.shape)}")
    return x


def save_tokenizer(tokenizer: ImageTokenizer, path, **info) -> None:
    """Weights in fp16 (half the size; tokens barely change), the architecture and ``info`` in the metadata."""
    state = {k: v.half().contiguous() for k, v in tokenizer.state_dict().items()}
    meta = {"architecture": ARCHITECTURE, "downsample": str(tokenizer.downsample), "levels": json.dumps(list(tokenizer.levels)),
            "width": str(tokenizer.width), "info": json.dumps(info)}
    save_file(state, str(path), metadata=meta)


def load_tokenizer(path) -> ImageTokenizer:
    """The tokenizer of a file written by :func:`save_tokenizer`, float32, in eval mode, ``info`` filled in."""
    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
        if meta.get("architecture") != ARCHITECTURE:
            raise ValueError(f"{path}: not a latentcodec image tokenizer (architecture {meta.get('architecture')!r})")
        state = {k: f.get_tensor(k).float() for k in f.keys()}
    tokenizer = ImageTokenizer(int(meta["downsample"]), json.loads(meta["levels"]), int(meta["width"]))
    tokenizer.load_state_dict(state)
    tokenizer.info = json.loads(meta["info"])
    return tokenizer.eval()
