"""Residual vector quantization with quantizer dropout (SoundStream, arXiv 2107.03312).

Each codebook quantizes what the previous ones left over, so a prefix of the
indices is a coarser version of the same vector: one model serves every
bitrate when training drops the last stages at random.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from vector_quantize_pytorch import ResidualVQ


class ResidualVectorQuantizer(nn.Module):
    """``num_quantizers`` EMA codebooks of ``codebook_size`` entries on successive residuals of ``z`` [batch, ..., dim].

    The codebooks (k-means init, EMA updates, replacement of entries used
    less than ``threshold_ema_dead_code`` times) are ``vector_quantize_pytorch``'s.
    Its ``ResidualVQ`` drops stages for a whole batch at once; SoundStream
    draws the depth for each example, which needs a mask per stage, so the
    stages run here. A dropped stage contributes nothing: no code, no loss,
    no codebook update, and index -1.

    ``quantizer_dropout`` is the fraction of examples whose depth is drawn
    (DAC, arXiv 2306.06546, uses 0.5: the rest train the full depth, which
    keeps later stages useful instead of letting the first carry everything).

    Variable depth: given a ``threshold``, each vector takes stages until its
    residual's norm is at most the threshold (always the first; at most the
    depth). Bits then go where the vector is hard to code: a pause takes one
    stage and a vowel onset all of them, for the same mean rate.

    Gradients pass straight through from the output to ``z``; the returned
    loss is each stage's commitment, weighted by ``commitment_weight``.
    """

    def __init__(
        self,
        dim: int,
        num_quantizers: int,
        codebook_size: int,
        quantizer_dropout: float = 1.0,
        decay: float = 0.99,
        commitment_weight: float = 1.0,
        kmeans_init: bool = True,
        threshold_ema_dead_code: float = 2.0,
    ):
        super().__init__()
        self.quantizer_dropout = quantizer_dropout
        self.residual_vq = ResidualVQ(
            dim=dim,
            num_quantizers=num_quantizers,
            codebook_size=codebook_size,
            decay=decay,
            commitment_weight=commitment_weight,
            kmeans_init=kmeans_init,
            threshold_ema_dead_code=threshold_ema_dead_code,
            route_gradients_to_input=False,  # the straight-through is over all stages at once, in forward
        )

    @property
    def num_quantizers(self) -> int:
        return self.residual_vq.num_quantizers

    @property
    def codebook_size(self) -> int:
        return self.residual_vq.codebook_size

    @property
    def codebook_sizes(self) -> tuple[int, ...]:
        """Entries per stage, in index order."""
        return (self.codebook_size,) * self.num_quantizers

    def forward(
        self, z: Tensor, n_quantizers: int | None = None, threshold: float | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``z`` [batch, ..., dim] -> (z_hat like z, indices [batch, ..., n], loss []).

        ``n_quantizers`` picks the bitrate: every example uses that many
        stages, or, with a ``threshold``, up to that many (see the class).
        Left out, training with dropout draws the depth of a
        ``quantizer_dropout`` fraction of examples uniformly from
        1..num_quantizers; otherwise all stages are used. Unused stages
        have index -1.
        """
        if z.dim() < 2:
            raise ValueError(f"quantizes [batch, ..., dim], got {tuple(z.shape)}")
        columns = self._check_depth(n_quantizers)
        examples = z.reshape(z.shape[0], -1, z.shape[-1])
        depth = torch.full((z.shape[0],), columns, device=z.device)
        thresholds = torch.full((z.shape[0],), -math.inf if threshold is None else threshold, device=z.device)
        if n_quantizers is None and self.training and self.quantizer_dropout:
            dropped = torch.rand(z.shape[0], device=z.device) < self.quantizer_dropout
            depth = torch.where(dropped, torch.randint(1, columns + 1, (z.shape[0],), device=z.device), depth)
        residual, codes, indices, loss = examples, [], [], z.new_zeros(())
        in_use = torch.ones(examples.shape[:2], dtype=torch.bool, device=z.device)
        for stage, layer in enumerate(self.residual_vq.layers[: int(depth.max())]):
            in_use = in_use & (depth > stage)[:, None]
            if stage:
                in_use = in_use & (residual.detach().norm(dim=-1) > thresholds[:, None])
            code, index, stage_loss = layer(residual, mask=in_use)
            residual = residual - code
            codes.append(code)
            indices.append(index)
            loss = loss + stage_loss
        z_hat = torch.stack(codes).sum(0).reshape(z.shape) + (z - z.detach())
        indices = F.pad(torch.stack(indices, -1), (0, columns - len(codes)), value=-1)
        return z_hat, indices.reshape(*z.shape[:-1], columns), loss

    def decode(self, indices: Tensor) -> Tensor:
        """z_hat from ``indices`` [batch, ..., n] of the first n stages (-1: a dropped stage)."""
        columns = self._check_depth(indices.shape[-1])
        padded = F.pad(indices, (0, self.num_quantizers - columns), value=-1)
        return self.residual_vq.get_codes_from_indices(padded)[:columns].sum(0)

    def codebooks(self) -> Tensor:
        """Every stage's entries, [stages, codebook_size, dim]."""
        return torch.stack([layer._codebook.embed[0] for layer in self.residual_vq.layers])

    def frozen(self) -> "FrozenResidualCodebooks":
        """The inference-time quantizer over the current codebooks."""
        return FrozenResidualCodebooks(self.codebooks().detach().float().cpu().numpy())

    def utilization(self, indices: Tensor) -> Tensor:
        """Fraction of each stage's codebook that ``indices`` [..., n] use: a
        codebook that collapsed onto a few entries wastes its bits."""
        stages = indices.reshape(-1, indices.shape[-1]).unbind(-1)
        used = [stage[stage >= 0].unique().numel() for stage in stages]
        return torch.tensor(used, dtype=torch.float32) / self.codebook_size

    def _check_depth(self, n_quantizers: int | None) -> int:
        if n_quantizers is None:
            return self.num_quantizers
        if not 1 <= n_quantizers <= self.num_quantizers:
            raise ValueError(f"n_quantizers must be in 1..{self.num_quantizers}, got {n_quantizers}")
        return n_quantizers


class FrozenResidualCodebooks:
    """Greedy residual VQ on numpy, for coding one frame at a time.

    A streaming codec quantizes one small vector per call, where the torch
    layers spend ~50 us per stage in dispatch alone; this takes a few. Each
    stage picks the entry maximizing r.c - |c|^2/2 (the nearest one), ties to
    the lowest index, and its result depends only on the input and the
    codebooks, so encoding is the same however the input was chunked.
    """

    def __init__(self, codebooks: np.ndarray):
        self.codebooks = np.ascontiguousarray(codebooks, dtype=np.float32)  # [stages, size, dim]
        self.half_norms = 0.5 * np.einsum("skd,skd->sk", self.codebooks, self.codebooks)

    def encode(self, z: np.ndarray, stages: int, threshold: float | None = None) -> np.ndarray:
        """``z`` [n, dim] -> indices [n, stages]; with a ``threshold``, a
        vector stops (its later indices -1) once its residual's norm is at
        most the threshold, as in :class:`ResidualVectorQuantizer`."""
        if len(z) == 1:
            return self._encode_one(np.array(z[0], dtype=np.float32), stages, threshold)[None]
        return keep_depth(*self.search(z, stages), threshold)

    def _encode_one(self, residual: np.ndarray, stages: int, threshold: float | None) -> np.ndarray:
        """:meth:`encode` for the one vector a stream codes per call: it stops
        searching where the vector stops, and scalar control flow costs less
        than array masks."""
        out = np.full(stages, -1, dtype=np.int64)
        for s in range(stages):
            if s and threshold is not None and math.sqrt(float(residual @ residual)) <= threshold:
                break
            out[s] = index = int(np.argmax(self.codebooks[s] @ residual - self.half_norms[s]))
            residual = residual - self.codebooks[s][index]
        return out

    def search(self, z: np.ndarray, stages: int) -> tuple[np.ndarray, np.ndarray]:
        """``z`` [n, dim] -> (indices, norms), both [n, stages]: every stage's
        index, and the norm of the residual it quantizes (inf for the first,
        which every vector takes). :func:`keep_depth` turns them into the
        indices at any threshold, so one pass serves them all."""
        residual = np.array(z, dtype=np.float32)
        indices = np.empty((residual.shape[0], stages), dtype=np.int64)
        norms = np.full((residual.shape[0], stages), np.inf, dtype=np.float32)
        for s in range(stages):
            if s:
                norms[:, s] = np.sqrt(np.einsum("nd,nd->n", residual, residual))
            indices[:, s] = index = (residual @ self.codebooks[s].T - self.half_norms[s]).argmax(1)
            residual -= self.codebooks[s][index]
        return indices, norms

    def decode(self, indices: np.ndarray) -> np.ndarray:
        """indices [n, stages] -> [n, dim], the sum of the stages' entries (-1: none)."""
        entries = self.codebooks[np.arange(indices.shape[1]), np.maximum(indices, 0)]  # one gather: [n, stages, dim]
        return np.einsum("nsd,ns->nd", entries, (indices >= 0).astype(np.float32))


def depth_under(norms: np.ndarray, threshold: float) -> np.ndarray:
    """Stages each vector takes under ``threshold``, from the residual
    ``norms`` of a search (inf: a stage always taken): it goes on while the
    residual's norm is above the threshold."""
    return np.cumprod((norms > threshold) | np.isinf(norms), axis=-1).sum(-1)


def keep_depth(indices: np.ndarray, norms: np.ndarray, threshold: float | None) -> np.ndarray:
    """A search's indices with those past each vector's depth under
    ``threshold`` set to -1 (all kept when there is none)."""
    if threshold is None:
        return indices
    past = np.arange(indices.shape[1]) >= depth_under(norms, threshold)[:, None]
    return np.where(past, -1, indices)
