"""Batch tokenization: tokens equal the models' own, for images, videos and
audio; unreadable files are listed; a run killed at any point, resumed,
damaged or spread over two CPU ranks gives byte-identical output.

Image tokenizers are tiny and untrained (seeded); media are real photos,
a pan over a photo encoded losslessly, and real speech.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image
from safetensors.torch import load_file
from skimage import data

from latentcodec import read_tokens, registry
from latentcodec.batch_tokenize import load_model, square_rgb, tokenize_dataset
from latentcodec.codecs.image_tokenizer import ImageTokenizer
from latentcodec.codecs.tokenizers import build_tokenizer, load_tokenizer, save_tokenizer
from latentcodec.media import Video, read_audio, read_image, read_video, write_video

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = dict(size=32, batch_size=4, shard_items=7, progress=False)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> dict:
    """Two tiny untrained tokenizers, 30 small photos (some grayscale) and 2 unreadable files."""
    root = tmp_path_factory.mktemp("batch")
    tokenizers = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        tokenizers.append(root / f"tok{seed}.safetensors")
        save_tokenizer(ImageTokenizer(width=8), tokenizers[-1])
    folder = root / "images"
    folder.mkdir()
    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.camera(), data.moon()]
    for i in range(30):
        photo = photos[i % len(photos)]
        y, x = 7 * i, 11 * i
        Image.fromarray(photo[y:y + 48, x:x + 64]).save(folder / f"img{i:02d}.png")
    (folder / "img10b.png").write_bytes(b"")
    (folder / "img20b.jpg").write_text("not an image\n")
    many = root / "many.txt"  # enough items that a run lasts long enough to be killed inside it
    many.write_text("".join(f"{p}\n" for _ in range(8) for p in sorted(folder.iterdir())))
    return {"root": root, "tokenizers": tokenizers, "folder": folder, "many": many}


def shard_tensors(out: Path) -> dict:
    return {p.name: load_file(str(p))["tokens"] for p in sorted(out.glob("shard-*.safetensors"))}


def same_files(a: Path, b: Path) -> None:
    assert sorted(p.name for p in a.iterdir()) == sorted(p.name for p in b.iterdir())
    for p in sorted(a.iterdir()):
        assert p.read_bytes() == (b / p.name).read_bytes(), p.name


def test_tokens_match_tokenizing_each_image(dataset, tmp_path):
    summary = tokenize_dataset(dataset["tokenizers"][0], [dataset["folder"]], tmp_path, **SETTINGS)
    readable = [str(p) for p in sorted(dataset["folder"].iterdir()) if p.stat().st_size > 20]
    assert summary == {"tokenized": 30, "errors": 2, "new": 32, "shards": 5, "tokens": 30 * 16}
    tokenizer = load_tokenizer(dataset["tokenizers"][0])
    items = list(read_tokens(tmp_path))
    assert [item for item, _ in items] == readable
    for item, tokens in items:
        assert tokens.dtype == torch.long and tokens.shape == (4, 4)
        assert torch.equal(tokens, tokenizer.tokenize(square_rgb(read_image(item), 32))[0])
    assert load_file(str(tmp_path / "shard-00000.safetensors"))["tokens"].dtype == torch.int16
    errors = [json.loads(line) for line in (tmp_path / "errors.jsonl").read_text().splitlines()]
    assert [e["id"] for e in errors] == [str(dataset["folder"] / n) for n in ("img10b.png", "img20b.jpg")]
    assert all("not a readable image" in e["error"] for e in errors)
    index = [json.loads(line) for line in (tmp_path / "index.jsonl").read_text().splitlines()]
    assert [e for e in index if "error" in e] == errors
    assert [e["id"] for e in index] == [str(p) for p in sorted(dataset["folder"].iterdir())]
    records = b"".join(p.read_bytes() for p in sorted(tmp_path.glob("shard-*.index.jsonl")))
    assert records == (tmp_path / "index.jsonl").read_bytes()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["modality"] == "image" and manifest["vocab_size"] == 1000
    assert (manifest["size"], manifest["token_shape"], manifest["dtype"]) == (32, [4, 4], "int16")
    assert square_rgb(read_image(dataset["folder"] / "img03.png"), 32).shape == (32, 32, 3)  # a grayscale photo


def test_video_items_are_per_frame_tokens(dataset, tmp_path):
    pan = np.stack([data.astronaut()[100 + t:140 + t, 150 + 3 * t:206 + 3 * t] for t in range(10)])
    with open(tmp_path / "pan.mp4", "wb") as f:
        write_video(f, Video(pan, Fraction(25)))  # lossless
    (tmp_path / "bad.mp4").write_text("not a video\n")
    image = dataset["folder"] / "img00.png"
    (tmp_path / "list.txt").write_text(f"{image}\n{tmp_path / 'pan.mp4'}\n{tmp_path / 'bad.mp4'}\n")
    out = tmp_path / "out"
    summary = tokenize_dataset(dataset["tokenizers"][0], [tmp_path / "list.txt"], out, max_frames=3, frame_step=2,
                               **SETTINGS)
    assert (summary["tokenized"], summary["errors"], summary["tokens"]) == (2, 1, 16 + 3 * 16)
    tokenizer = load_tokenizer(dataset["tokenizers"][0])
    frames = list(read_video(tmp_path / "pan.mp4").frames())[0:6:2]  # at most 3 frames, every second one
    want = tokenizer.tokenize(np.stack([square_rgb(f, 32) for f in frames]))
    (image_id, image_tokens), (video_id, video_tokens) = read_tokens(out)
    assert (image_id, video_id) == (str(image), str(tmp_path / "pan.mp4"))
    assert image_tokens.shape == (4, 4) and video_tokens.shape == (3, 4, 4)
    assert torch.equal(video_tokens, want)
    assert torch.equal(image_tokens, tokenizer.tokenize(square_rgb(read_image(image), 32))[0])
    [error] = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert error["id"] == str(tmp_path / "bad.mp4") and "not a readable video" in error["error"]


def test_audio_items_match_the_codec_tokens(tmp_path):
    speech = ROOT / "tests" / "data" / "speech-ru-16k.flac"
    audio = read_audio(speech).read()
    folder = tmp_path / "audio"
    folder.mkdir()
    shutil.copy(speech, folder / "a.flac")
    stereo = np.stack([audio.samples[0, :22050], audio.samples[0, 22050:44100] * 0.5]).T
    sf.write(folder / "b.wav", stereo, 22050)  # stereo at another rate: downmixed and resampled
    (folder / "c.wav").write_text("not audio\n")
    out = tmp_path / "out"
    summary = tokenize_dataset("speech-codec-16k", [folder], out, n_quantizers=4, shard_items=2, progress=False)
    assert (summary["tokenized"], summary["errors"], summary["shards"]) == (2, 1, 2)
    codec = registry.load("speech-codec-16k")
    items = list(read_tokens(out))
    assert [i for i, _ in items] == [str(folder / "a.flac"), str(folder / "b.wav")]
    for item, tokens in items:
        pcm = read_audio(item).read()
        assert torch.equal(tokens, codec.tokenize(pcm.samples, 4, pcm.sample_rate))
    assert items[0][1].shape == (4, 175)
    assert summary["tokens"] == sum(t.numel() for _, t in items)
    [error] = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert error["id"] == str(folder / "c.wav") and "not a readable audio file" in error["error"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["modality"], manifest["model_sha256"], manifest["sample_rate"]) == ("audio", codec.weights_hash, 16000)
    with pytest.raises(ValueError, match="n_quantizers 4, not 6"):
        tokenize_dataset("speech-codec-16k", [folder], out, n_quantizers=6, shard_items=2, progress=False)


def test_models_by_file_by_name_and_1d_tokenizers(dataset, tmp_path, monkeypatch):
    torch.manual_seed(0)
    tokenizer = build_tokenizer({"architecture": "image-tokenizer-1d", "image_size": 32, "patch": 8, "dim": 32,
                                 "depth": 1, "heads": 2, "n_tokens": 8, "codebook_size": 64, "codebook_dim": 8})
    photos = np.stack([square_rgb(read_image(p), 32) for p in sorted(dataset["folder"].glob("img0*.png"))])
    tokenizer(torch.from_numpy(photos).permute(0, 3, 1, 2).float() / 255)  # one training pass: the codebook's k-means init
    (tmp_path / "tokenizers").mkdir()
    save_tokenizer(tokenizer, tmp_path / "tokenizers" / "tiny-1d.safetensors")
    monkeypatch.setenv("LATENTCODEC_PRETRAINED", str(tmp_path))
    tokenize_dataset("tiny-1d", [dataset["folder"] / "img01.png"], tmp_path / "out", progress=False)
    [(_, tokens)] = read_tokens(tmp_path / "out")
    tokenizer = load_tokenizer(tmp_path / "tokenizers" / "tiny-1d.safetensors")
    assert torch.equal(tokens, tokenizer.tokenize(square_rgb(read_image(dataset["folder"] / "img01.png"), 32))[0])
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["token_shape"] == [8]
    with pytest.raises(ValueError, match="not the tokenizer's 32x32"):
        tokenize_dataset("tiny-1d", [dataset["folder"]], tmp_path / "other", size=64, progress=False)
    with pytest.raises(ValueError, match="is an image codec"):
        load_model("lossless-image")
    with pytest.raises(ValueError, match="tiny-1d"):  # names what there is
        load_model("no-such-model")


def test_two_cpu_ranks_write_what_one_process_writes(dataset, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    tokenize_dataset(dataset["tokenizers"][0], [dataset["folder"]], one, **SETTINGS)
    summary = tokenize_dataset(dataset["tokenizers"][0], [dataset["folder"]], two, devices=2, accelerator="cpu",
                               **SETTINGS)
    assert summary == {"tokenized": 30, "errors": 2, "new": 32, "shards": 5, "tokens": 30 * 16}
    same_files(one, two)


def cli(dataset, out: Path) -> subprocess.Popen:
    args = ["tokenize", str(dataset["many"]), "--out", str(out), "--model", str(dataset["tokenizers"][0]),
            "--size", "32", "--batch-size", "4", "--shard-items", "7"]
    code = f"import sys; from latentcodec.cli import main; sys.exit(main({args!r}))"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def shards_done(out: Path) -> int:
    return len(list(out.glob("shard-*.index.jsonl")))


def test_killed_run_resumes_to_identical_output(dataset, tmp_path):
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    total = tokenize_dataset(dataset["tokenizers"][0], [dataset["many"]], reference, **SETTINGS)
    n = total["shards"]
    rng = random.Random(0)
    partial = []
    # killed while importing, then right after shards start to appear, then further in
    for wait_shards in (None, 1, n // 3, n // 2):
        process = cli(dataset, resumed)
        if wait_shards is None:
            time.sleep(rng.uniform(0.1, 0.5))
        else:
            start = shards_done(resumed)
            while shards_done(resumed) < start + wait_shards and process.poll() is None:
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.02))
        process.send_signal(signal.SIGKILL)
        process.wait()
        partial.append(shards_done(resumed))
    assert any(0 < k < n for k in partial), partial
    process = cli(dataset, resumed)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert f"{total['tokenized']} items tokenized" in stdout
    got, want = list(read_tokens(resumed)), list(read_tokens(reference))
    assert len(got) == total["tokenized"] > 0
    assert [i for i, _ in got] == [i for i, _ in want]
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(got, want))
    got, want = shard_tensors(resumed), shard_tensors(reference)
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
    same_files(resumed, reference)  # no half-written .part file left either


def test_rerun_does_nothing_and_another_tokenizer_is_refused(dataset, tmp_path):
    first = tokenize_dataset(dataset["tokenizers"][0], [dataset["folder"]], tmp_path, **SETTINGS)
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.iterdir()}
    again = tokenize_dataset(dataset["tokenizers"][0], [dataset["folder"]], tmp_path, **SETTINGS)
    assert again == {**first, "new": 0}
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.iterdir()} == before
    with pytest.raises(ValueError, match="model_sha256"):
        tokenize_dataset(dataset["tokenizers"][1], [dataset["folder"]], tmp_path, **SETTINGS)
    with pytest.raises(ValueError, match="size 32, not 64"):
        tokenize_dataset(dataset["tokenizers"][0], [dataset["folder"]], tmp_path, **{**SETTINGS, "size": 64})
    with pytest.raises(ValueError, match="modality image, not audio"):
        tokenize_dataset("speech-codec-16k", [ROOT / "tests" / "data"], tmp_path, progress=False)
    with pytest.raises(ValueError, match="multiple"):
        tokenize_dataset(dataset["tokenizers"][0], [dataset["folder"]], tmp_path / "new", **{**SETTINGS, "size": 36})


def test_damaged_records_and_missing_shards_are_redone(dataset, tmp_path):
    reference, damaged = tmp_path / "reference", tmp_path / "damaged"
    for out in (reference, damaged):
        tokenize_dataset(dataset["tokenizers"][0], [dataset["folder"]], out, **SETTINGS)
    record = (damaged / "shard-00004.index.jsonl").read_bytes()
    (damaged / "shard-00004.index.jsonl").write_bytes(record[:len(record) // 2])  # cut mid-line
    (damaged / "shard-00001.index.jsonl").write_bytes(b"\x00" * 40)
    (damaged / "shard-00002.safetensors").unlink()  # its record no longer counts
    (damaged / "index.jsonl").write_bytes((damaged / "index.jsonl").read_bytes()[:100])
    (damaged / "errors.jsonl").write_bytes((damaged / "errors.jsonl").read_bytes() + b'{"id": "x')
    (damaged / ".shard-00003.safetensors.k1ll3d.part").write_bytes(b"half a shard")  # a SIGKILLed write
    summary = tokenize_dataset(dataset["tokenizers"][0], [dataset["folder"]], damaged, **SETTINGS)
    assert summary["new"] == 7 + 7 + 4
    same_files(damaged, reference)
