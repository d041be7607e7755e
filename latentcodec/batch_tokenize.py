"""Tokenizing a dataset of images, videos or audio into shards, resumable
after a kill at any point, in one process or spread over GPUs and machines.

Item k always lands in shard ``k // shard_items``, so any run, resumed or
spread over ranks, builds exactly the shards an uninterrupted run would.
A shard is one flat integer tensor, its items' tokens back to back
(``shard-NNNNN.safetensors``), and a record (``shard-NNNNN.index.jsonl``)
giving each item's offset and shape there, or why it is unreadable. Both
appear atomically, the record last, so a shard is done exactly when its
record is whole: ranks never share a file, and a rerun redoes only what is
missing. Once all shards are done, ``index.jsonl`` and ``errors.jsonl``
gather the records in input order.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file, save

from latentcodec import registry
from latentcodec.files import DEFAULT_TOKENIZER, atomic_write
from latentcodec.media import (AUDIO_SUFFIXES, IMAGE_SUFFIXES, VIDEO_SUFFIXES, MediaError, read_audio, read_image,
                               read_video)
from latentcodec.pretrained import file_hash, pretrained_dirs

INDEX, ERRORS, MANIFEST = "index.jsonl", "errors.jsonl", "manifest.json"
DEFAULT_MODEL = DEFAULT_TOKENIZER


def shard_name(k: int) -> str:
    return f"shard-{k:05d}.safetensors"


def record_name(k: int) -> str:
    return f"shard-{k:05d}.index.jsonl"


def list_items(inputs: Sequence, suffixes: set[str]) -> list[str]:
    """Item ids in input order: a folder's files with ``suffixes`` sorted, a ``.txt`` list's lines as written."""
    items: list[str] = []
    for entry in inputs:
        path = Path(entry)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in suffixes)
            if not files:
                raise FileNotFoundError(f"no {', '.join(sorted(suffixes))} files in {path}")
            items += [str(p) for p in files]
        elif path.suffix.lower() == ".txt":
            items += [line.strip() for line in path.read_text().splitlines() if line.strip()]
        elif path.suffix.lower() in suffixes:
            items.append(str(entry))
        else:
            raise ValueError(f"{entry}: not a folder, a .txt list of paths, or a {', '.join(sorted(suffixes))} file")
    return items


def square_rgb(image: np.ndarray, size: int) -> np.ndarray:
    """uint8 [size, size, 3] of an image or frame: the shorter side resized to ``size``, centre-cropped,
    so every item has one token shape."""
    image = np.stack([image] * 3, -1) if image.ndim == 2 else image[..., :3]
    h, w = image.shape[:2]
    scale = size / min(h, w)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    resized = Image.fromarray(np.ascontiguousarray(image)).resize((nw, nh), Image.LANCZOS)
    left, top = (nw - size) // 2, (nh - size) // 2
    return np.asarray(resized.crop((left, top, left + size, top + size)))


def _is_video(path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


class ImageItems:
    """An image tokenizer on images (tokens [*token_shape]) and videos ([frames, *token_shape]: every
    ``frame_step``-th frame, at most ``max_frames``), each frame resized and centre-cropped to ``size``."""

    modality = "image"
    suffixes = IMAGE_SUFFIXES | VIDEO_SUFFIXES

    def __init__(self, tokenizer, size: int | None, batch_size: int, max_frames: int, frame_step: int):
        if min(batch_size, max_frames, frame_step) <= 0:
            raise ValueError("batch_size, max_frames and frame_step must be positive")
        self.model, self.batch_size, self.max_frames, self.frame_step = tokenizer, batch_size, max_frames, frame_step
        self.size = size or tokenizer.image_size or 256  # a 1D tokenizer takes one size only
        self.vocab_size = tokenizer.vocab_size
        self.settings = {"architecture": tokenizer.architecture, "vocab_size": tokenizer.vocab_size, "size": self.size,
                         "token_shape": list(tokenizer.token_shape(self.size, self.size)),  # or ValueError
                         "max_frames": max_frames, "frame_step": frame_step}

    def frames(self, path) -> Iterator[np.ndarray]:
        """An image, or a video's frames decoded one at a time (never the whole video), resized."""
        if _is_video(path):
            frames = itertools.islice(read_video(path).frames(), 0, self.max_frames * self.frame_step, self.frame_step)
        else:
            frames = iter([read_image(path)])
        n = 0
        for n, frame in enumerate(frames, 1):
            yield square_rgb(frame, self.size)
        if not n:
            raise MediaError(f"{path}: has no frames")

    def __call__(self, paths: Sequence[str], on_item: Callable[[], object]) -> list[torch.Tensor | str]:
        """Each item's tokens, or why it is unreadable. Consecutive items' frames share batches, so
        single images fill them too; at most one batch of frames is held."""
        results: list = [[] for _ in paths]  # item i's tokenized frames, or its error
        batch, owners = [], []

        def run() -> None:
            for i, tokens in zip(owners, self.model.tokenize(np.stack(batch)).cpu()):
                results[i].append(tokens)
            batch.clear()
            owners.clear()

        for i, path in enumerate(paths):
            try:
                for frame in self.frames(path):
                    batch.append(frame)
                    owners.append(i)
                    if len(batch) == self.batch_size:
                        run()
            except MediaError as e:
                results[i] = str(e)
                keep = len(owners) - owners.count(i)  # its frames still waiting are the batch's last ones
                del batch[keep:], owners[keep:]
            on_item()
        if batch:
            run()
        return [r if isinstance(r, str) else torch.stack(r) if _is_video(p) else r[0] for r, p in zip(results, paths)]


class AudioItems:
    """An audio codec on audio files (tokens [n_quantizers, frames]), one file at a time, each read whole."""

    modality = "audio"
    suffixes = AUDIO_SUFFIXES

    def __init__(self, codec, n_quantizers: int | None):
        stages = codec.model.config.num_quantizers
        self.model, self.n_quantizers = codec, n_quantizers or stages
        if not 1 <= self.n_quantizers <= stages:
            raise ValueError(f"n_quantizers must be 1 to {stages} for {codec.name}, got {n_quantizers}")
        sizes = list(codec.model.quantizer.codebook_sizes[: self.n_quantizers])
        self.vocab_size = max(sizes)
        self.settings = {"n_quantizers": self.n_quantizers, "codebook_sizes": sizes, "sample_rate": codec.sample_rate}

    def __call__(self, paths: Sequence[str], on_item: Callable[[], object]) -> list[torch.Tensor | str]:
        results = []
        for path in paths:
            try:
                audio = read_audio(path).read()
                results.append(self.model.tokenize(audio.samples, self.n_quantizers, audio.sample_rate))
            except MediaError as e:
                results.append(str(e))
            on_item()
        return results


def load_model(name) -> tuple[object, str]:
    """(model, first 16 hex digits of its weights' SHA-256) for ``name``: an image tokenizer's weight
    file or its name in pretrained/tokenizers/, or an installed audio codec."""
    from latentcodec.codecs.tokenizers import load_tokenizer

    name = str(name)
    files = [Path(name).expanduser(), *(d / "tokenizers" / f"{name}.safetensors" for d in pretrained_dirs())]
    path = next((p for p in files if p.is_file()), None)
    if path is not None:
        return load_tokenizer(path), file_hash(path)
    if name not in registry.available_codecs():
        names = sorted(p.stem for d in pretrained_dirs() for p in (d / "tokenizers").glob("*.safetensors"))
        raise ValueError(f"{name} is no tokenizer weight file, tokenizer in pretrained/tokenizers/ "
                         f"({', '.join(names) or 'none'}) or installed audio codec (see `latentcodec models`)")
    codec = registry.load(name)
    if codec.modality != "audio":
        raise ValueError(f"{name} is an {codec.modality} codec; tokenize takes image tokenizers and audio codecs")
    return codec, codec.weights_hash


def _write(path: Path, data: bytes) -> None:
    """Atomically and durably: a file that exists is whole, even after a crash."""
    with atomic_write(path) as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _lines(entries: list[dict]) -> bytes:
    return "".join(json.dumps(e) + "\n" for e in entries).encode()


class Job:
    """One run's items, model and settings: all a rank needs to tokenize any shard by itself."""

    def __init__(self, tokenizer: ImageItems | AudioItems, items: list[str], out_dir, shard_items: int, identity: dict):
        if shard_items <= 0:
            raise ValueError("shard_items must be positive")
        self.tokenizer, self.items, self.out_dir, self.shard_items = tokenizer, items, Path(out_dir), shard_items
        self.dtype = torch.int16 if tokenizer.vocab_size <= 2**15 else torch.int32
        self.manifest = {"modality": tokenizer.modality, **identity, **tokenizer.settings, "shard_items": shard_items,
                         "dtype": str(self.dtype).removeprefix("torch.")}
        self.n_shards = -(-len(items) // shard_items)

    def ids(self, k: int) -> list[str]:
        return self.items[k * self.shard_items : (k + 1) * self.shard_items]

    def prepare(self) -> list[int]:
        """Checks the settings against an earlier run's, removes what a kill left half-written
        (SIGKILL skips atomic_write's cleanup); returns the shards still to do."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / MANIFEST
        if path.exists():
            old = json.loads(path.read_text())
            for key, value in self.manifest.items():
                if key != "model" and old.get(key) != value:  # the name may change, the weights may not
                    raise ValueError(f"{self.out_dir} was tokenized with {key} {old.get(key)}, not {value}; "
                                     "use another output folder")
        else:
            _write(path, (json.dumps(self.manifest, indent=2) + "\n").encode())
        for stale in self.out_dir.glob(".*.part"):
            stale.unlink()
        return [k for k in range(self.n_shards) if self.record(k) is None]

    def record(self, k: int) -> list[dict] | None:
        """Shard k's index entries, or None when it is not done (or its files were damaged)."""
        path = self.out_dir / record_name(k)
        if not path.exists() or not (self.out_dir / shard_name(k)).exists():
            return None
        try:
            entries = [json.loads(line) for line in path.read_text().splitlines()]
            got = [e["id"] for e in entries]
        except (ValueError, KeyError, TypeError):
            return None
        ids = self.ids(k)
        for i, (a, b) in enumerate(zip(got, ids)):
            if a != b:
                raise ValueError(f"{self.out_dir}: item {k * self.shard_items + i} is {a!r}, which the inputs do not "
                                 "have there; resume with the same inputs or use another output folder")
        return entries if len(got) == len(ids) else None  # else the inputs grew or shrank: redo it

    def shard(self, k: int, on_item: Callable[[], object] = lambda: None) -> None:
        """Tokenizes shard k and writes it, then its record (the mark that it is done)."""
        ids = self.ids(k)
        entries, pieces, offset = [], [], 0
        for item, tokens in zip(ids, self.tokenizer(ids, on_item)):
            if isinstance(tokens, str):
                entries.append({"id": item, "error": tokens})
                continue
            entries.append({"id": item, "shard": k, "offset": offset, "shape": list(tokens.shape)})
            pieces.append(tokens.flatten().to(self.dtype))
            offset += tokens.numel()
        flat = torch.cat(pieces) if pieces else torch.zeros(0, dtype=self.dtype)
        _write(self.out_dir / shard_name(k), save({"tokens": flat}))
        _write(self.out_dir / record_name(k), _lines(entries))

    def finish(self, merge: bool) -> dict:
        """Totals over all shards; with ``merge`` (on one rank only) also writes their records as
        ``index.jsonl`` and ``errors.jsonl``, unless those already say the same."""
        entries = []
        for k in range(self.n_shards):
            record = self.record(k)
            if record is None:
                raise RuntimeError(f"{self.out_dir}: shard {k} was not written")
            entries += record
        errors = [e for e in entries if "error" in e]
        if merge:
            for name, data in ((INDEX, _lines(entries)), (ERRORS, _lines(errors))):
                path = self.out_dir / name
                if not path.exists() or path.read_bytes() != data:
                    _write(path, data)
        return {"tokenized": len(entries) - len(errors), "errors": len(errors), "shards": self.n_shards,
                "tokens": sum(math.prod(e["shape"]) for e in entries if "shape" in e)}


def tokenize_dataset(model, inputs: Sequence, out_dir, *, size: int | None = None, batch_size: int = 16,
                     shard_items: int = 1000, max_frames: int = 64, frame_step: int = 1,
                     n_quantizers: int | None = None, devices: int | None = None, accelerator: str = "auto",
                     num_nodes: int = 1, progress: bool = True) -> dict:
    """Tokenizes every item of ``inputs`` into ``out_dir`` (see the module docstring) with ``model``
    (see :func:`load_model`); with ``devices`` or ``num_nodes`` > 1 on that many Lightning ranks.
    Returns the totals over the whole output, and how many items this call tokenized."""
    from tqdm import tqdm

    loaded, weights_hash = load_model(model)
    if getattr(loaded, "modality", "image") == "audio":
        tokenizer = AudioItems(loaded, n_quantizers)
    else:
        tokenizer = ImageItems(loaded, size, batch_size, max_frames, frame_step)
    items = list_items(inputs, tokenizer.suffixes)
    job = Job(tokenizer, items, out_dir, shard_items, {"model": str(model), "model_sha256": weights_hash})
    todo = job.prepare()
    new = sum(len(job.ids(k)) for k in todo)
    if devices is None and num_nodes == 1:
        with tqdm(total=new, unit="item", desc="tokenizing", disable=not progress) as bar:
            for k in todo:
                job.shard(k, bar.update)
        rank_zero = True
    else:
        from latentcodec.batch_tokenize_ddp import run_on_ranks

        rank_zero = run_on_ranks(job, todo, devices or "auto", accelerator, num_nodes, progress)
    return {**job.finish(merge=rank_zero), "new": new}


def read_tokens(out_dir) -> Iterator[tuple[str, torch.Tensor]]:
    """``(item id, LongTensor)`` in input order, skipping unreadable items: [*token_shape] for an image,
    [frames, *token_shape] for a video, [n_quantizers, frames] for audio. Each shard is loaded once,
    when its first item is reached."""
    out_dir = Path(out_dir)
    shard, tokens = None, None
    with open(out_dir / INDEX) as f:
        for line in f:
            entry = json.loads(line)
            if "error" in entry:
                continue
            if entry["shard"] != shard:
                shard, tokens = entry["shard"], load_file(str(out_dir / shard_name(entry["shard"])))["tokens"]
            start = entry["offset"]
            yield entry["id"], tokens[start : start + math.prod(entry["shape"])].long().view(entry["shape"])
