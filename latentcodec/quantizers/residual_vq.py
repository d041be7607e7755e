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

from latentcodec.quantizers import _residual_search


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
    """Residual VQ on numpy arrays, for coding one frame at a time.

    The search runs in C (``csrc/residual_search.c``): a streaming codec
    quantizes one small vector per call, where torch layers spend ~50 us per
    stage in dispatch alone. Its results depend only on the input and the
    codebooks, so encoding is the same however the input was chunked.

    Greedy (``beam`` 1, as training quantizes), each stage picks the entry
    maximizing r.c - |c|^2/2 (the nearest one), ties to the lowest index.
    A wider beam keeps the ``beam`` closest partial codes at each stage (the
    M-algorithm of multistage VQ search): the same number of indices, for a
    closer code; decoders cannot tell.
    """

    def __init__(self, codebooks: np.ndarray):
        self.codebooks = np.ascontiguousarray(codebooks, dtype=np.float32)  # [stages, size, dim]
        self.transposed = np.ascontiguousarray(self.codebooks.transpose(0, 2, 1))  # what the search reads
        self.half_norms = 0.5 * np.einsum("skd,skd->sk", self.codebooks, self.codebooks)

    def encode(self, z: np.ndarray, stages: int, threshold: float | None = None, beam: int = 1) -> np.ndarray:
        """``z`` [n, dim] -> indices [n, stages]; with a ``threshold``, a
        vector stops (its later indices -1) once its residual's norm is at
        most the threshold, as in :class:`ResidualVectorQuantizer`."""
        return keep_depth(*self.search(z, stages, beam, threshold), threshold)

    def search(self, z: np.ndarray, stages: int, beam: int = 1,
               threshold: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``z`` [n, dim] -> (paths [n, stages, stages], norms [n, stages]):
        for each depth d, the best indices found for d stages
        (``paths[:, d - 1, :d]``, -1 after), and the norm of the residual
        the best path leaves to stage d (inf for the first, which every
        vector takes). Greedy paths are prefixes of one another.
        :func:`keep_depth` picks each vector's path under any threshold, so
        one pass serves them all; given the threshold, a vector's search
        stops where it does (later norms 0)."""
        z = np.ascontiguousarray(z, dtype=np.float32)
        size, dim = self.codebooks.shape[1:]
        if z.ndim != 2 or z.shape[1] != dim or not 1 <= stages <= len(self.codebooks):
            raise ValueError(f"search takes [n, {dim}] vectors and 1..{len(self.codebooks)} stages")
        paths = np.empty((len(z), stages, stages), dtype=np.int64)
        norms = np.empty((len(z), stages), dtype=np.float32)
        _residual_search.search(self.codebooks, self.transposed, self.half_norms, size, dim, z, stages, beam,
                                -1.0 if threshold is None else threshold, paths, norms)
        return paths, norms

    def decode(self, indices: np.ndarray) -> np.ndarray:
        """indices [n, stages] -> [n, dim], the sum of the stages' entries (-1: none)."""
        entries = self.codebooks[np.arange(indices.shape[1]), np.maximum(indices, 0)]  # one gather: [n, stages, dim]
        return np.einsum("nsd,ns->nd", entries, (indices >= 0).astype(np.float32))


def depth_under(norms: np.ndarray, threshold: float) -> np.ndarray:
    """Stages each vector takes under ``threshold``, from the residual
    ``norms`` of a search (inf: a stage always taken): it goes on while the
    residual's norm is above the threshold."""
    return np.cumprod((norms > threshold) | np.isinf(norms), axis=-1).sum(-1)


def keep_depth(paths: np.ndarray, norms: np.ndarray, threshold: float | None) -> np.ndarray:
    """Each vector's indices [n, stages] from a search's ``paths`` and
    ``norms``: the path of its depth under ``threshold`` (all stages when
    there is none), -1 past it."""
    stages = paths.shape[1]
    depth = np.full(len(paths), stages) if threshold is None else depth_under(norms, threshold)
    return paths[np.arange(len(paths)), depth - 1]
