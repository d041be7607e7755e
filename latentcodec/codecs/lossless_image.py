"""Lossless 8-bit images: the classical codec that puts the entropy stack to
work on real photos (range coder, shipped Laplace tables, container).

Planes (G, R-G, B-G, then alpha) are predicted by the planar predictor
left + up - up-left. Its residual is the mixed second difference, so the
decoder rebuilds a plane with two cumulative sums. Residuals are coded row
by row under a Laplace whose scale comes from residuals already decoded:
the row above and, for the colour differences, green at the same place.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np
import torch

from latentcodec.codec import Codec
from latentcodec.entropy.conditional import LaplaceConditional
from latentcodec.entropy.range_coder import RangeDecoder, RangeEncoder
from latentcodec.errors import BitstreamError
from latentcodec.registry import register_codec

ROWS_PER_CHUNK = 64
MAX_PIXELS = 1 << 28
# scale = GAIN * activity + FLOOR, activity a weighted mean of neighbouring |residual|
GAIN, FLOOR, GREEN_WEIGHT = 0.8, 0.6, 0.3


def _to_planes(image: np.ndarray) -> list[np.ndarray]:
    x = image.astype(np.int32)
    if x.shape[2] < 3:
        return [x[..., c] for c in range(x.shape[2])]
    g = x[..., 1]
    return [g, x[..., 0] - g, x[..., 2] - g] + [x[..., c] for c in range(3, x.shape[2])]


def _from_planes(planes: list[np.ndarray]) -> np.ndarray:
    if len(planes) >= 3:
        g = planes[0]
        planes = [planes[1] + g, g, planes[2] + g] + planes[3:]
    return np.stack(planes, axis=-1)


def _coding_order(residuals: list[np.ndarray], rows: range) -> Iterator[tuple[np.ndarray, int, torch.Tensor]]:
    """(plane, row, scales) in coding order. Lazy, so when decoding, each
    context is computed from rows already written back into ``residuals``."""
    colour = len(residuals) >= 3
    for row in rows:
        for c, r in enumerate(residuals):
            above = np.abs(r[row - 1]) if row > 0 else np.zeros_like(r[0])
            above2 = np.abs(r[row - 2]) if row > 1 else above
            padded = np.pad(above, 1, mode="edge")
            activity = (padded[:-2] + 2 * above + padded[2:] + above2) / 5
            if colour and c in (1, 2):
                activity = (1 - GREEN_WEIGHT) * activity + GREEN_WEIGHT * np.abs(residuals[0][row])
            yield r, row, torch.from_numpy((GAIN * activity + FLOOR).astype(np.float32))


@register_codec("lossless-image")
class LosslessImageCodec(Codec):
    """``compress(uint8 array [H, W] or [H, W, C<=4]) -> bytes``; exact round
    trip (one-channel images come back as [H, W])."""

    name = "lossless-image"
    modality = "image"
    weights_hash = "none"  # nothing learned

    def __init__(self):
        self.model = LaplaceConditional()

    def encode_chunks(self, image, **options) -> tuple[dict, Iterator[bytes]]:
        if options:
            raise ValueError(f"{self.name} has no encoder options (got {', '.join(options)})")
        image = np.asarray(image)
        if image.ndim == 2:
            image = image[..., None]
        if image.dtype != np.uint8 or image.ndim != 3 or not 1 <= image.shape[2] <= 4 or 0 in image.shape:
            raise ValueError(f"expected a non-empty uint8 image [H, W] or [H, W, 1..4], got {image.dtype} {image.shape}")
        h, w, c = image.shape
        residuals = [np.diff(np.diff(p, axis=0, prepend=0), axis=1, prepend=0) for p in _to_planes(image)]

        def chunks():
            for start in range(0, h, ROWS_PER_CHUNK):
                encoder = RangeEncoder()
                for r, row, scales in _coding_order(residuals, range(start, min(start + ROWS_PER_CHUNK, h))):
                    self.model.encode(encoder, torch.from_numpy(r[row]), scales)
                yield encoder.flush()

        return {"height": h, "width": w, "channels": c}, chunks()

    def decode_chunks(self, meta: dict, chunks: Iterable[bytes]) -> np.ndarray:
        try:
            h, w, c = (int(meta[k]) for k in ("height", "width", "channels"))
        except (KeyError, TypeError, ValueError):
            raise BitstreamError(f"image metadata is missing or malformed: {meta}") from None
        if not (h > 0 and w > 0 and 1 <= c <= 4 and h * w * c <= MAX_PIXELS):
            raise BitstreamError(f"image metadata is out of range: {h}x{w}x{c}")
        residuals = [np.zeros((h, w), dtype=np.int32) for _ in range(c)]
        n_chunks = -(-h // ROWS_PER_CHUNK)
        chunks = iter(chunks)
        for index, start in enumerate(range(0, h, ROWS_PER_CHUNK)):
            chunk = next(chunks, None)
            if chunk is None:
                raise BitstreamError(f"stream has {index} chunks, the image needs {n_chunks}")
            decoder = RangeDecoder(chunk)
            for r, row, scales in _coding_order(residuals, range(start, min(start + ROWS_PER_CHUNK, h))):
                r[row] = self.model.decode(decoder, scales).numpy()
        if next(chunks, None) is not None:
            raise BitstreamError(f"stream has more than the {n_chunks} chunks the image needs")
        image = _from_planes([np.cumsum(np.cumsum(r, axis=0, dtype=np.int64), axis=1) for r in residuals])
        if image.min() < 0 or image.max() > 255:
            raise BitstreamError("decoded pixels fall outside 0..255: the stream is corrupt")
        image = image.astype(np.uint8)
        return image[..., 0] if c == 1 else image
