"""Encoder-side latent refinement: gradient steps on one image's latent before
it is coded (Campos et al. 2019, "Content adaptive optimization for neural
image compression"; Yang et al. 2020, "Improving inference for neural image
compression").

The analysis transform is an amortized guess, shared by all images, at the
latent that minimizes rate + lambda * distortion; Adam on that very objective,
for this image alone, closes part of the gap. The objective is the model's
training one (``forward_latent``), with rounding of the Gaussian-conditional
latent relaxed by stochastic Gumbel annealing (SGA, Yang et al.): rate and
synthesis see the same soft-rounded latent, which hardens as the temperature
falls. Only the encoder changes: streams decode as before, with no flag.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latentcodec.codecs.image_models import ImageModel


def rd_loss(model: ImageModel, y: Tensor, x: Tensor, lmbda: float, height: int, width: int) -> Tensor:
    """bits per pixel + lmbda * 255^2 * MSE over the image's own pixels (not the padding)."""
    out = model.forward_latent(y)
    bits = sum(-torch.log2(likelihoods).sum() for likelihoods in out["likelihoods"].values())
    mse = F.mse_loss(out["x_hat"][..., :height, :width], x[..., :height, :width])
    return bits / (height * width) + lmbda * 255**2 * mse


class AnnealedRounding(nn.Module):
    """SGA: ``y - means`` goes to its floor or ceiling with Gumbel-softmax
    probabilities that favour the nearer one, sharper as ``temperature`` falls.
    Used as a model's :class:`~latentcodec.quantizers.RoundingStandIns`."""

    temperature = 0.5

    def forward(self, y: Tensor, means: Tensor | None = None) -> tuple[Tensor, Tensor]:
        centered = y - means if means is not None else y
        floor = torch.floor(centered).detach()
        eps = 1e-5
        distance = torch.stack([centered - floor, floor + 1 - centered], -1).clamp(eps, 1 - eps)
        ceil_weight = F.gumbel_softmax(-torch.atanh(distance) / self.temperature, tau=self.temperature)[..., 1]
        soft = floor + ceil_weight + (means if means is not None else 0)
        return soft, soft


@contextmanager
def _latent_only(model: ImageModel, training: bool, rounding: nn.Module | None = None):
    """The model in training or eval mode with its parameters frozen and,
    given ``rounding``, that in place of its rounding stand-ins; restored after."""
    was_training, flags = model.training, [p.requires_grad for p in model.parameters()]
    stand_ins = model.rounding
    model.train(training)
    for p in model.parameters():
        p.requires_grad_(False)
    if rounding is not None:
        model.rounding = rounding
    try:
        yield
    finally:
        model.train(was_training)
        for p, flag in zip(model.parameters(), flags):
            p.requires_grad_(flag)
        model.rounding = stand_ins


def refine_latent(model: ImageModel, x: Tensor, lmbda: float, steps: int, lr: float = 0.005,
                  height: int | None = None, width: int | None = None, seed: int = 0) -> Tensor:
    """``steps`` of Adam on ``g_a(x)`` while the rounding temperature falls
    linearly from 0.5 to 0.05.

    ``x`` is the padded image, ``height`` x ``width`` its real part. Returns
    the refined latent, or the analysis output itself when refinement did not
    lower the loss with real rounding (measured in eval mode), so it never
    makes an image worse by the model's own measure. The training noise is
    seeded: the same image and settings give the same stream.
    """
    height, width = height or x.shape[-2], width or x.shape[-1]
    with torch.no_grad():
        start = model.g_a(x)
    y = start.clone().requires_grad_(True)
    optimizer, rounding = torch.optim.Adam([y], lr=lr), AnnealedRounding()
    with torch.enable_grad(), _latent_only(model, True, rounding), torch.random.fork_rng():
        torch.manual_seed(seed)
        for step in range(steps):
            rounding.temperature = max(0.5 * (1 - step / steps), 0.05)
            optimizer.zero_grad(set_to_none=True)
            rd_loss(model, y, x, lmbda, height, width).backward()
            optimizer.step()
    with torch.no_grad(), _latent_only(model, training=False):
        refined = y.detach()
        better = rd_loss(model, refined, x, lmbda, height, width) < rd_loss(model, start, x, lmbda, height, width)
    return refined if better else start
