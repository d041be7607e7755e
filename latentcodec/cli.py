"""``latentcodec`` command line: encode, decode, inspect, list, demo."""

from __future__ import annotations

import argparse
import sys
import time
from importlib import resources
from pathlib import Path

import numpy as np

import latentcodec
from latentcodec import datasets, registry
from latentcodec.batch_tokenize import DEFAULT_MODEL as DEFAULT_TOKENIZER
from latentcodec.container import ContainerReader
from latentcodec.errors import BitstreamError
from latentcodec.files import DEFAULT_AUDIO_MODEL, DEFAULT_IMAGE_MODEL, DEFAULT_VIDEO_MODEL
from latentcodec.media import MediaError

EXPECTED_ERRORS = (BitstreamError, MediaError, OSError, KeyError, ValueError)


def _model_entry(entry: str) -> tuple[str, dict]:
    """``NAME@SETTINGS`` -> (NAME, encoder options). SETTINGS joins with ``+``
    a quantizer spec and/or ``refine=STEPS``: ``mbt2018-mean-small@tcq+refine=100``."""
    prefix, _, settings = entry.partition("@")
    options = {}
    for setting in filter(None, settings.split("+")):
        key, eq, value = setting.partition("=")
        if key == "refine" and eq:
            options["refine"] = int(value)
        else:
            options["quantizer"] = setting
    return prefix, options


def _encode(args) -> None:
    options = {"quantizer": args.quantizer} if args.quantizer else {}
    if args.refine:
        options["refine"] = args.refine
    if args.bitrate is not None:
        options["bitrate"] = args.bitrate
    if args.constant_depth:
        options["variable"] = False
    if args.gop is not None:
        options["gop"] = args.gop
    latentcodec.encode_file(args.input, args.output, model=args.model, quality=args.quality, **options)
    print(f"{args.input} -> {args.output}: {Path(args.output).stat().st_size} bytes")
    with open(args.output, "rb") as f:
        meta = ContainerReader(f).header.meta
    if "source_sample_rate" in meta:
        print(f"note: coded as {meta['sample_rate']} Hz mono; the input was {meta['source_sample_rate']} Hz "
              f"with {meta['source_channels']} channel(s), downmixed and resampled")


def _decode(args) -> None:
    latentcodec.decode_file(args.input, args.output, crf=args.crf)
    print(f"{args.input} -> {args.output}")


def _info(args) -> None:
    with open(args.input, "rb") as f:
        reader = ContainerReader(f)
        chunks = [(chunk[:1], len(chunk)) for chunk in reader]  # a video chunk starts with its frame type
    sizes = [n for _, n in chunks]
    h = reader.header
    print(f"file:     {args.input} ({Path(args.input).stat().st_size} bytes, format version {reader.version})")
    print(f"codec:    {h.codec} (weights {h.weights})")
    for key, value in sorted(h.meta.items()):
        print(f"{key + ':':<10}{value}")
    print(f"chunks:   {len(sizes)}, {sum(sizes)} payload bytes" + (f", {min(sizes)}..{max(sizes)} each" if sizes else ""))
    if "gop" in h.meta and "frame_rate" in h.meta:
        _video_info(h.meta, chunks)


def _video_info(meta: dict, chunks: list[tuple[bytes, int]]) -> None:
    """Frames, where the intra frames are, and every frame's size (one chunk per frame)."""
    from fractions import Fraction

    seconds = len(chunks) / Fraction(meta["frame_rate"])
    intra = [i for i, (kind, _) in enumerate(chunks) if kind == b"I"]
    rate = f", {8 * sum(n for _, n in chunks) / float(seconds) / 1000:.1f} kbit/s" if chunks else ""
    print(f"frames:   {len(chunks)} ({float(seconds):.3f} s{rate}); GOP {meta['gop']}: {len(intra)} intra frames, at "
          f"{', '.join(map(str, intra[:10]))}{', ...' if len(intra) > 10 else ''}")
    print("frame sizes in bytes (I intra, P predicted), 10 a row:")
    for start in range(0, len(chunks), 10):
        row = "".join(f"{kind.decode('latin-1') or '?'}{n:>7} " for kind, n in chunks[start : start + 10])
        print(f"  {start:>6}  {row.rstrip()}")


def _models(args) -> None:
    print(f"{'codec':<27}{'modality':<10}{'weights':<18}{'quantizer':<11}rate point (development set)")
    for name in latentcodec.available_codecs():
        codec = latentcodec.load(name)
        info = getattr(codec, "info", {})
        point = f"{info['bpp']:.3f} bpp, {info['psnr']:.2f} dB" if "bpp" in info else "lossless" if name == "lossless-image" else ""
        quantizer = codec.new_quantizer().name if hasattr(codec, "new_quantizer") else "-"  # learned image codecs
        if codec.modality == "audio":
            quantizer = codec.model.config.quantizer
            point = f"{codec.bitrates[0]:g} to {codec.bitrates[-1]:g} kbit/s nominal"
        print(f"{name:<27}{codec.modality:<10}{codec.weights_hash:<18}{quantizer:<11}{point}")
    from latentcodec.codecs.tokenizers import load_tokenizer
    from latentcodec.pretrained import pretrained_dirs

    print(f"\n{'tokenizer':<37}{'tokens per image':<22}{'vocabulary':<12}measured (development set)")
    for path in sorted(p for d in pretrained_dirs() for p in (d / "tokenizers").glob("*.safetensors")):
        tok = load_tokenizer(path)
        shape = f"{tok.n_tokens} ({tok.image_size}x{tok.image_size})" if tok.image_size else f"(H/{tok.downsample})x(W/{tok.downsample})"
        info = tok.info
        measured = f"{info['psnr']:.2f} dB, {info['utilization']:.1%} of codes used" if "psnr" in info else ""
        print(f"{path.stem:<37}{shape:<22}{tok.vocab_size:<12,}{measured}")


def _demo(args) -> None:
    """Codes the bundled photo through the public API and the coder directly."""
    import io

    import torch
    from PIL import Image

    from latentcodec.entropy import GaussianConditional, RangeDecoder, RangeEncoder
    from latentcodec.media import read_image

    from latentcodec.evaluation.rate_distortion import jpeg_size_at_psnr, psnr

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


def _eval_rd(args) -> None:
    from latentcodec.evaluation import rate_distortion as rd
    from latentcodec.media import image_files, read_image

    images = [read_image(p) for p in image_files(args.folder)]
    images = [np.stack([im] * 3, -1) if im.ndim == 2 else im[..., :3] for im in images]
    settings = {}
    for entry in filter(None, args.models.split(",")):
        prefix, options = _model_entry(entry)
        settings[entry] = [(name, options) for name in registry.family(prefix) or [registry.resolve(prefix)]]
    points = iter(rd.codec_points([s for entry in settings.values() for s in entry], images, args.jobs))
    curves = {entry: [next(points) for _ in entry_settings] for entry, entry_settings in settings.items()}
    if args.anchor and args.anchor not in curves:
        raise KeyError(f"--anchor {args.anchor!r} is not one of --models")
    for name in filter(None, args.baselines.split(",")):
        if name not in rd.BASELINES:
            raise KeyError(f"unknown baseline {name!r}; choose from {', '.join(rd.BASELINES)}")
        curves[name] = rd.baseline_curve(name, images)
    print(f"{len(images)} images from {args.folder}; bpp from real file sizes, means over images")
    for name, curve in curves.items():
        print(f"\n{name}\n  {'setting':<28}{'bpp':>8}{'PSNR':>9}{'MS-SSIM':>9}")
        for p in curve:
            print(f"  {p.setting:<28}{p.bpp:>8.4f}{p.psnr:>9.3f}{p.ms_ssim:>9.4f}")
    ours = [n for n in curves if n not in rd.BASELINES]
    anchors = [n for n in curves if n in rd.BASELINES] + ([args.anchor] if args.anchor else [])
    for metric in ("psnr", "ms_ssim"):
        for (test, anchor), value in rd.bd_rates(curves, ours, anchors, metric).items():
            if test != anchor:
                print(f"BD-rate ({metric}) {test} vs {anchor}: {value:+.2f}%")
    if args.plot:
        limit = 1.5 * max((p.bpp for n in ours for p in curves[n]), default=float("inf"))
        rd.plot(curves, args.plot, max_bpp=limit)
        print(f"plot: {args.plot}")


def _eval_audio(args) -> None:
    from latentcodec.evaluation import audio_baselines, audio_quality as aq

    start = time.perf_counter()
    files = aq.audio_files(args.folder)
    if args.limit and args.limit < len(files):  # spread over the folder, not its first N names
        files = [files[i * len(files) // args.limit] for i in range(args.limit)]
    clips = [aq.load_clip(p, args.seconds) for p in files]
    bitrates = [float(b) for b in filter(None, args.bitrates.split(","))]
    coders = [c for name in filter(None, args.models.split(",")) for c in aq.learned_coders(name, bitrates)]
    for name in filter(None, args.baselines.split(",")):
        if name == "opus":
            coders += [audio_baselines.opus(float(k)) for k in args.opus_bitrates.split(",")]
        elif name == "codec2":
            coders += [audio_baselines.codec2(mode) for mode in args.codec2_modes.split(",")]
        else:
            raise KeyError(f"unknown baseline {name!r}; choose from opus, codec2")
    points = [aq.evaluate(coder, clips) for coder in coders]
    seconds = sum(c.samples.shape[1] for c in clips) / aq.RATE
    print(f"{len(clips)} files from {args.folder} ({seconds:.1f} s of speech, 16 kHz mono); "
          "kbit/s from real byte counts; means over files")
    print(f"  {'system':<24}{'setting':<13}{'kbit/s':>8}{'mel':>8}{'SI-SDR':>9}{'PESQ-WB':>9}  PESQ scored")
    for p in points:
        print(f"  {p.system:<24}{p.setting:<13}{p.kbps:>8.3f}{p.mel:>8.3f}{p.si_sdr:>9.2f}{p.pesq:>9.3f}"
              f"  {p.pesq_scored}/{p.clips}")
    if any(p.pesq_scored < p.clips for p in points):
        print("PESQ-WB has no score for clips under 0.25 s or without detected speech; its means leave those out")
    if args.plot:
        aq.plot(points, args.plot)
        print(f"plot: {args.plot}")
    print(f"took {time.perf_counter() - start:.1f} s")


def _eval_video(args) -> None:
    import torch

    from latentcodec.evaluation import video_rd as vr

    start = time.perf_counter()
    files = vr.video_files(args.inputs)
    clips = [vr.read_clip(path, args.frames) for path in files]
    entries = list(filter(None, (args.models or "").split(",")))
    if args.models is None:
        if registry.family(DEFAULT_VIDEO_MODEL) or DEFAULT_VIDEO_MODEL in registry.available_codecs():
            entries = [DEFAULT_VIDEO_MODEL]
        else:
            print(f"note: no video codec {DEFAULT_VIDEO_MODEL} is installed (pretrained/video/); measuring the baselines only")
    curves = {}
    for entry in entries:
        prefix, options = _model_entry(entry)
        names = registry.family(prefix) or [registry.resolve(prefix)]
        curves[entry] = [vr.codec_point(registry.load(name), clips, args.gop, **options) for name in names]
    crfs = [int(c) for c in args.crf.split(",")]
    for name in filter(None, args.baselines.split(",")):
        if name not in vr.BASELINES:
            raise KeyError(f"unknown baseline {name!r}; choose from {', '.join(vr.BASELINES)}")
        curves[name] = vr.baseline_curve(name, clips, args.gop, crfs)
    print(", ".join(f"{p.name} ({c.width}x{c.height}, {len(c)} frames at {float(c.frame_rate):.3f} fps)" for p, c in zip(files, clips)))
    print(f"GOP {args.gop}, low delay (P-frames only). x264/x265: preset medium, no B-frames, no scene-cut intra "
          f"frames, 4:2:0, one thread; ours: {torch.get_num_threads()} torch thread(s). kbit/s from real stream "
          "sizes; PSNR on RGB, mean over frames, then clips")
    for name, curve in curves.items():
        print(f"\n{name}\n  {'setting':<28}{'kbit/s':>9}{'bpp':>8}{'PSNR':>8}{'enc fps':>9}{'dec fps':>9}")
        for p in curve:
            print(f"  {p.setting:<28}{p.kbps:>9.2f}{p.bpp:>8.4f}{p.psnr:>8.3f}{p.encode_fps:>9.1f}{p.decode_fps:>9.1f}")
    ours = [n for n in curves if n not in vr.BASELINES]
    baselines = [n for n in curves if n in vr.BASELINES]
    table = vr.bd_rates(curves, ours, baselines) | vr.bd_rates(curves, baselines[1:], baselines[:1])
    for (test, anchor), value in table.items():
        print(f"BD-rate (PSNR) {test} vs {anchor}: " + ("n/a (needs 2+ points a curve, overlapping in PSNR)" if value != value else f"{value:+.2f}%"))
    if args.plot:
        vr.plot(curves, args.plot, ", ".join(p.name for p in files) + f", {args.frames} frames, GOP {args.gop}")
        print(f"plot: {args.plot}")
    print(f"took {time.perf_counter() - start:.1f} s")


def _export(args) -> None:
    from latentcodec.training.cli import export

    info = export(args.checkpoint, args.output, measure_on=args.measure_on)
    print(f"{args.checkpoint} -> {args.output}: {info}")


def _export_tokenizer(args) -> None:
    from latentcodec.training.cli import export_tokenizer

    info = export_tokenizer(args.checkpoint, args.output, measure_on=args.measure_on)
    print(f"{args.checkpoint} -> {args.output}: {info}")


def _export_audio(args) -> None:
    from latentcodec.training.cli import export_audio

    info = export_audio(args.checkpoint, args.output, prior_from=args.prior_from, prior_files=args.prior_files,
                        context_groups=args.context_groups, measure_on=args.measure_on,
                        measure_files=args.measure_files, postfilter=args.postfilter,
                        search_beam=args.search_beam)
    print(f"{args.checkpoint} -> {args.output}: {info}")


def _export_video(args) -> None:
    from latentcodec.training.cli import export_video

    info = export_video(args.checkpoint, args.output, measure_on=args.measure_on, frames=args.frames, gop=args.gop)
    print(f"{args.checkpoint} -> {args.output}: {info}")


def _tokenize(args) -> None:
    from latentcodec.batch_tokenize import tokenize_dataset

    options = ("size", "batch_size", "shard_items", "max_frames", "frame_step", "n_quantizers", "devices",
               "accelerator", "num_nodes")
    s = tokenize_dataset(args.model, args.inputs, args.out, **{k: getattr(args, k) for k in options})
    print(f"{args.out}: {s['tokenized']} items tokenized ({s['new']} new), {s['errors']} unreadable skipped, "
          f"{s['shards']} shards, {s['tokens']:,} tokens")


def _finetune_quantized(args) -> None:
    from latentcodec.training.cli import finetune_quantized

    data = {k: getattr(args, k) for k in ("train_dir", "crop", "crops_per_image", "batch_size")}
    command = "latentcodec " + " ".join(sys.argv[1:])
    codec = registry.load(registry.resolve(args.model, args.quality))
    info = finetune_quantized(codec, args.output, args.quantizer, args.steps, args.lr, args.measure_on, command, **data)
    print(f"{args.output}: {info}")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] in (["train"], ["train-tokenizer"], ["train-audio"], ["train-video"]):  # LightningCLI owns everything after the verb
        from latentcodec.training.cli import train, train_audio, train_tokenizer, train_video

        verbs = {"train": train, "train-tokenizer": train_tokenizer, "train-audio": train_audio, "train-video": train_video}
        verbs[argv[0]](argv[1:])
        return 0
    parser = argparse.ArgumentParser(prog="latentcodec", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("encode", help="encode a media file to .lc")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--model", help="installed codec or family (see `latentcodec models`); by default "
                   f"{DEFAULT_IMAGE_MODEL} for images, {DEFAULT_AUDIO_MODEL} for audio, {DEFAULT_VIDEO_MODEL} for video")
    p.add_argument("--bitrate", type=float, help="audio codecs: kbit/s before entropy coding, on average over typical "
                   "speech (any from 0.5 to 6; multiples of 0.5 with --constant-depth; default 3)")
    p.add_argument("--constant-depth", action="store_true", help="audio codecs: every frame takes the same number "
                   "of quantizer stages (packets of steady size) instead of as many as it needs (the default)")
    p.add_argument("--quality", type=int, help="rate point of a family: NAME-q<QUALITY> (default: its middle one)")
    p.add_argument("--gop", type=int, help="video codecs: frames from one intra frame to the next (default 12)")
    p.add_argument("--quantizer", help="learned image codecs: uniform or tcq (trellis-coded), optionally with "
                   "options, e.g. tcq:states=4,lmbda=0.05 (default: the model's own)")
    p.add_argument("--refine", type=int, metavar="STEPS", help="learned image codecs: optimize the latent for "
                   "this image by STEPS gradient steps before coding it (smaller files, slower encoding; 100-200 "
                   "is typical; decoding is unchanged)")
    p.set_defaults(run=_encode)
    p = sub.add_parser("decode", help="decode a .lc file; the output format follows its suffix")
    p.add_argument("input")
    p.add_argument("output", help="for video: .mp4/.mkv/.mov (H.264), .y4m, or a folder (PNG frames)")
    p.add_argument("--crf", type=int, help="video to .mp4: 0 (default) writes lossless RGB H.264; 1..51 writes "
                   "4:2:0 H.264 at that CRF, which every player plays (18 is visually lossless)")
    p.set_defaults(run=_decode)
    p = sub.add_parser("info", help="what a .lc file holds, without decoding it")
    p.add_argument("input")
    p.set_defaults(run=_info)
    sub.add_parser("models", help="installed codecs and tokenizers").set_defaults(run=_models)
    sub.add_parser("demo", help="code the bundled photo and print sizes and speed").set_defaults(run=_demo)
    p = sub.add_parser("eval", help="measure codecs against classic peers")
    kinds = p.add_subparsers(dest="kind", required=True)
    p = kinds.add_parser("rd", help="rate-distortion of images: our models vs JPEG/WebP/AVIF, BD-rates, plot")
    p.add_argument("folder", help="folder of test images")
    p.add_argument("--models", default="", help="comma-separated codec names or families (NAME for NAME-q1..qN); "
                   "NAME@SETTINGS codes with encoder settings joined by +: a quantizer and/or refine=STEPS "
                   "(e.g. mbt2018-mean-small@tcq, mbt2018-mean-small@tcq+refine=100)")
    p.add_argument("--anchor", help="one of --models: also give the others' BD-rates against it")
    p.add_argument("--baselines", default="jpeg,webp,avif", help="comma-separated: jpeg, webp, avif")
    p.add_argument("--plot", help="write the rate-distortion curves to this PNG")
    p.add_argument("--jobs", type=int, default=1, help="code the rate points in this many processes (one torch "
                   "thread each)")
    p.set_defaults(run=_eval_rd)
    p = kinds.add_parser("audio", help="speech quality vs real bitrate: our audio codecs vs Opus and Codec2, plot")
    p.add_argument("folder", help="folder of speech files (coded and compared as 16 kHz mono)")
    p.add_argument("--models", default="", help="comma-separated installed audio codecs")
    p.add_argument("--bitrates", default="", help="comma-separated kbit/s for --models (default: all each offers)")
    p.add_argument("--baselines", default="opus,codec2", help="comma-separated: opus, codec2")
    p.add_argument("--opus-bitrates", default="6,8,12", help="comma-separated kbit/s")
    p.add_argument("--codec2-modes", default="3200,2400,1600,1200,700C", help="comma-separated Codec2 modes")
    p.add_argument("--limit", type=int, help="use N files, spread evenly over the sorted folder")
    p.add_argument("--seconds", type=float, help="code only the first S seconds of each file")
    p.add_argument("--plot", help="write quality vs kbit/s (one panel per metric) to this PNG")
    p.set_defaults(run=_eval_audio)
    p = kinds.add_parser("video", help="PSNR vs bitrate of video codecs against x264/x265, BD-rates, fps, plot")
    p.add_argument("inputs", nargs="+", help="video files, or folders of them")
    p.add_argument("--models", help=f"comma-separated video codecs or families (default: {DEFAULT_VIDEO_MODEL} "
                   "if installed); NAME@QUANTIZER codes with that quantizer")
    p.add_argument("--baselines", default="x264,x265", help="comma-separated: x264, x265")
    p.add_argument("--frames", type=int, default=60, help="code the first N frames of each clip")
    p.add_argument("--gop", type=int, default=12, help="intra period, the same for every codec")
    p.add_argument("--crf", default="18,23,28,33,38", help="comma-separated CRF values for the baselines")
    p.add_argument("--plot", help="write PSNR vs kbit/s to this PNG")
    p.set_defaults(run=_eval_video)
    datasets.add_cli(sub)
    sub.add_parser("train", help="train a model: `latentcodec train fit --config configs/NAME.yaml` (LightningCLI)")
    p = sub.add_parser("export", help="write a training checkpoint's model as pretrained weights")
    p.add_argument("checkpoint")
    p.add_argument("output", help="NAME.safetensors; put it in pretrained/ to install it as codec NAME")
    p.add_argument("--measure-on", help="folder of images: store the measured bpp and PSNR in the weights")
    p.set_defaults(run=_export)
    sub.add_parser("train-audio", help="train an audio codec: "
                   "`latentcodec train-audio fit --config configs/speech-codec-16k.yaml` (LightningCLI)")
    sub.add_parser("train-tokenizer", help="train an image tokenizer: "
                   "`latentcodec train-tokenizer fit --config configs/image-tokenizer-fsq-f8.yaml` (LightningCLI)")
    p = sub.add_parser("export-tokenizer", help="write a tokenizer training checkpoint as safetensors weights")
    p.add_argument("checkpoint")
    p.add_argument("output", help="NAME.safetensors")
    p.add_argument("--measure-on", help="folder of images: store the measured PSNR, codebook utilization and "
                   "tokenize speed in the weights")
    p.set_defaults(run=_export_tokenizer)
    p = sub.add_parser("export-audio", help="write an audio codec training checkpoint as safetensors weights "
                       "with its entropy-coding tables (or renew the tables of weights)")
    p.add_argument("checkpoint", help="a Lightning .ckpt, or a .safetensors weight file")
    p.add_argument("output", help="NAME.safetensors; put it in pretrained/audio/ to install it as codec NAME")
    p.add_argument("--prior-from", default="~/.cache/latentcodec/data/speech/train",
                   help="training recordings whose indices the prior and depth tables are fit to")
    p.add_argument("--prior-files", type=int, help="recordings of --prior-from to use (every k-th; default all)")
    p.add_argument("--context-groups", type=int, default=64,
                   help="groups of first indices the prior takes as context (0: a static table per stage)")
    p.add_argument("--measure-on", help="folder of recordings: store real bitrates, mel distance, SI-SDR and "
                   "codebook use in the weights")
    p.add_argument("--measure-files", type=int, default=100, help="recordings of --measure-on to code (every k-th)")
    p.add_argument("--postfilter", action=argparse.BooleanOptionalAction,
                   help="decode through the speech postfilter (default: as the checkpoint's config says)")
    p.add_argument("--search-beam", type=int, help="paths the encoders' codebook search keeps; the tables are "
                   "fit to its indices (default: as the checkpoint's config says)")
    p.set_defaults(run=_export_audio)
    sub.add_parser("train-video", help="train a video codec's P-frame model: "
                   "`latentcodec train-video fit --config configs/video-ssf-small.yaml` (LightningCLI)")
    p = sub.add_parser("export-video", help="write a video training checkpoint as safetensors weights naming "
                       "its intra codec")
    p.add_argument("checkpoint")
    p.add_argument("output", help="NAME.safetensors; put it in pretrained/video/ to install it as codec NAME")
    p.add_argument("--measure-on", nargs="+", help="video files or folders: store kbit/s, PSNR and fps in the weights")
    p.add_argument("--frames", type=int, default=60, help="frames of each --measure-on clip to code")
    p.add_argument("--gop", type=int, default=12, help="intra period for --measure-on")
    p.set_defaults(run=_export_video)
    p = sub.add_parser("tokenize", help="tokenize images, videos or audio files into resumable token shards, "
                       "on one process or on several GPUs or machines")
    p.add_argument("inputs", nargs="+", help="folders of media files and/or .txt files with one path a line")
    p.add_argument("--out", required=True, help="output folder: shard-NNNNN.safetensors with their records "
                   "shard-NNNNN.index.jsonl, then index.jsonl, errors.jsonl, manifest.json")
    p.add_argument("--model", default=DEFAULT_TOKENIZER, help="an image tokenizer (weight file, or name in "
                   "pretrained/tokenizers/), which takes images and videos, or an installed audio codec (e.g. "
                   f"{DEFAULT_AUDIO_MODEL}), which takes audio files (default: {DEFAULT_TOKENIZER})")
    p.add_argument("--size", type=int, help="images and video frames are resized and centre-cropped to SIZE x SIZE "
                   "(default: the tokenizer's own size, else 256)")
    p.add_argument("--max-frames", type=int, default=64, metavar="N", help="videos: tokenize at most N frames")
    p.add_argument("--frame-step", type=int, default=1, metavar="N", help="videos: tokenize every N-th frame")
    p.add_argument("--n-quantizers", type=int, metavar="N", help="audio: codebook stages per frame (default: all)")
    p.add_argument("--batch-size", type=int, default=16, metavar="N", help="images or frames tokenized at once")
    p.add_argument("--shard-items", type=int, default=1000, metavar="N", help="items per shard")
    p.add_argument("--devices", type=int, metavar="N", help="run through Lightning DDP on N devices per machine, "
                   "each rank writing its own shards (without it: one process on the CPU)")
    p.add_argument("--accelerator", choices=("cpu", "gpu", "auto"), default="auto", help="with --devices")
    p.add_argument("--num-nodes", type=int, default=1, metavar="N", help="machines, each running this command (Lightning DDP)")
    p.set_defaults(run=_tokenize)
    p = sub.add_parser("finetune-quantized", help="retrain an image codec's synthesis on the latents a quantizer "
                       "really produces; writes the synthesis over the base weights, with a model card")
    p.add_argument("output", help="NAME.safetensors, beside the base weights (in pretrained/ to install it)")
    p.add_argument("--model", default=DEFAULT_IMAGE_MODEL, help="base codec or family")
    p.add_argument("--quality", type=int, help="rate point of a family")
    p.add_argument("--quantizer", default="uniform", help="uniform or tcq (with options, e.g. tcq:states=4)")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--lr", type=float, default=1e-4, help="Adam, with cosine decay to 0")
    p.add_argument("--train-dir", default="~/.cache/latentcodec/data/images/train")
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--crops-per-image", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--measure-on", help="folder of images: measure base and finetuned decoders by real coding")
    p.set_defaults(run=_finetune_quantized)
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except EXPECTED_ERRORS as e:
        message = e.args[0] if isinstance(e, KeyError) else e
        print(f"latentcodec {args.command}: error: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
