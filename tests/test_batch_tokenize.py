from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from skimage import data

from latentcodec import read_tokens
from latentcodec.batch_tokenize import square_rgb, tokenize_images
from latentcodec.codecs.image_tokenizer import ImageTokenizer, load_tokenizer, save_tokenizer

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


def test_tokens_match_tokenizing_each_image(dataset, tmp_path):
    summary = tokenize_images(dataset["tokenizers"][0], [dataset["folder"]], tmp_path, **SETTINGS)
    readable = [str(p) for p in sorted(dataset["folder"].iterdir()) if p.stat().st_size > 20]
    assert summary == {"tokenized": 30, "errors": 2, "new": 32, "shards": 5, "tokens_per_item": 16}
    tokenizer = load_tokenizer(dataset["tokenizers"][0])
    items = list(read_tokens(tmp_path))
    assert [item for item, _ in items] == readable
    for item, tokens in items:
        assert tokens.dtype == torch.long and tokens.shape == (4, 4)
        assert torch.equal(tokens, tokenizer.tokenize(square_rgb(item, 32))[0])
    assert load_file(str(tmp_path / "shard-00000.safetensors"))["tokens"].dtype == torch.int16
    errors = [json.loads(line) for line in (tmp_path / "errors.jsonl").read_text().splitlines()]
    assert [e["id"] for e in errors] == [str(dataset["folder"] / n) for n in ("img10b.png", "img20b.jpg")]
    assert all("not a readable image" in e["error"] for e in errors)
    index = [json.loads(line) for line in (tmp_path / "index.jsonl").read_text().splitlines()]
    assert [e for e in index if "error" in e] == errors
    assert [e["id"] for e in index] == [str(p) for p in sorted(dataset["folder"].iterdir())]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert (manifest["vocab_size"], manifest["downsample"], manifest["size"], manifest["grid"]) == (1000, 8, 32, [4, 4])
    assert square_rgb(dataset["folder"] / "img03.png", 32).shape == (32, 32, 3)  # a grayscale photo


def cli(dataset, out: Path) -> subprocess.Popen:
    args = ["tokenize", str(dataset["many"]), "--out", str(out), "--model", str(dataset["tokenizers"][0]),
            "--size", "32", "--batch-size", "4", "--shard-items", "7"]
    code = f"import sys; from latentcodec.cli import main; sys.exit(main({args!r}))"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def index_lines(out: Path) -> int:
    path = out / "index.jsonl"
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_killed_run_resumes_to_identical_output(dataset, tmp_path):
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    total = tokenize_images(dataset["tokenizers"][0], [dataset["many"]], reference, **SETTINGS)
    n = total["tokenized"] + total["errors"]
    rng = random.Random(0)
    partial = []
    # killed while importing, then right after shards start to appear, then further in
    for wait_lines in (None, 1, n // 3, n // 2):
        process = cli(dataset, resumed)
        if wait_lines is None:
            time.sleep(rng.uniform(0.1, 0.5))
        else:
            start = index_lines(resumed)
            while index_lines(resumed) < start + wait_lines and process.poll() is None:
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.02))
        process.send_signal(signal.SIGKILL)
        process.wait()
        partial.append(index_lines(resumed))
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
    for name in ("index.jsonl", "errors.jsonl", "manifest.json"):
        assert (resumed / name).read_bytes() == (reference / name).read_bytes(), name
    assert not [p for p in resumed.iterdir() if p.name.endswith(".part")]


def test_rerun_does_nothing_and_another_tokenizer_is_refused(dataset, tmp_path):
    first = tokenize_images(dataset["tokenizers"][0], [dataset["folder"]], tmp_path, **SETTINGS)
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.iterdir()}
    again = tokenize_images(dataset["tokenizers"][0], [dataset["folder"]], tmp_path, **SETTINGS)
    assert again == {**first, "new": 0}
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.iterdir()} == before
    with pytest.raises(ValueError, match="tokenizer"):
        tokenize_images(dataset["tokenizers"][1], [dataset["folder"]], tmp_path, **SETTINGS)
    with pytest.raises(ValueError, match="size"):
        tokenize_images(dataset["tokenizers"][0], [dataset["folder"]], tmp_path, **{**SETTINGS, "size": 64})
    with pytest.raises(ValueError, match="multiple"):
        tokenize_images(dataset["tokenizers"][0], [dataset["folder"]], tmp_path / "new", **{**SETTINGS, "size": 36})


def test_resumes_from_a_cut_index_and_a_missing_shard(dataset, tmp_path):
    reference, damaged = tmp_path / "reference", tmp_path / "damaged"
    for out in (reference, damaged):
        tokenize_images(dataset["tokenizers"][0], [dataset["folder"]], out, **SETTINGS)
    index = (damaged / "index.jsonl").read_bytes()
    lines = index.splitlines(keepends=True)
    (damaged / "index.jsonl").write_bytes(b"".join(lines[:30]) + lines[30][:9])  # shard 4 cut mid-line
    (damaged / "shard-00002.safetensors").unlink()  # its index lines, and all after, no longer count
    (damaged / "errors.jsonl").write_bytes((damaged / "errors.jsonl").read_bytes() + b'{"id": "x')
    (damaged / ".shard-00003.safetensors.k1ll3d.part").write_bytes(b"half a shard")  # a SIGKILLed write
    tokenize_images(dataset["tokenizers"][0], [dataset["folder"]], damaged, **SETTINGS)
    for name in sorted(p.name for p in reference.iterdir()):
        assert (damaged / name).read_bytes() == (reference / name).read_bytes(), name
    assert sorted(p.name for p in damaged.iterdir()) == sorted(p.name for p in reference.iterdir())
