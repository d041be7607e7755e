"""Video folders as training data: short clips of consecutive frames, randomly cropped.

A folder holds what ``latentcodec data fetch video`` writes: grayscale
sequences as uint8 [T, H, W] ``.npy`` (memory-mapped, so only the frames a
clip uses are read) and video files (decoded once and held in memory as
uint8; the development clips are a few hundred small frames). Grayscale
frames become RGB by repeating the channel.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from latentcodec.codecs.image_models import pad
from latentcodec.media import VIDEO_SUFFIXES, VideoFile


def read_sequences(folder) -> list[np.ndarray]:
    """Every sequence in ``folder``: [T, H, W] (grayscale) or [T, H, W, 3] uint8 arrays."""
    sequences = []
    for path in sorted(Path(folder).expanduser().iterdir()):
        if path.suffix == ".npy":
            sequences.append(np.load(path, mmap_mode="r"))
        elif path.suffix.lower() in VIDEO_SUFFIXES:
            sequences.append(VideoFile(path).read().pixels)
    if not sequences:
        raise FileNotFoundError(f"no .npy sequences or videos in {folder} (`latentcodec data fetch video`)")
    return sequences


def to_clip(frames: np.ndarray) -> torch.Tensor:
    """uint8 [T, H, W] or [T, H, W, 3] -> float [T, 3, H, W] in [0, 1]."""
    x = torch.from_numpy(np.array(frames, dtype=np.uint8)).float() / 255  # a copy: sequences are read-only maps
    return x[:, None].expand(-1, 3, -1, -1).contiguous() if x.ndim == 3 else x.permute(0, 3, 1, 2).contiguous()


class RandomClips(Dataset):
    """``clips_per_epoch`` clips of ``frames`` consecutive frames, ``crop``
    pixels square at a random place (the same for every frame of a clip,
    so the motion is the source's), flipped left-right half the time; a
    sequence is drawn in proportion to the clips it holds."""

    def __init__(self, sequences: list[np.ndarray], frames: int = 4, crop: int = 256, clips_per_epoch: int = 4000):
        self.sequences = [s for s in sequences if len(s) >= frames and min(s.shape[1:3]) >= crop]
        if not self.sequences:
            raise ValueError(f"no sequence has {frames} frames of at least {crop}x{crop}")
        starts = np.array([len(s) - frames + 1 for s in self.sequences], dtype=np.float64)
        self.weights = starts / starts.sum()
        self.frames, self.crop, self.clips_per_epoch = frames, crop, clips_per_epoch

    def __len__(self) -> int:
        return self.clips_per_epoch

    def __getitem__(self, index: int) -> torch.Tensor:
        rng = np.random.default_rng()
        s = self.sequences[rng.choice(len(self.sequences), p=self.weights)]
        t = rng.integers(0, len(s) - self.frames + 1)
        top, left = rng.integers(0, s.shape[1] - self.crop + 1), rng.integers(0, s.shape[2] - self.crop + 1)
        clip = s[t : t + self.frames, top : top + self.crop, left : left + self.crop]
        return to_clip(clip[:, :, ::-1] if rng.random() < 0.5 else clip)


class FixedClips(Dataset):
    """The first ``frames`` frames of every sequence, whole (at most
    ``max_side`` pixels a side), padded to a multiple of ``alignment``: a
    stable validation set."""

    def __init__(self, sequences: list[np.ndarray], frames: int = 4, alignment: int = 64, max_side: int = 512):
        self.clips = [pad(to_clip(s[:frames, :max_side, :max_side]), alignment) for s in sequences if len(s) >= frames]
        if not self.clips:
            raise ValueError(f"no validation sequence has {frames} frames")

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.clips[index]


class VideoClipData(L.LightningDataModule):
    def __init__(
        self,
        train_dir: str = "~/.cache/latentcodec/data/video/train",
        val_dir: str | None = "~/.cache/latentcodec/data/video/eval",
        frames: int = 4,
        crop: int = 256,
        clips_per_epoch: int = 4000,
        val_frames: int = 4,
        batch_size: int = 4,
        num_workers: int = 0,
    ):
        super().__init__()
        if frames < 2:
            raise ValueError(f"a clip needs an intra frame and at least one P-frame, got frames={frames}")
        if crop % 64:
            raise ValueError(f"crop must be a multiple of 64 (the model's alignment), got {crop}")
        self.save_hyperparameters()

    def setup(self, stage: str | None = None):
        hp = self.hparams
        self.train_set = RandomClips(read_sequences(hp.train_dir), hp.frames, hp.crop, hp.clips_per_epoch)
        self.val_set = FixedClips(read_sequences(hp.val_dir), hp.val_frames) if hp.val_dir else None

    def train_dataloader(self):
        return DataLoader(self.train_set, batch_size=self.hparams.batch_size, drop_last=True,
                          num_workers=self.hparams.num_workers, persistent_workers=self.hparams.num_workers > 0)

    def val_dataloader(self):
        return DataLoader(self.val_set, batch_size=1) if self.val_set else []
