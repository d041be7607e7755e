"""Reconstruction training of the FSQ image tokenizer with Lightning."""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F

from latentcodec.codecs.image_tokenizer import ImageTokenizer, load_tokenizer

LOSSES = {"mse": F.mse_loss, "l1": F.l1_loss}


def psnr(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return -10 * torch.log10(F.mse_loss(x_hat, x).clamp_min(1e-10))


class TokenizerTraining(L.LightningModule):
    """Minimizes the reconstruction error (MSE, or L1 for sharper edges) of the
    tokenizer; FSQ has no codebook to learn and no auxiliary loss.

    Validation measures what a user gets: PSNR of the clamped reconstruction,
    and the fraction of the vocabulary the validation images' tokens use (a
    tokenizer that uses few of its codes wastes the model that reads them).
    """

    def __init__(
        self,
        downsample: int = 8,
        levels: tuple[int, ...] = (8, 5, 5, 5),
        width: int = 64,
        loss: str = "mse",
        lr: float = 2e-4,
        lr_milestones: tuple[int, ...] = (),
        init_weights: str | None = None,
    ):
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
        self.save_hyperparameters()
        self.tokenizer = ImageTokenizer(downsample, levels, width)
        if init_weights:  # go on from shipped weights (their architecture must match)
            self.tokenizer.load_state_dict(load_tokenizer(init_weights).state_dict())

    def training_step(self, batch, batch_idx):
        x_hat, _ = self.tokenizer(batch)
        loss = LOSSES[self.hparams.loss](x_hat, batch)
        self.log_dict({"train/loss": loss, "train/psnr": psnr(x_hat, batch)}, prog_bar=True)
        return loss

    def on_validation_epoch_start(self):
        self.used_tokens = torch.zeros(self.tokenizer.vocab_size, dtype=torch.bool, device=self.device)

    def validation_step(self, batch, batch_idx):
        x_hat, tokens = self.tokenizer(batch)
        self.used_tokens[tokens.reshape(-1)] = True
        self.log("val/psnr", psnr(x_hat.clamp(0, 1), batch), prog_bar=True, batch_size=1)

    def on_validation_epoch_end(self):
        self.log("val/utilization", self.used_tokens.float().mean(), prog_bar=True)

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.tokenizer.parameters(), lr=self.hparams.lr)
        if not self.hparams.lr_milestones:
            return optimizer
        schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(self.hparams.lr_milestones), gamma=0.1)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
