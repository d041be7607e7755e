"""Soft rounding with annealed noise: the training stand-in of overfitted codecs.

Agustsson & Theis (2020) soft rounding s_T tends to rounding as its
temperature T falls; Cool-chic codes ``s_T(s_T(y) + noise)`` (Gaussian noise: weaker noise lets
the training exploit values between integers that rounding then destroys),
annealing T and the noise's deviation towards hard rounding. The last phase
of training then fixes the grids the coder sends (rounded or trellis-coded)
and trains the networks on exactly those.
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
    """s_T(s_T(y) + noise * N(0, 1)) in training; eval rounds."""

    name = "soft-rounding"

    def __init__(self, temperature: float = 0.3, noise: float = 0.25):
        super().__init__()
        self.temperature, self.noise = temperature, noise

    def forward(self, y: Tensor) -> Tensor:
        if not self.training:
            return torch.round(y)
        soft = soft_round(y, self.temperature)
        return soft_round(soft + self.noise * torch.randn_like(y), self.temperature)
