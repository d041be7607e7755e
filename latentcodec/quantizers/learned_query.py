"""1D learned-query tokens (TiTok, arXiv 2406.07550): a sequence of any
length (image patches, audio frames) becomes ``n_tokens`` discrete tokens.

``n_tokens`` learnable queries are appended to the input sequence and a
transformer runs over both; only the queries' outputs are kept, so each token
may describe any part of the input rather than one place in it. They are
projected to a small ``codebook_dim``, L2-normalized and looked up in one
codebook by cosine similarity (or, with ``levels``, quantized by FSQ). The
decoder appends one learned mask token per input position to the quantized
tokens and reads the sequence back from the mask tokens' outputs.

Attention starts out nearly uniform, so every query first sees the mean of
the input and every mask token the mean of the tokens: on a CPU budget,
training did not get past reconstructing an image's mean colour. A learned
linear map along the sequence (inputs to queries, tokens to mask tokens)
gives each query and mask token its own mixture from the first step, and
attention refines it. In short CPU runs on 64x64 crops, the cosine VQ stayed
below the mean colour whatever its settings (its codebook either reshuffled
every step or collapsed), while FSQ with the bridge learned past it.

The transformer layers are PyTorch's; the codebook (k-means init, EMA
updates, dead-code replacement, commitment loss) is vector-quantize-pytorch's.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from vector_quantize_pytorch import VectorQuantize

from latentcodec.quantizers.fsq import FiniteScalarQuantizer


def transformer(dim: int, depth: int, heads: int) -> nn.TransformerEncoder:
    """Pre-norm ViT blocks (GELU MLP of 4x the width), as TiTok's."""
    layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, depth, norm=nn.LayerNorm(dim), enable_nested_tensor=False)


class LearnedQueryTokens(nn.Module):
    """``[B, n_inputs, dim]`` <-> ``[B, n_tokens]`` indices into ``codebook_size`` entries
    (of the VQ codebook, or the product of FSQ ``levels`` when given).

    ``encode`` gives the continuous tokens before quantization (what
    test-time optimization adjusts), ``quantize`` their codes and indices,
    ``decode`` the sequence from codes; ``forward`` chains the three for
    training and returns the codebook's auxiliary loss with them: the VQ
    commitment (plus its diversity loss), or for FSQ ``diversity_weight``
    times the batch's distance from uniform use of the levels.
    """

    def __init__(self, dim: int, n_inputs: int, n_tokens: int = 32, depth: int = 4, heads: int = 4,
                 codebook_size: int = 1024, codebook_dim: int = 12, commitment_weight: float = 0.25,
                 dead_code_threshold: float = 2.0, diversity_weight: float = 0.0, levels: Sequence[int] | None = None):
        super().__init__()
        self.n_inputs, self.n_tokens = n_inputs, n_tokens
        scale = dim**-0.5
        self.queries = nn.Parameter(torch.randn(n_tokens, dim) * scale)
        self.encoder = transformer(dim, depth, heads)
        self.query_mix, self.mask_mix = nn.Linear(n_inputs, n_tokens), nn.Linear(n_tokens, n_inputs)
        self.diversity_weight = diversity_weight
        if levels:
            self.codebook = FiniteScalarQuantizer(levels)
            codebook_dim = self.codebook.dim
        else:
            self.codebook = VectorQuantize(codebook_dim, codebook_size, use_cosine_sim=True, kmeans_init=True,
                                           commitment_weight=commitment_weight, threshold_ema_dead_code=dead_code_threshold,
                                           codebook_diversity_loss_weight=diversity_weight)
        self.to_code = nn.Linear(dim, codebook_dim)
        self.from_code = nn.Linear(codebook_dim, dim)
        self.token_positions = nn.Parameter(torch.randn(n_tokens, dim) * scale)
        self.mask_token = nn.Parameter(torch.randn(dim) * scale)
        self.mask_positions = nn.Parameter(torch.randn(n_inputs, dim) * scale)
        self.decoder = transformer(dim, depth, heads)

    @property
    def codebook_size(self) -> int:
        return self.codebook.codebook_size

    def encode(self, x: Tensor) -> Tensor:
        """``[B, n_inputs, dim]`` (positions already added) -> continuous tokens ``[B, n_tokens, codebook_dim]``."""
        queries = self.queries + self.query_mix(x.transpose(1, 2)).transpose(1, 2)
        return self.to_code(self.encoder(torch.cat([x, queries], 1))[:, -self.n_tokens:])

    def quantize(self, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(codes with straight-through gradients, indices ``[B, n_tokens]``, auxiliary loss).

        vector-quantize-pytorch passes gradients through only in training
        mode, where it also updates the codebook; in eval mode the gradient is
        passed here, so test-time optimization can move tokens without
        touching the codebook.
        """
        if isinstance(self.codebook, FiniteScalarQuantizer):  # rounds with straight-through gradients in any mode
            usage = self.codebook.usage_loss(z) if self.training and self.diversity_weight else z.new_zeros(())
            return (*self.codebook(z), self.diversity_weight * usage)
        codes, indices, loss = self.codebook(z)
        if not self.training and z.requires_grad:
            unit = F.normalize(z, dim=-1)
            codes = unit + (codes - unit).detach()
        return codes, indices, loss

    def codes(self, indices: Tensor) -> Tensor:
        """The code vectors of ``indices`` ``[B, n_tokens]``."""
        if isinstance(self.codebook, FiniteScalarQuantizer):
            return self.codebook.indices_to_codes(indices)
        return self.codebook.get_output_from_indices(indices)

    def decode(self, codes: Tensor) -> Tensor:
        """Codes ``[B, n_tokens, codebook_dim]`` -> the sequence ``[B, n_inputs, dim]``."""
        content = self.from_code(codes)
        masks = self.mask_token + self.mask_positions + self.mask_mix(content.transpose(1, 2)).transpose(1, 2)
        tokens = content + self.token_positions
        return self.decoder(torch.cat([tokens, masks], 1))[:, self.n_tokens:]

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``x`` -> (decoded sequence, indices, auxiliary loss)."""
        codes, indices, loss = self.quantize(self.encode(x))
        return self.decode(codes), indices, loss
