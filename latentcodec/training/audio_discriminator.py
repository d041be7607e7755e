"""Multi-scale STFT discriminator (EnCodec, arXiv 2210.13438) with the GAN losses that use it."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import weight_norm


class STFTDiscriminator(nn.Module):
    """2D convolutions over the real and imaginary parts of one STFT resolution."""

    def __init__(self, n_fft: int, channels: int = 16):
        super().__init__()
        self.n_fft = n_fft
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        c = channels
        self.layers = nn.ModuleList([
            weight_norm(nn.Conv2d(2, c, (3, 9), padding=(1, 4))),
            weight_norm(nn.Conv2d(c, c, (3, 9), stride=(1, 2), dilation=(1, 1), padding=(1, 4))),
            weight_norm(nn.Conv2d(c, c, (3, 9), stride=(1, 2), dilation=(2, 1), padding=(2, 4))),
            weight_norm(nn.Conv2d(c, c, (3, 9), stride=(1, 2), dilation=(4, 1), padding=(4, 4))),
            weight_norm(nn.Conv2d(c, c, (3, 3), padding=(1, 1))),
        ])
        self.out = weight_norm(nn.Conv2d(c, 1, (3, 3), padding=(1, 1)))

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """``x`` [batch, samples] -> (logits, feature maps); time runs along dim 2, frequency along dim 3."""
        spec = torch.stft(x, self.n_fft, self.n_fft // 4, window=self.window, return_complex=True)
        h = torch.stack([spec.real, spec.imag], 1).transpose(2, 3)
        features = []
        for layer in self.layers:
            h = F.leaky_relu(layer(h), 0.2)
            features.append(h)
        return self.out(h), features


class MultiScaleSTFTDiscriminator(nn.Module):
    def __init__(self, windows=(256, 512, 1024), channels: int = 16):
        super().__init__()
        self.discriminators = nn.ModuleList(STFTDiscriminator(w, channels) for w in windows)

    def forward(self, x: Tensor) -> list[tuple[Tensor, list[Tensor]]]:
        return [d(x) for d in self.discriminators]


def discriminator_loss(real: list, fake: list) -> Tensor:
    """Hinge loss over every scale."""
    return sum(F.relu(1 - r).mean() + F.relu(1 + f).mean() for (r, _), (f, _) in zip(real, fake)) / len(real)


def generator_losses(real: list, fake: list) -> tuple[Tensor, Tensor]:
    """(hinge adversarial loss, feature matching: L1 between the discriminator's
    feature maps of real and decoded audio, relative to the real ones' scale)."""
    adversarial = sum(F.relu(1 - f).mean() for f, _ in fake) / len(fake)
    matching, count = 0.0, 0
    for (_, real_maps), (_, fake_maps) in zip(real, fake):
        for r, f in zip(real_maps, fake_maps):
            matching = matching + F.l1_loss(f, r.detach()) / r.detach().abs().mean().clamp_min(1e-5)
            count += 1
    return adversarial, matching / count
