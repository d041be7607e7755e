"""Tokenizing an image dataset into shards, resumable after a kill at any point.

The k-th input item always lands in shard ``k // shard_items``, so a rerun
rebuilds exactly the shards an uninterrupted run would. A shard appears
atomically, and its index lines are appended (one write, fsync'd) only after
it is in place: the index is the single record of what is done.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file, save

from latentcodec.files import atomic_write
from latentcodec.media import IMAGE_SUFFIXES, MediaError, image_files, read_image

INDEX, ERRORS, MANIFEST = "index.jsonl", "errors.jsonl", "manifest.json"


def shard_name(k: int) -> str:
    return f"shard-{k:05d}.safetensors"


def list_items(inputs: Sequence) -> list[str]:
    """Item ids in input order: a folder's images sorted, a ``.txt`` list's lines as written."""
    items: list[str] = []
    for entry in inputs:
        path = Path(entry)
        if path.is_dir():
            items += [str(p) for p in image_files(path)]
        elif path.suffix.lower() == ".txt":
            items += [line.strip() for line in path.read_text().splitlines() if line.strip()]
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            items.append(str(entry))
        else:
            raise ValueError(f"{entry}: not a folder, a .txt list of image paths, or an image")
    return items


def square_rgb(path, size: int) -> np.ndarray:
    """uint8 [size, size, 3]: the shorter side resized to ``size``, centre-cropped, so every item has one grid shape."""
    image = read_image(path)
    image = np.stack([image] * 3, -1) if image.ndim == 2 else image[..., :3]
    h, w = image.shape[:2]
    scale = size / min(h, w)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    resized = Image.fromarray(np.ascontiguousarray(image)).resize((nw, nh), Image.LANCZOS)
    left, top = (nw - size) // 2, (nh - size) // 2
    return np.asarray(resized.crop((left, top, left + size, top + size)))


def _sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def _check_manifest(out_dir: Path, manifest: dict) -> None:
    """A rerun must use what the first run used, or the shards would mix two token sets."""
    path = out_dir / MANIFEST
    if not path.exists():
        with atomic_write(path) as f:
            f.write((json.dumps(manifest, indent=2) + "\n").encode())
        return
    old = json.loads(path.read_text())
    for key, what in (("tokenizer_sha256", "tokenizer"), ("size", "size"), ("shard_items", "shard_items")):
        if old.get(key) != manifest[key]:
            raise ValueError(f"{out_dir} was tokenized with {what} {old.get(key)}, not {manifest[key]}; "
                             "use another output folder")


def _recover(out_dir: Path, items: list[str], shard_items: int) -> int:
    """Truncates the index to its whole shards whose files exist; returns how many items those cover."""
    for stale in out_dir.glob(".*.part"):  # a killed run's half-written shard: SIGKILL skips atomic_write's cleanup
        stale.unlink()
    path = out_dir / INDEX
    if not path.exists():
        path.touch()
    kept, offset = 0, 0
    with open(path, "rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                break  # a partial last line: its write was cut
            entry = json.loads(line)
            k = kept // shard_items
            if not (out_dir / shard_name(k)).exists() or entry.get("shard", k) != k:
                break
            if kept >= len(items) or entry["id"] != items[kept]:
                raise ValueError(f"{out_dir}: item {kept} is {entry['id']!r}, which the inputs do not have there; "
                                 "resume with the same inputs or use another output folder")
            kept, offset = kept + 1, offset + len(line)
    whole = kept if kept == len(items) else kept // shard_items * shard_items
    if whole < kept:  # a shard's lines were cut short: recount up to its start
        with open(path, "rb") as f:
            offset = sum(len(f.readline()) for _ in range(whole))
    if offset < path.stat().st_size:
        with open(path, "r+b") as f:
            f.truncate(offset)
    errors = out_dir / ERRORS  # appended before the index, so it holds at least the index's errors, in order
    if errors.exists():
        n = sum("error" in json.loads(line) for line in path.read_text().splitlines())
        lines = errors.read_text().splitlines(keepends=True)
        if len(lines) > n:
            with atomic_write(errors) as f:
                f.write("".join(lines[:n]).encode())
    return whole


def _append(path: Path, lines: list[str]) -> None:
    with open(path, "ab") as f:
        f.write("".join(lines).encode())
        f.flush()
        os.fsync(f.fileno())


def tokenize_images(tokenizer_path, inputs: Sequence, out_dir, size: int = 256, batch_size: int = 16,
                    shard_items: int = 1000, progress: bool = True) -> dict:
    """Tokenizes every image of ``inputs`` into ``out_dir`` (see the module docstring);
    returns the totals over the whole output."""
    from tqdm import tqdm

    from latentcodec.codecs.image_tokenizer import load_tokenizer

    tokenizer = load_tokenizer(tokenizer_path)
    if size <= 0 or size % tokenizer.downsample:
        raise ValueError(f"size {size} is not a multiple of the tokenizer's downsampling {tokenizer.downsample}")
    if batch_size <= 0 or shard_items <= 0:
        raise ValueError("batch_size and shard_items must be positive")
    grid = [size // tokenizer.downsample] * 2
    dtype = torch.int16 if tokenizer.vocab_size <= 2**15 else torch.int32
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    items = list_items(inputs)
    _check_manifest(out_dir, {"tokenizer_sha256": _sha256(tokenizer_path), "vocab_size": tokenizer.vocab_size,
                              "downsample": tokenizer.downsample, "size": size, "grid": grid, "shard_items": shard_items})
    start = _recover(out_dir, items, shard_items)
    with tqdm(total=len(items), initial=start, unit="item", desc="tokenizing", disable=not progress) as bar:
        for first in range(start, len(items), shard_items):
            ids = items[first:first + shard_items]
            rows, index, errors, n_rows = [], [], [], 0
            # batches never cross a shard, so a resumed run batches (and rounds) exactly as the first
            for b in range(0, len(ids), batch_size):
                images = []
                for item in ids[b:b + batch_size]:
                    try:
                        images.append(square_rgb(item, size))
                        index.append({"id": item, "shard": first // shard_items, "row": n_rows})
                        n_rows += 1
                    except MediaError as e:
                        index.append({"id": item, "error": str(e)})
                        errors.append(index[-1])
                if images:
                    rows.append(tokenizer.tokenize(np.stack(images)).cpu().to(dtype))
                bar.update(len(ids[b:b + batch_size]))
            tokens = torch.cat(rows) if rows else torch.zeros([0, *grid], dtype=dtype)
            with atomic_write(out_dir / shard_name(first // shard_items)) as f:
                f.write(save({"tokens": tokens.contiguous()}))
            if errors:  # before the index: a kill in between leaves errors the recovery drops
                _append(out_dir / ERRORS, [json.dumps(e) + "\n" for e in errors])
            _append(out_dir / INDEX, [json.dumps(e) + "\n" for e in index])
    n_errors = sum("error" in json.loads(line) for line in (out_dir / INDEX).read_text().splitlines())
    return {"tokenized": len(items) - n_errors, "errors": n_errors, "new": len(items) - start,
            "shards": -(-len(items) // shard_items), "tokens_per_item": grid[0] * grid[1]}


def read_tokens(out_dir) -> Iterator[tuple[str, torch.Tensor]]:
    """``(item id, LongTensor [h, w])`` in input order, skipping unreadable items;
    each shard is loaded once, when its first item is reached."""
    out_dir = Path(out_dir)
    shard, tokens = None, None
    with open(out_dir / INDEX, "rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                return
            entry = json.loads(line)
            if "error" in entry:
                continue
            if entry["shard"] != shard:
                shard, tokens = entry["shard"], load_file(str(out_dir / shard_name(entry["shard"])))["tokens"]
            yield entry["id"], tokens[entry["row"]].long()
