"""Reconstruction training of image tokenizers with Lightning."""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F

from latentcodec.codecs.tokenizers import build_tokenizer, load_tokenizer

LOSSES = {"mse": F.mse_loss, "l1": F.l1_loss}
FSQ_F8 = {"architecture": "image-tokenizer-fsq", "downsample": 8, "levels": [8, 5, 5, 5], "width": 64}


def psnr(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return -10 * torch.log10(F.mse_loss(x_hat, x).clamp_min(1e-10))


def tiles(x: torch.Tensor, size: int) -> torch.Tensor:
    """``[1, 3, H, W]`` -> the ``[n, 3, size, size]`` tiles that fit, for tokenizers of one image size."""
    t = x[..., : x.shape[-2] // size * size, : x.shape[-1] // size * size].unfold(2, size, size).unfold(3, size, size)
    return t.permute(0, 2, 3, 1, 4, 5).reshape(-1, x.shape[1], size, size)


class TokenizerTraining(L.LightningModule):
    """Minimizes the reconstruction error (MSE, or L1 for sharper edges) of the
    tokenizer ``tokenizer`` describes (its architecture and keyword arguments,
    as in :func:`latentcodec.codecs.tokenizers.build_tokenizer`), plus its
    auxiliary loss: a VQ codebook's commitment, or FSQ's usage loss (see
    ``diversity_weight``), which keeps the whole vocabulary in use.

    Validation measures what a user gets: PSNR of the clamped reconstruction,
    and the fraction of the vocabulary the validation images' tokens use (a
    tokenizer that uses few of its codes wastes the model that reads them).
    A tokenizer of one image size is validated on the tiles of that size.

    The learning rate rises linearly over ``warmup_steps`` (transformers
    trained from scratch need it) and is divided by 10 at each of ``lr_milestones``.
    ``init_weights`` goes on from weights of the same architecture;
    ``init_pixel_layers`` starts a 1D tokenizer's convolutional layers from a
    trained 2D tokenizer's (TiTok's proxy codes, see ``image_tokenizer_1d``).
    """

    def __init__(
        self,
        tokenizer: dict[str, int | float | list[int] | str] | None = None,
        loss: str = "mse",
        lr: float = 2e-4,
        lr_milestones: tuple[int, ...] = (),
        warmup_steps: int = 0,
        init_weights: str | None = None,
        init_pixel_layers: str | None = None,
    ):
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
        self.save_hyperparameters()
        self.tokenizer = build_tokenizer(tokenizer or FSQ_F8)
        if init_weights:  # go on from shipped weights (their architecture must match)
            self.tokenizer.load_state_dict(load_tokenizer(init_weights).state_dict())
        if init_pixel_layers:
            self.tokenizer.take_pixel_layers(load_tokenizer(init_pixel_layers))

    def training_step(self, batch, batch_idx):
        x_hat, _, aux_loss = self.tokenizer(batch)
        distortion = LOSSES[self.hparams.loss](x_hat, batch)
        self.log_dict({"train/loss": distortion, "train/aux_loss": aux_loss, "train/psnr": psnr(x_hat, batch)}, prog_bar=True)
        return distortion + aux_loss

    def on_validation_epoch_start(self):
        self.used_tokens = torch.zeros(self.tokenizer.vocab_size, dtype=torch.bool, device=self.device)

    def validation_step(self, batch, batch_idx):
        size = self.tokenizer.image_size
        x = tiles(batch, size) if size else batch
        x_hat, tokens, _ = self.tokenizer(x)
        self.used_tokens[tokens.reshape(-1)] = True
        self.log("val/psnr", psnr(x_hat.clamp(0, 1), x), prog_bar=True, batch_size=1)

    def on_validation_epoch_end(self):
        self.log("val/utilization", self.used_tokens.float().mean(), prog_bar=True)

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.tokenizer.parameters(), lr=self.hparams.lr)
        warmup, milestones = self.hparams.warmup_steps, list(self.hparams.lr_milestones)
        if not warmup and not milestones:
            return optimizer

        def factor(step: int) -> float:
            return min(1.0, (step + 1) / max(warmup, 1)) * 0.1 ** sum(step >= m for m in milestones)

        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
