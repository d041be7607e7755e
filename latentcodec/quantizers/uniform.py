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

    name = "uniform"

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

    def params(self) -> dict:
        return {"name": self.name}

    def spec(self) -> str:
        return self.name

    def encode(self, encoder, conditional, y: Tensor, scales: Tensor, means: Tensor | None = None) -> Tensor:
        """Codes ``y`` under ``conditional`` and returns what the decoder will reconstruct."""
        symbols = self.symbols(y, means)
        conditional.encode(encoder, symbols, scales)
        return self.dequantize(symbols, means)

    def decode(self, decoder, conditional, scales: Tensor, means: Tensor | None = None) -> Tensor:
        return self.dequantize(conditional.decode(decoder, scales), means)

    def finish(self, encoder) -> None:
        """Nothing to add at the end of a stream."""

    def verify(self, decoder) -> None:
        """Nothing to check at the end of a stream."""


class RoundingStandIns(nn.Module):
    """``(for the rate, for the synthesis)`` in place of ``round(y - means) + means``.

    Training: noise for the rate, rounding with a straight-through gradient
    for the synthesis. Eval: rounding for both (the synthesis gets exactly
    what the decoder will). Models take both from this one module, so latent
    refinement can swap in another relaxation in one place.
    """

    def __init__(self):
        super().__init__()
        self.noise, self.ste = UniformQuantizer("noise"), UniformQuantizer("ste")

    def forward(self, y: Tensor, means: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if self.training:
            return self.noise(y, means), self.ste(y, means)
        return self.noise(y, means), UniformQuantizer.dequantize(UniformQuantizer.symbols(y, means), means)
