"""Factorized prior: one learned density per channel (Ballé et al. 2018).

The density network, its likelihood and its auxiliary quantile loss are
CompressAI's ``EntropyBottleneck``. What changes is how its integer tables
come about: they are a function of the parameters, rebuilt whenever the
parameters' values change (a hash of them is kept), so there is no
``update()`` to forget. Saving writes the tables beside the weights and
loading takes them back as integers, so a decoder elsewhere never rebuilds
them from floats.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
from torch import Tensor

from latentcodec.compressai_parts import EntropyBottleneck
from latentcodec.entropy.cdf import CdfTables
from latentcodec.entropy.range_coder import RangeDecoder, RangeEncoder

_TABLE_BUFFERS = ("_quantized_cdf", "_cdf_length", "_offset")


class FactorizedPrior(EntropyBottleneck):
    """``forward(y) -> (y_hat, likelihoods)`` for training; ``encode``/``decode``
    code ``[B, C, ...]`` latents channel by channel, around learned medians."""

    def __init__(self, channels: int, **kwargs):
        super().__init__(channels, **kwargs)
        self._tables_key = None

    def _parameter_hash(self) -> bytes:
        h = hashlib.blake2b(digest_size=16)
        for p in self.parameters():
            h.update(p.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
        return h.digest()

    @torch.no_grad()
    def update(self, force: bool = False, update_quantiles: bool = False) -> bool:
        """Rebuilds the integer tables if the parameters changed (never needed by hand)."""
        key = self._parameter_hash()
        if key == self._tables_key and not force and not update_quantiles:
            return False
        if update_quantiles:
            self._update_quantiles()
            key = self._parameter_hash()
        medians = self.quantiles[:, 0, 1]
        minima = torch.clamp(torch.ceil(medians - self.quantiles[:, 0, 0]), min=0).int()
        maxima = torch.clamp(torch.ceil(self.quantiles[:, 0, 2] - medians), min=0).int()
        lengths = (minima + maxima + 1).tolist()
        samples = torch.arange(max(lengths), device=medians.device)[None, None, :] + (medians - minima)[:, None, None]
        pmf, lower, upper = self._likelihood(samples, stop_gradient=True)
        tail = (torch.sigmoid(lower[:, 0, 0]) + torch.sigmoid(-upper[:, 0, -1])).double().cpu().numpy()
        pmfs = [p[:n] for p, n in zip(pmf[:, 0].double().cpu().numpy(), lengths)]
        tables = CdfTables.from_pmfs(pmfs, tail, (-minima).cpu().numpy())
        device = self.quantiles.device
        self._quantized_cdf = torch.from_numpy(tables.cdfs).to(device)
        self._cdf_length = torch.from_numpy(tables.lengths).to(device)
        self._offset = torch.from_numpy(tables.offsets).to(device)
        self._tables_key = key
        return True

    @property
    def tables(self) -> CdfTables:
        self.update()
        return CdfTables(*(getattr(self, b).cpu().numpy().astype(np.int32) for b in _TABLE_BUFFERS))

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        self.update()
        super()._save_to_state_dict(destination, prefix, keep_vars)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in _TABLE_BUFFERS:  # table buffers take the stored shapes
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name], device=self.quantiles.device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        stored = self._quantized_cdf.numel() > 0
        self._tables_key = self._parameter_hash() if stored else None

    def _channel_indexes(self, shape) -> np.ndarray:
        return np.broadcast_to(np.arange(shape[1], dtype=np.int32).reshape(1, -1, *[1] * (len(shape) - 2)), shape).ravel()

    def _medians(self, ndim: int) -> Tensor:
        return self.quantiles[:, 0, 1].detach().reshape(1, -1, *[1] * (ndim - 2))

    def encode(self, encoder: RangeEncoder, y: Tensor) -> Tensor:
        """Codes ``round(y - median)``; returns the dequantized latent the decoder will see."""
        medians = self._medians(y.dim())
        symbols = torch.round(y.detach() - medians)
        encoder.encode_with_indexes(symbols.to(torch.int32).cpu().numpy().ravel(), self._channel_indexes(y.shape), *self.tables)
        return symbols + medians

    def decode(self, decoder: RangeDecoder, shape) -> Tensor:
        symbols = decoder.decode_with_indexes(self._channel_indexes(tuple(shape)), *self.tables)
        medians = self._medians(len(shape))
        return torch.from_numpy(symbols).reshape(tuple(shape)).to(medians) + medians
