"""Batch tokenization of 1,000 real photos: speed, memory, and a kill-and-resume check.

Random crops of the development and training photos (``latentcodec data
fetch images``) are written as --items distinct JPEG files. The shipped
image tokenizer tokenizes them at --size in this process, timed, with the
peak RSS and the peak of what tracemalloc traces during the run: decoded
and resized images (numpy arrays), not the model or torch tensors. Then a
CLI run on the same list is SIGKILLed at a random point, rerun, and its
output compared byte for byte with the uninterrupted run's.

    OMP_NUM_THREADS=1 python benchmarks/batch_tokenize.py [--items 1000] [--size 256]
"""

from __future__ import annotations

import argparse
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from PIL import Image

from latentcodec.batch_tokenize import DEFAULT_MODEL, tokenize_dataset

DATA = Path("~/.cache/latentcodec/data/images").expanduser()


def write_crops(n: int, folder: Path, seed: int = 0) -> tuple[Path, float]:
    """``n`` distinct JPEG crops (short side >= 256 where the photo allows) of the photos:
    a .txt list of them, and their mean size in megapixels."""
    photos = sorted((DATA / "train").glob("*.png")) + sorted((DATA / "eval").glob("*.png"))
    if not photos:
        sys.exit(f"no photos in {DATA}: run `latentcodec data fetch images` first")
    rng = random.Random(seed)
    paths, pixels = [], 0
    for i in range(n):
        with Image.open(photos[i % len(photos)]) as im:
            photo = im.convert("RGB")
        w, h = photo.size
        side = rng.randint(min(256, w, h), min(w, h))
        cw, ch = min(w, round(side * rng.uniform(1, 1.5))), side  # landscape-ish windows of several sizes
        left, top = rng.randint(0, w - cw), rng.randint(0, h - ch)
        pixels += cw * ch
        paths.append(folder / f"photo{i:05d}.jpg")
        photo.crop((left, top, left + cw, top + ch)).save(paths[-1], quality=92)
    listing = folder / "photos.txt"
    listing.write_text("".join(f"{p}\n" for p in paths))
    return listing, pixels / n / 1e6


def cli(listing: Path, out: Path, args) -> subprocess.Popen:
    command = [sys.executable, "-m", "latentcodec.cli", "tokenize", str(listing), "--out", str(out), "--model", args.model,
               "--size", str(args.size), "--batch-size", str(args.batch_size), "--shard-items", str(args.shard_items)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--shard-items", type=int, default=100)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "photos").mkdir()
        listing, megapixels = write_crops(args.items, tmp / "photos")
        print(f"{args.items} JPEG crops, {megapixels:.2f} Mpixel on average, "
              f"tokenized at {args.size}x{args.size} by {args.model}, batch {args.batch_size}")

        tracemalloc.start()
        start = time.perf_counter()
        summary = tokenize_dataset(args.model, [listing], tmp / "reference", size=args.size, batch_size=args.batch_size,
                                   shard_items=args.shard_items, progress=False)
        seconds = time.perf_counter() - start
        traced = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"{summary['tokenized']} items ({summary['errors']} unreadable) in {seconds:.1f} s: "
              f"{summary['tokenized'] / seconds:.1f} items/s, {summary['tokens'] / seconds:,.0f} tokens/s")
        print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB; "
              f"peak traced (decoded media) {traced / 2**20:.1f} MiB")

        delay = random.Random().uniform(0.2, 0.8) * seconds + 3  # + the CLI's start-up
        process = cli(listing, tmp / "resumed", args)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        done = len(list((tmp / "resumed").glob("shard-*.index.jsonl")))
        process = cli(listing, tmp / "resumed", args)
        stdout, _ = process.communicate()
        reference = {p.name: p.read_bytes() for p in (tmp / "reference").iterdir()}
        resumed = {p.name: p.read_bytes() for p in (tmp / "resumed").iterdir()}
        print(f"killed after {delay:.1f} s with {done} of {summary['shards']} shards done; resumed: {stdout.strip()}")
        print(f"resumed output identical to the uninterrupted run's: {resumed == reference} ({len(reference)} files)")


if __name__ == "__main__":
    main()
