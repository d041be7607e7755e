"""Speed and latency of the streaming speech codec on one CPU thread.

Rows, all in this process on the same speech: our codec's stream encoder
and decoder (frame by frame, exactly as a real-time call would run them) at
each bitrate, and libopus through PyAV at 6 kbit/s as the peer. Speed is
audio seconds coded per wall second (encode + decode), the median of
--repeats runs. Streams code at variable depth where the weights allow it
(the default), or with --constant-depth at a fixed number of stages; encoders
search with the model's beam unless --search-beam; decoders run the speech
postfilter where the model has one, unless --no-postfilter.

Latency: the clip is fed to the stream encoder one sample at a time; each
packet is decoded as it appears. For every output sample we note how many
input samples had arrived when it came out: the largest difference is the
algorithmic latency. Compute latency (median time to encode and decode one
frame) adds to it on a real device.

    python benchmarks/audio_codec_speed.py [--model speech-codec-16k] [--repeats 5] [--seconds 10]
        [--constant-depth] [--no-postfilter] [--search-beam N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import av
import numpy as np
import soundfile as sf
import torch

import latentcodec
from latentcodec.codecs.audio_codec import AudioCodec
from latentcodec.files import DEFAULT_AUDIO_MODEL
from timing import median_time

SPEECH = Path(__file__).resolve().parents[1] / "tests" / "data" / "speech-ru-16k.flac"


def code_stream(codec, pcm: np.ndarray, bitrate: float, variable: bool | None) -> np.ndarray:
    encoder, decoder = codec.stream_encoder(bitrate, variable), codec.stream_decoder(bitrate, variable)
    out = [decoder.decode(p) for p in encoder.encode(pcm) + encoder.flush()]
    return np.concatenate(out)


def code_opus(pcm: np.ndarray, kbps: float) -> np.ndarray:
    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate, encoder.layout, encoder.format = 16000, "mono", "s16"
    encoder.bit_rate = int(kbps * 1000)
    decoder = av.CodecContext.create("libopus", "r")
    decoder.sample_rate, decoder.layout = 16000, "mono"
    frame = av.AudioFrame.from_ndarray((pcm * 32767).astype(np.int16)[None], format="s16", layout="mono")
    frame.sample_rate = 16000
    out = []
    for packet in encoder.encode(frame) + encoder.encode(None):
        out += [f.to_ndarray() for f in decoder.decode(packet)]
    return np.concatenate(out, axis=-1)


def algorithmic_latency(codec, pcm: np.ndarray) -> int:
    """Largest number of input samples between a sample's arrival and its output."""
    encoder, decoder = codec.stream_encoder(), codec.stream_decoder()
    produced, worst = 0, 0
    for arrived in range(1, len(pcm) + 1):
        for packet in encoder.encode(pcm[arrived - 1 : arrived]):
            frame = len(decoder.decode(packet))
            worst = max(worst, arrived - produced)  # the oldest sample of this frame waited this long
            produced += frame
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_AUDIO_MODEL, help="an installed name or a .safetensors file")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the clip (the test clip, repeated)")
    parser.add_argument("--constant-depth", action="store_true", help="every frame takes the same number of stages")
    parser.add_argument("--no-postfilter", action="store_true", help="decode with the network alone")
    parser.add_argument("--search-beam", type=int, help="the encoders' codebook search (default: the model's)")
    args = parser.parse_args()
    variable = False if args.constant_depth else None
    torch.set_num_threads(1)
    codec = AudioCodec.from_file(args.model) if args.model.endswith(".safetensors") else latentcodec.load(args.model)
    speech, rate = sf.read(SPEECH, dtype="float32")
    pcm = np.resize(speech, int(args.seconds * rate)).astype(np.float32)
    seconds = len(pcm) / rate
    codec.postfilter = codec.postfilter and not args.no_postfilter
    codec.beam = args.search_beam or codec.beam
    depth = "constant" if args.constant_depth or codec.depth is None else "variable"
    print(f"{args.model}: {seconds:.1f} s of 16 kHz speech, {depth} depth, search beam {codec.beam}, "
          f"postfilter {'on' if codec.postfilter else 'off'}, 1 thread, median of {args.repeats} runs")
    opus = median_time(lambda: code_opus(pcm, 6), args.repeats)
    print(f"{'opus 6 kbit/s (libopus)':<28}{seconds / opus:>8.0f}x real time")
    for bitrate in sorted({codec.bitrates[min(2, len(codec.bitrates) - 1)], codec.bitrates[min(5, len(codec.bitrates) - 1)], codec.bitrates[-1]}):
        t = median_time(lambda: code_stream(codec, pcm, bitrate, variable), args.repeats)
        print(f"{f'{args.model} {bitrate:g} kbit/s':<28}{seconds / t:>8.1f}x real time   ({t / seconds * 1000 / 50:.3f} ms per "
              f"20 ms frame; {opus / t:.3f}x Opus's speed)")
    latency = algorithmic_latency(codec, pcm[: rate // 2])
    encoder, decoder = codec.stream_encoder(variable=variable), codec.stream_decoder(variable=variable)
    frames = pcm[: 50 * codec.frame].reshape(50, codec.frame)
    times = []
    for frame in frames:
        start = time.perf_counter()
        for packet in encoder.encode(frame):
            decoder.decode(packet)
        times.append(time.perf_counter() - start)
    print(f"algorithmic latency: {latency} samples = {latency / rate * 1000:.1f} ms; "
          f"compute per frame (encode + decode, median): {np.median(times) * 1000:.2f} ms")


if __name__ == "__main__":
    main()
