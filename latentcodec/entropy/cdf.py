"""Integer CDF tables: the only form in which probabilities reach the coder.

Floats decide a table once; from then on it is integers (shipped in
``tables/`` or stored next to a model's weights), so an encoder and a decoder
on different machines use the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from latentcodec.entropy.range_coder import PRECISION


@dataclass(frozen=True)
class CdfTables:
    """CompressAI's layout: ``cdfs[t, :lengths[t]]`` is table t, whose symbol
    k stands for the value ``k + offsets[t]``; its last symbol is the escape."""

    cdfs: np.ndarray  # int32 [n_tables, max_len]
    lengths: np.ndarray  # int32 [n_tables]
    offsets: np.ndarray  # int32 [n_tables]

    def __iter__(self):
        return iter((self.cdfs, self.lengths, self.offsets))

    @classmethod
    def from_pmfs(cls, pmfs, tail_masses, offsets) -> "CdfTables":
        """One table per pmf; the tail mass becomes the escape symbol."""
        cdfs = [quantize_pmf(np.append(p, t)) for p, t in zip(pmfs, tail_masses)]
        out = np.zeros((len(cdfs), max(len(c) for c in cdfs)), dtype=np.int32)
        for row, cdf in zip(out, cdfs):
            row[: len(cdf)] = cdf
        lengths = np.array([len(c) for c in cdfs], dtype=np.int32)
        return cls(out, lengths, np.asarray(offsets, dtype=np.int32))

    def frequencies(self) -> np.ndarray:
        """uint16 [n_tables, max_len - 1]: each symbol's frequency (0 past a
        table's end), half the bytes of the CDFs to store. Every frequency
        fits: a table has two symbols or more, each at least 1."""
        freqs = np.diff(self.cdfs.astype(np.int64), axis=1)
        freqs[np.arange(freqs.shape[1]) >= self.lengths[:, None] - 1] = 0
        return freqs.astype(np.uint16)

    @classmethod
    def from_frequencies(cls, freqs, lengths, offsets) -> "CdfTables":
        """The tables :meth:`frequencies` stored (integer sums, exact)."""
        lengths = np.asarray(lengths, dtype=np.int32)
        cdfs = np.zeros((len(freqs), np.shape(freqs)[1] + 1), dtype=np.int64)
        cdfs[:, 1:] = np.cumsum(np.asarray(freqs, dtype=np.int64), axis=1)
        cdfs[np.arange(cdfs.shape[1]) >= lengths[:, None]] = 0
        return cls(cdfs.astype(np.int32), lengths, np.asarray(offsets, dtype=np.int32))

    def validate(self) -> None:
        """Full check (monotone, every symbol codable); the coder itself only
        checks what memory safety needs."""
        for t, (cdf, n) in enumerate(zip(self.cdfs, self.lengths)):
            freqs = np.diff(cdf[:n].astype(np.int64))
            if cdf[0] != 0 or cdf[n - 1] != 1 << PRECISION or (freqs <= 0).any():
                raise ValueError(f"cdf table {t} is not a valid {PRECISION}-bit CDF")

    def information_bits(self, symbols, indexes) -> np.ndarray:
        """-log2 p of each symbol under its table (an escaped symbol counts its
        escape symbol only, not the bypass bits that follow)."""
        values = symbols - self.offsets[indexes]
        values = np.clip(values, 0, self.lengths[indexes] - 2)
        freq = self.cdfs[indexes, values + 1] - self.cdfs[indexes, values]
        return PRECISION - np.log2(freq)


def quantize_pmf(pmf: np.ndarray, precision: int = PRECISION) -> np.ndarray:
    """Quantizes a pmf to a CDF of ``len(pmf) + 1`` integers summing to 2^precision.

    Every symbol keeps a frequency of at least 1 (so anything can be coded);
    the rest is shared by largest remainder, the mass for symbols raised to 1
    being taken from the most probable ones, where it costs least. The steps
    after the one scaling are integer, and ties break by symbol order.
    """
    pmf = np.asarray(pmf, dtype=np.float64)
    total = 1 << precision
    if pmf.ndim != 1 or not 1 <= len(pmf) <= total or not np.isfinite(pmf).all() or (pmf < 0).any():
        raise ValueError("pmf must be a 1-D array of 1 to 2^precision finite, non-negative values")
    peak = pmf.max()
    if peak > 0:
        pmf = pmf / peak  # so neither tiny nor huge values overflow the scaling
        scaled = pmf * (total / math.fsum(pmf))
    else:
        scaled = np.full(len(pmf), total / len(pmf))
    freq = np.maximum(np.floor(scaled).astype(np.int64), 1)
    excess = int(freq.sum()) - total
    if excess < 0:  # hand out the rounding loss by largest remainder
        freq[np.argsort(freq - scaled, kind="stable")[:-excess]] += 1
    while excess > 0:  # take back the raises to 1, from the largest symbols
        order = np.argsort(-freq, kind="stable")
        take = order[: min(excess, int((freq > 1).sum()))]
        freq[take] -= 1
        excess -= len(take)
    return np.concatenate(([0], np.cumsum(freq))).astype(np.int32)
