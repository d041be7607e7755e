import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from skimage import data

from latentcodec.codecs.image import ImageCodec, save_weights
from latentcodec.codecs.image_models import IMAGE_MODELS
from latentcodec.container import unpack
from latentcodec.training.cli import finetune_quantized


@pytest.fixture
def setup(tmp_path):
    torch.manual_seed(0)
    model = IMAGE_MODELS["mbt2018-mean"](16, 24)
    with torch.no_grad():
        model.g_a[-1].weight *= 30
    save_weights(model, tmp_path / "tiny-q1.safetensors", "mbt2018-mean")
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, image in enumerate((data.astronaut()[:128, :192], data.coffee()[:128, :192])):
        Image.fromarray(image).save(photos / f"{i}.png")
    return ImageCodec.from_file(tmp_path / "tiny-q1.safetensors"), photos


def test_finetuned_synthesis_loads_over_its_base_and_decodes_better(setup, tmp_path):
    base, photos = setup
    out = tmp_path / "tiny-tcq-q1.safetensors"
    info = finetune_quantized(base, out, "tcq:states=4", steps=30, lr=2e-3, measure_on=photos, command="test",
                              train_dir=photos, crop=64, crops_per_image=8, batch_size=4)
    with safe_open(str(out), "pt") as f:
        assert all(k.startswith("g_s.") for k in f.keys())
        assert f.metadata()["base"] == "tiny-q1" and f.metadata()["base_weights"] == base.weights_hash
    card = out.with_suffix(".md").read_text()
    for section in ("Training data", "Training", "Measured"):
        assert f"## {section}" in card

    tuned = ImageCodec.from_file(out)
    assert tuned.info["quantizer"] == info["quantizer"] == "tcq:states=4,delta_shift=5,lmbda=0.005"
    assert not torch.equal(tuned.model.g_s[0].weight, base.model.g_s[0].weight)
    assert torch.equal(tuned.model.g_a[0].weight, base.model.g_a[0].weight)

    image = np.asarray(Image.open(photos / "0.png"))
    stream = tuned.compress(image)  # its own quantizer, unasked
    assert unpack(stream)[0].meta["quantizer"]["states"] == 4
    base_stream = base.compress(image, quantizer=info["quantizer"])
    assert unpack(stream)[1] == unpack(base_stream)[1]  # the base's very indices: the rate is unchanged
    error = lambda codec, s: np.mean((codec.decompress(s).astype(float) - image) ** 2)  # noqa: E731
    assert error(tuned, stream) < error(base, base_stream)

    (tmp_path / "tiny-q1.safetensors").write_bytes((tmp_path / "tiny-q1.safetensors").read_bytes() + b" ")
    with pytest.raises(ValueError, match="needs base weights tiny-q1"):
        ImageCodec.from_file(out)
