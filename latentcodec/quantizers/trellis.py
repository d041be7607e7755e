"""Trellis-coded quantization (TCQ) of Gaussian-conditional latents.

Two scalar quantizers share the grid of step ``delta`` around the mean: Q0
reconstructs index k at ``2k * delta``, Q1 at ``(2k - sgn k) * delta``. A
state machine driven by the parity of each index decides which quantizer the
next latent uses (VVC's 4-state and ECM's 8-state machines, numbered so that
the quantizer is ``state & 1``). The encoder picks all indices jointly with a
Viterbi search over distortion + lambda * bits (in C, ``csrc/trellis.c``),
the bits read from the very integer tables the coder uses; the decoder tracks
the state inside the range decoder, so it needs nothing but the stream.

Each quantizer has its own integer tables: the Gaussian mass of each of its
cells, for 64 normalized scales sigma / delta (the conditional model's scale
table). ``delta`` is the scale table's ratio to the power ``-delta_shift``,
so a latent's table is the conditional model's own scale index plus
``delta_shift``: the float-to-index step stays in one place.
"""

from __future__ import annotations

import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from latentcodec.entropy.cdf import CdfTables
from latentcodec.entropy.conditional import N_SCALES, SCALE_MAX, SCALE_MIN, ConditionalModel, default_scale_table
from latentcodec.entropy.distributions import FAMILIES
from latentcodec.entropy.range_coder import PRECISION, RangeDecoder, RangeEncoder
from latentcodec.errors import BitstreamError
from latentcodec.quantizers import _trellis

TABLES_FILE = Path(__file__).parent / "tables" / "trellis.npz"
# next state after an even / odd index; the quantizer of state s is s & 1
STATE_MACHINES = {
    4: np.array([[0, 1], [2, 3], [1, 0], [3, 2]], dtype=np.int32),
    8: np.array([[0, 2], [5, 7], [1, 3], [6, 4], [2, 0], [4, 6], [3, 1], [7, 5]], dtype=np.int32),
}
MAX_DELTA_SHIFT = 16
# the CRC that ends a stream goes as 4 bytes, each under a flat 256-symbol table
BYTE_TABLE = CdfTables.from_pmfs([np.ones(256)], [0.0], [0])


def delta_of(delta_shift: int) -> float:
    """The grid step: the scale table's ratio to the power -delta_shift."""
    ratio = np.log(SCALE_MAX / SCALE_MIN) / (N_SCALES - 1)
    return float(np.float32(np.exp(-delta_shift * ratio)))


def reconstruction(symbols: np.ndarray, quantizer: np.ndarray) -> np.ndarray:
    """Grid level (in units of delta) of each index under its quantizer, as
    float32 (exact below 2^23; a corrupt stream's extreme values cannot wrap)."""
    k = symbols.astype(np.float32)
    return 2 * k - np.sign(k) * quantizer.astype(np.float32)


def build_tables(family: str = "gaussian") -> CdfTables:
    """Rows 0..63: Q0 at each normalized scale; rows 64..127 (+ N_SCALES): Q1."""
    dist = FAMILIES[family]
    pmfs, tails, offsets = [], [], []
    for quantizer in (0, 1):
        for scale in default_scale_table().astype(np.float64):
            c = int(np.ceil(scale * dist.tail(dist.tail_mass) / 2)) + 1
            k = torch.arange(-c, c + 1, dtype=torch.float64)
            if quantizer == 0:  # levels 2k: cells of width 2 around them
                lower, upper = 2 * k - 1, 2 * k + 1
            else:  # levels 0, +-1, +-3, ...: cells end halfway to the neighbours
                lower = torch.where(k > 0, (2 * k - 2).clamp(min=0.5), torch.where(k < 0, 2 * k, -0.5))
                upper = torch.where(k > 0, 2 * k, torch.where(k < 0, (2 * k + 2).clamp(max=-0.5), 0.5))
            pmfs.append((dist.cdf(upper / scale) - dist.cdf(lower / scale)).numpy())
            tails.append(float(dist.cdf(lower[0] / scale) + 1 - dist.cdf(upper[-1] / scale)))
            offsets.append(-c)
    return CdfTables.from_pmfs(pmfs, tails, offsets)


def write_shipped_tables(path: Path = TABLES_FILE) -> None:
    """Regenerates the shipped tables (run once; the result is committed)."""
    t = build_tables()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, cdfs=t.cdfs, lengths=t.lengths, offsets=t.offsets)


@lru_cache(maxsize=None)
def shipped_tables() -> tuple[CdfTables, np.ndarray]:
    """The integer tables and, for the encoder's search, each symbol's bits."""
    with np.load(TABLES_FILE) as f:
        tables = CdfTables(f["cdfs"], f["lengths"], f["offsets"])
    freq = np.diff(tables.cdfs.astype(np.int64), axis=1)
    bits = np.where(freq > 0, PRECISION - np.log2(np.maximum(freq, 1)), np.inf).astype(np.float32)
    return tables, np.ascontiguousarray(np.pad(bits, ((0, 0), (0, 1)), constant_values=np.inf))


class TrellisQuantizer:
    """TCQ of ``y - means`` for Gaussian-conditional latents.

    One object codes one stream: the trellis state carries over from one
    :meth:`encode` (or :meth:`decode`) call to the next, so successive calls
    (the slices of a channel-wise model) form one trellis in coding order.
    :meth:`finish` ends the stream with a CRC32 of every index, which
    :meth:`verify` checks: a stream decoded under another state machine or
    delta, or cut mid-trellis, raises ``BitstreamError`` instead of giving a
    wrong image.

    ``lmbda`` weighs bits against the squared latent error in the search; it
    only matters to the encoder, and is not written to the stream.
    """

    name = "tcq"

    def __init__(self, states: int = 8, delta_shift: int = 5, lmbda: float = 0.005):
        if states not in STATE_MACHINES:
            raise ValueError(f"TCQ has {' or '.join(map(str, STATE_MACHINES))} states, not {states}")
        if not 0 <= delta_shift <= MAX_DELTA_SHIFT:
            raise ValueError(f"delta_shift must be in [0, {MAX_DELTA_SHIFT}], got {delta_shift}")
        self.states, self.delta_shift, self.lmbda = states, delta_shift, lmbda
        self.delta = delta_of(delta_shift)
        self.next_states = STATE_MACHINES[states]
        self.quantizer_of_state = np.arange(states, dtype=np.int32) & 1
        self.state = 0
        self.crc = 0

    def params(self) -> dict:
        """What a decoder needs, for the stream's header."""
        return {"name": self.name, "states": self.states, "delta_shift": self.delta_shift}

    def spec(self) -> str:
        """Every setting, as :func:`~latentcodec.quantizers.parse_quantizer` reads it."""
        return f"{self.name}:states={self.states},delta_shift={self.delta_shift},lmbda={self.lmbda}"

    def _tables_of(self, conditional: ConditionalModel, scales: Tensor) -> np.ndarray:
        if conditional.family != "gaussian":
            raise ValueError(f"TCQ tables are Gaussian; this latent is coded as {conditional.family}")
        return np.minimum(conditional.indexes(scales) + self.delta_shift, N_SCALES - 1).astype(np.int32)

    def _dequantize(self, symbols, states, means: Tensor | None, shape) -> Tensor:
        levels = reconstruction(symbols, self.quantizer_of_state[states])
        y = torch.from_numpy(levels * np.float32(self.delta)).reshape(shape)
        return y.to(means.device) + means if means is not None else y

    def quantize(self, conditional, y: Tensor, scales: Tensor, means: Tensor | None = None):
        """The Viterbi search: (indices, state of each, table of each), in coding order."""
        tables, bits = shipped_tables()
        base = self._tables_of(conditional, scales)
        centered = y - means if means is not None else y
        residual = np.ascontiguousarray((centered.detach().float().cpu() / self.delta).numpy().ravel())
        symbols = np.empty(residual.shape, dtype=np.int32)
        states = np.empty(residual.shape, dtype=np.int32)
        self.state = _trellis.search(
            residual, base, self.next_states, self.quantizer_of_state, bits, tables.lengths, tables.offsets,
            bits.shape[1], N_SCALES, self.lmbda / self.delta**2, self.state, symbols, states,
        )
        return symbols, states, base + self.quantizer_of_state[states] * N_SCALES

    def encode(self, encoder: RangeEncoder, conditional, y: Tensor, scales: Tensor, means: Tensor | None = None) -> Tensor:
        """Codes ``y`` and returns what the decoder will reconstruct."""
        symbols, states, indexes = self.quantize(conditional, y, scales, means)
        encoder.encode_with_indexes(symbols, indexes, *shipped_tables()[0])
        self.crc = zlib.crc32(symbols.astype("<i4").tobytes(), self.crc)
        return self._dequantize(symbols, states, means, y.shape)

    def decode(self, decoder: RangeDecoder, conditional, scales: Tensor, means: Tensor | None = None) -> Tensor:
        tables = shipped_tables()[0]
        shifts = self.quantizer_of_state * N_SCALES
        symbols, states, self.state = decoder.decode_with_states(
            self._tables_of(conditional, scales), *tables, self.next_states, shifts, self.state
        )
        self.crc = zlib.crc32(symbols.astype("<i4").tobytes(), self.crc)
        return self._dequantize(symbols, states, means, scales.shape)

    def finish(self, encoder: RangeEncoder) -> None:
        """Ends the stream's trellis with the CRC32 of its indices."""
        crc = np.frombuffer(self.crc.to_bytes(4, "little"), dtype=np.uint8).astype(np.int32)
        encoder.encode_with_indexes(crc, np.zeros(4, dtype=np.int32), *BYTE_TABLE)

    def verify(self, decoder: RangeDecoder) -> None:
        crc = decoder.decode_with_indexes(np.zeros(4, dtype=np.int32), *BYTE_TABLE)
        if (crc < 0).any() or (crc > 255).any() or bytes(crc.astype(np.uint8).tolist()) != self.crc.to_bytes(4, "little"):
            raise BitstreamError(
                f"TCQ indices fail their CRC ({self.states}-state trellis, delta_shift {self.delta_shift}): "
                "the stream is corrupt, truncated, or was made with another trellis"
            )
