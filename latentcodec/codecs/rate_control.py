"""Closed-loop rate control: a threshold steered so a stream spends what it promised.

A variable-depth coder spends more on some material than on other under the
same threshold (a residual threshold calibrated on studio prompts spends
half as much, or twice as much, on other speech). A controller makes the
rate a promise instead of an average. Each frame's search gives, besides its
indices, what every depth would have cost and the residual norms that pick
a depth under any threshold; the controller keeps them for the last
``window`` frames and gives the next frame the threshold under which those
frames would have cost their share of the budget, less any overspend so far
(paid back over ``horizon`` frames). Looking back at real frames, not at a
model of the material, it settles within a second on speech, music, noise
or silence, and pauses bank bits for the speech after them. (A PI
controller on the threshold, tried first, either overshot on onsets or
took more than 2 s to settle.)

It is causal (a frame's threshold depends only on earlier frames), so it
streams, and it runs in the encoder only: the decoder reads each frame's
depth from the stream and never sees the threshold.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from latentcodec.quantizers.residual_vq import depth_under


class RateController:
    """Thresholds (higher: fewer bits) for frames that should cost
    ``bits_per_frame`` on average, starting from ``threshold`` and kept
    within [``low``, ``high``]. Call :meth:`spend` after each frame and
    :meth:`correct` when real sizes replace the estimates."""

    STEPS = 16  # bisection steps in the log of the threshold: 2^-16 of its range (0.01% in the threshold)

    def __init__(self, bits_per_frame: float, threshold: float, low: float, high: float,
                 window: int = 100, horizon: int = 25):
        if not (bits_per_frame > 0 and 0 < low <= threshold <= high and window >= 1 and horizon >= 1):
            raise ValueError("a rate controller needs a positive budget, 0 < low <= threshold <= high, "
                             "and a window and horizon of at least a frame")
        self.budget, self.horizon = bits_per_frame, horizon
        self.threshold, self._low, self._high = threshold, math.log(low), math.log(high)
        self._norms, self._costs = deque(maxlen=window), deque(maxlen=window)
        self.spent, self.frames = 0.0, 0

    def spend(self, norms: np.ndarray, costs: np.ndarray, depth: int) -> None:
        """Records a frame: its search's residual ``norms`` [stages], what
        each depth would have cost ``costs`` [stages], in bits, and the
        ``depth`` it took; then sets :attr:`threshold` for the next."""
        self._norms.append(norms)
        self._costs.append(costs)
        self.spent += float(costs[depth - 1])
        self.frames += 1
        overspend = self.spent - self.budget * self.frames
        target = len(self._norms) * max(self.budget - overspend / self.horizon, 0.1 * self.budget)
        self.threshold = math.exp(self._bisect(np.stack(self._norms), np.stack(self._costs), target))

    def correct(self, bits: float) -> None:
        """Adds ``bits`` to what was spent: a stream piece's real size less
        the estimates its frames were charged."""
        self.spent += bits

    def _bisect(self, norms: np.ndarray, costs: np.ndarray, target: float) -> float:
        rows = np.arange(len(norms))

        def cost(u):  # falls as the threshold grows
            return costs[rows, depth_under(norms, math.exp(u)) - 1].sum()

        lo, hi = self._low, self._high
        if cost(lo) <= target:
            return lo
        if cost(hi) >= target:
            return hi
        for _ in range(self.STEPS):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if cost(mid) > target else (lo, mid)
        return hi
