import numpy as np
import pytest
import torch

import latentcodec.codecs.image as image_codec
from latentcodec import BitstreamError
from latentcodec.codecs.compressai_interop import from_compressai
from latentcodec.codecs.image import ImageCodec, save_weights
from latentcodec.codecs.image_models import IMAGE_MODELS
from latentcodec.container import Header, pack, unpack
from latentcodec.entropy import RangeDecoder, RangeEncoder


@pytest.mark.parametrize("architecture", sorted(IMAGE_MODELS))
def test_models_code_what_forward_predicts(architecture):
    torch.manual_seed(0)
    model = IMAGE_MODELS[architecture](16, 24).eval()
    x = torch.rand(1, 3, 64, 128)
    with torch.no_grad():
        out = model(x)
        encoder = RangeEncoder()
        model.encode(encoder, x)
        data = encoder.flush()
        x_hat = model.decode(RangeDecoder(data), 64, 128)
    assert torch.equal(x_hat, out["x_hat"])  # the decoder sees exactly the eval-mode latents
    estimated = sum(-torch.log2(lik).sum() for lik in out["likelihoods"].values()).item()
    assert abs(8 * len(data) - estimated) <= 0.02 * estimated + 64


@pytest.mark.parametrize("architecture", sorted(IMAGE_MODELS))
def test_models_train(architecture):
    model = IMAGE_MODELS[architecture](16, 24).train()
    x = torch.rand(2, 3, 64, 64)
    out = model(x)
    loss = sum(-torch.log2(lik).sum() for lik in out["likelihoods"].values()) + ((out["x_hat"] - x) ** 2).sum() + model.aux_loss()
    loss.backward()
    assert all(p.grad is not None for name, p in model.named_parameters() if "quantiles" not in name)


@pytest.fixture
def codec(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "tiny-q1.safetensors"
    save_weights(IMAGE_MODELS["mbt2018-mean"](16, 24), path, "mbt2018-mean", lmbda=0.01)
    return ImageCodec.from_file(path)


def test_weights_file_round_trip(codec, tmp_path):
    assert codec.name == "tiny-q1" and codec.info == {"lmbda": 0.01} and len(codec.weights_hash) == 16
    assert codec.model.g_a[0].weight.dtype == torch.float32


def test_image_codec_any_size_grayscale_and_tiles(codec, photo, monkeypatch):
    monkeypatch.setattr(image_codec, "TILE", 64)
    for image in (photo, photo[:37, :91], photo[..., 0]):
        data = codec.compress(image)
        header, chunks = unpack(data)
        h, w = image.shape[:2]
        assert len(chunks) == -(-h // 64) * -(-w // 64)
        decoded = codec.decompress(data)
        assert decoded.shape == image.shape and decoded.dtype == np.uint8
        assert np.array_equal(codec.decompress(data), decoded)


def test_image_codec_refuses_rgba_and_bad_streams(codec, photo):
    with pytest.raises(ValueError, match="drop the alpha channel"):
        codec.compress(np.zeros((8, 8, 4), np.uint8))
    header, chunks = unpack(codec.compress(photo))
    with pytest.raises(BitstreamError, match="stream ends after 0 tiles"):
        codec.decompress(pack(header, []))
    with pytest.raises(BitstreamError, match="more tiles"):
        codec.decompress(pack(header, chunks + chunks))
    with pytest.raises(BitstreamError, match="coded with weights"):
        codec.decompress(pack(Header(header.codec, "0" * 16, header.meta), chunks))


@pytest.mark.parametrize("architecture, cls", [("bmshj2018-hyperprior", "ScaleHyperprior"), ("mbt2018-mean", "MeanScaleHyperprior")])
def test_compressai_checkpoints_load_and_code_with_our_coder(architecture, cls):
    import compressai.models

    torch.manual_seed(0)
    theirs = getattr(compressai.models, cls)(N=16, M=24).eval()
    theirs.update()
    ours = from_compressai(theirs.state_dict(), architecture)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        expected = theirs(x)["x_hat"]
        assert torch.allclose(ours(x)["x_hat"], expected, atol=1e-6)
        encoder = RangeEncoder()
        ours.encode(encoder, x)
        x_hat = ours.decode(RangeDecoder(encoder.flush()), 64, 64)
    assert torch.allclose(x_hat, expected, atol=1e-6)
