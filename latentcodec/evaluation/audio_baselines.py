"""Classic speech codecs as baselines, each a :class:`Coder` like our own codec.

- Opus: libopus through PyAV, 16 kHz mono in, VoIP mode, at a bitrate.
- Codec2: the ``c2enc``/``c2dec`` tools of Debian's ``codec2`` package, fetched
  once with ``apt-get download`` (as ``latentcodec.datasets`` fetches media) and
  cached, so coding needs no network. Codec2 is narrowband: 8 kHz 16-bit PCM in
  and out, resampled from and back to 16 kHz with soxr.

Both report the real bytes they would send and return audio aligned sample for
sample with the input, since SI-SDR means nothing across a delay.
"""

from __future__ import annotations

import io

import math
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from latentcodec import datasets
from latentcodec.evaluation.audio_quality import RATE, Coder, fit
from latentcodec.media import Audio

TOOLS = Path("~/.cache/latentcodec/tools")
# After the pre-skip, libopus's decoded speech still leads the input by about one 16 kHz
# sample at 6-24 kbit/s (cross-correlation peak over 16 development clips: 0.5 to 3
# samples, median 1.1; 0.2 at 64 kbit/s, where CELT codes it). Delaying it by one
# sample gains 0.5 dB SI-SDR at 6 kbit/s and 1.5 dB at 12.
OPUS_LEAD = 1
CODEC2_RATE = 8000
# mode -> (samples per frame, delay in samples), both at 8 kHz. Frames: 20 ms for 3200
# and 2400, 40 ms for the rest. Delays: the median spectral_delay of the decoder's output
# over 40 development clips (18.75 ms; 28 ms for 700C); once compensated, the median
# left is under 0.4 ms in every mode. Waveform cross-correlation cannot measure it, as
# Codec2 does not keep the phase.
CODEC2_MODES = {
    "3200": (160, 150), "2400": (160, 150), "1600": (320, 150), "1400": (320, 150),
    "1300": (320, 150), "1200": (320, 150), "700C": (320, 225),
}


class BaselineUnavailable(OSError):
    """A baseline's codec cannot run here; the message says what failed. An OSError,
    like a failed download, because it is the machine that lacks something."""


def pcm16(samples: np.ndarray) -> np.ndarray:
    return np.round(np.clip(samples, -1, 32767 / 32768) * 32768).astype(np.int16)


def _check_input(audio: Audio) -> np.ndarray:
    if audio.sample_rate != RATE or audio.channels != 1:
        raise ValueError(f"the baselines take {RATE} Hz mono, not {audio.sample_rate} Hz with {audio.channels} channels")
    return audio.samples[0]


# ---------------------------------------------------------------- Opus


def opus(kbps: float) -> Coder:
    """Opus (libopus via PyAV) at ``kbps`` kbit/s: application voip, otherwise libopus's
    defaults (20 ms frames, VBR, complexity 10).

    Real bytes: the Ogg Opus file's (``.opus``, as ``opusenc`` writes one),
    headers and pages included, as ours count the whole ``.lc`` file. Decoding with the stream's OpusHead lets
    FFmpeg drop the encoder's pre-skip (its look-ahead); the decoder always outputs
    48 kHz, which soxr brings back to 16 kHz; OPUS_LEAD then aligns it with the input.
    """
    try:
        import av
    except ImportError as e:
        raise BaselineUnavailable(f"Opus baseline unavailable: PyAV cannot be imported ({e})") from None
    if "libopus" not in av.codecs_available:
        raise BaselineUnavailable("Opus baseline unavailable: this PyAV's FFmpeg has no libopus")

    def code(audio: Audio) -> tuple[Audio, int]:
        import soxr

        pcm = pcm16(_check_input(audio))
        ogg = io.BytesIO()
        with av.open(ogg, "w", format="ogg") as container:
            stream = container.add_stream("libopus", rate=RATE)
            encoder = stream.codec_context
            encoder.layout, encoder.format, encoder.bit_rate = "mono", "s16", round(kbps * 1000)
            encoder.options = {"application": "voip"}
            frame = av.AudioFrame.from_ndarray(pcm[None], format="s16", layout="mono")
            frame.sample_rate, frame.pts = RATE, 0
            packets = stream.encode(frame) + stream.encode(None)  # PyAV cuts the frame into 20 ms ones
            container.mux(packets)
        decoder = av.CodecContext.create("libopus", "r")
        decoder.extradata = encoder.extradata  # the OpusHead, with the pre-skip
        decoded = [f.to_ndarray().reshape(-1) for p in packets for f in decoder.decode(p)]  # s16 at 48 kHz
        out = np.concatenate(decoded).astype(np.float32) / 32768 if decoded else np.zeros(0, np.float32)
        out = np.concatenate([np.zeros(OPUS_LEAD, np.float32), soxr.resample(out, decoder.sample_rate, RATE)])
        return Audio(fit(out, len(pcm)), RATE), len(ogg.getvalue())

    return Coder("opus", f"{kbps:g} kbit/s", code)


# ---------------------------------------------------------------- Codec2


def _codec2_library_package() -> str:
    """The library package ``codec2`` depends on (``libcodec2-1.0`` on Debian 12), as apt names it."""
    done = datasets._run(["apt-cache", "depends", "codec2"], "codec2", Path.cwd())
    for line in done.stdout.splitlines():
        kind, _, name = line.strip().partition(": ")
        if kind == "Depends" and name.startswith("libcodec2"):
            return name
    raise datasets.FetchError("codec2: `apt-cache depends codec2` names no libcodec2 package")


def codec2_tools(root=None) -> Path:
    """The unpacked ``codec2`` and library packages (usr/bin/c2enc, usr/lib/..., and a
    ``version`` file); fetched into ``root/codec2`` (default ~/.cache/latentcodec/tools)
    on first use.

    The tree is unpacked in a temporary folder and renamed into place, so the cache is
    whole or absent, and two processes fetching at once both end up with a whole one.
    """
    final = Path(root or TOOLS).expanduser() / "codec2"
    if not (final / "version").is_file():
        final.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".codec2-", dir=final.parent) as tmp:
            try:
                tree, version = datasets.unpack_debian("codec2", Path(tmp))
                datasets.unpack_debian(_codec2_library_package(), Path(tmp))
            except datasets.FetchError as e:
                raise BaselineUnavailable(f"Codec2 baseline unavailable: {e}") from None
            (tree / "version").write_text(version + "\n")
            try:
                tree.rename(final)
            except OSError:
                if not (final / "version").is_file():  # not another process's whole copy
                    raise
    return final


def codec2(mode: str, root=None) -> Coder:
    """Codec2 in ``mode`` (one of CODEC2_MODES), via the cached Debian tools.

    Input is resampled to 8 kHz, padded with zeros to whole frames covering the
    codec's delay (so the end of the clip comes out), coded, decoded, shifted back by
    the delay and resampled to 16 kHz. Real bytes: the size of c2enc's headerless
    output (what a radio link carries; the mode is agreed out of band, as for Opus).
    """
    if mode not in CODEC2_MODES:
        raise KeyError(f"unknown Codec2 mode {mode!r}; choose from {', '.join(CODEC2_MODES)}")
    frame, delay = CODEC2_MODES[mode]
    tree = codec2_tools(root)
    libraries = {p.parent for p in tree.glob("usr/lib/**/libcodec2.so*")}
    env = dict(os.environ, LD_LIBRARY_PATH=os.pathsep.join(map(str, libraries)))

    def run(tool: str, source: Path, target: Path) -> None:
        try:
            command = [tree / "usr/bin" / tool, mode, source, target]
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        except OSError as e:
            raise BaselineUnavailable(f"Codec2 baseline unavailable: cannot run {tool} ({e})") from None
        if done.returncode != 0:
            detail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or [f"exit status {done.returncode}"]
            raise BaselineUnavailable(f"Codec2 baseline unavailable: `{tool} {mode}` failed: {detail[0]}")

    def code(audio: Audio) -> tuple[Audio, int]:
        import soxr

        x = _check_input(audio)
        narrow = soxr.resample(x, RATE, CODEC2_RATE)
        padded = np.zeros(math.ceil((len(narrow) + delay) / frame) * frame, np.int16)
        padded[: len(narrow)] = pcm16(narrow)
        with tempfile.TemporaryDirectory(prefix="latentcodec-codec2-") as tmp:
            raw, bits, out = Path(tmp, "in.raw"), Path(tmp, "coded.bit"), Path(tmp, "out.raw")
            padded.tofile(raw)
            run("c2enc", raw, bits)
            run("c2dec", bits, out)
            size = bits.stat().st_size
            decoded = np.fromfile(out, "<i2").astype(np.float32) / 32768
        wide = soxr.resample(decoded[delay : delay + len(narrow)], CODEC2_RATE, RATE)
        return Audio(fit(wide, len(x)), RATE), size

    run("c2enc", Path(os.devnull), Path(os.devnull))  # fails here, not mid-sweep, if the tools cannot run
    return Coder("codec2", mode, code)


def spectral_delay(decoded: np.ndarray, original: np.ndarray, max_shift: int, window: int = 256) -> int:
    """The shift ``s`` (|s| <= max_shift) for which ``decoded[t + s]`` best matches
    ``original[t]`` in mean log-spectral distance: how far a codec that does not keep
    the waveform (Codec2) delays its output. Both mono, at the same rate."""
    from scipy.signal import stft

    def logspec(z):
        return np.log(np.abs(stft(z, nperseg=window, noverlap=3 * window // 4)[2]) + 1e-4)

    n = len(original) - max_shift
    reference = logspec(original[:n])
    padded = np.concatenate([np.zeros(max_shift, np.float32), decoded, np.zeros(2 * max_shift, np.float32)])
    shifts = range(-max_shift, max_shift + 1)
    errors = [np.abs(logspec(padded[max_shift + s : max_shift + s + n]) - reference).mean() for s in shifts]
    return shifts[int(np.argmin(errors))]
