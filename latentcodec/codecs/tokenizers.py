"""Image tokenizers by architecture: their weight files, and the input and
output conventions they share.

A tokenizer class has an ``architecture`` name, a ``config`` (its keyword
arguments), ``vocab_size``, ``token_shape(height, width)``, ``forward`` for
training (reconstruction, tokens, auxiliary loss) and ``tokenize`` /
``detokenize`` for use. A new one is a file plus an entry in ``ARCHITECTURES``.

Weights are safetensors files (fp16 in the file, float32 in memory) whose
metadata holds the architecture, each config value as JSON, and ``info``
(training steps, measured figures).
"""

from __future__ import annotations

import json
from importlib import import_module
from typing import Sequence

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor, nn

ARCHITECTURES = {
    "image-tokenizer-fsq": "latentcodec.codecs.image_tokenizer:ImageTokenizer",
    "image-tokenizer-1d": "latentcodec.codecs.image_tokenizer_1d:ImageTokenizer1D",
}


def tokenizer_class(architecture: str) -> type[nn.Module]:
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown tokenizer architecture {architecture!r}; choose from {', '.join(ARCHITECTURES)}")
    module, name = ARCHITECTURES[architecture].split(":")
    return getattr(import_module(module), name)


def build_tokenizer(config: dict) -> nn.Module:
    """A new tokenizer from ``{"architecture": ..., **keyword arguments}``."""
    config = dict(config)
    return tokenizer_class(config.pop("architecture", "image-tokenizer-fsq"))(**config)


def save_tokenizer(tokenizer: nn.Module, path, **info) -> None:
    """Weights in fp16 (half the size; tokens barely change), the architecture, config and ``info`` in the metadata."""
    state = {k: v.half().contiguous() if v.is_floating_point() else v.contiguous() for k, v in tokenizer.state_dict().items()}
    meta = {"architecture": tokenizer.architecture, **{k: json.dumps(v) for k, v in tokenizer.config.items()},
            "info": json.dumps(info)}
    save_file(state, str(path), metadata=meta)


def load_tokenizer(path) -> nn.Module:
    """The tokenizer of a file written by :func:`save_tokenizer`, float32, in eval mode, ``info`` filled in."""
    with safe_open(str(path), "pt") as f:
        meta = dict(f.metadata() or {})
        if meta.get("architecture") not in ARCHITECTURES:
            raise ValueError(f"{path}: not a latentcodec image tokenizer (architecture {meta.get('architecture')!r})")
        state = {k: f.get_tensor(k) for k in f.keys()}
    cls = tokenizer_class(meta.pop("architecture"))
    info = json.loads(meta.pop("info", "{}"))
    tokenizer = cls(**{k: json.loads(v) for k, v in meta.items()})
    reference = tokenizer.state_dict()
    tokenizer.load_state_dict({k: v.to(reference[k].dtype) if k in reference else v for k, v in state.items()})
    tokenizer.info = info
    return tokenizer.eval()


def float_batch(images: np.ndarray | Tensor) -> Tensor:
    """uint8 ``[B, H, W, 3]`` (or one ``[H, W, 3]``) or float ``[B, 3, H, W]`` in [0, 1] -> float ``[B, 3, H, W]``."""
    if images.dtype in (np.uint8, torch.uint8):
        batch = torch.tensor(np.asarray(images.cpu() if isinstance(images, Tensor) else images))  # a copy: decoded media are read-only
        batch = batch[None] if batch.dim() == 3 else batch
        if batch.dim() != 4 or batch.shape[-1] != 3 or not len(batch):
            raise ValueError(f"uint8 images must be [B, H, W, 3] or [H, W, 3], got {tuple(images.shape)}")
        return batch.permute(0, 3, 1, 2).float() / 255
    x = torch.as_tensor(images, dtype=torch.float32)
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"float images must be [B, 3, H, W] in [0, 1], got {tuple(x.shape)}")
    return x


def checked_tokens(tokens, vocab_size: int, axes: Sequence[str]) -> Tensor:
    """``tokens`` as a batch ``[B, *axes]`` of ids in ``[0, vocab_size)``; anything else is a ValueError naming where."""
    tokens = torch.as_tensor(tokens)
    shape = "[B, " + ", ".join(axes) + "]"
    if tokens.is_floating_point() or tokens.dim() not in (len(axes), len(axes) + 1):
        raise ValueError(f"tokens must be integers {shape} or one item's [{', '.join(axes)}], got {tokens.dtype} {tuple(tokens.shape)}")
    tokens = tokens[None] if tokens.dim() == len(axes) else tokens
    outside = (tokens < 0) | (tokens >= vocab_size)
    if outside.any():
        where = [int(k) for k in torch.nonzero(outside)[0]]
        place = ", ".join(f"{name} {k}" for name, k in zip(["batch", *axes], where))
        raise ValueError(f"token {int(tokens[tuple(where)])} at {place} is outside the vocabulary [0, {vocab_size})")
    return tokens.long()


def to_uint8(x: Tensor) -> Tensor:
    """Float ``[B, 3, H, W]`` -> uint8 ``[B, H, W, 3]`` on the CPU."""
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu()
