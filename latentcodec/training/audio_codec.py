"""Training the causal speech codec with Lightning: spectral and waveform losses, then a GAN.

The generator (encoder, quantizer, decoder) minimizes multi-scale mel and
STFT losses, an L1 loss on the samples (which keeps the phase coherent, and
PESQ punishes incoherent phase hard) and the quantizer's commitment loss from
the start. After ``adversarial_start`` steps a multi-scale STFT discriminator
joins with its hinge loss and feature matching; starting it late lets the
codec first learn the spectral envelope, and the GAN then sharpens what the
L1 losses blur.
"""

from __future__ import annotations

import lightning as L
import torch

from latentcodec.audio_losses import MultiResolutionSTFTLoss, MultiScaleMelLoss
from latentcodec.codecs.audio import AudioCodecModel, AudioModelConfig
from latentcodec.evaluation.audio_quality import si_sdr
from latentcodec.training.audio_discriminator import MultiScaleSTFTDiscriminator, discriminator_loss, generator_losses


class AudioCodecTraining(L.LightningModule):
    def __init__(
        self,
        model: dict | None = None,  # AudioModelConfig fields
        lr: float = 1e-3,
        mel_weight: float = 15.0,
        stft_weight: float = 1.0,
        waveform_weight: float = 30.0,  # L1 on samples: keeps phase coherent across frames
        commitment_weight: float = 0.1,  # the quantizer's loss sums its stages' commitments
        adversarial_start: int = 5000,
        adversarial_weight: float = 1.0,
        feature_weight: float = 2.0,
        discriminator_channels: int = 16,
        lr_decay: float = 0.999996,  # per step
        init_weights: str | None = None,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.config = AudioModelConfig.from_dict(model or {})
        self.codec = AudioCodecModel(self.config)
        if init_weights:  # go on from shipped weights (the same architecture, or an output map that sees more frames)
            from latentcodec.codecs.audio_codec import load_audio_model

            self.codec.load_state_dict(_widen_synthesis(load_audio_model(init_weights)[0].state_dict(), self.codec))
        self.discriminator = MultiScaleSTFTDiscriminator(channels=discriminator_channels)
        self.mel_loss = MultiScaleMelLoss(self.config.sample_rate)
        self.stft_loss = MultiResolutionSTFTLoss()

    def training_step(self, batch, batch_idx):
        opt_g, opt_d = self.optimizers()
        hp = self.hparams
        x_hat, indices, commitment = self.codec(batch)
        mel, stft = self.mel_loss(x_hat, batch), self.stft_loss(x_hat, batch)
        waveform = (x_hat - batch).abs().mean()
        loss = hp.mel_weight * mel + hp.stft_weight * stft + hp.waveform_weight * waveform + hp.commitment_weight * commitment
        logs = {"train/mel": mel, "train/stft": stft, "train/waveform": waveform, "train/commitment": commitment}
        if self.global_step // 2 >= hp.adversarial_start:  # two optimizer steps per training step
            d_loss = discriminator_loss(self.discriminator(batch), self.discriminator(x_hat.detach()))
            opt_d.zero_grad()
            self.manual_backward(d_loss)
            self.clip_gradients(opt_d, 1.0, "norm")
            opt_d.step()
            adversarial, features = generator_losses(self.discriminator(batch), self.discriminator(x_hat))
            loss = loss + hp.adversarial_weight * adversarial + hp.feature_weight * features
            logs |= {"train/discriminator": d_loss, "train/adversarial": adversarial, "train/features": features}
        else:
            opt_d.step()  # keeps the two step counters together; no gradients, so no update
        opt_g.zero_grad()
        self.manual_backward(loss)
        self.clip_gradients(opt_g, 1.0, "norm")
        opt_g.step()
        for schedule in self.lr_schedulers():
            schedule.step()
        self.log_dict(logs | {"train/loss": loss}, prog_bar=True)

    def on_validation_epoch_start(self):
        self.used = [torch.zeros(s, dtype=torch.bool) for s in self.codec.quantizer.codebook_sizes]

    def validation_step(self, batch, batch_idx):
        for n in sorted({max(1, self.config.num_quantizers // 4), self.config.num_quantizers // 2, self.config.num_quantizers}):
            x_hat, indices, _ = self.codec(batch, n)
            kbps = self.codec.bitrate(n) / 1000
            self.log_dict({f"val/mel@{kbps:g}k": self.mel_loss(x_hat, batch),
                           f"val/si_sdr@{kbps:g}k": si_sdr(x_hat, batch).mean()}, batch_size=len(batch))
        for used, column in zip(self.used, indices.reshape(-1, indices.shape[-1]).T.cpu()):
            used[column] = True

    def on_validation_epoch_end(self):
        utilization = torch.stack([u.float().mean() for u in self.used])
        self.log_dict({"val/min_utilization": utilization.min(), "val/mean_utilization": utilization.mean()})

    def configure_optimizers(self):
        hp = self.hparams
        opt_g = torch.optim.AdamW(self.codec.parameters(), lr=hp.lr, betas=(0.8, 0.99))
        opt_d = torch.optim.AdamW(self.discriminator.parameters(), lr=hp.lr, betas=(0.8, 0.99))
        schedules = [torch.optim.lr_scheduler.ExponentialLR(o, hp.lr_decay) for o in (opt_g, opt_d)]
        return [opt_g, opt_d], schedules


def _widen_synthesis(state: dict, codec: AudioCodecModel) -> dict:
    """Weights for a decoder whose output map sees more past frames than the
    one they come from: the older frames' weights start at zero, so training
    goes on from exactly the same codec."""
    key = "decoder.out.weight"
    old, new = state[key], codec.decoder.out.weight
    if old.shape[0] == new.shape[0] and old.shape[1] < new.shape[1]:
        state[key] = torch.cat([old.new_zeros(new.shape[0], new.shape[1] - old.shape[1]), old], 1)
    return state
