"""File-level API: media file to ``.lc`` and back, never leaving a partial
output behind."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from latentcodec import registry
from latentcodec.container import ContainerReader
from latentcodec.media import MEDIA


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


DEFAULT_IMAGE_MODEL = "mbt2018-mean-small"  # a family in pretrained/


def encode_file(src, dst, model: str = DEFAULT_IMAGE_MODEL, quality: int | None = None, **options) -> None:
    """Encodes a media file with an installed codec, or a family's rate point
    ``quality`` (see :func:`latentcodec.registry.resolve`); ``options`` go to
    the codec's encoder (an image codec's ``quantizer="tcq"``)."""
    codec = registry.load(registry.resolve(model, quality))
    read, _, _ = MEDIA[codec.modality]
    media = read(src)
    with atomic_write(dst) as f:
        codec.write(media, f, **options)


def decode_file(src, dst) -> None:
    """Decodes any ``.lc`` file with the codec its header names; the output
    format follows ``dst``'s suffix."""
    with open(src, "rb") as f:
        reader = ContainerReader(f)
        codec = registry.load_for(reader.header)
        _, output_format, write = MEDIA[codec.modality]
        fmt = output_format(dst)
        media = codec.read(reader)
    with atomic_write(dst) as out:
        write(out, media, fmt)
