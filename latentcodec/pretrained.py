"""Where shipped weights live, and how a weight file is identified."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def pretrained_dirs() -> list[Path]:
    """``$LATENTCODEC_PRETRAINED`` (if set), then the repository's ``pretrained/``."""
    dirs = [Path(__file__).resolve().parents[1] / "pretrained"]
    if os.environ.get("LATENTCODEC_PRETRAINED"):
        dirs.insert(0, Path(os.environ["LATENTCODEC_PRETRAINED"]))
    return [d for d in dirs if d.is_dir()]


def file_hash(path) -> str:
    """The identity a stream's header records: the first 16 hex digits of the file's SHA-256."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def read_weights(path, kind: str) -> tuple[dict, dict]:
    """(metadata, tensors) of a safetensors weight file written for ``kind``
    ("audio-codec", "video-codec"), or ValueError for any other file; tensors are torch's."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
        if meta.get("kind") != kind:
            raise ValueError(f"{path}: not a latentcodec {kind.replace('-', ' ')} model")
        return meta, {k: f.get_tensor(k) for k in f.keys()}
