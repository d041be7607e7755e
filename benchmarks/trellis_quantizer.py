"""Trellis-coded quantization: encoder throughput and decoder cost.

1. The Viterbi search alone (``TrellisQuantizer.quantize``) on --latents
   Gaussian latents with log-uniform scales, 8 and 4 states, in latents per
   second; beside it, the whole uniform path (rounding + range coding) and
   the whole TCQ path (search + range coding).
2. Range decoding of the same latents with and without state tracking.
3. Decoding a 768x512 photo with the default pretrained model, its stream
   made with uniform rounding and with TCQ (the decoder's whole run time).

Everything runs in this process; medians of --repeats runs.

    python benchmarks/trellis_quantizer.py [--latents 2000000] [--repeats 5]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from PIL import Image
from skimage import data

import latentcodec
from latentcodec import registry
from latentcodec.entropy import GaussianConditional, RangeDecoder, RangeEncoder
from latentcodec.files import DEFAULT_IMAGE_MODEL
from timing import median_time
from latentcodec.quantizers import TrellisQuantizer, UniformQuantizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latents", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    n = args.latents
    rng = np.random.default_rng(0)
    scales = torch.from_numpy(np.exp(rng.uniform(np.log(0.11), np.log(16), n)).astype(np.float32))
    y = scales * torch.from_numpy(rng.standard_normal(n).astype(np.float32))
    conditional = GaussianConditional()

    print(f"{n:,} Gaussian latents (scales log-uniform 0.11..16), median of {args.repeats}")
    uniform_time = median_time(lambda: UniformQuantizer().encode(RangeEncoder(), conditional, y, scales), args.repeats)
    print(f"  {'uniform: round + range coding':<44}{n / uniform_time / 1e6:8.2f} M latents/s")
    for states in (8, 4):
        search = median_time(lambda: TrellisQuantizer(states).quantize(conditional, y, scales), args.repeats)
        whole = median_time(lambda: TrellisQuantizer(states).encode(RangeEncoder(), conditional, y, scales), args.repeats)
        target = "   target >= 2 M/s  " + ("PASS" if n / search >= 2e6 else "FAIL") if states == 8 else ""
        print(f"  {f'TCQ {states} states: Viterbi search':<44}{n / search / 1e6:8.2f} M latents/s{target}")
        print(f"  {f'TCQ {states} states: search + range coding':<44}{n / whole / 1e6:8.2f} M latents/s")

    encoder = RangeEncoder()
    UniformQuantizer().encode(encoder, conditional, y, scales)
    uniform_stream = encoder.flush()
    encoder = RangeEncoder()
    TrellisQuantizer().encode(encoder, conditional, y, scales)
    tcq_stream = encoder.flush()
    t_uniform = median_time(lambda: UniformQuantizer().decode(RangeDecoder(uniform_stream), conditional, scales), args.repeats)
    t_tcq = median_time(lambda: TrellisQuantizer().decode(RangeDecoder(tcq_stream), conditional, scales), args.repeats)
    print("range decoding + dequantization of the same latents")
    print(f"  {'uniform':<44}{n / t_uniform / 1e6:8.2f} M latents/s")
    print(f"  {'TCQ 8 states (state tracked in the decoder)':<44}{n / t_tcq / 1e6:8.2f} M latents/s"
          f"   {t_tcq / t_uniform:.2f}x uniform's time")

    if registry.family(DEFAULT_IMAGE_MODEL):
        codec = latentcodec.load(registry.resolve(DEFAULT_IMAGE_MODEL))
        image = np.asarray(Image.fromarray(data.astronaut()).resize((768, 512), Image.LANCZOS))
        streams = {q: codec.compress(image, quantizer=q) for q in ("uniform", "tcq")}
        for stream in streams.values():  # warm-up
            latentcodec.decompress(stream)
        times = {q: median_time(lambda s=s: latentcodec.decompress(s), args.repeats) for q, s in streams.items()}
        encode = {q: median_time(lambda q=q: codec.compress(image, quantizer=q), args.repeats) for q in streams}
        print(f"768x512 photo, {codec.name}")
        for q in streams:
            print(f"  {q:<10} encode {encode[q] * 1e3:6.0f} ms  decode {times[q] * 1e3:6.0f} ms  "
                  f"({len(streams[q]):,} bytes)")
        print(f"  TCQ decode time / uniform decode time: {times['tcq'] / times['uniform']:.3f}")


if __name__ == "__main__":
    main()
