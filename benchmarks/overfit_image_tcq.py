"""Where TCQ's rate goes in overfit-image: trains one model on a photo as the
``tcq`` option does (fast preset, no final phase), then prints the float
model's bpp and the PSNR of its grids rounded to Z, rounded to Z/2 (not a
valid trellis path; a bound), and trellis-searched at several search lambdas.

    python benchmarks/overfit_image_crops.py DIR
    python benchmarks/overfit_image_tcq.py DIR/astronaut.png [--quality 3]
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from latentcodec.codecs import overfit_image as overfit
from latentcodec.quantizers import LatticeTrellisQuantizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("image")
    parser.add_argument("--quality", type=int, default=3, choices=range(1, len(overfit.QUALITIES) + 1))
    parser.add_argument("--lambdas", default="0.05,0.2,0.5,1,2", help="the search's lambdas")
    args = parser.parse_args()
    torch.set_num_threads(1)
    x = torch.from_numpy(np.asarray(Image.open(args.image).convert("RGB")).copy()).permute(2, 0, 1).float() / 255
    fast = overfit.PRESETS["fast"]
    trellis = LatticeTrellisQuantizer(4)
    model = overfit.fit(x, overfit.QUALITIES[args.quality - 1], overfit.DECODERS["medium"],
                        overfit.EncoderEffort(fast.candidates, fast.warmup, fast.main, 0), trellis=trellis)
    n_pixels = x.shape[1] * x.shape[2]
    scaled = model.scaled_latents()

    def report(name, grids, on_q1=None):
        with torch.no_grad():
            mse = F.mse_loss(model.decode(grids).clamp(0, 1), x[None]).item()
            bpp = model.arm.bits(grids, on_q1).item() / n_pixels
        print(f"{name:16s} {bpp:.4f} bpp  {-10 * math.log10(mse):.3f} dB", flush=True)

    report("round to Z", [torch.round(y) for y in scaled])
    report("round to Z/2", [torch.round(2 * y) / 2 for y in scaled])
    for lmbda in map(float, args.lambdas.split(",")):
        trellis.lmbda = lmbda
        grids = model.hard_grids(trellis)
        report(f"tcq lambda {lmbda:g}", grids, [trellis.on_q1(g) for g in grids])


if __name__ == "__main__":
    main()
