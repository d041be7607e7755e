"""A prior over one frame of residual-VQ indices in a stream of frames.

A static prior gives each stage one table. The frames of a stream are not
independent, though: in speech the first stage's index moves slowly from one
20 ms frame to the next, and a frame's second index depends on its first.
With context, the first index is coded under a table chosen by the frame
before's first index, and the second under one chosen by the frame's own
first index, each through a map of the first codebook onto G groups (indices
whose successors are alike share a group: :func:`successor_groups`). Later
stages keep a static table each, where context measured no gain.

Everything that chooses a table is an integer (indices and the stored map),
so encoder and decoder agree on any machine. The price is that a packet
decodes only after the one before it, as in most speech codecs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from latentcodec.entropy.cdf import CdfTables
from latentcodec.entropy.range_coder import RangeDecoder, RangeEncoder
from latentcodec.errors import BitstreamError

BACKOFF = 8.0  # pseudo-counts of the stage's marginal pmf that each context table starts from


@dataclass(frozen=True)
class ResidualIndexPrior:
    """``tables`` is one table per stage when static. With ``groups`` (int
    [first codebook size] -> 0..G-1): tables 0..G code the first index (G:
    no frame before), G+1..2G the second, and one table per later stage."""

    tables: CdfTables
    groups: np.ndarray | None = None

    @cached_property  # asked for each packet
    def context_groups(self) -> int:
        return 0 if self.groups is None else int(self.groups.max()) + 1

    @property
    def stages(self) -> int:
        return len(self.tables.lengths) - 2 * self.context_groups + (self.context_groups > 0)

    def validate(self) -> None:
        self.tables.validate()
        if self.groups is not None and (self.groups.ndim != 1 or self.groups.min() < 0 or self.stages < 2
                                        or len(self.groups) != self.tables.lengths[0] - 2):
            raise ValueError("the context groups do not fit the prior's tables")

    def table_indexes(self, first: int, count: int, previous: np.ndarray | None) -> np.ndarray:
        """The table of each of a frame's ``count`` indices, whose first is
        ``first``, after a frame whose indices were ``previous`` (None: the
        stream's first frame)."""
        g = self.context_groups
        if not g:
            return np.arange(count, dtype=np.int32)
        head = [g if previous is None else self.groups[previous[0]], g + 1 + self.groups[first]]
        return np.concatenate([head, np.arange(2 * g + 1, 2 * g + count - 1)])[:count].astype(np.int32)

    def encode(self, encoder: RangeEncoder, indices: np.ndarray, previous: np.ndarray | None) -> None:
        indices = np.asarray(indices, dtype=np.int32)
        encoder.encode_with_indexes(indices, self.table_indexes(int(indices[0]), len(indices), previous), *self.tables)

    def decode(self, decoder: RangeDecoder, count: int, previous: np.ndarray | None) -> np.ndarray:
        """Raises BitstreamError for what no encoder wrote (a first index
        outside the map's codebook included)."""
        first = decoder.decode_with_indexes(self.table_indexes(0, 1, previous), *self.tables)
        if self.context_groups and not 0 <= first[0] < len(self.groups):
            raise BitstreamError(f"first index {first[0]} is outside the codebook of {len(self.groups)}")
        rest = decoder.decode_with_indexes(self.table_indexes(int(first[0]), count, previous)[1:], *self.tables)
        return np.concatenate([first, rest])

    def information_bits(self, indices: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
        """-log2 p of each of a frame's indices."""
        return self.tables.information_bits(indices, self.table_indexes(int(indices[0]), len(indices), previous))

    @classmethod
    def fit(cls, streams: list[np.ndarray], sizes, groups: int = 0) -> "ResidualIndexPrior":
        """From ``streams`` of indices [frames, stages] (-1 past a frame's
        depth): static tables from each stage's counts, or with ``groups``
        context tables, each backed off to its stage's marginal."""
        sizes = list(sizes)
        counts = [np.zeros(s) for s in sizes]
        for rows in streams:
            for stage, column in enumerate(rows.T):
                counts[stage] += np.bincount(column[column >= 0], minlength=sizes[stage])
        if not groups:
            return cls(CdfTables.from_pmfs([c + 0.5 for c in counts], [0.0] * len(sizes), [0] * len(sizes)))
        nonempty = [rows for rows in streams if len(rows)]
        firsts = [rows[:, 0] for rows in nonempty]
        follows = np.zeros((sizes[0], sizes[0]))
        for column in firsts:
            np.add.at(follows, (column[:-1], column[1:]), 1)
        mapping = successor_groups(follows, min(groups, sizes[0]))
        groups = int(mapping.max()) + 1
        first = np.zeros((groups + 1, sizes[0]))
        second = np.zeros((groups, sizes[1]))
        for rows, column in zip(nonempty, firsts):
            np.add.at(first, (np.r_[groups, mapping[column[:-1]]], column), 1)
            deep = rows[:, 1] >= 0
            np.add.at(second, (mapping[column[deep]], rows[deep, 1]), 1)
        pmfs = backed_off(first, counts[0]) + backed_off(second, counts[1]) + [c + 0.5 for c in counts[2:]]
        n = len(pmfs)
        return cls(CdfTables.from_pmfs(pmfs, [0.0] * n, [0] * n), mapping.astype(np.int32))


def backed_off(counts: np.ndarray, marginal: np.ndarray) -> list[np.ndarray]:
    """Pmfs of the rows of ``counts`` (one per context), each starting from
    ``BACKOFF`` pseudo-counts of the ``marginal`` counts (+ 0.5 each)."""
    prior = (marginal + 0.5) / (marginal + 0.5).sum()
    return list(counts + BACKOFF * prior)


def successor_groups(follows: np.ndarray, groups: int, iterations: int = 30) -> np.ndarray:
    """A map of symbols to ``groups`` groups such that symbols whose
    successor distributions (rows of the counts ``follows``) are alike share
    one: k-means under the Hellinger distance, started from the most
    frequent symbols' rows (deterministic). Groups are numbered 0.. without gaps."""
    marginal = follows.sum(0) + 1
    rows = np.sqrt((follows + BACKOFF * marginal / marginal.sum()) / (follows.sum(1, keepdims=True) + BACKOFF))
    centres = rows[np.argsort(-follows.sum(1), kind="stable")[:groups]].copy()
    for _ in range(iterations):
        assignment = (rows @ centres.T - 0.5 * (centres * centres).sum(1)).argmax(1)
        for g in range(groups):
            members = assignment == g
            if members.any():
                centres[g] = rows[members].mean(0)
    assignment = (rows @ centres.T - 0.5 * (centres * centres).sum(1)).argmax(1)
    return np.unique(assignment, return_inverse=True)[1].reshape(-1)
