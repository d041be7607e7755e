"""Bjøntegaard delta rate: the average bitrate difference between two
rate-distortion curves at equal quality, over the quality range both cover."""

from __future__ import annotations

import numpy as np
from scipy.integrate import trapezoid
from scipy.interpolate import PchipInterpolator


def bd_rate(rate_anchor, quality_anchor, rate_test, quality_test, samples: int = 1000) -> float:
    """Percent rate change of ``test`` against ``anchor`` (negative = test is smaller).

    log-rate is interpolated as a monotone (PCHIP) function of quality, as in
    the JVET tools; needs at least two points per curve and overlapping quality.
    """
    curves = []
    for rate, quality in ((rate_anchor, quality_anchor), (rate_test, quality_test)):
        rate, quality = np.asarray(rate, float), np.asarray(quality, float)
        order = np.argsort(quality)
        quality, log_rate = quality[order], np.log(rate[order])
        keep = np.concatenate(([True], np.diff(quality) > 0))  # PCHIP needs strictly increasing x
        if keep.sum() < 2:
            raise ValueError("each curve needs at least two distinct quality points")
        curves.append((quality[keep], log_rate[keep]))
    low = max(c[0][0] for c in curves)
    high = min(c[0][-1] for c in curves)
    if low >= high:
        raise ValueError(f"the curves do not overlap in quality ({low:.3g} >= {high:.3g})")
    grid = np.linspace(low, high, samples)
    anchor, test = (PchipInterpolator(q, r)(grid) for q, r in curves)
    return float((np.exp(trapezoid(test - anchor, grid) / (high - low)) - 1) * 100)
