"""``export``, ``export-*`` and ``finetune-quantized``: handlers over :mod:`latentcodec.training.cli`."""

from __future__ import annotations

import sys

from latentcodec import registry
from latentcodec.training import cli as training


def export(args) -> None:
    info = training.export(args.checkpoint, args.output, measure_on=args.measure_on)
    print(f"{args.checkpoint} -> {args.output}: {info}")


def export_tokenizer(args) -> None:
    info = training.export_tokenizer(args.checkpoint, args.output, measure_on=args.measure_on)
    print(f"{args.checkpoint} -> {args.output}: {info}")


def export_audio(args) -> None:
    info = training.export_audio(args.checkpoint, args.output, prior_from=args.prior_from, prior_files=args.prior_files,
                                 context_groups=args.context_groups, measure_on=args.measure_on,
                                 measure_files=args.measure_files, postfilter=args.postfilter,
                                 search_beam=args.search_beam)
    print(f"{args.checkpoint} -> {args.output}: {info}")


def export_video(args) -> None:
    info = training.export_video(args.checkpoint, args.output, measure_on=args.measure_on, frames=args.frames, gop=args.gop)
    print(f"{args.checkpoint} -> {args.output}: {info}")


def finetune_quantized(args) -> None:
    data = {k: getattr(args, k) for k in ("train_dir", "crop", "crops_per_image", "batch_size")}
    command = "latentcodec " + " ".join(sys.argv[1:])
    codec = registry.load(registry.resolve(args.model, args.quality))
    info = training.finetune_quantized(codec, args.output, args.quantizer, args.steps, args.lr, args.measure_on, command, **data)
    print(f"{args.output}: {info}")
