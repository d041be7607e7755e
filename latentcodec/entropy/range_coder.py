"""Streaming range coder (queue semantics) over 16-bit integer CDF tables.

The core is C (``csrc/range_coder.c``): Python only makes the arguments
contiguous int32 arrays, so each call codes a whole array without per-symbol
Python work. Tables follow CompressAI's quantized-CDF layout, so the tables
CompressAI's ``GaussianConditional`` builds work unchanged.
"""

from __future__ import annotations

import numpy as np

from latentcodec.entropy import _range_coder

PRECISION = _range_coder.PRECISION


def _int32(array, name: str) -> np.ndarray:
    a = np.ascontiguousarray(array)
    if a.dtype != np.int32:
        if not np.issubdtype(a.dtype, np.integer):
            raise TypeError(f"{name} must be integers, got {a.dtype}")
        cast = a.astype(np.int32)
        if not np.array_equal(cast, a):
            raise ValueError(f"{name} has values outside the int32 range")
        a = cast
    return a


def _tables(cdfs, cdf_lengths, offsets):
    return _int32(cdfs, "cdfs"), _int32(cdf_lengths, "cdf_lengths").ravel(), _int32(offsets, "offsets").ravel()


class RangeEncoder:
    """Encodes symbols into one stream; call :meth:`flush` to end it.

    ``symbols[i] - offsets[indexes[i]]`` picks an entry of table
    ``indexes[i]``; values outside the table are escaped and coded in 4-bit
    bypass chunks (CompressAI's scheme), so any int32 round-trips exactly.
    """

    def __init__(self):
        self._encoder = _range_coder.Encoder()

    def encode_with_indexes(self, symbols, indexes, cdfs, cdf_lengths, offsets) -> None:
        self._encoder.encode(
            _int32(symbols, "symbols").ravel(), _int32(indexes, "indexes").ravel(), *_tables(cdfs, cdf_lengths, offsets)
        )

    def take(self) -> bytes:
        """Bytes that are final so far; the stream goes on."""
        return self._encoder.take()

    def flush(self) -> bytes:
        """Ends the stream and returns its remaining bytes (all of them if
        nothing was taken). The encoder then starts a new, independent stream."""
        return self._encoder.finish()


class RangeDecoder:
    """Decodes a stream made by :class:`RangeEncoder`, in encoding order.

    ``RangeDecoder(data)`` decodes a complete stream. ``RangeDecoder()``
    opens a stream that is fed as bytes arrive (:meth:`feed`); while it is
    open, a call that needs bytes not yet fed raises
    :class:`~latentcodec.IncompleteStreamError` and consumes nothing.
    Corrupt or truncated input raises :class:`~latentcodec.BitstreamError`.
    """

    def __init__(self, data: bytes | None = None):
        self._decoder = _range_coder.Decoder()
        if data is not None:
            self.feed(data, last=True)

    def feed(self, data: bytes, last: bool = False) -> None:
        """Appends stream bytes; ``last=True`` says no more will come."""
        self._decoder.feed(data, last)

    @property
    def position(self) -> int:
        """Stream bytes consumed so far (up to 3 past the end of a finished stream)."""
        return self._decoder.position

    def decode_with_indexes(self, indexes, cdfs, cdf_lengths, offsets) -> np.ndarray:
        indexes = _int32(indexes, "indexes").ravel()
        out = np.empty(indexes.shape, dtype=np.int32)
        self._decoder.decode(out, indexes, *_tables(cdfs, cdf_lengths, offsets))
        return out

    def decode_with_states(
        self, indexes, cdfs, cdf_lengths, offsets, next_states, table_shifts, state: int
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """Decodes under a state machine driven by the parity of each value
        (trellis-coded quantization): in state s, symbol i uses table
        ``indexes[i] + table_shifts[s]``, and the state then becomes
        ``next_states[s][value & 1]``. Returns (values, the state each was
        decoded in, the state after the last)."""
        indexes = _int32(indexes, "indexes").ravel()
        out = np.empty(indexes.shape, dtype=np.int32)
        states = np.empty(indexes.shape, dtype=np.int32)
        end = self._decoder.decode(
            out, indexes, *_tables(cdfs, cdf_lengths, offsets), states,
            _int32(next_states, "next_states"), _int32(table_shifts, "table_shifts").ravel(), int(state),
        )
        return out, states, end
