"""A 1D image tokenizer in the TiTok style (arXiv 2406.07550): a square image
becomes ``n_tokens`` tokens that are not tied to places in it.

A convolutional encoder maps each ``patch`` x ``patch`` patch to a small
``latent_dim`` vector; a ViT reads those, and the shared
:class:`LearnedQueryTokens` turns them into ``n_tokens`` codebook indices
and back into one vector per patch, which a convolutional decoder paints.

TiTok's decoder predicts the codes of a frozen 2D tokenizer (MaskGIT's
VQGAN) and a second stage trains that tokenizer's pixel decoder on them. The
convolutional layers here are the 2D FSQ tokenizer's (same shapes), so they
can start from a trained 2D tokenizer (:meth:`take_pixel_layers`), which
plays the VQGAN's part, and the whole model then trains end to end on pixels
in one stage, which is what a CPU can afford.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from latentcodec.codecs.image_tokenizer import decoder, encoder
from latentcodec.codecs.tokenizers import checked_tokens, float_batch, to_uint8
from latentcodec.quantizers.learned_query import LearnedQueryTokens


class ImageTokenizer1D(nn.Module):
    """RGB images of ``image_size`` squared <-> ``[B, n_tokens]`` tokens of ``vocab_size``: a VQ
    codebook of ``codebook_size`` entries of ``codebook_dim``, or FSQ with ``levels`` when given.

    ``encode`` / ``quantize`` / ``decode`` expose the continuous tokens for
    test-time optimization (:mod:`latentcodec.token_editing`); ``info``
    holds what a weight file says about the weights.
    """

    architecture = "image-tokenizer-1d"

    def __init__(self, image_size: int = 64, patch: int = 8, width: int = 32, latent_dim: int = 4, dim: int = 128,
                 depth: int = 4, heads: int = 4, n_tokens: int = 32, codebook_size: int = 1024, codebook_dim: int = 12,
                 dead_code_threshold: float = 2.0, diversity_weight: float = 0.0, levels: list[int] | None = None):
        super().__init__()
        if patch not in (8, 16) or image_size <= 0 or image_size % patch:
            raise ValueError(f"patch must be 8 or 16 and image_size {image_size} a positive multiple of it, got {patch}")
        self.config = {"image_size": image_size, "patch": patch, "width": width, "latent_dim": latent_dim, "dim": dim,
                       "depth": depth, "heads": heads, "n_tokens": n_tokens, "codebook_size": codebook_size,
                       "codebook_dim": codebook_dim, "dead_code_threshold": dead_code_threshold,
                       "diversity_weight": diversity_weight, "levels": levels}
        self.image_size, self.patch = image_size, patch
        n_patches, stages = (image_size // patch) ** 2, patch.bit_length() - 1
        self.pixel_encoder, self.pixel_decoder = encoder(width, stages, latent_dim), decoder(width, stages, latent_dim)
        self.from_latent, self.to_latent = nn.Linear(latent_dim, dim), nn.Linear(dim, latent_dim)
        self.patch_positions = nn.Parameter(torch.randn(n_patches, dim) * dim**-0.5)
        self.query_tokens = LearnedQueryTokens(dim, n_patches, n_tokens, depth, heads, codebook_size, codebook_dim,
                                               dead_code_threshold=dead_code_threshold, diversity_weight=diversity_weight,
                                               levels=levels)
        self.info: dict = {}

    def take_pixel_layers(self, tokenizer_2d: nn.Module) -> None:
        """Starts the convolutional layers from a trained 2D FSQ tokenizer of the same downsampling and width."""
        self.pixel_encoder.load_state_dict(tokenizer_2d.encoder.state_dict())
        self.pixel_decoder.load_state_dict(tokenizer_2d.decoder.state_dict())

    @property
    def vocab_size(self) -> int:
        return self.query_tokens.codebook_size

    @property
    def n_tokens(self) -> int:
        return self.query_tokens.n_tokens

    @property
    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def token_shape(self, height: int, width: int) -> tuple[int]:
        if (height, width) != (self.image_size, self.image_size):
            raise ValueError(f"image size {height}x{width} is not the tokenizer's {self.image_size}x{self.image_size}; "
                             "resize or crop it first")
        return (self.n_tokens,)

    def encode(self, x: Tensor) -> Tensor:
        """Images ``[B, 3, S, S]`` in [0, 1] -> continuous tokens ``[B, n_tokens, codebook_dim]``."""
        self.token_shape(*x.shape[-2:])
        grid = self.pixel_encoder(x * 2 - 1)  # centred on 0, as the 2D tokenizer's layers expect
        return self.query_tokens.encode(self.from_latent(grid.flatten(2).transpose(1, 2)) + self.patch_positions)

    def quantize(self, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(codes with straight-through gradients, indices ``[B, n_tokens]``, auxiliary loss)."""
        return self.query_tokens.quantize(z)

    def decode(self, codes: Tensor) -> Tensor:
        """Codes ``[B, n_tokens, codebook_dim]`` -> unclamped images ``[B, 3, S, S]``."""
        side = self.image_size // self.patch
        grid = self.to_latent(self.query_tokens.decode(codes)).transpose(1, 2).unflatten(2, (side, side))
        return self.pixel_decoder(grid) / 2 + 0.5

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``x`` -> (unclamped reconstruction, tokens ``[B, n_tokens]``, auxiliary loss)."""
        codes, indices, loss = self.quantize(self.encode(x))
        return self.decode(codes), indices, loss

    @torch.no_grad()
    def tokenize(self, images: np.ndarray | Tensor) -> Tensor:
        """uint8 [B, S, S, 3] (or one [S, S, 3]) or float [B, 3, S, S] in [0, 1] -> LongTensor [B, n_tokens]."""
        return self(float_batch(images).to(self._device))[1]

    @torch.no_grad()
    def detokenize(self, tokens: Tensor) -> Tensor:
        """Integer tokens [B, n_tokens] (or one [n_tokens]) -> uint8 images [B, S, S, 3]."""
        tokens = checked_tokens(tokens, self.vocab_size, ("position",))
        if tokens.shape[1] != self.n_tokens:
            raise ValueError(f"an image is {self.n_tokens} tokens, got {tokens.shape[1]}")
        return to_uint8(self.decode(self.query_tokens.codes(tokens.to(self._device))))
