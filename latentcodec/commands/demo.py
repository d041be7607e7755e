"""``demo``: the bundled photo through the public API, and latents through the entropy coder."""

from __future__ import annotations

import io
import time
from importlib import resources

import numpy as np
import torch
from PIL import Image

import latentcodec
from latentcodec import registry
from latentcodec.entropy import GaussianConditional, RangeDecoder, RangeEncoder
from latentcodec.evaluation.rate_distortion import jpeg_size_at_psnr, psnr
from latentcodec.files import DEFAULT_IMAGE_MODEL
from latentcodec.media import read_image


def demo(args) -> None:
    """Codes the bundled photo through the public API and the coder directly."""
    photo = resources.files("latentcodec.assets") / "chelsea.png"
    image = read_image(photo)
    pixels = image.shape[0] * image.shape[1]

    learned = latentcodec.load(registry.resolve(DEFAULT_IMAGE_MODEL))
    t = time.perf_counter()
    data = learned.compress(image)
    te = time.perf_counter() - t
    t = time.perf_counter()
    restored = latentcodec.decompress(data)
    td = time.perf_counter() - t
    quality = psnr(image, restored)
    jpeg = jpeg_size_at_psnr(image, quality)
    print(f"photo {photo.name} {image.shape[1]}x{image.shape[0]} RGB, learned codec {learned.name} "
          f"({learned.new_quantizer().name} quantizer):")
    print(f"  {len(data)} bytes = {8 * len(data) / pixels:.3f} bpp at {quality:.2f} dB PSNR; "
          f"JPEG (Pillow) at the same PSNR: {jpeg:.0f} bytes ({100 * (len(data) / jpeg - 1):+.1f}%)")
    print(f"  encode {1e3 * te:.0f} ms, decode {1e3 * td:.0f} ms; decoding again gives the same pixels: "
          f"{np.array_equal(latentcodec.decompress(data), restored)}")

    codec = latentcodec.load("lossless-image")
    enc, dec = [], []
    for _ in range(3):
        t = time.perf_counter()
        data = codec.compress(image)
        enc.append(time.perf_counter() - t)
        t = time.perf_counter()
        restored = latentcodec.decompress(data)
        dec.append(time.perf_counter() - t)
    png = io.BytesIO()
    Image.fromarray(image).save(png, format="PNG", optimize=True)
    print("the same photo, lossless-image codec:")
    print(f"  {len(data)} bytes = {8 * len(data) / pixels:.3f} bpp; PNG (Pillow, optimize): "
          f"{len(png.getvalue())} bytes = {8 * len(png.getvalue()) / pixels:.3f} bpp "
          f"({100 * (len(data) / len(png.getvalue()) - 1):+.1f}%)")
    print(f"  encode {1e3 * np.median(enc):.0f} ms, decode {1e3 * np.median(dec):.0f} ms (median of 3); "
          f"exact round trip: {np.array_equal(restored, image)}")

    n = 1_000_000
    rng = np.random.default_rng(0)
    scales = torch.from_numpy(np.exp(rng.uniform(np.log(0.11), np.log(64), n)).astype(np.float32))
    symbols = torch.round(scales * torch.from_numpy(rng.standard_normal(n).astype(np.float32))).int()
    model = GaussianConditional()
    t = time.perf_counter()
    encoder = RangeEncoder()
    model.encode(encoder, symbols, scales)
    stream = encoder.flush()
    te = time.perf_counter() - t
    t = time.perf_counter()
    decoded = model.decode(RangeDecoder(stream), scales)
    td = time.perf_counter() - t
    ideal = model.tables.information_bits(symbols.numpy(), model.indexes(scales)).sum()
    print(f"{n} Gaussian latents, GaussianConditional + RangeEncoder (table lookup included):")
    print(f"  {len(stream)} bytes, {100 * (8 * len(stream) / ideal - 1):+.4f}% over the tables' information content; "
          f"encode {n / te / 1e6:.1f} Msym/s, decode {n / td / 1e6:.1f} Msym/s; exact: {torch.equal(decoded, symbols)}")
