"""File-level API: media file to ``.lc`` and back, never leaving a partial
output behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from latentcodec import registry
from latentcodec.container import ContainerReader
from latentcodec.media import MEDIA, modality_of


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path):
    """A binary file that appears at ``path`` only if the block succeeds."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give what open() would
        with os.fdopen(fd, "wb") as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_directory(path):
    """A folder that appears at ``path`` (absent or an empty folder) only if the block succeeds."""
    path = Path(path)
    if path.exists() and not (path.is_dir() and not any(path.iterdir())):
        raise FileExistsError(f"{path} exists and is not an empty folder")
    tmp = tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; give what mkdir() would
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


DEFAULT_IMAGE_MODEL = "mbt2018-mean-small"  # a family in pretrained/
DEFAULT_AUDIO_MODEL = "speech-codec-16k"  # pretrained/audio/
DEFAULT_VIDEO_MODEL = "video-ssf-small"  # pretrained/video/ (a single model or a family)
DEFAULT_TOKENIZER = "image-tokenizer-fsq-f8-small"  # pretrained/tokenizers/
DEFAULT_MODELS = {"image": DEFAULT_IMAGE_MODEL, "audio": DEFAULT_AUDIO_MODEL, "video": DEFAULT_VIDEO_MODEL}


def encode_file(src, dst, model: str | None = None, quality: int | None = None, **options) -> None:
    """Encodes a media file with an installed codec (by default the one for the
    file's kind of media), or a family's rate point ``quality`` (see
    :func:`latentcodec.registry.resolve`); ``options`` go to the codec's
    encoder (an image codec's ``quantizer="tcq"``, an audio codec's ``bitrate=3``,
    a video codec's ``gop=12``)."""
    codec = registry.load(registry.resolve(model or DEFAULT_MODELS[modality_of(src)], quality))
    read, _, _ = MEDIA[codec.modality]
    media = read(src)
    with atomic_write(dst) as f:
        codec.write(media, f, **options)


def decode_file(src, dst, crf: int | None = None) -> None:
    """Decodes any ``.lc`` file with the codec its header names; the output
    format follows ``dst``'s suffix (for video, no suffix means a folder of
    PNG frames, and ``crf`` > 0 writes .mp4 as playable 4:2:0 H.264 instead of
    lossless)."""
    with open(src, "rb") as f:
        reader = ContainerReader(f)
        codec = registry.load_for(reader.header)
        _, output_format, write = MEDIA[codec.modality]
        if crf is not None and codec.modality != "video":
            raise ValueError(f"crf applies to video output; {src} holds {codec.modality}")
        fmt = output_format(dst) if crf is None else output_format(dst, crf=crf)
        media = codec.read(reader)  # may decode lazily (audio, video) while it is written
        with (atomic_directory if getattr(fmt, "directory", False) else atomic_write)(dst) as out:
            write(out, media, fmt)
