"""Finetuning a codec's synthesis on the latents it really receives.

After end-to-end training with noise or straight-through rounding, the
decoder has never seen the latents the encoder actually sends: rounding
errors are not uniform, and a trellis quantizer's even less so. Following
Fraunhofer HHI's *Optimizing Learned Image Compression on Scalar and
Entropy-Constraint Quantization* (arXiv 2506.08662), everything that makes
the indices stays frozen (analysis, hyperprior, entropy model, quantizer),
so the rate does not change, and only the synthesis is retrained on the
decoder's own latents. Those are computed once, through the real coding path,
and cached: an epoch costs only the synthesis.
"""

from __future__ import annotations

import copy

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset
from tqdm import tqdm

from latentcodec.codecs.image_models import to_tensor
from latentcodec.entropy import RangeEncoder
from latentcodec.media import image_files, read_image


class QuantizedLatents(L.LightningDataModule):
    """Random crops of the training photos paired with their quantized latents
    (``crops_per_image`` per photo, drawn once with ``seed``)."""

    def __init__(self, codec, quantizer: str, train_dir: str = "~/.cache/latentcodec/data/images/train",
                 crop: int = 256, crops_per_image: int = 16, batch_size: int = 8, seed: int = 0):
        super().__init__()
        self.codec, self.quantizer = codec, quantizer
        self.train_dir, self.crop, self.crops_per_image = train_dir, crop, crops_per_image
        self.batch_size, self.seed = batch_size, seed
        self.data = None

    @torch.no_grad()
    def setup(self, stage: str | None = None):
        if self.data is not None:
            return
        rng = np.random.default_rng(self.seed)
        images = [im for im in map(read_image, image_files(self.train_dir)) if im.ndim == 3 and min(im.shape[:2]) >= self.crop]
        crops, latents = [], []
        for image in tqdm(images, desc=f"quantizing latents ({self.quantizer})", unit="photo"):
            h, w = image.shape[:2]
            for _ in range(self.crops_per_image):
                top, left = rng.integers(0, h - self.crop + 1), rng.integers(0, w - self.crop + 1)
                patch = image[top : top + self.crop, left : left + self.crop, :3]
                patch = patch[:, ::-1] if rng.random() < 0.5 else patch
                x = to_tensor(patch)[None]
                latents.append(self.codec.model.encode(RangeEncoder(), x, self.codec.new_quantizer(self.quantizer))[0])
                crops.append(torch.from_numpy(np.ascontiguousarray(patch)).permute(2, 0, 1))
        self.data = TensorDataset(torch.stack(crops), torch.stack(latents))

    def train_dataloader(self):
        return DataLoader(self.data, batch_size=self.batch_size, shuffle=True, drop_last=True)


class SynthesisFinetuning(L.LightningModule):
    """Retrains a copy of the codec's synthesis transform on cached latents: MSE only, as the rate is fixed."""

    def __init__(self, codec, lr: float = 1e-4, steps: int = 1000):
        super().__init__()
        self.g_s = copy.deepcopy(codec.model.g_s).train()
        self.lr, self.steps = lr, steps

    def training_step(self, batch, batch_idx):
        pixels, y_hat = batch
        x = pixels.float() / 255
        mse = F.mse_loss(self.g_s(y_hat), x)
        self.log_dict({"train/mse": 255**2 * mse, "train/psnr": -10 * torch.log10(mse)}, prog_bar=True)
        return 255**2 * mse

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.g_s.parameters(), lr=self.lr)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def finetune(codec, quantizer: str, steps: int, lr: float = 1e-4, **data) -> torch.nn.Module:
    """The codec's synthesis, retrained on its ``quantizer``'s latents (returns a trained copy)."""
    datamodule = QuantizedLatents(codec, quantizer, **data)
    module = SynthesisFinetuning(codec, lr, steps)
    trainer = L.Trainer(max_steps=steps, logger=False, enable_checkpointing=False, log_every_n_steps=10,
                        enable_model_summary=False, accelerator="auto", devices=1)
    trainer.fit(module, datamodule=datamodule)
    return module.g_s.eval()
