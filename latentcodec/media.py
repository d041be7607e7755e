"""Reading and writing media, with one error type for media we cannot handle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError


class MediaError(ValueError):
    """A media file cannot be read, or media cannot be written in the asked format."""


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".ppm", ".tif", ".tiff"}


def image_files(folder) -> list[Path]:
    files = sorted(p for p in Path(folder).expanduser().iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images in {folder}")
    return files


def read_image(path) -> np.ndarray:
    """uint8 [H, W] (grayscale), [H, W, 3] (RGB) or [H, W, 4] (RGBA)."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode not in ("L", "RGB", "RGBA"):
                im = im.convert("RGBA" if "A" in im.getbands() else "RGB")
            return np.asarray(im)
    except FileNotFoundError:
        raise MediaError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise MediaError(f"{path}: not a readable image ({e})") from None


def image_format(path) -> str:
    """Pillow's format name for the suffix of ``path``."""
    suffix = Path(path).suffix.lower()
    fmt = Image.registered_extensions().get(suffix)
    if fmt is None or fmt not in Image.SAVE:
        raise MediaError(f"{path}: cannot write images as {suffix or 'a file without suffix'} (use .png)")
    return fmt


def write_image(stream, image: np.ndarray, fmt: str = "PNG") -> None:
    Image.fromarray(np.asarray(image)).save(stream, format=fmt)


MEDIA = {"image": (read_image, image_format, write_image)}  # modality -> (read, format of path, write)
