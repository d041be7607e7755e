"""Trellis-coded quantization of latents under an autoregressive model.

:class:`~latentcodec.quantizers.trellis.TrellisQuantizer` places its two
quantizers around each latent's mean, which an autoregressive model only
knows once the latents before it are chosen. Here the quantizers are fixed
lattices instead, switched by the same state machines: dependent
quantization as in VVC, Q0 = Z and Q1 = {0, +-1/2, +-3/2, ...}, both holding
zero so that a run of zeros is cheap in every state. A reconstruction does
not depend on the mean, so the Viterbi search (in C, ``csrc/lattice_trellis.c``)
can take means and scales from a pre-pass while the coder codes the chosen
values under the exact means (``latentcodec.entropy.autoregressive``): a stale
mean costs rate, never synchronisation.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from latentcodec.quantizers import _trellis
from latentcodec.quantizers.trellis import STATE_MACHINES


class LatticeTrellisQuantizer:
    """``quantize(y, mean, scale)`` -> reconstructions (multiples of 1/2)
    minimizing ``(y - r)^2 + lmbda * bits`` along one raster-order path that
    starts in state 0; state s quantizes with Q(s & 1)."""

    name = "tcq"

    def __init__(self, states: int = 4, lmbda: float = 0.05, limit: int = 127):
        if states not in STATE_MACHINES:
            raise ValueError(f"states must be one of {sorted(STATE_MACHINES)}, got {states}")
        if not lmbda >= 0:
            raise ValueError(f"lmbda must be at least 0, got {lmbda}")
        self.states, self.lmbda, self.limit = states, float(lmbda), int(limit)

    @property
    def machine(self) -> np.ndarray:
        """[states, 2]: the next state after an even / odd index."""
        return STATE_MACHINES[self.states]

    def on_q1(self, r: Tensor) -> Tensor:
        """Which of the reconstructions ``r`` (one raster-order path from state
        0) lie on Q1: the state before each is fixed by the indices before it."""
        machine, state, out = self.machine.tolist(), 0, []
        for t in torch.round(2 * r).to(torch.int64).reshape(-1).tolist():
            q = state & 1
            k = (t + max(-1, min(1, t))) // 2 if q else t // 2
            out.append(q)
            state = machine[state][k & 1]
        return torch.tensor(out, dtype=torch.bool, device=r.device).view_as(r)

    def quantize(self, y: Tensor, mean: Tensor, scale: Tensor) -> Tensor:
        """The chosen reconstructions, shaped like ``y``; |2r| <= limit."""
        bound = self.limit / 2 - 1
        flat = [np.ascontiguousarray(t.detach().reshape(-1).cpu().numpy(), dtype=np.float32)
                for t in (y.clamp(-bound, bound), mean, scale)]
        twice = np.empty(flat[0].size, np.int32)
        quantizer = np.arange(self.states, dtype=np.int32) & 1
        _trellis.lattice_search(*flat, np.ascontiguousarray(self.machine, dtype=np.int32), quantizer, self.lmbda,
                                self.limit, twice)
        return torch.from_numpy(twice).to(y.device, torch.float32).view_as(y) / 2
