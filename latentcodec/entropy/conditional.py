"""Conditional entropy models: each latent is coded under a quantized
distribution of a given scale (after its mean was subtracted by the quantizer).

Scales are snapped to a fixed table of 64 values (CompressAI's); the integer
CDF of each entry was built once and ships with the package
(``tables/conditional.npz``), so nobody calls ``update()`` and tables are the
same on every machine. :meth:`ConditionalModel.indexes` is the single place
where a float scale becomes a table index: encoder and decoder agree exactly
when they compute the same float scales (same device and software); across
devices a scale within rounding error of a table boundary may snap
differently, which is why that mapping is kept in one function.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from latentcodec.compressai_parts import LowerBound
from latentcodec.entropy.cdf import CdfTables
from latentcodec.entropy.distributions import FAMILIES
from latentcodec.entropy.range_coder import RangeDecoder, RangeEncoder

SCALE_MIN, SCALE_MAX, N_SCALES = 0.11, 256.0, 64
TABLES_FILE = Path(__file__).parent / "tables" / "conditional.npz"


def default_scale_table() -> np.ndarray:
    return np.exp(np.linspace(np.log(SCALE_MIN), np.log(SCALE_MAX), N_SCALES)).astype(np.float32)


def build_tables(family: str, scale_table: np.ndarray) -> CdfTables:
    """The float step: quantized ``family`` densities, one table per scale."""
    dist = FAMILIES[family]
    pmfs, tails, offsets = [], [], []
    for scale in scale_table.astype(np.float64):
        center = int(np.ceil(scale * dist.tail(dist.tail_mass)))
        v = torch.arange(-center, center + 1, dtype=torch.float64).abs()
        upper = dist.cdf((0.5 - v) / scale)
        lower = dist.cdf((-0.5 - v) / scale)
        pmfs.append((upper - lower).numpy())
        tails.append(2 * dist.cdf(torch.tensor((-0.5 - center) / scale, dtype=torch.float64)).item())
        offsets.append(-center)
    return CdfTables.from_pmfs(pmfs, tails, offsets)


def write_shipped_tables(path: Path = TABLES_FILE) -> None:
    """Regenerates the shipped tables (run once; the result is committed)."""
    arrays = {"scale_table": default_scale_table()}
    for family in FAMILIES:
        t = build_tables(family, arrays["scale_table"])
        arrays.update({f"{family}.cdfs": t.cdfs, f"{family}.lengths": t.lengths, f"{family}.offsets": t.offsets})
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)


@lru_cache(maxsize=None)
def shipped_tables(family: str) -> tuple[np.ndarray, CdfTables]:
    with np.load(TABLES_FILE) as f:
        tables = CdfTables(f[f"{family}.cdfs"], f[f"{family}.lengths"], f[f"{family}.offsets"])
        return f["scale_table"], tables


class ConditionalModel(nn.Module):
    """Likelihoods for training and integer-table coding for one family."""

    family: str

    def __init__(self, likelihood_bound: float = 1e-9):
        super().__init__()
        scale_table, self.tables = shipped_tables(self.family)
        self.register_buffer("scale_table", torch.from_numpy(scale_table), persistent=False)
        self.lower_bound_scale = LowerBound(float(scale_table[0]))
        self.lower_bound_likelihood = LowerBound(likelihood_bound)
        self._cdf = FAMILIES[self.family].cdf

    def likelihood(self, y_hat: Tensor, scales: Tensor, means: Tensor | None = None) -> Tensor:
        """p(y_hat) of the unit bin around y_hat; y_hat is noisy or rounded."""
        values = (y_hat - means if means is not None else y_hat).abs()
        scales = self.lower_bound_scale(scales)
        upper = self._cdf((0.5 - values) / scales)
        lower = self._cdf((-0.5 - values) / scales)
        return self.lower_bound_likelihood(upper - lower)

    def indexes(self, scales: Tensor) -> np.ndarray:
        """Table index of each scale: the first table entry >= scale."""
        table = self.scale_table.to(scales.device, torch.float32)
        idx = torch.searchsorted(table, scales.detach().float().contiguous(), right=False)
        return idx.clamp_(max=len(table) - 1).to(torch.int32).cpu().numpy().ravel()

    def encode(self, encoder: RangeEncoder, symbols: Tensor, scales: Tensor) -> None:
        """Codes integer symbols (latent minus mean, rounded) into ``encoder``."""
        if symbols.shape != scales.shape:
            raise ValueError(f"symbols {tuple(symbols.shape)} and scales {tuple(scales.shape)} differ in shape")
        encoder.encode_with_indexes(symbols.to(torch.int32).cpu().numpy().ravel(), self.indexes(scales), *self.tables)

    def decode(self, decoder: RangeDecoder, scales: Tensor) -> Tensor:
        """Symbols shaped like ``scales`` (int32, on the scales' device)."""
        symbols = decoder.decode_with_indexes(self.indexes(scales), *self.tables)
        return torch.from_numpy(symbols).reshape(scales.shape).to(scales.device)


class GaussianConditional(ConditionalModel):
    family = "gaussian"


class LaplaceConditional(ConditionalModel):
    family = "laplace"


class LogisticConditional(ConditionalModel):
    family = "logistic"


CONDITIONAL_MODELS = {cls.family: cls for cls in (GaussianConditional, LaplaceConditional, LogisticConditional)}
