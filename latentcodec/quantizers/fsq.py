"""Finite scalar quantization (FSQ, Mentzer et al., arXiv 2309.15505).

Each of a few dimensions is bounded and rounded to one of ``L_d`` levels, so
the codebook is the grid of all level combinations: nothing to learn, no code
that can die, and an index that is the grid point's mixed-radix number.

Written here rather than wrapping ``vector_quantize_pytorch.FSQ``, whose bound
scales by ``(1 + eps)`` where the paper's has ``(1 - eps)``, and which reads
inputs of 4 or more dimensions as channels first.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn

# the paper's levels for a codebook of about 2**bits entries
LEVELS_FOR_BITS = {
    8: (8, 6, 5),
    10: (8, 5, 5, 5),
    12: (7, 5, 5, 5, 5),
    14: (8, 8, 8, 6, 5),
    16: (8, 8, 8, 5, 5, 5),
}
# keeps the bound strictly inside the outermost levels
EPS = 1e-3


class FiniteScalarQuantizer(nn.Module):
    """Rounds each channel of ``z`` [..., len(levels)] to ``levels[d]`` levels in [-1, 1].

    Dimension d maps z to ``tanh(z + shift) * h - o`` with
    ``h = (L - 1)(1 - EPS) / 2``, ``o = 1/2`` for even L (else 0) and
    ``shift = atanh(o / h)``, so that z = 0 lands on level 0; it rounds that
    with a straight-through gradient and divides by ``L // 2``. The index is
    ``sum_d (level_d + L_d // 2) * prod_{j<d} L_j``: the first dimension
    varies fastest. With 2 levels ``o / h > 1`` and no shift puts z = 0 on a
    level, so every count must be at least 3.
    """

    def __init__(self, levels: Sequence[int]):
        super().__init__()
        if not levels or min(levels) < 3:
            raise ValueError(f"FSQ needs at least one dimension, each of at least 3 levels, got {list(levels)}")
        self.levels = tuple(int(level) for level in levels)
        level_counts = torch.tensor(self.levels)
        half_range = (level_counts - 1) * (1 - EPS) / 2
        offset = (level_counts % 2 == 0).float() / 2
        self.register_buffer("level_counts", level_counts, persistent=False)
        self.register_buffer("half_width", level_counts // 2, persistent=False)
        self.register_buffer("half_range", half_range, persistent=False)
        self.register_buffer("offset", offset, persistent=False)
        self.register_buffer("shift", torch.atanh(offset / half_range), persistent=False)
        self.register_buffer("radix", torch.cumprod(torch.tensor((1,) + self.levels[:-1]), 0), persistent=False)

    @property
    def dim(self) -> int:
        return len(self.levels)

    @property
    def codebook_size(self) -> int:
        return math.prod(self.levels)

    def bound(self, z: Tensor) -> Tensor:
        """``z`` squashed into each dimension's level range, before rounding."""
        return torch.tanh(z + self.shift) * self.half_range - self.offset

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """``z`` [..., dim] -> (codes [..., dim] on the level grid, indices [...])."""
        if z.shape[-1] != self.dim:
            raise ValueError(f"FSQ with levels {list(self.levels)} quantizes [..., {self.dim}], got {tuple(z.shape)}")
        bounded = self.bound(z)
        # round() + (x - x) is exactly the rounded value, so codes match indices_to_codes bit for bit
        rounded = bounded.round() + (bounded - bounded.detach())
        codes = rounded / self.half_width
        return codes, self.codes_to_indices(codes)

    def usage_loss(self, z: Tensor, temperature: float = 0.5) -> Tensor:
        """How far the batch's use of each dimension's levels is from uniform:
        ``sum_d log L_d - H(mean over the batch of softmax(-(bounded - level)^2 / T))``.

        The grid only pays off if its points are used; a dimension whose
        latents crowd one level wastes the rest (MAGVIT-v2's batch entropy,
        arXiv 2310.05737, applied to FSQ's levels).
        """
        bounded = self.bound(z)
        loss = z.new_zeros(())
        for d, count in enumerate(self.levels):
            levels = torch.arange(count, device=z.device) - count // 2
            soft = torch.softmax(-(bounded[..., d, None] - levels) ** 2 / temperature, -1)
            mean = soft.reshape(-1, count).mean(0)
            loss = loss + math.log(count) + (mean * mean.clamp_min(1e-12).log()).sum()
        return loss

    def codes_to_indices(self, codes: Tensor) -> Tensor:
        level_index = (codes * self.half_width).round().long() + self.half_width
        return (level_index * self.radix).sum(-1)

    def indices_to_codes(self, indices: Tensor) -> Tensor:
        level_index = indices.long()[..., None] // self.radix % self.level_counts
        return (level_index - self.half_width) / self.half_width
