"""CPU encode+decode time of a 768x512 photo: latentcodec vs CompressAI.

Three rows, all in this process on the same image: CompressAI's
MeanScaleHyperprior(N=128, M=192) with its own rANS coder, the same
architecture with the same weights through latentcodec's coder and
container, and latentcodec's default pretrained model (with --refine,
also encoding with that many steps of latent refinement, then decoding).
Medians of --repeats runs. Untrained weights time the same as trained ones.

    python benchmarks/image_codec_speed.py [--repeats 5] [--threads 2] [--refine STEPS]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from compressai.models import MeanScaleHyperprior as CompressAIMeanScale
from PIL import Image
from skimage import data

import latentcodec
from latentcodec import registry
from latentcodec.codecs.compressai_interop import from_compressai
from latentcodec.codecs.image import ImageCodec
from latentcodec.codecs.image_models import to_tensor
from latentcodec.files import DEFAULT_IMAGE_MODEL
from timing import median_time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--refine", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    image = np.asarray(Image.fromarray(data.astronaut()).resize((768, 512), Image.LANCZOS))
    x = to_tensor(image)[None]

    torch.manual_seed(0)
    theirs = CompressAIMeanScale(128, 192).eval()
    theirs.update()

    @torch.no_grad()
    def compressai_round_trip():
        out = theirs.compress(x)
        theirs.decompress(out["strings"], out["shape"])

    ours_same = ImageCodec("mbt2018-mean-compressai", from_compressai(theirs.state_dict(), "mbt2018-mean"), "benchmark")
    rows = [
        ("CompressAI MeanScaleHyperprior(128,192), rANS", compressai_round_trip),
        ("latentcodec, same weights (128,192)", lambda: ours_same.decompress(ours_same.compress(image))),
    ]
    if registry.family(DEFAULT_IMAGE_MODEL):
        default = latentcodec.load(registry.resolve(DEFAULT_IMAGE_MODEL))
        rows.append((f"latentcodec default {default.name}", lambda: default.decompress(default.compress(image))))
        if args.refine:
            rows.append((f"  the same, refine={args.refine}",
                         lambda: default.decompress(default.compress(image, refine=args.refine))))
    for _, fn in rows:  # warm-up
        fn()
    print(f"768x512 photo, encode+decode, median of {args.repeats}, {args.threads} threads")
    reference = None
    for name, fn in rows:
        seconds = median_time(fn, args.repeats)
        reference = reference or seconds
        print(f"  {name:<52}{seconds * 1e3:8.0f} ms   {reference / seconds:5.2f}x CompressAI's speed")


if __name__ == "__main__":
    main()
