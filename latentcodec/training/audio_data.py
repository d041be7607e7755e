"""Speech folders as training data: random clips of recordings held in memory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import soundfile as sf
import torch
from torch.utils.data import DataLoader, Dataset


def read_folder(folder, sample_rate: int) -> list[np.ndarray]:
    """Every ``.wav`` in ``folder`` as int16 (5 hours of 16 kHz speech are 600 MB)."""
    recordings = []
    for path in sorted(Path(folder).expanduser().glob("*.wav")):
        pcm, rate = sf.read(path, dtype="int16", always_2d=True)
        if rate != sample_rate:
            raise ValueError(f"{path} is {rate} Hz, training wants {sample_rate} Hz (`latentcodec data fetch speech`)")
        recordings.append(pcm.mean(1).astype(np.int16) if pcm.shape[1] > 1 else pcm[:, 0])
    if not recordings:
        raise FileNotFoundError(f"no .wav files in {folder}")
    return recordings


@dataclass(frozen=True)
class Augmentation:
    """Recording conditions the training prompts lack, each drawn per clip:
    a room (``reverb``: a synthetic impulse response, exponentially decaying
    noise of RT60 0.15 to 0.8 s after the direct sound), background noise
    (``noise``: white to brown, 5 to 30 dB SNR), and a level between
    ``-gain_db`` and 0 dB, or (``loud``) 0 to 12 dB above full scale, clipped.
    The codec must code what it is given, so the augmented clip is both its
    input and its target."""

    reverb: float = 0.0  # probability of each
    noise: float = 0.0
    loud: float = 0.0
    gain_db: float = 12.0

    def __call__(self, clip: np.ndarray, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
        if rng.random() < self.reverb:
            rt60 = rng.uniform(0.15, 0.8)
            t = np.arange(round(rt60 * sample_rate)) / sample_rate
            response = rng.standard_normal(len(t)) * 10 ** (-3 * t / rt60) * 10 ** (-rng.uniform(0, 12) / 20)
            response[0] = 1.0
            wet = np.convolve(clip, response / np.sqrt(np.sum(response**2)))[: len(clip)]
            clip = wet * (np.abs(clip).max() / max(np.abs(wet).max(), 1e-6))
        if rng.random() < self.noise:
            tilt = rng.uniform(0, 2)  # spectral slope: 0 white, 1 pink, 2 brown
            spectrum = np.fft.rfft(rng.standard_normal(len(clip)))
            spectrum /= np.maximum(np.arange(len(spectrum)), 1) ** (tilt / 2)
            noise = np.fft.irfft(spectrum, len(clip))
            snr = rng.uniform(5, 30)
            clip = clip + noise * np.sqrt(np.mean(clip**2) / max(np.mean(noise**2), 1e-12) / 10 ** (snr / 10))
        peak = max(np.abs(clip).max(), 1e-6)
        if rng.random() < self.loud:
            return np.clip(clip / peak * 10 ** (rng.uniform(0, 12) / 20), -1, 1).astype(np.float32)
        return (clip * min(1.0, 1 / peak) * 10 ** (-rng.uniform(0, self.gain_db) / 20)).astype(np.float32)


class RandomClips(Dataset):
    """``clips_per_epoch`` clips of ``clip`` samples, each from a recording
    drawn in proportion to its length, through ``augment`` (by default only
    a random level between -12 and 0 dB: speakers and microphones differ).

    Clips that are nearly silent are redrawn a few times: the sources are
    prompts with long pauses, and silence teaches little.
    """

    def __init__(self, recordings: list[np.ndarray], clip: int, clips_per_epoch: int,
                 augment: Augmentation = Augmentation(), sample_rate: int = 16000):
        self.recordings = [r for r in recordings if len(r) >= clip] or [np.pad(r, (0, clip - len(r))) for r in recordings]
        lengths = np.array([len(r) - clip + 1 for r in self.recordings], dtype=np.float64)
        self.weights = lengths / lengths.sum()
        self.clip, self.clips_per_epoch, self.augment, self.sample_rate = clip, clips_per_epoch, augment, sample_rate

    def __len__(self) -> int:
        return self.clips_per_epoch

    def __getitem__(self, index: int) -> torch.Tensor:
        rng = np.random.default_rng()
        for _ in range(4):
            r = self.recordings[rng.choice(len(self.recordings), p=self.weights)]
            start = rng.integers(0, len(r) - self.clip + 1)
            clip = r[start : start + self.clip].astype(np.float64) / 32768
            if np.abs(clip).max() > 0.01:
                break
        return torch.from_numpy(self.augment(clip, rng, self.sample_rate))


class FixedClips(Dataset):
    """The first ``clip`` samples of every ``step``-th recording that long: a
    stable validation set (no zero padding, whose digital silence a lossy
    codec need not reproduce and log-mel distances overweight)."""

    def __init__(self, recordings: list[np.ndarray], clip: int, step: int = 1):
        long_enough = [r for r in recordings if len(r) >= clip]
        if not long_enough:
            raise ValueError(f"no validation recording is {clip} samples long")
        self.clips = [r[:clip].astype(np.float32) / 32768 for r in long_enough[::step]]

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.from_numpy(self.clips[index])


class SpeechData(L.LightningDataModule):
    def __init__(
        self,
        train_dir: str = "~/.cache/latentcodec/data/speech/train",
        val_dir: str = "~/.cache/latentcodec/data/speech/eval",
        sample_rate: int = 16000,
        frame_samples: int = 320,
        clip_seconds: float = 1.0,
        clips_per_epoch: int = 16000,
        val_clips_every: int = 10,
        batch_size: int = 16,
        num_workers: int = 0,
        reverb: float = 0.0,  # per clip, the probability of a room, of background noise, of a clipped loud level
        noise: float = 0.0,
        loud: float = 0.0,
        gain_db: float = 12.0,
    ):
        super().__init__()
        self.save_hyperparameters()

    def setup(self, stage=None):
        hp = self.hparams
        clip = round(hp.clip_seconds * hp.sample_rate / hp.frame_samples) * hp.frame_samples  # whole frames
        augment = Augmentation(hp.reverb, hp.noise, hp.loud, hp.gain_db)
        self.train = RandomClips(read_folder(hp.train_dir, hp.sample_rate), clip, hp.clips_per_epoch, augment, hp.sample_rate)
        self.val = FixedClips(read_folder(hp.val_dir, hp.sample_rate), 2 * clip, hp.val_clips_every)

    def train_dataloader(self):
        return DataLoader(self.train, self.hparams.batch_size, num_workers=self.hparams.num_workers,
                          persistent_workers=self.hparams.num_workers > 0)

    def val_dataloader(self):
        return DataLoader(self.val, 8)
