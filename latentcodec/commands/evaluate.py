"""``eval rd``, ``eval audio`` and ``eval video``."""

from __future__ import annotations

import time

import numpy as np

from latentcodec import registry
from latentcodec.files import DEFAULT_VIDEO_MODEL


def model_entry(entry: str) -> tuple[str, dict]:
    """``NAME@SETTINGS`` -> (NAME, encoder options). SETTINGS joins with ``+``
    a quantizer spec and/or ``key=value`` encoder options:
    ``mbt2018-mean-small@tcq+refine=100``, ``overfit-image@preset=fast``."""
    prefix, _, settings = entry.partition("@")
    options = {}
    for setting in filter(None, settings.split("+")):
        key, eq, value = setting.partition("=")
        if eq and ":" not in key:
            options[key] = _number(value)
        else:
            options["quantizer"] = setting
    return prefix, options


def _number(value: str):
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def rd(args) -> None:
    from latentcodec.evaluation import rate_distortion as rd
    from latentcodec.media import image_files, read_image

    images = [read_image(p) for p in image_files(args.folder)]
    images = [np.stack([im] * 3, -1) if im.ndim == 2 else im[..., :3] for im in images]
    settings = {}
    for entry in filter(None, args.models.split(",")):
        prefix, options = model_entry(entry)
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


def audio(args) -> None:
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


def video(args) -> None:
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
        prefix, options = model_entry(entry)
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
