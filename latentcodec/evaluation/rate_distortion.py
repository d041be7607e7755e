"""Rate-distortion sweeps: our codecs and Pillow's JPEG/WebP/AVIF on the same
images, at real file sizes (whole ``.lc`` files, whole JPEG files)."""

from __future__ import annotations

import io
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context

import numpy as np
import torch
from PIL import Image
from pytorch_msssim import ms_ssim

from latentcodec import registry
from latentcodec.codec import Codec
from latentcodec.evaluation.bd_rate import bd_rate

# Pillow format and the quality settings swept, low to high
BASELINES = {
    "jpeg": ("JPEG", list(range(5, 100, 5))),
    "webp": ("WEBP", list(range(0, 101, 5))),
    "avif": ("AVIF", list(range(0, 101, 5))),
}


@dataclass(frozen=True)
class RdPoint:
    setting: str
    bpp: float  # mean over images, from real file sizes
    psnr: float  # mean over images, RGB, dB
    ms_ssim: float  # mean over images


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255**2 / mse))


def msssim(a: np.ndarray, b: np.ndarray) -> float:
    if min(a.shape[:2]) < 161:  # five scales need 161 px
        return float("nan")
    x, y = (torch.from_numpy(np.array(i)).permute(2, 0, 1)[None].float() for i in (a, b))  # a copy: decoded images are read-only
    return float(ms_ssim(x, y, data_range=255.0))


def jpeg_size_at_psnr(image: np.ndarray, target: float) -> float:
    """Bytes Pillow's JPEG needs to reach ``target`` dB, interpolated between
    the two quality settings around it."""
    sizes, psnrs = [], []
    for quality in range(5, 101):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
        sizes.append(buffer.tell())
        psnrs.append(psnr(image, np.asarray(Image.open(buffer).convert("RGB"))))
        if psnrs[-1] >= target:
            break
    if psnrs[-1] < target or len(psnrs) == 1:
        return float(sizes[-1])
    (s0, s1), (p0, p1) = sizes[-2:], psnrs[-2:]
    return s0 + (s1 - s0) * (target - p0) / (p1 - p0) if p1 > p0 else float(s1)


def _point(setting: str, images: list[np.ndarray], coded: list[tuple[int, np.ndarray]]) -> RdPoint:
    bpp = [8 * size / (im.shape[0] * im.shape[1]) for im, (size, _) in zip(images, coded)]
    return RdPoint(
        setting,
        float(np.mean(bpp)),
        float(np.mean([psnr(im, out) for im, (_, out) in zip(images, coded)])),
        float(np.mean([msssim(im, out) for im, (_, out) in zip(images, coded)])),
    )


def baseline_curve(name: str, images: list[np.ndarray]) -> list[RdPoint]:
    fmt, qualities = BASELINES[name]
    curve = []
    for quality in qualities:
        coded = []
        for image in images:
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format=fmt, quality=quality)
            coded.append((buffer.tell(), np.asarray(Image.open(buffer).convert("RGB"))))
        curve.append(_point(f"{name} q{quality}", images, coded))
    return curve


def codec_point(codec: Codec, images: list[np.ndarray], **options) -> RdPoint:
    """``options`` go to the codec's encoder (an image codec's ``quantizer``)."""
    coded = []
    for image in images:
        data = codec.compress(image, **options)
        coded.append((len(data), codec.decompress(data)))
    return _point(codec.name, images, coded)


def codec_points(settings: list[tuple[str, dict]], images: list[np.ndarray], processes: int = 1) -> list[RdPoint]:
    """:func:`codec_point` of each (installed codec name, encoder options),
    in that many processes of one torch thread each when ``processes`` > 1
    (refined encoding is slow; the points are independent)."""
    if processes <= 1:
        return [codec_point(registry.load(name), images, **options) for name, options in settings]
    context = get_context("spawn")  # forking a process that has run torch's thread pool can hang
    with ProcessPoolExecutor(processes, mp_context=context, initializer=_start_worker, initargs=(images,)) as pool:
        return list(pool.map(_worker_point, settings))


_worker_images: list[np.ndarray] = []


def _start_worker(images: list[np.ndarray]) -> None:
    torch.set_num_threads(1)
    _worker_images[:] = images


def _worker_point(setting: tuple[str, dict]) -> RdPoint:
    name, options = setting
    return codec_point(registry.load(name), _worker_images, **options)


def bd_rates(curves: dict[str, list[RdPoint]], ours: list[str], anchors: list[str], metric: str = "psnr") -> dict:
    """BD-rate (%) of each of ``ours`` against each of ``anchors``."""
    table = {}
    for test in ours:
        for anchor in anchors:
            a, t = curves[anchor], curves[test]
            try:
                table[(test, anchor)] = bd_rate(
                    [p.bpp for p in a], [getattr(p, metric) for p in a], [p.bpp for p in t], [getattr(p, metric) for p in t]
                )
            except ValueError:
                table[(test, anchor)] = float("nan")
    return table


def plot(curves: dict[str, list[RdPoint]], path, metric: str = "psnr", max_bpp: float | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5), dpi=120)
    for name, curve in curves.items():
        points = [p for p in curve if max_bpp is None or p.bpp <= max_bpp]
        ax.plot([p.bpp for p in points], [getattr(p, metric) for p in points], marker="o", markersize=3, label=name)
    ax.set_xlabel("bits per pixel (real file sizes)")
    ax.set_ylabel("PSNR (dB)" if metric == "psnr" else "MS-SSIM")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
