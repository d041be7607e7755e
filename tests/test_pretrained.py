import subprocess
import sys

import numpy as np
import torch
import pytest

import latentcodec
from latentcodec import registry
from latentcodec.pretrained import pretrained_dirs
from latentcodec.files import DEFAULT_IMAGE_MODEL

WEIGHTS = sorted(p for d in pretrained_dirs() for p in d.glob("*.safetensors"))
MAX_FILE, MAX_TOTAL = 5e6, 40e6  # a few MB a file, and the working tree must travel to the GPU machine (64 MB)


def test_pretrained_weights_are_small_and_carded():
    assert WEIGHTS, "no pretrained weights shipped"
    assert sum(p.stat().st_size for d in pretrained_dirs() for p in d.rglob("*.safetensors")) < MAX_TOTAL
    for path in WEIGHTS:
        assert path.stat().st_size < MAX_FILE, path
        card = path.with_suffix(".md").read_text()
        for section in ("Training data", "Training", "Measured"):
            assert f"## {section}" in card, (path, section)


def test_default_family_has_rate_points_in_order(photo):
    names = registry.family(DEFAULT_IMAGE_MODEL)
    assert len(names) >= 4
    sizes, errors = [], []
    for name in names:
        codec = latentcodec.load(name)
        data = codec.compress(photo)
        decoded = latentcodec.decompress(data)
        sizes.append(len(data))
        errors.append(np.mean((decoded.astype(float) - photo) ** 2))
    assert sizes == sorted(sizes) and errors == sorted(errors, reverse=True)


def test_decoding_in_a_fresh_process_gives_identical_pixels(tmp_path, photo):
    from PIL import Image

    Image.fromarray(photo).save(tmp_path / "in.png")
    latentcodec.encode_file(tmp_path / "in.png", tmp_path / "photo.lc")
    latentcodec.decode_file(tmp_path / "photo.lc", tmp_path / "here.png")
    code = "import latentcodec, sys; latentcodec.decode_file(sys.argv[1], sys.argv[2])"
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "photo.lc"), str(tmp_path / "there.png")], check=True)
    here, there = (np.asarray(Image.open(tmp_path / n)) for n in ("here.png", "there.png"))
    assert np.array_equal(here, there)


@pytest.mark.parametrize("quality", [None, 1])
def test_cli_quality_picks_a_rate_point(tmp_path, photo, quality):
    from PIL import Image

    from latentcodec.cli import main

    Image.fromarray(photo).save(tmp_path / "in.png")
    extra = [] if quality is None else ["--quality", str(quality)]
    assert main(["encode", str(tmp_path / "in.png"), str(tmp_path / "out.lc"), *extra]) == 0
    header = latentcodec.container.unpack((tmp_path / "out.lc").read_bytes())[0]
    assert header.codec == registry.resolve(DEFAULT_IMAGE_MODEL, quality)
    assert main(["encode", str(tmp_path / "in.png"), str(tmp_path / "x.lc"), "--quality", "99"]) == 1
    assert not (tmp_path / "x.lc").exists()


@pytest.mark.parametrize("family, quantizer", [("mbt2018-mean-small-ft", "uniform"), ("mbt2018-mean-small-tcq", "tcq")])
def test_finetuned_decoders_keep_their_base_indices(photo, family, quantizer, capsys):
    from latentcodec.cli import main
    from latentcodec.container import unpack

    names = registry.family(family)
    assert len(names) == 4
    for name in names:
        tuned = latentcodec.load(name)
        base = latentcodec.load(tuned.info["base"])
        assert tuned.new_quantizer().name == quantizer
        stream = tuned.compress(photo)
        assert unpack(stream)[1] == unpack(base.compress(photo, quantizer=tuned.info["quantizer"]))[1]
        assert np.array_equal(latentcodec.decompress(stream), latentcodec.decompress(stream))
    assert main(["models"]) == 0
    codecs = capsys.readouterr().out.split("\n\n")[0]  # the tokenizers' table follows
    listed = {line.split()[0]: line.split()[3] for line in codecs.splitlines()[2:]}
    assert all(listed[name] == quantizer for name in names)


def test_pretrained_tokenizers_load_are_carded_and_reconstruct(photo):
    from latentcodec.codecs.tokenizers import load_tokenizer
    from latentcodec.evaluation.rate_distortion import psnr
    from latentcodec.training.tokenizer import tiles

    paths = sorted(p for d in pretrained_dirs() for p in (d / "tokenizers").glob("*.safetensors"))
    assert paths
    for path in paths:
        card = path.with_suffix(".md").read_text()
        for section in ("Training data", "Training", "Measured"):
            assert f"## {section}" in card, (path, section)
        tokenizer = load_tokenizer(path)
        size = tokenizer.image_size
        images = tiles(torch.from_numpy(photo).permute(2, 0, 1)[None], size).permute(0, 2, 3, 1) if size else photo[None]
        tokens = tokenizer.tokenize(images)
        assert tokens.shape == (len(images), *tokenizer.token_shape(*images.shape[1:3]))
        assert psnr(np.asarray(images), tokenizer.detokenize(tokens).numpy()) > 20


def test_pretrained_audio_codecs_are_carded_and_code_speech():
    from pathlib import Path

    import soundfile as sf
    import torch

    from latentcodec.evaluation.audio_quality import mel_distance
    from latentcodec.media import Audio

    paths = sorted(p for d in pretrained_dirs() for p in (d / "audio").glob("*.safetensors"))
    assert paths
    speech = sf.read(Path(__file__).parent / "data" / "speech-ru-16k.flac", dtype="float32")[0]
    for path in paths:
        assert path.stat().st_size < MAX_FILE, path
        card = path.with_suffix(".md").read_text()
        for section in ("Training data", "Training", "Measured"):
            assert f"## {section}" in card, (path, section)
        codec = latentcodec.load(path.stem)
        assert codec.depth is not None  # variable depth, calibrated at export
        assert codec.prior.context_groups > 1  # packets coded given the frame before
        errors = []
        for bitrate in (1.5, 3.0, 6.0):
            decoded = latentcodec.decompress(codec.compress(Audio(speech[None], 16000), bitrate=bitrate)).samples[0]
            assert decoded.shape == speech.shape
            errors.append(mel_distance(torch.from_numpy(decoded), torch.from_numpy(speech)))
        assert errors == sorted(errors, reverse=True)  # more stages, closer to the original
        assert all(u >= 0.8 for u in codec.info["utilization"])  # as measured on the development set


def test_pretrained_video_codecs_are_carded_and_code_motion_cheaply():
    from fractions import Fraction

    from skimage import data

    from latentcodec.container import unpack
    from latentcodec.evaluation.rate_distortion import psnr
    from latentcodec.media import Video

    paths = sorted(p for d in pretrained_dirs() for p in (d / "video").glob("*.safetensors"))
    assert paths
    photo = data.astronaut()  # a window panning 3 px right and 1 px down a frame over a real photo
    frames = np.stack([photo[100 + t : 196 + t, 150 + 3 * t : 278 + 3 * t] for t in range(6)])
    points = []
    for path in paths:
        assert path.stat().st_size < MAX_FILE, path
        card = path.with_suffix(".md").read_text()
        for section in ("Training data", "Training", "Measured"):
            assert f"## {section}" in card, (path, section)
        stream = latentcodec.load(path.stem).compress(Video(frames, Fraction(25)), gop=6)
        chunk_sizes = [len(chunk) for chunk in unpack(stream)[1]]
        # P-frames predict the motion instead of coding the picture again
        assert max(chunk_sizes[1:]) < chunk_sizes[0] / 2, chunk_sizes
        decoded = latentcodec.decompress(stream).pixels
        assert decoded.shape == frames.shape
        points.append((len(stream), psnr(frames, decoded)))
    sizes, qualities = zip(*points)  # members q1, q2, ...: each spends more bytes for a higher PSNR
    assert list(sizes) == sorted(sizes) and list(qualities) == sorted(qualities) and qualities[0] > 25
