"""Spectral reconstruction losses for waveform codecs (torchaudio transforms); training
minimizes them and evaluation reports the mel one, so they live outside both."""

from __future__ import annotations

import torch
import torchaudio
from torch import Tensor, nn
from torch.nn import functional as F


class MultiScaleMelLoss(nn.Module):
    """L1 between log mel spectrograms at several window sizes (DAC, arXiv 2306.06546):
    short windows judge timing, long ones pitch and formants."""

    def __init__(self, sample_rate: int = 16000, windows=(256, 512, 1024, 2048), mels=(20, 40, 80, 160)):
        super().__init__()
        self.transforms = nn.ModuleList(
            torchaudio.transforms.MelSpectrogram(sample_rate, n_fft=w, hop_length=w // 4, n_mels=m, power=1.0)
            for w, m in zip(windows, mels)
        )

    def forward(self, x_hat: Tensor, x: Tensor) -> Tensor:
        loss = x.new_zeros(())
        for mel in self.transforms:
            loss = loss + F.l1_loss(torch.log(mel(x_hat).clamp_min(1e-5)), torch.log(mel(x).clamp_min(1e-5)))
        return loss / len(self.transforms)


class MultiResolutionSTFTLoss(nn.Module):
    """Spectral convergence plus log-magnitude L1 at several resolutions (Parallel WaveGAN, arXiv 1910.11480)."""

    def __init__(self, windows=(128, 512, 2048)):
        super().__init__()
        self.transforms = nn.ModuleList(
            torchaudio.transforms.Spectrogram(n_fft=w, hop_length=w // 4, power=1.0) for w in windows
        )

    def forward(self, x_hat: Tensor, x: Tensor) -> Tensor:
        loss = x.new_zeros(())
        for stft in self.transforms:
            s_hat, s = stft(x_hat), stft(x)
            convergence = torch.linalg.norm(s - s_hat) / torch.linalg.norm(s).clamp_min(1e-5)
            loss = loss + convergence + F.l1_loss(torch.log(s_hat.clamp_min(1e-5)), torch.log(s.clamp_min(1e-5)))
        return loss / len(self.transforms)
