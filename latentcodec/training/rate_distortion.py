"""Rate-distortion training of image models with Lightning."""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from pytorch_msssim import ms_ssim

from latentcodec.codecs.image_models import IMAGE_MODELS


def bits_per_pixel(likelihoods: dict, num_pixels: int) -> torch.Tensor:
    return sum(-torch.log2(lik).sum() for lik in likelihoods.values()) / num_pixels


def adam_with_quantiles(model: torch.nn.Module, lr: float, aux_lr: float, milestones=()) -> dict | torch.optim.Optimizer:
    """Adam for a model with factorized priors: their ``quantiles`` (the
    auxiliary loss's parameters) at ``aux_lr``, everything else at ``lr``,
    divided by 10 at each step of ``milestones``."""
    quantiles = [p for name, p in model.named_parameters() if name.endswith("quantiles")]
    others = [p for name, p in model.named_parameters() if not name.endswith("quantiles")]
    optimizer = torch.optim.Adam([{"params": others}, {"params": quantiles, "lr": aux_lr}], lr=lr)
    if not milestones:
        return optimizer
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(milestones), gamma=0.1)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


class RateDistortion(L.LightningModule):
    """Minimizes bpp + lmbda * D, D = 255^2 * MSE (CompressAI's scale) or 1 - MS-SSIM.

    The factorized prior's quantile (auxiliary) loss is added to the loss: its
    gradient reaches only the quantiles, which get their own learning rate.
    """

    def __init__(
        self,
        model: str = "mbt2018-mean",
        n: int = 64,
        m: int = 96,
        lmbda: float = 0.0067,
        distortion: str = "mse",
        lr: float = 1e-4,
        aux_lr: float = 1e-3,
        lr_milestones: tuple[int, ...] = (),
        init_weights: str | None = None,
    ):
        super().__init__()
        if distortion not in ("mse", "ms-ssim"):
            raise ValueError(f"distortion must be 'mse' or 'ms-ssim', got {distortion!r}")
        self.save_hyperparameters()
        self.model = IMAGE_MODELS[model](n, m)
        if init_weights:
            from latentcodec.codecs.image import load_weights

            load_weights(self.model, init_weights)

    def _losses(self, x: torch.Tensor, out: dict) -> dict:
        n, _, h, w = x.shape
        bpp = bits_per_pixel(out["likelihoods"], n * h * w)
        x_hat = out["x_hat"]
        mse = F.mse_loss(x_hat, x)
        if self.hparams.distortion == "mse":
            distortion = 255**2 * mse
        else:
            distortion = 1 - ms_ssim(x_hat.clamp(0, 1), x, data_range=1.0)
        return {"loss": bpp + self.hparams.lmbda * distortion, "bpp": bpp, "psnr": -10 * torch.log10(mse.clamp_min(1e-10))}

    def training_step(self, batch, batch_idx):
        losses = self._losses(batch, self.model(batch))
        aux = self.model.aux_loss()
        self.log_dict({f"train/{k}": v for k, v in losses.items()} | {"train/aux": aux}, prog_bar=True)
        return losses["loss"] + aux

    def validation_step(self, batch, batch_idx):
        x = batch
        losses = self._losses(x, self.model(x))
        self.log_dict({f"val/{k}": v for k, v in losses.items()}, prog_bar=True, batch_size=1)

    def configure_optimizers(self):
        hp = self.hparams
        return adam_with_quantiles(self.model, hp.lr, hp.aux_lr, hp.lr_milestones)
