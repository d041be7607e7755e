"""Rate-distortion of video: our codecs and x264/x265 (through PyAV) on the
same RGB frames, at real stream sizes, with encode and decode speed.

The peers run as our codec does: low delay (P-frames only, no B-frames),
an intra frame every ``gop`` frames (no scene-cut intra frames), preset
medium, a sweep of CRF values, one thread. They code 4:2:0 YUV made from the
RGB frames (odd sizes padded by one pixel, cropped after decoding) and are
scored on RGB like ours, so their PSNR saturates where 4:2:0 itself loses
detail. Sizes are the elementary streams (inline parameter sets, no
container) less their SEI messages, which carry nothing a decoder needs
(x264 and x265 write their version and settings there: hundreds of bytes to
kilobytes, a large share of a short clip at low rates); ours are whole
``.lc`` files.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from latentcodec.evaluation.bd_rate import bd_rate
from latentcodec.media import VIDEO_SUFFIXES, Video, VideoFile

BASELINES = {"x264": ("libx264", "h264", "x264-params"), "x265": ("libx265", "hevc", "x265-params")}
START_CODE = re.compile(b"\x00\x00\x01")


def _sei_bytes(packet: bytes, hevc: bool) -> int:
    """Bytes of the SEI NAL units (with their start codes) in an Annex B packet."""
    starts = [m.end() for m in START_CODE.finditer(packet)]
    total = 0
    for start, end in zip(starts, starts[1:] + [len(packet) + 3]):
        kind = (packet[start] >> 1) & 0x3F if hevc else packet[start] & 0x1F
        if (kind in (39, 40)) if hevc else kind == 6:
            total += end - start
    return total
CRFS = (18, 23, 28, 33, 38)


@dataclass(frozen=True)
class VideoPoint:
    setting: str
    kbps: float  # mean over clips, from real stream sizes
    bpp: float  # mean over clips
    psnr: float  # RGB, mean over frames, then over clips
    encode_fps: float  # all frames / all encode time
    decode_fps: float


def video_files(inputs) -> list[Path]:
    """Video files, and the video files in folders, in order."""
    files = []
    for item in map(Path, inputs):
        if item.is_dir():
            files += sorted(p for p in item.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        else:
            files.append(item)
    if not files:
        raise FileNotFoundError(f"no video files in {', '.join(map(str, inputs))}")
    return files


def read_clip(path, frames: int) -> Video:
    """The first ``frames`` frames of a video file, in memory."""
    source = VideoFile(path)
    pixels = [frame for frame, _ in zip(source.frames(), range(frames))]
    if not pixels:
        raise ValueError(f"{path} has no frames")
    return Video(np.stack(pixels), source.frame_rate)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over frames of the RGB PSNR of frames [T, H, W, 3]; a lossless frame counts 100 dB."""
    mse = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).reshape(len(a), -1).mean(1)
    return float(np.mean(10 * np.log10(255**2 / np.maximum(mse, 255**2 * 1e-10))))


def _point(setting: str, clips: list[Video], coded: list[tuple[int, np.ndarray, float, float]]) -> VideoPoint:
    """``coded``: per clip (bytes, decoded frames, encode seconds, decode seconds)."""
    sizes, outputs, encode_seconds, decode_seconds = zip(*coded)
    frames = sum(len(c) for c in clips)
    return VideoPoint(
        setting,
        float(np.mean([8 * size * float(c.frame_rate) / len(c) / 1000 for c, size in zip(clips, sizes)])),
        float(np.mean([8 * size / (len(c) * c.width * c.height) for c, size in zip(clips, sizes)])),
        float(np.mean([psnr(c.pixels, out) for c, out in zip(clips, outputs)])),
        frames / sum(encode_seconds), frames / sum(decode_seconds),
    )


def codec_point(codec, clips: list[Video], gop: int, **options) -> VideoPoint:
    """One of our video codecs, through whole ``.lc`` streams; ``options`` go to its encoder."""
    coded = []
    for clip in clips:
        start = time.perf_counter()
        data = codec.compress(clip, gop=gop, **options)
        encoded = time.perf_counter()
        decoded = codec.decompress(data).pixels
        coded.append((len(data), decoded, encoded - start, time.perf_counter() - encoded))
    return _point(codec.name, clips, coded)


def _x26x(name: str, crf: int, clip: Video, gop: int) -> tuple[int, np.ndarray, float, float]:
    import av

    encoder_name, decoder_name, params_key = BASELINES[name]
    h, w = clip.height, clip.width
    context = av.CodecContext.create(encoder_name, "w")
    context.width, context.height, context.pix_fmt = w + w % 2, h + h % 2, "yuv420p"
    context.time_base, context.framerate = 1 / Fraction(clip.frame_rate), Fraction(clip.frame_rate)
    context.thread_count = 1
    params = f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=0"
    params += ":log-level=error:pools=1:frame-threads=1:info=0" if name == "x265" else ":threads=1"
    context.options = {"preset": "medium", "crf": str(crf), params_key: params}
    start = time.perf_counter()
    packets = []
    for i, frame in enumerate(clip.frames()):
        picture = av.VideoFrame.from_ndarray(np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge"), format="rgb24")
        picture = picture.reformat(format="yuv420p")
        picture.pts = i
        packets += context.encode(picture)
    packets += context.encode(None)
    encoded = time.perf_counter()
    decoder = av.CodecContext.create(decoder_name, "r")
    decoder.thread_count = 1
    pictures = [p for packet in packets for p in decoder.decode(packet)] + list(decoder.decode(None))
    decoded = np.stack([p.to_ndarray(format="rgb24")[:h, :w] for p in pictures])
    seconds = time.perf_counter() - encoded
    if len(decoded) != len(clip):
        raise RuntimeError(f"{name} returned {len(decoded)} frames for {len(clip)}")
    size = sum(p.size - _sei_bytes(bytes(p), name == "x265") for p in packets)
    return size, decoded, encoded - start, seconds


def baseline_curve(name: str, clips: list[Video], gop: int, crfs=CRFS) -> list[VideoPoint]:
    import av

    if BASELINES[name][0] not in av.codecs_available:
        raise ValueError(f"this PyAV build has no {BASELINES[name][0]}")
    return [_point(f"{name} crf {crf}", clips, [_x26x(name, crf, clip, gop) for clip in clips]) for crf in crfs]


def bd_rates(curves: dict[str, list[VideoPoint]], tests: list[str], anchors: list[str]) -> dict:
    """BD-rate (%, in kbit/s at equal PSNR) of each of ``tests`` against each of ``anchors``; NaN where the curves do not overlap."""
    table = {}
    for test in tests:
        for anchor in anchors:
            if test == anchor:
                continue
            a, t = curves[anchor], curves[test]
            try:
                table[(test, anchor)] = bd_rate([p.kbps for p in a], [p.psnr for p in a], [p.kbps for p in t], [p.psnr for p in t])
            except ValueError:
                table[(test, anchor)] = float("nan")
    return table


def plot(curves: dict[str, list[VideoPoint]], path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5), dpi=120)
    for name, curve in curves.items():
        ax.plot([p.kbps for p in curve], [p.psnr for p in curve], marker="o", markersize=3, label=name)
    ax.set_xscale("log")
    ax.set_xlabel("kbit/s (real stream sizes)")
    ax.set_ylabel("PSNR, RGB (dB)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
