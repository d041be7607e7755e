"""Image folders as training data: random crops of photos held in memory."""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from latentcodec.codecs.image_models import pad, to_tensor
from latentcodec.media import image_files, read_image


class RandomCrops(Dataset):
    """``crops_per_image`` random crops (with flips) of each photo per epoch.

    With ``zoom`` > 1 a crop's side is drawn log-uniformly from ``crop`` to
    ``zoom`` times that (at most the photo's shorter side) and resized to
    ``crop``, so a tokenizer of small fixed-size images sees whole scenes as
    well as details.

    Photos are decoded once: a training set of tens of photos fits in memory,
    and decoding PNGs every step would cost more than the model on a CPU.
    """

    def __init__(self, folder, crop: int = 128, crops_per_image: int = 64, zoom: float = 1.0):
        self.images = [read_image(p) for p in image_files(folder)]
        self.images = [im for im in self.images if im.ndim == 3 and im.shape[2] == 3 and min(im.shape[:2]) >= crop]
        if not self.images:
            raise ValueError(f"no RGB image in {folder} is at least {crop}x{crop}")
        self.crop, self.crops_per_image, self.zoom = crop, crops_per_image, zoom

    def __len__(self) -> int:
        return len(self.images) * self.crops_per_image

    def __getitem__(self, index: int) -> torch.Tensor:
        image = self.images[index // self.crops_per_image]
        h, w = image.shape[:2]
        side = int(self.crop * np.exp(np.random.uniform(0, np.log(min(self.zoom, min(h, w) / self.crop)))))
        top, left = np.random.randint(0, h - side + 1), np.random.randint(0, w - side + 1)
        patch = image[top : top + side, left : left + side]
        if np.random.rand() < 0.5:
            patch = patch[:, ::-1]
        x = to_tensor(patch)
        if side == self.crop:
            return x
        return F.interpolate(x[None], size=(self.crop, self.crop), mode="bicubic", antialias=True)[0].clamp(0, 1)


class PaddedImages(Dataset):
    """Whole images, padded (replicate) to a multiple of ``alignment``."""

    def __init__(self, folder, alignment: int = 64, max_side: int = 512):
        self.files, self.alignment, self.max_side = image_files(folder), alignment, max_side

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        image = read_image(self.files[index])
        image = np.stack([image] * 3, -1) if image.ndim == 2 else image[..., :3]
        x = to_tensor(image[: self.max_side, : self.max_side])
        return pad(x[None], self.alignment)[0]


class ImageFolderData(L.LightningDataModule):
    def __init__(
        self,
        train_dir: str = "~/.cache/latentcodec/data/images/train",
        val_dir: str | None = "~/.cache/latentcodec/data/images/eval",
        crop: int = 128,
        crops_per_image: int = 64,
        batch_size: int = 8,
        num_workers: int = 0,
        zoom: float = 1.0,
    ):
        super().__init__()
        self.save_hyperparameters()

    def setup(self, stage: str | None = None):
        self.train_set = RandomCrops(self.hparams.train_dir, self.hparams.crop, self.hparams.crops_per_image, self.hparams.zoom)
        self.val_set = PaddedImages(self.hparams.val_dir) if self.hparams.val_dir else None

    def train_dataloader(self):
        return DataLoader(
            self.train_set, batch_size=self.hparams.batch_size, shuffle=True, drop_last=True,
            num_workers=self.hparams.num_workers, persistent_workers=self.hparams.num_workers > 0,
        )

    def val_dataloader(self):
        return DataLoader(self.val_set, batch_size=1) if self.val_set else []
