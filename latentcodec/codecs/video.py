"""The P-frame model of the video codec: scale-space flow (Agustsson et al.,
CVPR 2020; CompressAI's ``ssf2020``), small enough to train on a CPU.

A P-frame is coded against the previous decoded frame ``ref``:

- motion: an autoencoder on concat(x, ref) whose decoder gives a flow (2
  channels, in pixels) and a scale field (1 channel, a level of the blur
  volume: 0 is the sharp reference, higher levels are blurrier, for what
  motion cannot predict);
- prediction: the reference's Gaussian scale-space volume, sampled
  trilinearly at (pixel + flow, scale) with ``grid_sample``;
- residual: an autoencoder on x - prediction whose decoder also sees the
  motion latent; the frame is prediction + decoded residual.

Both latents have a mean-scale hyperprior (the layout of the image models'
``mbt2018-mean``) coded with the shared :class:`FactorizedPrior` and
:class:`GaussianConditional` through a latent quantizer, exactly as the image
models code theirs. Differences from CompressAI's reference: the flow is in
pixels, not in [-1, 1] coordinates, so a model trained on crops works at
any frame size; the scale field is a level index, so an untrained model
starts by copying the reference; hyperpriors downsample 4x (64x in all), so
frames pad to multiples of 64 like the image codecs. Intra frames are not
this model's: the video codec codes them with an installed image codec.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latentcodec.codecs.image_models import ste_round
from latentcodec.compressai_parts import conv, deconv, gaussian_blur, gaussian_kernel2d
from latentcodec.entropy import FactorizedPrior, GaussianConditional, RangeDecoder, RangeEncoder
from latentcodec.entropy.one_thread import one_thread
from latentcodec.quantizers import RoundingStandIns, UniformQuantizer


@dataclass(frozen=True)
class VideoModelConfig:
    n: int = 64  # channels inside the transforms and of the hyper-latents
    m: int = 96  # latent channels (motion and residual each)
    levels: int = 5  # blurred levels of the scale-space volume, after the sharp one
    sigma0: float = 1.5  # blur of the first level

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "VideoModelConfig":
        return cls(**d)


def _analysis(c_in: int, n: int, m: int) -> nn.Sequential:
    """SSF's encoder: four stride-2 5x5 convolutions with ReLU."""
    return nn.Sequential(conv(c_in, n), nn.ReLU(inplace=True), conv(n, n), nn.ReLU(inplace=True),
                         conv(n, n), nn.ReLU(inplace=True), conv(n, m))


def _synthesis(c_in: int, n: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(deconv(c_in, n), nn.ReLU(inplace=True), deconv(n, n), nn.ReLU(inplace=True),
                         deconv(n, n), nn.ReLU(inplace=True), deconv(n, c_out))


class LatentHyperprior(nn.Module):
    """A mean-scale hyperprior over a latent made elsewhere: ``forward`` for
    training, ``encode``/``decode`` through a latent quantizer (hyper-latent
    first, then the latent, into one range-coder stream)."""

    def __init__(self, n: int, m: int):
        super().__init__()
        self.n = n
        self.h_a = nn.Sequential(
            conv(m, n, stride=1, kernel_size=3), nn.LeakyReLU(inplace=True), conv(n, n), nn.LeakyReLU(inplace=True), conv(n, n)
        )
        self.h_s = nn.Sequential(
            deconv(n, m), nn.LeakyReLU(inplace=True), deconv(m, m * 3 // 2), nn.LeakyReLU(inplace=True),
            conv(m * 3 // 2, m * 2, stride=1, kernel_size=3),
        )
        self.entropy_bottleneck = FactorizedPrior(n)
        self.gaussian_conditional = GaussianConditional()
        self.rounding = RoundingStandIns()

    def forward(self, y: Tensor) -> tuple[Tensor, dict]:
        """(what the synthesis receives, likelihoods of y and z)."""
        z = self.h_a(y)
        z_noisy, z_likelihoods = self.entropy_bottleneck(z)
        z_hat = ste_round(z, self.entropy_bottleneck._medians(4)) if self.training else z_noisy
        scales, means = self.h_s(z_hat).chunk(2, 1)
        y_rate, y_hat = self.rounding(y, means)
        y_likelihoods = self.gaussian_conditional.likelihood(y_rate, scales, means)
        return y_hat, {"y": y_likelihoods, "z": z_likelihoods}

    @one_thread
    def encode(self, encoder: RangeEncoder, y: Tensor, quantizer) -> Tensor:
        z_hat = self.entropy_bottleneck.encode(encoder, self.h_a(y))
        scales, means = self.h_s(z_hat).chunk(2, 1)
        return quantizer.encode(encoder, self.gaussian_conditional, y, scales, means)

    @one_thread
    def decode(self, decoder: RangeDecoder, height: int, width: int, quantizer) -> Tensor:
        """The latent of a frame of ``height`` x ``width`` pixels."""
        z_hat = self.entropy_bottleneck.decode(decoder, (1, self.n, height // 64, width // 64))
        scales, means = self.h_s(z_hat).chunk(2, 1)
        return quantizer.decode(decoder, self.gaussian_conditional, scales, means)


def gaussian_volume(x: Tensor, sigma: float, levels: int) -> Tensor:
    """[N, C, levels + 1, H, W]: ``x``, ``x`` blurred, then blurred at each of
    ``levels - 1`` halvings and upsampled back; CompressAI's
    ``ScaleSpaceFlow.gaussian_volume``, whose module imports all its models."""
    kernel = gaussian_kernel2d(2 * math.ceil(3 * sigma) + 1, sigma, device=x.device, dtype=x.dtype)
    volume = [x]
    x = gaussian_blur(x, kernel=kernel)
    volume.append(x)
    for level in range(1, levels):
        x = gaussian_blur(F.avg_pool2d(x, kernel_size=2, stride=2), kernel=kernel)
        upsampled = x
        for _ in range(level):
            upsampled = F.interpolate(upsampled, scale_factor=2, mode="bilinear", align_corners=False)
        volume.append(upsampled)
    return torch.stack(volume, 2)


def scale_space_warp(volume: Tensor, flow: Tensor, scale: Tensor) -> Tensor:
    """Samples ``volume`` [N, C, D, H, W] at (x + flow_x, y + flow_y, scale),
    flow in pixels and scale in levels, trilinearly; outside it, the border."""
    depth, h, w = volume.shape[2:]
    ys, xs = torch.meshgrid(torch.arange(h, device=flow.device, dtype=flow.dtype),
                            torch.arange(w, device=flow.device, dtype=flow.dtype), indexing="ij")
    # grid_sample's [-1, 1] coordinates with align_corners=False: pixel centres at (2i + 1) / size - 1
    gx = (2 * (xs + flow[:, 0]) + 1) / w - 1
    gy = (2 * (ys + flow[:, 1]) + 1) / h - 1
    gz = (2 * scale[:, 0] + 1) / depth - 1
    grid = torch.stack([gx, gy, gz], -1)[:, None]  # [N, 1, H, W, 3]
    return F.grid_sample(volume, grid, mode="bilinear", padding_mode="border", align_corners=False)[:, :, 0]


class ScaleSpaceFlow(nn.Module):
    """``forward(x, ref)`` for training; ``encode``/``decode`` code one P-frame.

    Frames are RGB in [0, 1], ``[N, 3, H, W]`` with H and W multiples of
    :attr:`alignment`; coding takes one frame (N = 1).
    """

    alignment = 64

    def __init__(self, config: VideoModelConfig = VideoModelConfig()):
        super().__init__()
        self.config = config
        n, m = config.n, config.m
        self.motion_encoder = _analysis(6, n, m)
        self.motion_hyperprior = LatentHyperprior(n, m)
        self.motion_decoder = _synthesis(m, n, 3)
        self.residual_encoder = _analysis(3, n, m)
        self.residual_hyperprior = LatentHyperprior(n, m)
        self.residual_decoder = _synthesis(2 * m, n, 3)

    def predict(self, ref: Tensor, motion_hat: Tensor) -> Tensor:
        """The reference warped by the decoded motion latent."""
        motion = self.motion_decoder(motion_hat)
        volume = gaussian_volume(ref, self.config.sigma0, self.config.levels)
        return scale_space_warp(volume, motion[:, :2], motion[:, 2:])

    def forward(self, x: Tensor, ref: Tensor) -> dict:
        motion_hat, motion_likelihoods = self.motion_hyperprior(self.motion_encoder(torch.cat([x, ref], 1)))
        prediction = self.predict(ref, motion_hat)
        residual_hat, residual_likelihoods = self.residual_hyperprior(self.residual_encoder(x - prediction))
        x_hat = prediction + self.residual_decoder(torch.cat([residual_hat, motion_hat], 1))
        likelihoods = {f"motion_{k}": v for k, v in motion_likelihoods.items()}
        likelihoods |= {f"residual_{k}": v for k, v in residual_likelihoods.items()}
        return {"x_hat": x_hat, "prediction": prediction, "likelihoods": likelihoods}

    def encode(self, encoder: RangeEncoder, x: Tensor, ref: Tensor, quantizer=None) -> Tensor:
        """Codes ``x`` against ``ref``; returns the frame the decoder will reconstruct (unclamped)."""
        quantizer = quantizer or UniformQuantizer()
        motion_hat = self.motion_hyperprior.encode(encoder, self.motion_encoder(torch.cat([x, ref], 1)), quantizer)
        prediction = self.predict(ref, motion_hat)
        residual_hat = self.residual_hyperprior.encode(encoder, self.residual_encoder(x - prediction), quantizer)
        return prediction + self.residual_decoder(torch.cat([residual_hat, motion_hat], 1))

    def decode(self, decoder: RangeDecoder, ref: Tensor, quantizer=None) -> Tensor:
        quantizer = quantizer or UniformQuantizer()
        h, w = ref.shape[-2:]
        motion_hat = self.motion_hyperprior.decode(decoder, h, w, quantizer)
        residual_hat = self.residual_hyperprior.decode(decoder, h, w, quantizer)
        return self.predict(ref, motion_hat) + self.residual_decoder(torch.cat([residual_hat, motion_hat], 1))

    def aux_loss(self) -> Tensor:
        """Quantile loss of the factorized priors (it fixes their coding range)."""
        return sum(m.loss() for m in self.modules() if isinstance(m, FactorizedPrior))
