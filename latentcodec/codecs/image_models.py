"""Learned image compression models built from the shared parts.

Transforms are CompressAI's (GDN layers, same module names ``g_a``, ``g_s``,
``h_a``, ``h_s``), so CompressAI checkpoints of the matching architectures load
into these classes; the latents are coded with latentcodec's entropy models
and range coder. Each model codes one image into one range-coder stream, in
decoding order: hyper-latent first, then the latent (slice by slice for the
channel-wise context model).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latentcodec.compressai_parts import GDN, conv, deconv
from latentcodec.entropy import FactorizedPrior, GaussianConditional, RangeDecoder, RangeEncoder
from latentcodec.entropy.one_thread import one_thread
from latentcodec.quantizers import RoundingStandIns, UniformQuantizer


def to_tensor(image: np.ndarray) -> Tensor:
    """uint8 [H, W, 3] -> float [3, H, W] in [0, 1]."""
    return torch.from_numpy(image.copy()).permute(2, 0, 1).float() / 255  # decoded images are read-only


def pad(x: Tensor, alignment: int) -> Tensor:
    """Replicate-pads [..., H, W] on the bottom and right to multiples of ``alignment``."""
    h, w = x.shape[-2:]
    return F.pad(x, (0, -w % alignment, 0, -h % alignment), mode="replicate")


def analysis_transform(n: int, m: int) -> nn.Sequential:
    return nn.Sequential(conv(3, n), GDN(n), conv(n, n), GDN(n), conv(n, n), GDN(n), conv(n, m))


def synthesis_transform(n: int, m: int) -> nn.Sequential:
    return nn.Sequential(
        deconv(m, n), GDN(n, inverse=True), deconv(n, n), GDN(n, inverse=True), deconv(n, n), GDN(n, inverse=True), deconv(n, 3)
    )


def ste_round(y: Tensor, means: Tensor | None = None) -> Tensor:
    """What the decoder will see, with a straight-through gradient (the
    synthesis trains on rounded latents; the rate uses noise)."""
    return UniformQuantizer("ste")(y, means)


class ImageModel(nn.Module):
    """``forward`` for training; ``encode``/``decode`` for coding one image.

    Inputs are RGB in [0, 1], ``[1, 3, H, W]`` with H and W multiples of
    :attr:`alignment` (the image codec pads). ``encode`` returns the latent
    the decoder will reconstruct (what the synthesis transform receives);
    given ``y``, it codes that latent instead of ``g_a(x)`` (see
    :mod:`~latentcodec.codecs.latent_refinement`).
    ``quantizer`` codes the Gaussian-conditional latent: uniform rounding by
    default, or a :class:`~latentcodec.quantizers.TrellisQuantizer`, one
    object per stream.
    """

    alignment = 16

    def __init__(self, n: int, m: int):
        super().__init__()
        self.n, self.m = n, m
        self.g_a = analysis_transform(n, m)
        self.g_s = synthesis_transform(n, m)
        self.rounding = RoundingStandIns()

    def latent_shape(self, height: int, width: int) -> tuple[int, int, int, int]:
        return (1, self.m, height // 16, width // 16)

    def forward(self, x: Tensor) -> dict:
        return self.forward_latent(self.g_a(x))

    def forward_latent(self, y: Tensor) -> dict:
        """Training stand-ins from the analysis output on: ``x_hat`` and the
        likelihoods. Latent refinement optimizes ``y`` through it."""
        raise NotImplementedError

    def aux_loss(self) -> Tensor:
        """Quantile loss of the factorized prior (it fixes the coding range)."""
        return sum(m.loss() for m in self.modules() if isinstance(m, FactorizedPrior))


def _refuse_other_quantizers(quantizer) -> None:
    if quantizer is not None and quantizer.name != UniformQuantizer.name:
        raise ValueError(f"{quantizer.name} quantizes Gaussian-conditional latents; a factorized-prior model has none")


class FactorizedPriorModel(ImageModel):
    """Ballé et al. 2018, factorized prior (CompressAI's bmshj2018-factorized)."""

    def __init__(self, n: int = 128, m: int = 192):
        super().__init__(n, m)
        self.entropy_bottleneck = FactorizedPrior(m)

    def forward_latent(self, y: Tensor) -> dict:
        y_noisy, y_likelihoods = self.entropy_bottleneck(y)
        medians = self.entropy_bottleneck._medians(4)
        y_hat = ste_round(y, medians) if self.training else y_noisy
        return {"x_hat": self.g_s(y_hat), "likelihoods": {"y": y_likelihoods}}

    def encode(self, encoder: RangeEncoder, x: Tensor, quantizer=None, y: Tensor | None = None) -> Tensor:
        _refuse_other_quantizers(quantizer)
        return self.entropy_bottleneck.encode(encoder, self.g_a(x) if y is None else y)

    def decode(self, decoder: RangeDecoder, height: int, width: int, quantizer=None) -> Tensor:
        _refuse_other_quantizers(quantizer)
        y_hat = self.entropy_bottleneck.decode(decoder, self.latent_shape(height, width))
        return self.g_s(y_hat)


class ScaleHyperprior(ImageModel):
    """Ballé et al. 2018, scale hyperprior (CompressAI's bmshj2018-hyperprior)."""

    alignment = 64

    def __init__(self, n: int = 128, m: int = 192):
        super().__init__(n, m)
        self.h_a = nn.Sequential(
            conv(m, n, stride=1, kernel_size=3), nn.ReLU(inplace=True), conv(n, n), nn.ReLU(inplace=True), conv(n, n)
        )
        self.h_s = nn.Sequential(
            deconv(n, n), nn.ReLU(inplace=True), deconv(n, n), nn.ReLU(inplace=True),
            conv(n, m, stride=1, kernel_size=3), nn.ReLU(inplace=True),
        )
        self.entropy_bottleneck = FactorizedPrior(n)
        self.gaussian_conditional = GaussianConditional()

    def hyper_analysis(self, y: Tensor) -> Tensor:
        return self.h_a(torch.abs(y))

    def hyper_synthesis(self, z_hat: Tensor) -> tuple[Tensor, Tensor | None]:
        """(scales, means) of the latent; None means zero."""
        return self.h_s(z_hat), None

    def hyper_shape(self, height: int, width: int) -> tuple[int, int, int, int]:
        return (1, self.n, height // 64, width // 64)

    def _hyperprior(self, y: Tensor):
        z = self.hyper_analysis(y)
        z_noisy, z_likelihoods = self.entropy_bottleneck(z)
        z_hat = ste_round(z, self.entropy_bottleneck._medians(4)) if self.training else z_noisy
        return z_hat, z_likelihoods

    def latent(self, y: Tensor, z_hat: Tensor) -> tuple[Tensor, Tensor]:
        """Training: (y_hat for the synthesis, likelihoods of y)."""
        scales, means = self.hyper_synthesis(z_hat)
        y_rate, y_hat = self.rounding(y, means)
        return y_hat, self.gaussian_conditional.likelihood(y_rate, scales, means)

    def forward_latent(self, y: Tensor) -> dict:
        z_hat, z_likelihoods = self._hyperprior(y)
        y_hat, y_likelihoods = self.latent(y, z_hat)
        return {"x_hat": self.g_s(y_hat), "likelihoods": {"y": y_likelihoods, "z": z_likelihoods}}

    def encode(self, encoder: RangeEncoder, x: Tensor, quantizer=None, y: Tensor | None = None) -> Tensor:
        y = self.g_a(x) if y is None else y
        z_hat = self.entropy_bottleneck.encode(encoder, self.hyper_analysis(y))
        return self.encode_latent(encoder, y, z_hat, quantizer or UniformQuantizer())

    def decode(self, decoder: RangeDecoder, height: int, width: int, quantizer=None) -> Tensor:
        z_hat = self.entropy_bottleneck.decode(decoder, self.hyper_shape(height, width))
        return self.g_s(self.decode_latent(decoder, z_hat, quantizer or UniformQuantizer()))

    @one_thread
    def encode_latent(self, encoder: RangeEncoder, y: Tensor, z_hat: Tensor, quantizer) -> Tensor:
        scales, means = self.hyper_synthesis(z_hat)
        return quantizer.encode(encoder, self.gaussian_conditional, y, scales, means)

    @one_thread
    def decode_latent(self, decoder: RangeDecoder, z_hat: Tensor, quantizer) -> Tensor:
        scales, means = self.hyper_synthesis(z_hat)
        return quantizer.decode(decoder, self.gaussian_conditional, scales, means)


class MeanScaleHyperprior(ScaleHyperprior):
    """Minnen et al. 2018 without context (CompressAI's mbt2018-mean)."""

    def __init__(self, n: int = 128, m: int = 192):
        super().__init__(n, m)
        self.h_a = nn.Sequential(
            conv(m, n, stride=1, kernel_size=3), nn.LeakyReLU(inplace=True), conv(n, n), nn.LeakyReLU(inplace=True), conv(n, n)
        )
        self.h_s = nn.Sequential(
            deconv(n, m), nn.LeakyReLU(inplace=True), deconv(m, m * 3 // 2), nn.LeakyReLU(inplace=True),
            conv(m * 3 // 2, m * 2, stride=1, kernel_size=3),
        )

    def hyper_analysis(self, y: Tensor) -> Tensor:
        return self.h_a(y)

    def hyper_synthesis(self, z_hat: Tensor) -> tuple[Tensor, Tensor]:
        scales, means = self.h_s(z_hat).chunk(2, 1)
        return scales, means


def _slice_transform(c_in: int, c_out: int) -> nn.Sequential:
    mid = max(c_out, (c_in + c_out) // 2)
    return nn.Sequential(
        conv(c_in, mid, stride=1, kernel_size=3), nn.GELU(), conv(mid, mid, stride=1, kernel_size=3), nn.GELU(),
        conv(mid, c_out, stride=1, kernel_size=3),
    )


class ChannelwiseContext(MeanScaleHyperprior):
    """Minnen & Singh 2020 (channel-wise autoregression with latent residual
    prediction): the latent is coded in slices, each conditioned on the
    hyperprior and on the slices decoded before it."""

    def __init__(self, n: int = 128, m: int = 192, slices: int = 4):
        super().__init__(n, m)
        if m % slices:
            raise ValueError(f"m={m} is not divisible into {slices} slices")
        self.slices = slices
        size = m // slices
        self.cc_means = nn.ModuleList(_slice_transform(m + i * size, size) for i in range(slices))
        self.cc_scales = nn.ModuleList(_slice_transform(m + i * size, size) for i in range(slices))
        self.lrp = nn.ModuleList(_slice_transform(m + (i + 1) * size, size) for i in range(slices))

    def _slice_params(self, i: int, hyper_scales: Tensor, hyper_means: Tensor, decoded: list[Tensor]):
        means = self.cc_means[i](torch.cat([hyper_means, *decoded], 1))
        scales = self.cc_scales[i](torch.cat([hyper_scales, *decoded], 1))
        return scales, means

    def _refine(self, i: int, hyper_means: Tensor, decoded: list[Tensor], y_hat: Tensor) -> Tensor:
        return y_hat + 0.5 * torch.tanh(self.lrp[i](torch.cat([hyper_means, *decoded, y_hat], 1)))

    def latent(self, y: Tensor, z_hat: Tensor) -> tuple[Tensor, Tensor]:
        hyper_scales, hyper_means = self.hyper_synthesis(z_hat)
        decoded, likelihoods = [], []
        for i, y_slice in enumerate(y.chunk(self.slices, 1)):
            scales, means = self._slice_params(i, hyper_scales, hyper_means, decoded)
            y_rate, y_hat = self.rounding(y_slice, means)
            likelihoods.append(self.gaussian_conditional.likelihood(y_rate, scales, means))
            decoded.append(self._refine(i, hyper_means, decoded, y_hat))
        return torch.cat(decoded, 1), torch.cat(likelihoods, 1)

    @one_thread
    def encode_latent(self, encoder: RangeEncoder, y: Tensor, z_hat: Tensor, quantizer) -> Tensor:
        hyper_scales, hyper_means = self.hyper_synthesis(z_hat)
        decoded = []
        for i, y_slice in enumerate(y.chunk(self.slices, 1)):
            scales, means = self._slice_params(i, hyper_scales, hyper_means, decoded)
            y_hat = quantizer.encode(encoder, self.gaussian_conditional, y_slice, scales, means)
            decoded.append(self._refine(i, hyper_means, decoded, y_hat))
        return torch.cat(decoded, 1)

    @one_thread
    def decode_latent(self, decoder: RangeDecoder, z_hat: Tensor, quantizer) -> Tensor:
        hyper_scales, hyper_means = self.hyper_synthesis(z_hat)
        decoded = []
        for i in range(self.slices):
            scales, means = self._slice_params(i, hyper_scales, hyper_means, decoded)
            y_hat = quantizer.decode(decoder, self.gaussian_conditional, scales, means)
            decoded.append(self._refine(i, hyper_means, decoded, y_hat))
        return torch.cat(decoded, 1)


IMAGE_MODELS = {
    "bmshj2018-factorized": FactorizedPriorModel,
    "bmshj2018-hyperprior": ScaleHyperprior,
    "mbt2018-mean": MeanScaleHyperprior,
    "ms2020-channelwise": ChannelwiseContext,
}
