"""Real file size against the model's own estimate of the bits, per image.

For each installed learned image codec of a family, codes each image of a
folder and compares the range-coded payload and the whole ``.lc`` file with
-sum(log2 likelihoods) of the same latents (eval mode: rounded, as coded).

    python benchmarks/image_rate_accuracy.py [--family mbt2018-mean-small] [DIR]
"""

from __future__ import annotations

import argparse

import torch

import latentcodec
from latentcodec import registry
from latentcodec.codecs.image_models import pad, to_tensor
from latentcodec.container import unpack
from latentcodec.files import DEFAULT_IMAGE_MODEL
from latentcodec.media import image_files, read_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", default="~/.cache/latentcodec/data/images/eval")
    parser.add_argument("--family", default=DEFAULT_IMAGE_MODEL)
    args = parser.parse_args()
    images = [(p.stem, read_image(p)[..., :3]) for p in image_files(args.folder)]
    print(f"{'codec':<24}{'image':<20}{'estimated B':>12}{'payload B':>11}{'file B':>9}{'payload/est':>13}")
    for name in registry.family(args.family):
        codec = latentcodec.load(name)
        for stem, image in images:
            if max(image.shape[:2]) > 1024:  # the codec would tile; the estimate below would not
                continue
            with torch.no_grad():
                out = codec.model(pad(to_tensor(image)[None], codec.model.alignment))
            estimate = sum(-torch.log2(lik).sum() for lik in out["likelihoods"].values()).item() / 8
            data = codec.compress(image)
            payload = sum(len(c) for c in unpack(data)[1])
            print(f"{name:<24}{stem:<20}{estimate:>12.0f}{payload:>11}{len(data):>9}{payload / estimate - 1:>+12.2%}")


if __name__ == "__main__":
    main()
