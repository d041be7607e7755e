"""Editing 1D image tokens and optimizing them at test time (arXiv 2506.08257).

A 1D token is not tied to a place in the image, so copying some token
positions from one image's sequence into another's transfers appearance and
attributes rather than pixels. Test-time optimization searches the token
sequence that best serves an objective on the decoded image (reconstruction
of the known part of an image, for inpainting) by gradient descent on the
continuous tokens before quantization, quantizing at every step with
straight-through gradients. The tokenizer's weights and codebook never change.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import Tensor

from latentcodec.codecs.tokenizers import float_batch


def replace_tokens(tokens: Tensor, source: Tensor, positions: Sequence[int]) -> Tensor:
    """A copy of ``tokens`` ``[B, K]`` (or ``[K]``) with ``positions`` taken from ``source`` of the same shape."""
    tokens, source = torch.as_tensor(tokens), torch.as_tensor(source)
    if tokens.shape != source.shape:
        raise ValueError(f"tokens {tuple(tokens.shape)} and source {tuple(source.shape)} differ in shape")
    index = torch.as_tensor(list(positions), dtype=torch.long)
    if len(index) and (index.min() < -tokens.shape[-1] or index.max() >= tokens.shape[-1]):
        raise ValueError(f"positions {list(positions)} are outside [0, {tokens.shape[-1]})")
    edited = tokens.clone()
    edited[..., index] = source[..., index]
    return edited


def masked_reconstruction(target, mask: Tensor | None = None) -> Callable[[Tensor], Tensor]:
    """Objective: mean squared error to ``target`` images (uint8 ``[B, H, W, 3]`` or
    float ``[B, 3, H, W]``) where ``mask`` (``[B or 1, 1, H, W]``, 1 = known) is set."""
    target = float_batch(target)
    weight = torch.ones_like(target[:, :1]) if mask is None else torch.as_tensor(mask, dtype=torch.float32)

    def objective(images: Tensor) -> Tensor:
        w = weight.to(images.device)
        return ((images - target.to(images.device)) ** 2 * w).sum() / (w.sum() * images.shape[1]).clamp_min(1)

    return objective


def optimize_tokens(tokenizer, objective: Callable[[Tensor], Tensor], seed, steps: int = 200, lr: float = 0.1,
                    reg_weight: float = 0.0, token_noise: float = 0.0, generator: torch.Generator | None = None) -> Tensor:
    """Tokens ``[B, K]`` minimizing ``objective(decoded images)`` plus
    ``reg_weight`` times the squared distance to the seed's continuous tokens.

    ``seed`` is images (as :meth:`tokenize` takes them) to start from.
    ``token_noise`` adds Gaussian noise of that scale to the continuous tokens,
    decaying along a half cosine to nothing at two thirds of the run, as the
    paper's optional exploration does. Needs a tokenizer with ``encode``,
    ``quantize`` and ``decode`` (the 1D tokenizer).
    """
    was_training = tokenizer.training
    tokenizer.eval()  # no codebook updates; quantize still passes gradients straight through
    try:
        device = next(tokenizer.parameters()).device
        with torch.no_grad():
            start = tokenizer.encode(float_batch(seed).to(device))
        z = start.clone().requires_grad_()
        optimizer = torch.optim.Adam([z], lr=lr)
        for i in range(steps):
            if token_noise:
                with torch.no_grad():
                    decay = 0.5 * (1 + math.cos(math.pi * min(1.0, 1.5 * i / max(steps - 1, 1))))
                    z += token_noise * decay * torch.randn(z.shape, generator=generator).to(device)
            codes, _, _ = tokenizer.quantize(z)
            loss = objective(tokenizer.decode(codes)) + reg_weight * ((z - start) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            return tokenizer.quantize(z)[1]
    finally:
        tokenizer.train(was_training)
