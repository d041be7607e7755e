"""Soft rounding with annealed noise: the training stand-in of overfitted codecs.

Agustsson & Theis (2020) soft rounding s_T tends to rounding as its
temperature T falls; Cool-chic codes ``s_T(s_T(y) + noise)`` (Gaussian noise: weaker noise lets
the training exploit values between integers that rounding then destroys),
annealing T and the noise's deviation towards hard rounding, then ends with a straight-through phase in
which the synthesis and the rate see exactly the integers the coder sends.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def soft_round(x: Tensor, temperature: float) -> Tensor:
    """Differentiable and monotone; equals round(x) as temperature -> 0."""
    middle = torch.floor(x) + 0.5
    return middle + 0.5 * torch.tanh((x - middle) / temperature) / math.tanh(0.5 / temperature)


class SoftRounding(nn.Module):
    """``mode="soft"``: s_T(s_T(y) + noise * N(0, 1)); ``mode="ste"``:
    rounding with a straight-through gradient. Eval always rounds."""

    name = "soft-rounding"

    def __init__(self, temperature: float = 0.3, noise: float = 0.25, mode: str = "soft"):
        super().__init__()
        self.temperature, self.noise = temperature, noise
        self.mode = mode

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, mode: str) -> None:
        if mode not in ("soft", "ste"):
            raise ValueError(f"mode must be 'soft' or 'ste', got {mode!r}")
        self._mode = mode

    def forward(self, y: Tensor) -> Tensor:
        if not self.training:
            return torch.round(y)
        if self.mode == "ste":
            return y + (torch.round(y) - y).detach()
        soft = soft_round(y, self.temperature)
        return soft_round(soft + self.noise * torch.randn_like(y), self.temperature)
