"""Lightning training of the audio codec, and its export as installable weights."""

from pathlib import Path

import lightning as L
import numpy as np
import pytest
import soundfile as sf
import torch

from latentcodec.codecs.audio_codec import AudioCodec, load_audio_model, save_audio_model
from latentcodec.container import unpack
from latentcodec.entropy import CdfTables
from latentcodec.entropy.residual_index_prior import ResidualIndexPrior
from latentcodec.media import Audio
from latentcodec.training.audio_codec import AudioCodecTraining
from latentcodec.training.audio_data import Augmentation, RandomClips, SpeechData
from latentcodec.training.audio_discriminator import MultiScaleSTFTDiscriminator, discriminator_loss, generator_losses
from latentcodec.training.cli import export_audio

SPEECH = Path(__file__).parent / "data" / "speech-ru-16k.flac"
TINY = dict(channels=32, blocks=1, kernel=3, latent_dim=8, num_quantizers=3, codebook_size=16)


@pytest.fixture(scope="module")
def speech_dirs(tmp_path_factory):
    """Real speech cut into a few recordings: two folders of 16 kHz WAV files."""
    pcm, rate = sf.read(SPEECH, dtype="int16")
    root = tmp_path_factory.mktemp("speech")
    for split, parts in (("train", 3), ("eval", 2)):
        (root / split).mkdir()
        for i, piece in enumerate(np.array_split(pcm, parts)):
            sf.write(root / split / f"{i}.wav", piece, rate)
    return root / "train", root / "eval"


def test_clips_are_whole_frames_of_real_audio(speech_dirs):
    data = SpeechData(str(speech_dirs[0]), str(speech_dirs[1]), clip_seconds=0.5, clips_per_epoch=10, batch_size=4)
    data.setup()
    batch = next(iter(data.train_dataloader()))
    assert batch.shape == (4, 8000) and batch.abs().max() > 0.01
    assert len(data.val) == 1 and data.val[0].shape == (16000,)  # only recordings that are 1 s long
    assert RandomClips([np.full(10, 1000, np.int16)], 320, 1)[0].shape == (320,)  # shorter: zero padded
    with pytest.raises(ValueError, match="validation"):
        SpeechData(str(speech_dirs[0]), str(speech_dirs[1]), clip_seconds=5.0).setup()


def test_augmentation_changes_the_room_noise_and_level_as_asked():
    rng = np.random.default_rng(0)
    speech = sf.read(Path(__file__).parent / "data" / "speech-ru-16k.flac", dtype="float64")[0][:16000]
    assert np.allclose(Augmentation(gain_db=0)(speech, rng, 16000), speech, atol=1e-6)  # nothing asked: as it was
    quiet = Augmentation(gain_db=40)(speech, rng, 16000)
    assert np.abs(quiet).max() <= 1.0 and np.corrcoef(quiet, speech)[0, 1] > 0.999  # the same clip, quieter
    loud = Augmentation(loud=1.0)(speech, rng, 16000)
    assert np.abs(loud).max() <= 1.0
    noisy = Augmentation(noise=1.0, gain_db=0)(speech, rng, 16000)
    assert np.abs(noisy).max() <= 1.0 and 0.5 < np.corrcoef(noisy, speech)[0, 1] < 0.9999  # 5 to 30 dB SNR
    room = Augmentation(reverb=1.0, gain_db=0)(speech, rng, 16000)
    assert room.dtype == np.float32 and 0.2 < np.corrcoef(room, speech)[0, 1] < 0.999  # a tail, yet the same speech


def test_gan_losses_point_the_right_way():
    torch.manual_seed(0)
    discriminator = MultiScaleSTFTDiscriminator(channels=4)
    real, fake = torch.randn(2, 4000), torch.zeros(2, 4000)
    outputs_real, outputs_fake = discriminator(real), discriminator(fake)
    assert len(outputs_real) == 3 and all(len(maps) == 5 for _, maps in outputs_real)
    assert discriminator_loss(outputs_real, outputs_fake) > 0
    adversarial, features = generator_losses(outputs_real, outputs_real)
    assert features == 0 and adversarial > 0


def test_training_steps_with_the_gan_then_export(speech_dirs, tmp_path):
    torch.manual_seed(0)
    module = AudioCodecTraining(model=TINY, adversarial_start=2, discriminator_channels=4)
    data = SpeechData(str(speech_dirs[0]), str(speech_dirs[1]), clip_seconds=0.4, clips_per_epoch=12, batch_size=2)
    before = {k: v.clone() for k, v in module.codec.state_dict().items()}
    trainer = L.Trainer(max_steps=12, limit_val_batches=1, val_check_interval=6, logger=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(module, data)
    assert trainer.global_step == 12  # two optimizer steps per batch
    assert np.isfinite(trainer.callback_metrics["val/mel@0.6k"].item())  # 4 bits per 20 ms frame and stage
    assert any(not torch.equal(v, module.codec.state_dict()[k]) for k, v in before.items() if v.is_floating_point())
    checkpoint = tmp_path / "last.ckpt"
    trainer.save_checkpoint(checkpoint)
    weights = tmp_path / "tiny-speech.safetensors"
    info = export_audio(str(checkpoint), str(weights), prior_from=str(speech_dirs[0]), measure_on=str(speech_dirs[1]))
    codec = AudioCodec.from_file(weights)
    assert codec.info == info and info["steps"] == 6
    assert set(info["bitrates"]) == {"0.6"} and info["bitrates"]["0.6"]["packet_kbps"] > 0
    assert all(0 < u <= 1 for u in info["utilization"]) and len(info["utilization"]) == 3
    assert codec.prior.stages == 3 and codec.prior.context_groups > 1  # the first index given the frame before's
    assert codec.depth.thresholds.shape == (3,) and (np.diff(codec.depth.thresholds) <= 0).all()
    assert unpack(codec.compress(Audio(np.zeros((1, 3200), np.float32), 16000)))[0].meta["variable_depth"] is True
    # weights re-exported: the same tables, the postfilter as asked
    renewed = tmp_path / "renewed.safetensors"
    export_audio(str(weights), str(renewed), prior_from=str(speech_dirs[0]), postfilter=True)
    again = AudioCodec.from_file(renewed)
    assert again.postfilter and not codec.postfilter and again.info["steps"] == 6
    assert np.array_equal(again.depth.thresholds, codec.depth.thresholds) and np.array_equal(again.prior.tables.cdfs, codec.prior.tables.cdfs)


def test_training_goes_on_from_weights_with_a_narrower_synthesis(tmp_path):
    """Weights whose decoder output map sees one frame start a model whose map
    sees two as the same codec (the new frame's weights are zero): the same
    indices, and samples that differ only by the rounding of a longer sum."""
    torch.manual_seed(0)
    old = AudioCodecTraining(model=TINY).codec
    x = torch.from_numpy(sf.read(SPEECH, dtype="float32")[0][: 320 * 30])[None]
    with torch.no_grad():
        old(x)  # k-means initialization of the codebooks
    path = tmp_path / "narrow.safetensors"
    save_audio_model(old, path, ResidualIndexPrior(CdfTables.from_pmfs([np.ones(16)] * 3, [0.0] * 3, [0] * 3)))
    old = load_audio_model(path)[0]  # as stored (fp16)
    new = AudioCodecTraining(model=TINY | {"synthesis_context": 2}, init_weights=str(path)).codec.eval()
    assert new.decoder.out.weight.shape[1] == 2 * old.decoder.out.weight.shape[1]
    with torch.no_grad():
        (y_new, indices_new, _), (y_old, indices_old, _) = new(x), old(x)
    assert torch.equal(indices_new, indices_old)
    torch.testing.assert_close(y_new, y_old, rtol=0, atol=1e-6)
