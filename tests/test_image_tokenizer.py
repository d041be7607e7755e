from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file
from skimage import data

from latentcodec.cli import main
from latentcodec.codecs.image_models import to_tensor
from latentcodec.codecs.image_tokenizer import ImageTokenizer
from latentcodec.codecs.tokenizers import load_tokenizer, save_tokenizer
from latentcodec.training.image_data import ImageFolderData
from latentcodec.training.tokenizer import TokenizerTraining

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "image-tokenizer-fsq-f8.yaml"
SMALL = {"architecture": "image-tokenizer-fsq", "downsample": 8, "width": 16}


@pytest.fixture
def tokenizer() -> ImageTokenizer:
    torch.manual_seed(0)
    return ImageTokenizer(downsample=8, width=16).eval()


def test_tokens_are_a_grid_of_vocabulary_ids(tokenizer, photo):
    tokens = tokenizer.tokenize(photo)
    assert tokens.dtype == torch.long and tokens.shape == (1, 128 // 8, 160 // 8)
    assert tokenizer.vocab_size == 1000 and 0 <= tokens.min() and tokens.max() < 1000
    batch = np.stack([photo, photo[:, ::-1]])
    assert torch.equal(tokenizer.tokenize(batch)[:1], tokens)
    assert torch.equal(tokenizer.tokenize(to_tensor(photo)[None]), tokens)  # float [B, 3, H, W] input
    assert torch.equal(tokenizer.tokenize(torch.from_numpy(photo)), tokens)


def test_detokenize_gives_uint8_images_of_the_input_size(tokenizer, photo):
    images = tokenizer.detokenize(tokenizer.tokenize(photo))
    assert images.dtype == torch.uint8 and images.shape == (1, *photo.shape)
    assert tokenizer.detokenize(tokenizer.tokenize(photo)[0]).shape == (1, *photo.shape)


def test_tokenizing_twice_gives_the_same_tokens(tokenizer, photo):
    assert torch.equal(tokenizer.tokenize(photo), tokenizer.tokenize(photo.copy()))


@pytest.mark.parametrize("bad", [1000, -1])
def test_tokens_outside_the_vocabulary_are_refused_with_their_position(tokenizer, photo, bad):
    tokens = tokenizer.tokenize(photo)
    tokens[0, 3, 5] = bad
    with pytest.raises(ValueError, match=rf"token {bad} at batch 0, row 3, column 5 is outside the vocabulary \[0, 1000\)"):
        tokenizer.detokenize(tokens)
    with pytest.raises(ValueError, match="tokens must be integers"):
        tokenizer.detokenize(tokens.float())


def test_sizes_off_the_downsampling_grid_are_refused(tokenizer, photo):
    with pytest.raises(ValueError, match="image size 100x160 is not a multiple of the tokenizer's downsampling 8"):
        tokenizer.tokenize(photo[:100])
    with pytest.raises(ValueError, match="image size 128x150 is not a multiple"):
        tokenizer.tokenize(to_tensor(photo[:, :150])[None])
    with pytest.raises(ValueError, match=r"uint8 images must be \[B, H, W, 3\]"):
        tokenizer.tokenize(photo[..., :2])


def test_weights_round_trip_through_safetensors(tokenizer, photo, tmp_path):
    with torch.no_grad():  # what the file keeps, so the reloaded model must match exactly
        for p in tokenizer.parameters():
            p.copy_(p.half().float())
    save_tokenizer(tokenizer, tmp_path / "tok.safetensors", steps=3)
    loaded = load_tokenizer(tmp_path / "tok.safetensors")
    assert (loaded.downsample, loaded.levels, loaded.width, loaded.info) == (8, (8, 5, 5, 5), 16, {"steps": 3})
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    tokens = tokenizer.tokenize(photo)
    assert torch.equal(loaded.tokenize(photo), tokens)
    assert torch.equal(loaded.detokenize(tokens), tokenizer.detokenize(tokens))
    save_file({"w": torch.zeros(1)}, str(tmp_path / "codec.safetensors"), metadata={"architecture": "mbt2018-mean"})
    with pytest.raises(ValueError, match="not a latentcodec image tokenizer"):
        load_tokenizer(tmp_path / "codec.safetensors")
    going_on = TokenizerTraining(SMALL, init_weights=str(tmp_path / "tok.safetensors")).tokenizer
    assert torch.equal(going_on.tokenize(photo), tokens)  # training can go on from shipped weights


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
def test_training_steps_lower_the_reconstruction_loss(photo):
    torch.manual_seed(0)
    module = TokenizerTraining(SMALL, lr=2e-3)
    optimizer = module.configure_optimizers()
    x = to_tensor(photo[:64, :64])[None]
    losses = []
    for _ in range(30):
        loss = module.training_step(x, 0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_training_refuses_unknown_losses():
    with pytest.raises(ValueError, match="loss must be one of mse, l1"):
        TokenizerTraining(loss="ssim")


def test_export_measures_a_trained_checkpoint(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, image in enumerate((data.astronaut()[:100, :132], data.coffee()[:96, :128])):
        Image.fromarray(image).save(photos / f"{i}.png")
    torch.manual_seed(0)
    trainer = L.Trainer(max_steps=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    data_module = ImageFolderData(str(photos), str(photos), crop=64, crops_per_image=2, batch_size=2)
    trainer.fit(TokenizerTraining(SMALL, loss="l1"), data_module)
    assert {"val/psnr", "val/utilization", "train/loss", "train/psnr"} <= set(trainer.callback_metrics)
    checkpoint = tmp_path / "last.ckpt"
    trainer.save_checkpoint(checkpoint)

    out = tmp_path / "tok.safetensors"
    assert main(["export-tokenizer", str(checkpoint), str(out), "--measure-on", str(photos)]) == 0
    printed = capsys.readouterr().out
    info = load_tokenizer(out).info
    assert info["steps"] == 2 and info["loss"] == "l1" and info["measured_on"] == str(photos)
    assert 0 < info["utilization"] <= 1 and info["tokens_per_second"] > 0 and np.isfinite(info["psnr"])
    for key in ("psnr", "utilization", "tokens_per_second"):
        assert f"'{key}': {info[key]}" in printed


def test_the_shipped_config_parses(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["train-tokenizer", "fit", "--config", str(CONFIG), "--print_config"])
    assert exit.value.code == 0
    printed = capsys.readouterr().out
    assert "downsample: 8" in printed and "default_root_dir: runs/image-tokenizer-fsq-f8" in printed
