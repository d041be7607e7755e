"""Residual scalar-vector quantization (RSVQ, StreamCodec, arXiv 2504.06561).

A few scalar stages take the coarse shape of a vector cheaply (each projects
the residual to a handful of FSQ channels and back), then residual VQ stages
refine what is left: ``z_hat = sum_i s_i + sum_j v_j``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from latentcodec.quantizers.fsq import FiniteScalarQuantizer
from latentcodec.quantizers.residual_vq import ResidualVectorQuantizer, keep_depth


class ResidualScalarVectorQuantizer(nn.Module):
    """``num_scalar_stages`` FSQ stages, then ``num_vector_stages`` VQ stages, on ``z`` [batch, ..., dim].

    Each scalar stage projects its residual to ``len(levels)`` channels,
    quantizes them with ``levels`` and projects back.

    ``vector_options`` go to :class:`ResidualVectorQuantizer` (dropout,
    decay, commitment weight...); its dropout draws over the VQ stages only.

    The VQ stages pass gradients straight through to their input, so z_hat's
    gradient reaches ``z`` unchanged and the scalar stages' projections learn
    from the returned loss: the VQ stages' commitment to what the scalar
    stages left.
    """

    def __init__(
        self,
        dim: int,
        levels: Sequence[int],
        num_scalar_stages: int,
        num_vector_stages: int,
        codebook_size: int,
        **vector_options: Any,
    ):
        super().__init__()
        if num_scalar_stages < 1 or num_vector_stages < 1:
            raise ValueError(f"RSVQ needs scalar and vector stages, got {num_scalar_stages} and {num_vector_stages}")
        self.scalar_quantizer = FiniteScalarQuantizer(levels)
        self.to_scalar = nn.ModuleList(nn.Linear(dim, len(levels)) for _ in range(num_scalar_stages))
        self.from_scalar = nn.ModuleList(nn.Linear(len(levels), dim) for _ in range(num_scalar_stages))
        self.vector_stages = ResidualVectorQuantizer(dim, num_vector_stages, codebook_size, **vector_options)

    @property
    def num_scalar_stages(self) -> int:
        return len(self.to_scalar)

    @property
    def num_quantizers(self) -> int:
        return self.num_scalar_stages + self.vector_stages.num_quantizers

    @property
    def codebook_sizes(self) -> tuple[int, ...]:
        """Entries per stage, in index order."""
        scalar = (self.scalar_quantizer.codebook_size,) * self.num_scalar_stages
        return scalar + (self.vector_stages.codebook_size,) * self.vector_stages.num_quantizers

    def forward(
        self, z: Tensor, n_quantizers: int | None = None, threshold: float | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``z`` [batch, ..., dim] -> (z_hat like z, indices [batch, ..., n], loss []).

        ``n_quantizers`` counts scalar and vector stages together, scalar
        first; left out, all of them, less the VQ stages that dropout drops
        in training (so dropout trains every depth past the scalar stages).
        A ``threshold`` makes the VQ stages' depth variable (see
        :class:`ResidualVectorQuantizer`); every scalar stage is always used.
        """
        if n_quantizers is not None and not 1 <= n_quantizers <= self.num_quantizers:
            raise ValueError(f"n_quantizers must be in 1..{self.num_quantizers}, got {n_quantizers}")
        scalar_stages = min(n_quantizers or self.num_quantizers, self.num_scalar_stages)
        residual, parts, indices = z, [], []
        for to_scalar, from_scalar in zip(self.to_scalar[:scalar_stages], self.from_scalar[:scalar_stages]):
            codes, index = self.scalar_quantizer(to_scalar(residual))
            part = from_scalar(codes)
            residual = residual - part
            parts.append(part)
            indices.append(index)
        indices = torch.stack(indices, -1)
        if n_quantizers is not None and n_quantizers <= self.num_scalar_stages:
            return sum(parts), indices, z.new_zeros(())
        vector_stages = None if n_quantizers is None else n_quantizers - self.num_scalar_stages
        vector_part, vector_indices, loss = self.vector_stages(residual, vector_stages, threshold)
        return sum(parts) + vector_part, torch.cat([indices, vector_indices], -1), loss

    def frozen(self) -> "FrozenResidualScalarVector":
        """The inference-time quantizer over the current weights and codebooks."""
        return FrozenResidualScalarVector(self)

    def decode(self, indices: Tensor) -> Tensor:
        """z_hat from ``indices`` [batch, ..., n] of the first n stages."""
        if not 1 <= indices.shape[-1] <= self.num_quantizers:
            raise ValueError(f"indices must be [..., 1..{self.num_quantizers}], got {tuple(indices.shape)}")
        scalar_indices = indices[..., : self.num_scalar_stages].unbind(-1)
        parts = [
            from_scalar(self.scalar_quantizer.indices_to_codes(index))
            for from_scalar, index in zip(self.from_scalar, scalar_indices)
        ]
        if indices.shape[-1] <= self.num_scalar_stages:
            return sum(parts)
        return sum(parts) + self.vector_stages.decode(indices[..., self.num_scalar_stages :])


class FrozenResidualScalarVector:
    """Inference-time RSVQ on [n, dim] numpy arrays: the scalar stages through
    torch (a few small ops each), the VQ stages with
    :class:`~latentcodec.quantizers.residual_vq.FrozenResidualCodebooks`."""

    def __init__(self, quantizer: ResidualScalarVectorQuantizer):
        self.quantizer = quantizer
        self.vector = quantizer.vector_stages.frozen()

    def encode(self, z: np.ndarray, stages: int, threshold: float | None = None, beam: int = 1) -> np.ndarray:
        """As :meth:`FrozenResidualCodebooks.encode`; the threshold and the beam apply to the VQ stages."""
        return keep_depth(*self.search(z, stages, beam, threshold), threshold)

    @torch.no_grad()
    def search(self, z: np.ndarray, stages: int, beam: int = 1,
               threshold: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`FrozenResidualCodebooks.search`: norms are inf for the
        scalar stages, which every vector takes."""
        q = self.quantizer
        scalar = min(stages, q.num_scalar_stages)
        residual, indices = torch.as_tensor(np.asarray(z, dtype=np.float32)), []
        for to_scalar, from_scalar in zip(q.to_scalar[:scalar], q.from_scalar[:scalar]):
            codes, index = q.scalar_quantizer(to_scalar(residual))
            residual = residual - from_scalar(codes)
            indices.append(index.numpy().astype(np.int64))
        paths = np.full((len(residual), stages, stages), -1, dtype=np.int64)
        norms = np.full((len(residual), stages), np.inf, dtype=np.float32)
        for depth in range(1, stages + 1):
            paths[:, depth - 1, : min(depth, scalar)] = np.stack(indices[:depth], 1)
        if stages > scalar:
            paths[:, scalar:, scalar:], norms[:, scalar:] = self.vector.search(residual.numpy(), stages - scalar, beam, threshold)
        return paths, norms

    @torch.no_grad()
    def decode(self, indices: np.ndarray) -> np.ndarray:
        q = self.quantizer
        scalar = min(indices.shape[1], q.num_scalar_stages)
        out = np.zeros((indices.shape[0], q.to_scalar[0].in_features), dtype=np.float32)
        for stage, from_scalar in enumerate(q.from_scalar[:scalar]):
            out += from_scalar(q.scalar_quantizer.indices_to_codes(torch.from_numpy(indices[:, stage]))).numpy()
        if indices.shape[1] > scalar:
            out += self.vector.decode(indices[:, scalar:])
        return out
