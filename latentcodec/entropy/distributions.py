"""Continuous families that conditional entropy models quantize.

Each is written once, in torch, and serves both the training likelihood and
(in float64) the construction of the shipped integer tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor


@dataclass(frozen=True)
class Family:
    name: str
    cdf: Callable[[Tensor], Tensor]  # standardized CDF F(x) for scale 1
    tail: Callable[[float], float]  # c such that P(|x| > c) = tail_mass at scale 1
    # Mass left to the escape symbol. Gaussian keeps CompressAI's 1e-9; the
    # heavier tails would otherwise spread tables over thousands of symbols
    # that all sit at the 1-count floor of a 16-bit CDF.
    tail_mass: float


def _laplace_cdf(x: Tensor) -> Tensor:
    # exp of a non-positive argument only, so neither side overflows
    half_tail = 0.5 * torch.exp(-x.abs())
    return torch.where(x < 0, half_tail, 1 - half_tail)


def _gaussian_tail(tail_mass: float) -> float:
    return -torch.special.ndtri(torch.tensor(tail_mass / 2, dtype=torch.float64)).item()


FAMILIES = {
    "gaussian": Family("gaussian", torch.special.ndtr, _gaussian_tail, 1e-9),
    "laplace": Family("laplace", _laplace_cdf, lambda m: -math.log(m), 1e-6),
    "logistic": Family("logistic", torch.sigmoid, lambda m: math.log(2 / m - 1), 1e-6),
}
