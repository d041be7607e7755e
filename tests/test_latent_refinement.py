import numpy as np
import pytest
import torch

import latentcodec
from latentcodec.cli import main
from latentcodec.commands.evaluate import model_entry
from latentcodec.codecs.image_models import IMAGE_MODELS
from latentcodec.codecs.latent_refinement import refine_latent
from latentcodec.container import unpack


def rd_cost(codec, image, **options) -> tuple[float, bytes]:
    """Real bits per pixel + lambda * 255^2 * MSE: what the model was trained to minimize."""
    data = codec.compress(image, **options)
    mse = np.mean((latentcodec.decompress(data).astype(float) - image) ** 2)
    return 8 * len(data) / image[..., 0].size + codec.info["lmbda"] * mse, data


@pytest.mark.parametrize("name, at_most", [("mbt2018-mean-small-q2", 0.98), ("mbt2018-mean-small-tcq-q2", 0.995)])
def test_refinement_lowers_the_real_cost_and_is_repeatable(photo, name, at_most):
    codec = latentcodec.load(name)
    plain, plain_stream = rd_cost(codec, photo)
    refined, stream = rd_cost(codec, photo, refine=40)
    assert refined < at_most * plain, (plain, refined)  # TCQ optimizes the rate already
    assert unpack(stream)[0] == unpack(plain_stream)[0]  # same header: decoders need nothing new
    assert stream == codec.compress(photo, refine=40)  # seeded: the same image gives the same stream


@pytest.mark.parametrize("architecture", sorted(IMAGE_MODELS))
def test_refinement_leaves_the_model_and_random_state_as_they_were(architecture):
    torch.manual_seed(0)
    model = IMAGE_MODELS[architecture](16, 24).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(1, 3, 64, 64)
    rounding, rng = getattr(model, "rounding", None), torch.random.get_rng_state()
    y = refine_latent(model, x, lmbda=0.01, steps=3, height=60, width=50)
    assert y.shape == model.g_a(x).shape and not y.requires_grad
    assert not model.training and all(p.requires_grad for p in model.parameters())
    assert getattr(model, "rounding", None) is rounding
    assert torch.equal(torch.random.get_rng_state(), rng)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_refine_option_is_checked_and_reaches_the_cli(tmp_path, photo, capsys):
    from PIL import Image

    codec = latentcodec.load("mbt2018-mean-small-q1")
    for bad in (-1, 2.5):
        with pytest.raises(ValueError, match="refine is a number of steps"):
            codec.compress(photo, refine=bad)
    Image.fromarray(photo).save(tmp_path / "in.png")
    assert main(["encode", str(tmp_path / "in.png"), str(tmp_path / "a.lc"), "--quality", "1"]) == 0
    assert main(["encode", str(tmp_path / "in.png"), str(tmp_path / "b.lc"), "--quality", "1", "--refine", "20"]) == 0
    assert (tmp_path / "b.lc").read_bytes() != (tmp_path / "a.lc").read_bytes()
    assert main(["decode", str(tmp_path / "b.lc"), str(tmp_path / "b.png")]) == 0
    assert model_entry("m@tcq:states=4+refine=50") == ("m", {"quantizer": "tcq:states=4", "refine": 50})
    assert model_entry("m") == ("m", {})


def test_eval_rd_measures_refinement_in_worker_processes(tmp_path, photo, capsys):
    from PIL import Image

    Image.fromarray(photo).save(tmp_path / "a.png")
    Image.fromarray(photo[:64, :96]).save(tmp_path / "b.png")
    models = "mbt2018-mean-small-q1,mbt2018-mean-small-q1@refine=5"
    assert main(["eval", "rd", str(tmp_path), "--models", models, "--baselines", "", "--jobs", "2"]) == 0
    out = capsys.readouterr().out
    plain, refined = (out.split(f"\n{entry}\n")[1].splitlines()[1].split() for entry in models.split(","))
    assert plain[0] == refined[0] == "mbt2018-mean-small-q1" and len(plain) == len(refined) == 4
