"""overfit-image on a 768x512 photo: decode time against mbt2018-mean-small
and Pillow's AVIF decoder, and encode time per preset.

Decoding: medians of --repeats decodes on --decode-threads threads (default 1)
of one overfit-image stream, of the shipped mbt2018-mean-small-q2 stream and
of an AVIF (Pillow, quality 50) of the same photo, all in this process. The
overfit stream comes from --stream, or from a short training run here
(--train-iterations; decode work does not depend on how long it trained, only
the latents' entropy moves the range coder by a few ms).

Encoding: seconds per training iteration for each decoder size, measured over
--iterations iterations on --threads threads, times each preset's iteration
count, plus the one-off search of the network's quantization steps, per
megapixel. --full also runs one whole medium-preset encode and
reports its wall time. --profile prints where an iteration's time goes.

    python benchmarks/overfit_image_speed.py [--repeats 5] [--iterations 30] [--threads 2] [--full] [--profile]
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np
import torch
from PIL import Image
from skimage import data

import latentcodec
from latentcodec.codecs import overfit_image
from timing import median_time


def photo() -> np.ndarray:
    return np.asarray(Image.fromarray(data.astronaut()).resize((768, 512), Image.LANCZOS))


def encode_seconds(image: np.ndarray, decoder: str, iterations: int) -> tuple[float, float]:
    """(seconds per training iteration, seconds of the one-off network quantization search)."""
    x = torch.from_numpy(image.copy()).permute(2, 0, 1).float().div(255)
    size, lmbda = overfit_image.DECODERS[decoder], overfit_image.QUALITIES[2]
    start = time.perf_counter()
    model = overfit_image.fit(x, lmbda, size, overfit_image.EncoderEffort(1, 1, iterations, 1), progress=False)
    trained = time.perf_counter()
    overfit_image.quantize_network(model, x, lmbda, size)
    return (trained - start) / (iterations + 2), time.perf_counter() - trained


def profile(image: np.ndarray) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    x = torch.from_numpy(image.copy()).permute(2, 0, 1).float().div(255)
    model = overfit_image.OverfitImage(*image.shape, overfit_image.DECODERS["medium"]).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    def step():
        optimizer.zero_grad(set_to_none=True)
        x_hat, bits = model()
        loss = torch.nn.functional.mse_loss(x_hat, x[None]) + 0.003 * bits / x[0].numel()
        loss.backward()
        optimizer.step()

    step()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(5):
            step()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--decode-threads", type=int, default=1)
    parser.add_argument("--stream", help="an overfit-image .lc file of a 768x512 image to time instead")
    parser.add_argument("--train-iterations", type=int, default=200)
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    image = photo()
    megapixels = image.shape[0] * image.shape[1] / 1e6

    torch.set_num_threads(args.threads)
    if args.stream:
        with open(args.stream, "rb") as f:
            ours = f.read()
    else:
        overfit_image.PRESETS["benchmark"] = overfit_image.EncoderEffort(1, 20, args.train_iterations, 20)
        ours = latentcodec.load("overfit-image-q3").compress(image, preset="benchmark", progress=False)
    baseline = latentcodec.load("mbt2018-mean-small-q2")
    theirs = baseline.compress(image)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "AVIF", quality=50)
    avif = buffer.getvalue()

    torch.set_num_threads(args.decode_threads)
    rows = [
        (f"overfit-image ({len(ours)} bytes)", lambda: latentcodec.decompress(ours)),
        (f"mbt2018-mean-small-q2 ({len(theirs)} bytes)", lambda: latentcodec.decompress(theirs)),
        (f"Pillow AVIF q50 ({len(avif)} bytes)", lambda: np.asarray(Image.open(io.BytesIO(avif)).convert("RGB"))),
    ]
    print(f"768x512 photo, decode, median of {args.repeats}, {args.decode_threads} thread(s)")
    reference = None
    for name, fn in rows:
        fn()
        seconds = median_time(fn, args.repeats)
        reference = reference or seconds
        print(f"  {name:<44}{seconds * 1e3:8.0f} ms   {seconds / reference:5.2f}x overfit-image's time")

    torch.set_num_threads(args.threads)
    print(f"\nencode, {args.threads} threads, {args.iterations} iterations timed per decoder")
    presets = {name: e.candidates * e.warmup + e.main + e.final for name, e in overfit_image.PRESETS.items()
               if name in ("fast", "medium", "slow")}
    for decoder in overfit_image.DECODERS:
        s, search = encode_seconds(image, decoder, args.iterations)
        per_preset = "  ".join(f"{p} {(n * s + search) / 60 / megapixels:5.1f} min/MP" for p, n in presets.items())
        print(f"  {decoder:<7}{s:6.3f} s/iteration + {search:4.1f} s search   {per_preset}")
    if args.full:
        start = time.perf_counter()
        latentcodec.load("overfit-image-q3").compress(image, preset="medium")
        print(f"  one medium-preset encode (medium decoder): {(time.perf_counter() - start) / 60:.1f} min")
    if args.profile:
        profile(image)


if __name__ == "__main__":
    main()
