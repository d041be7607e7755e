from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from latentcodec.cli import main
from latentcodec.codecs.image_tokenizer_1d import ImageTokenizer1D
from latentcodec.codecs.tokenizers import build_tokenizer, load_tokenizer, save_tokenizer
from latentcodec.token_editing import masked_reconstruction, optimize_tokens, replace_tokens
from latentcodec.training.tokenizer import TokenizerTraining

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "image-tokenizer-1d-k32.yaml"
TINY = {"architecture": "image-tokenizer-1d", "image_size": 32, "patch": 8, "width": 8, "dim": 32, "depth": 1,
        "heads": 2, "n_tokens": 8, "codebook_size": 64, "codebook_dim": 8}


@pytest.fixture(scope="module")
def images(photo):
    """Four real 32x32 images: the photo downscaled, and three of its crops."""
    small = np.asarray(Image.fromarray(photo).resize((40, 32), Image.LANCZOS))
    return torch.from_numpy(np.stack([small[:, :32], photo[:32, :32], photo[40:72, 60:92], photo[96:128, 128:160]]))


def train(steps: int, images: torch.Tensor, config: dict = TINY) -> tuple[TokenizerTraining, list[float]]:
    torch.manual_seed(0)
    module = TokenizerTraining(config, lr=2e-3)
    optimizer = module.configure_optimizers()
    x = images.permute(0, 3, 1, 2).float() / 255
    losses = []
    for _ in range(steps):
        loss = module.training_step(x, 0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return module, losses


@pytest.fixture
def tokenizer(images) -> ImageTokenizer1D:
    torch.manual_seed(0)
    tokenizer = build_tokenizer(TINY)
    tokenizer(images.permute(0, 3, 1, 2).float() / 255)  # one training pass: the codebook's k-means init
    return tokenizer.eval()


def test_an_image_is_n_tokens_of_the_vocabulary(tokenizer, images):
    tokens = tokenizer.tokenize(images)
    assert tokens.dtype == torch.long and tokens.shape == (4, 8)
    assert tokenizer.vocab_size == 64 and 0 <= tokens.min() and tokens.max() < 64
    assert torch.equal(tokenizer.tokenize(images.clone()), tokens)  # deterministic, and tokenizing learns nothing
    assert torch.equal(tokenizer.tokenize(images[1]), tokenizer.tokenize(images[1:2]))
    out = tokenizer.detokenize(tokens)
    assert out.dtype == torch.uint8 and out.shape == (4, 32, 32, 3)
    assert torch.equal(tokenizer.detokenize(tokens[0]), out[:1])


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
def test_fsq_tokens_train_save_and_load(images, tmp_path):
    module, losses = train(30, images, {**TINY, "levels": [8, 5, 5, 5]})
    assert losses[-1] < 0.7 * losses[0]
    tokenizer = module.tokenizer.eval()
    with torch.no_grad():
        for p in tokenizer.parameters():
            p.copy_(p.half().float())
    tokens = tokenizer.tokenize(images)
    assert tokenizer.vocab_size == 1000 and tokens.shape == (4, 8) and 0 <= tokens.min() and tokens.max() < 1000
    save_tokenizer(tokenizer, tmp_path / "fsq.safetensors")
    loaded = load_tokenizer(tmp_path / "fsq.safetensors")
    assert loaded.config["levels"] == [8, 5, 5, 5] and torch.equal(loaded.tokenize(images), tokens)
    assert torch.equal(loaded.detokenize(tokens), tokenizer.detokenize(tokens))


def test_fsq_usage_loss_is_part_of_training_only(images):
    torch.manual_seed(0)
    config = {**TINY, "levels": [8, 5, 5, 5], "diversity_weight": 0.5}
    tokenizer, x = build_tokenizer(config), images.permute(0, 3, 1, 2).float() / 255
    z = tokenizer.encode(x)
    expected = 0.5 * tokenizer.query_tokens.codebook.usage_loss(z)
    assert expected > 0 and torch.allclose(tokenizer.quantize(z)[2], expected)
    assert tokenizer(x)[2] > 0 and tokenizer.eval()(x)[2] == 0
    assert build_tokenizer({**config, "diversity_weight": 0.0})(x)[2] == 0


def test_bad_sizes_and_tokens_are_refused(tokenizer, images):
    with pytest.raises(ValueError, match="image size 32x24 is not the tokenizer's 32x32"):
        tokenizer.tokenize(images[:, :, :24])
    tokens = tokenizer.tokenize(images)
    tokens[1, 5] = 64
    with pytest.raises(ValueError, match=r"token 64 at batch 1, position 5 is outside the vocabulary \[0, 64\)"):
        tokenizer.detokenize(tokens)
    with pytest.raises(ValueError, match="an image is 8 tokens, got 7"):
        tokenizer.detokenize(tokens[:, :7] % 64)
    with pytest.raises(ValueError, match="tokens must be integers"):
        tokenizer.detokenize(tokens.float())
    with pytest.raises(ValueError, match="unknown tokenizer architecture 'image-tokenizer-3d'"):
        build_tokenizer({**TINY, "architecture": "image-tokenizer-3d"})


def test_weights_round_trip_through_safetensors(tokenizer, images, tmp_path):
    with torch.no_grad():  # what the file keeps, so the reloaded model must match exactly
        for p in tokenizer.parameters():
            p.copy_(p.half().float())
        tokenizer.query_tokens.codebook._codebook.embed.copy_(tokenizer.query_tokens.codebook._codebook.embed.half().float())
    save_tokenizer(tokenizer, tmp_path / "tok.safetensors", steps=3)
    loaded = load_tokenizer(tmp_path / "tok.safetensors")
    assert isinstance(loaded, ImageTokenizer1D) and loaded.config == tokenizer.config
    assert loaded.info == {"steps": 3}
    tokens = tokenizer.tokenize(images)
    assert torch.equal(loaded.tokenize(images), tokens)
    assert torch.equal(loaded.detokenize(tokens), tokenizer.detokenize(tokens))


def test_training_can_start_from_a_2d_tokenizers_pixel_layers(tmp_path):
    torch.manual_seed(0)
    save_tokenizer(build_tokenizer({"architecture": "image-tokenizer-fsq", "downsample": 8, "width": 8}), tmp_path / "2d.safetensors")
    two_d = load_tokenizer(tmp_path / "2d.safetensors")
    one_d = TokenizerTraining(TINY, init_pixel_layers=str(tmp_path / "2d.safetensors")).tokenizer
    for mine, theirs in ((one_d.pixel_encoder, two_d.encoder), (one_d.pixel_decoder, two_d.decoder)):
        assert all(torch.equal(a, b) for a, b in zip(mine.state_dict().values(), theirs.state_dict().values()))


@pytest.fixture(scope="module")
def trained(images) -> ImageTokenizer1D:
    return train(100, images)[0].tokenizer.eval()


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
def test_training_steps_lower_the_loss_and_use_the_codebook(images):
    module, losses = train(60, images)
    assert losses[-1] < 0.5 * losses[0]
    assert len(module.tokenizer.eval().tokenize(images).unique()) > 8


def test_replacing_token_positions(tokenizer, images):
    tokens = tokenizer.tokenize(images)
    edited = replace_tokens(tokens[0], tokens[1], [0, 3])
    assert torch.equal(edited[[0, 3]], tokens[1, [0, 3]]) and torch.equal(edited[[1, 2, 4, 5, 6, 7]], tokens[0, [1, 2, 4, 5, 6, 7]])
    assert torch.equal(replace_tokens(tokens, tokens.flip(0), []), tokens)
    with pytest.raises(ValueError, match="differ in shape"):
        replace_tokens(tokens[0], tokens, [1])
    with pytest.raises(ValueError, match=r"outside \[0, 8\)"):
        replace_tokens(tokens[0], tokens[1], [8])


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
def test_test_time_optimization_inpaints_without_changing_the_tokenizer(trained, images):
    tokenizer = trained
    target = images[1:2]
    known = torch.ones(1, 1, 32, 32)
    known[..., 8:24, 8:24] = 0  # a hole in the middle
    damaged = target.clone()
    damaged[:, 8:24, 8:24] = 0
    objective = masked_reconstruction(target, known)
    state = {k: v.clone() for k, v in tokenizer.state_dict().items()}
    seed_tokens = tokenizer.tokenize(damaged)
    optimized = optimize_tokens(tokenizer, objective, damaged, steps=60, lr=0.05, token_noise=0.05,
                                generator=torch.Generator().manual_seed(0))

    def loss(tokens):
        return objective(tokenizer.detokenize(tokens).permute(0, 3, 1, 2).float() / 255).item()

    assert optimized.shape == (1, 8) and loss(optimized) < 0.9 * loss(seed_tokens)
    assert all(torch.equal(v, state[k]) for k, v in tokenizer.state_dict().items()) and not tokenizer.training


def test_the_shipped_config_parses(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["train-tokenizer", "fit", "--config", str(CONFIG), "--print_config"])
    assert exit.value.code == 0
    assert "architecture: image-tokenizer-1d" in capsys.readouterr().out
