"""Rate-distortion training of the P-frame model with Lightning.

A batch is clips [B, T, 3, H, W]. The first frame of each clip is intra:
coded by the installed image codec the video codec will use (frozen, in
eval mode, so it is reconstructed as the codec will reconstruct it). Each
later frame is coded against the previous reconstruction, rounded to 8 bits
and detached (SSF's stop-gradient; the codec's reference is the uint8 frame
it writes out). The loss averages bpp + lmbda * 255^2 * MSE over the
P-frames, the image models' scale, so a P-model trained at the lmbda of its
intra codec's rate point keeps quality steady through a GOP.
"""

from __future__ import annotations

import copy

import lightning as L
import torch
import torch.nn.functional as F

from latentcodec import registry
from latentcodec.codecs.image import ImageCodec
from latentcodec.codecs.video import ScaleSpaceFlow, VideoModelConfig
from latentcodec.training.rate_distortion import adam_with_quantiles, bits_per_pixel


def as_decoded(x: torch.Tensor) -> torch.Tensor:
    """A reconstruction as a decoder writes it out: clamped, 8-bit, no gradient."""
    return (x.detach().clamp(0, 1) * 255).round() / 255


def _psnr(mse: torch.Tensor) -> torch.Tensor:
    return -10 * torch.log10(mse.clamp_min(1e-10))


class VideoCodecTraining(L.LightningModule):
    def __init__(
        self,
        intra: str = "mbt2018-mean-small-q2",  # installed image codec for the intra frames
        model: dict | None = None,  # VideoModelConfig fields
        lmbda: float = 0.0067,
        lr: float = 1e-4,
        aux_lr: float = 1e-3,
        lr_milestones: tuple[int, ...] = (),
        init_weights: str | None = None,  # video weights to go on from (same architecture)
    ):
        super().__init__()
        self.save_hyperparameters()
        codec = registry.load(intra)
        if not isinstance(codec, ImageCodec):
            raise ValueError(f"intra codec {intra!r} is not a learned image codec")
        self.intra_weights = codec.weights_hash
        self.intra = copy.deepcopy(codec.model).eval().requires_grad_(False)
        self.model = ScaleSpaceFlow(VideoModelConfig.from_dict(model or {}))
        if init_weights:
            from latentcodec.codecs.video_codec import load_video_model

            self.model.load_state_dict(load_video_model(init_weights)[0].state_dict())

    def train(self, mode: bool = True):
        super().train(mode)
        self.intra.eval()  # frozen: always coded as the codec codes it
        return self

    def _losses(self, clip: torch.Tensor) -> dict:
        b, t, _, h, w = clip.shape
        with torch.no_grad():
            ref = as_decoded(self.intra(clip[:, 0])["x_hat"])
        bpp = mse = prediction_mse = 0
        for i in range(1, t):
            out = self.model(clip[:, i], ref)
            bpp = bpp + bits_per_pixel(out["likelihoods"], b * h * w)
            mse = mse + F.mse_loss(out["x_hat"], clip[:, i])
            prediction_mse = prediction_mse + F.mse_loss(out["prediction"].detach(), clip[:, i])
            ref = as_decoded(out["x_hat"])
        bpp, mse, prediction_mse = bpp / (t - 1), mse / (t - 1), prediction_mse / (t - 1)
        return {"loss": bpp + self.hparams.lmbda * 255**2 * mse, "bpp": bpp, "psnr": _psnr(mse),
                "prediction_psnr": _psnr(prediction_mse)}

    def training_step(self, batch, batch_idx):
        losses = self._losses(batch)
        aux = self.model.aux_loss()
        self.log_dict({f"train/{k}": v for k, v in losses.items()} | {"train/aux": aux}, prog_bar=True)
        return losses["loss"] + aux

    def validation_step(self, batch, batch_idx):
        self.log_dict({f"val/{k}": v for k, v in self._losses(batch).items()}, prog_bar=True, batch_size=1)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["intra_weights"] = self.intra_weights  # export refuses other intra weights

    def configure_optimizers(self):
        hp = self.hparams
        return adam_with_quantiles(self.model, hp.lr, hp.aux_lr, hp.lr_milestones)
