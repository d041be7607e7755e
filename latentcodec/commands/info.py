"""``info`` and ``models``: ``info`` reads a container without importing torch."""

from __future__ import annotations

from pathlib import Path

from latentcodec import registry
from latentcodec.container import ContainerReader


def info(args) -> None:
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
        video_frames(h.meta, chunks)


def video_frames(meta: dict, chunks: list[tuple[bytes, int]]) -> None:
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


def models(args) -> None:
    print(f"{'codec':<27}{'modality':<10}{'weights':<18}{'quantizer':<11}rate point (development set)")
    for name in registry.available_codecs():
        codec = registry.load(name)
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
