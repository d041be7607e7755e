"""Uniform scalar quantizer around a mean, with the usual training stand-ins."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class UniformQuantizer(nn.Module):
    """Rounds ``y - means`` to integers.

    In training, ``mode="noise"`` adds U(-1/2, 1/2) noise (the rate proxy of
    Ballé et al.) and ``mode="ste"`` rounds with a straight-through gradient;
    in eval both round, which is what the coder transmits.
    """

    def __init__(self, mode: str = "noise"):
        super().__init__()
        if mode not in ("noise", "ste"):
            raise ValueError(f"mode must be 'noise' or 'ste', got {mode!r}")
        self.mode = mode

    def forward(self, y: Tensor, means: Tensor | None = None) -> Tensor:
        centered = y - means if means is not None else y
        if self.training and self.mode == "noise":
            q = centered + torch.empty_like(centered).uniform_(-0.5, 0.5)
        else:
            q = centered + (torch.round(centered) - centered).detach()
        return q + means if means is not None else q

    @staticmethod
    def symbols(y: Tensor, means: Tensor | None = None) -> Tensor:
        """The integers the coder transmits."""
        return torch.round(y - means if means is not None else y).to(torch.int32)

    @staticmethod
    def dequantize(symbols: Tensor, means: Tensor | None = None) -> Tensor:
        y = symbols.to(means.dtype if means is not None else torch.float32)
        return y + means if means is not None else y
