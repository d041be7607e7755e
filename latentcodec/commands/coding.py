"""``encode``, ``decode`` and ``tokenize``: what they import is what coding needs."""

from __future__ import annotations

from pathlib import Path

from latentcodec.container import ContainerReader
from latentcodec.files import decode_file, encode_file


def encode(args) -> None:
    options = {"quantizer": args.quantizer} if args.quantizer else {}
    if args.refine:
        options["refine"] = args.refine
    if args.bitrate is not None:
        options["bitrate"] = args.bitrate
    if args.constant_depth:
        options["variable"] = False
    if args.gop is not None:
        options["gop"] = args.gop
    options.update({k: getattr(args, k) for k in ("preset", "lmbda", "decoder") if getattr(args, k) is not None})
    encode_file(args.input, args.output, model=args.model, quality=args.quality, **options)
    print(f"{args.input} -> {args.output}: {Path(args.output).stat().st_size} bytes")
    with open(args.output, "rb") as f:
        meta = ContainerReader(f).header.meta
    if "source_sample_rate" in meta:
        print(f"note: coded as {meta['sample_rate']} Hz mono; the input was {meta['source_sample_rate']} Hz "
              f"with {meta['source_channels']} channel(s), downmixed and resampled")


def decode(args) -> None:
    decode_file(args.input, args.output, crf=args.crf)
    print(f"{args.input} -> {args.output}")


def tokenize(args) -> None:
    from latentcodec.batch_tokenize import tokenize_dataset

    options = ("size", "batch_size", "shard_items", "max_frames", "frame_step", "n_quantizers", "devices",
               "accelerator", "num_nodes")
    s = tokenize_dataset(args.model, args.inputs, args.out, **{k: getattr(args, k) for k in options})
    print(f"{args.out}: {s['tokenized']} items tokenized ({s['new']} new), {s['errors']} unreadable skipped, "
          f"{s['shards']} shards, {s['tokens']:,} tokens")
