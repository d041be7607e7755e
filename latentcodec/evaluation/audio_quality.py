"""Speech quality against real bitrate: the metrics and sweep of ``latentcodec eval audio``.

Each decoded clip is compared with its original at 16 kHz in three ways:

- SI-SDR (dB): waveform fidelity, blind to gain. Parametric codecs (Codec2)
  synthesize their own phase, so they score near or below 0 dB however they sound.
- mel distance: :class:`MultiScaleMelLoss`, the spectral error our codec trains on
  (lower is better; phase does not count).
- PESQ-WB (ITU-T P.862.2 MOS-LQO, about 1.0 to 4.64): the standard estimate of
  perceived quality, from the ``pesq`` package.

A system at one setting is a :class:`Coder`: ``code(Audio) -> (decoded Audio,
real bytes)``, so ours and the classic baselines (``audio_baselines``) are
measured by the same loop.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from latentcodec.audio_losses import MultiScaleMelLoss
from latentcodec.media import AUDIO_SUFFIXES, Audio, read_audio

RATE = 16000  # PESQ-WB is defined at 16 kHz, and our speech codec works there


def si_sdr(x_hat: Tensor, x: Tensor) -> Tensor:
    """Scale-invariant signal-to-distortion ratio in dB, per clip (last axis is time)."""
    x, x_hat = x - x.mean(-1, keepdim=True), x_hat - x_hat.mean(-1, keepdim=True)
    target = (x_hat * x).sum(-1, keepdim=True) / (x * x).sum(-1, keepdim=True).clamp_min(1e-8) * x
    return 10 * torch.log10((target**2).sum(-1).clamp_min(1e-8) / ((x_hat - target) ** 2).sum(-1).clamp_min(1e-8))


@cache
def _mel_loss(sample_rate: int) -> MultiScaleMelLoss:
    return MultiScaleMelLoss(sample_rate)  # builds 4 mel filterbanks: once, not per clip


def mel_distance(x_hat: Tensor, x: Tensor, sample_rate: int = RATE) -> float:
    """:class:`MultiScaleMelLoss` of a decoded signal against the original ([batch, samples] or [samples])."""
    return float(_mel_loss(sample_rate).to(x.device)(x_hat, x))


class PesqUndefined(ValueError):
    """PESQ gives no score for this pair: a clip under 0.25 s, or no speech found in it."""


def pesq_wb(ref: np.ndarray, deg: np.ndarray, rate: int = RATE) -> float:
    """Wideband PESQ (P.862.2) of mono ``deg`` against ``ref``; raises :class:`PesqUndefined`
    where PESQ has no score (too short, silent, no utterance detected)."""
    from pesq import PesqError, pesq  # a C extension that only evaluation needs; training imports this module

    if not np.any(ref):
        raise PesqUndefined("the reference is silent")
    try:
        return float(pesq(rate, np.asarray(ref, np.float32), np.asarray(deg, np.float32), "wb"))
    except PesqError as e:
        reason = e.args[0].decode() if e.args and isinstance(e.args[0], bytes) else str(e)
        raise PesqUndefined(reason) from None


# ---------------------------------------------------------------- systems and the sweep


@dataclass(frozen=True)
class Coder:
    """One system at one setting. ``code(audio)`` takes 16 kHz mono and returns the
    decoded audio, sample-aligned with the input and of its length, and the real
    number of bytes the system needed to send it."""

    system: str
    setting: str
    code: Callable[[Audio], tuple[Audio, int]]


def fit(samples: np.ndarray, n: int) -> np.ndarray:
    """Mono ``samples`` cut or zero-padded to ``n``, as float32 [1, n]."""
    out = np.zeros((1, n), np.float32)
    samples = np.asarray(samples, np.float32).reshape(-1)[:n]
    out[0, : len(samples)] = samples
    return out


def as_speech(audio: Audio) -> Audio:
    """Mono (channels averaged) at 16 kHz (soxr), what every system is given and compared at."""
    mono = audio.samples.mean(0, dtype=np.float32)
    if audio.sample_rate != RATE:
        import soxr

        mono = soxr.resample(mono, audio.sample_rate, RATE)
    return Audio(mono[None].astype(np.float32), RATE)


def audio_files(folder) -> list[Path]:
    files = sorted(p for p in Path(folder).expanduser().iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no audio files in {folder}")
    return files


def load_clip(path, seconds: float | None = None) -> Audio:
    """A file as 16 kHz mono, cut to its first ``seconds`` if given."""
    clip = as_speech(read_audio(path).read())
    return Audio(clip.samples[:, : round(seconds * RATE)], RATE) if seconds else clip


def learned_coders(name: str, bitrates=None) -> list[Coder]:
    """An installed audio codec at each of ``bitrates`` kbit/s (all it offers
    when not given). Variants: ``NAME@cbr`` codes every frame at constant
    depth, ``NAME@raw`` decodes without the speech postfilter, ``NAME@cbr+raw``
    both.

    Real bytes are the whole ``.lc`` file's, header and framing included.
    """
    from latentcodec import registry
    from latentcodec.container import unpack

    model, _, variant = name.partition("@")
    variant = set(filter(None, variant.split("+")))
    if variant - {"cbr", "raw"}:
        raise ValueError(f"{name}: audio variants are NAME@cbr (constant depth), NAME@raw (no postfilter) or NAME@cbr+raw")
    codec = copy.copy(registry.load(registry.resolve(model)))  # a variant's settings stay its own
    if "raw" in variant:
        codec.postfilter = False
    if getattr(codec, "modality", None) != "audio":
        raise KeyError(f"{name!r} is an {codec.modality} codec, not an audio codec")
    depth = {"variable": False} if "cbr" in variant else {}
    for kbps in bitrates or ():
        codec.depth_setting(kbps, **depth)  # a rate it cannot code fails here, before any coding

    def coder(kbps: float) -> Coder:
        def code(audio: Audio) -> tuple[Audio, int]:
            data = codec.compress(audio, bitrate=kbps, **depth)
            header, chunks = unpack(data)
            decoded = as_speech(codec.decode_chunks(header.meta, chunks))
            return Audio(fit(decoded.samples, audio.samples.shape[1]), RATE), len(data)

        return Coder(name, f"{kbps:g} kbit/s", code)

    return [coder(b) for b in bitrates or codec.bitrates]


@dataclass(frozen=True)
class AudioPoint:
    system: str
    setting: str
    kbps: float  # mean over clips of real bytes * 8 / duration
    mel: float  # mean mel distance
    si_sdr: float  # mean, dB
    pesq: float  # mean over the clips PESQ could score; nan if none
    pesq_scored: int  # how many clips that was
    clips: int


def evaluate(coder: Coder, clips: list[Audio]) -> AudioPoint:
    """Codes every clip and averages rate and quality over them."""
    kbps, mel, sdr, pesq = [], [], [], []
    for clip in clips:
        decoded, size = coder.code(clip)
        if decoded.samples.shape != clip.samples.shape or decoded.sample_rate != RATE:
            raise AssertionError(f"{coder.system} {coder.setting}: decoded {decoded.samples.shape} at "
                                 f"{decoded.sample_rate} Hz for {clip.samples.shape} at {RATE} Hz")
        x, x_hat = torch.from_numpy(clip.samples), torch.from_numpy(decoded.samples)
        kbps.append(size * 8 / (clip.samples.shape[1] / RATE) / 1000)
        mel.append(mel_distance(x_hat, x))
        sdr.append(float(si_sdr(x_hat, x)[0]))
        try:
            pesq.append(pesq_wb(clip.samples[0], decoded.samples[0]))
        except PesqUndefined:
            pass
    return AudioPoint(coder.system, coder.setting, float(np.mean(kbps)), float(np.mean(mel)), float(np.mean(sdr)),
                      float(np.mean(pesq)) if pesq else float("nan"), len(pesq), len(clips))


def plot(points: list[AudioPoint], path) -> None:
    """Quality against real kbit/s, one panel per metric, one line per system."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter

    metrics = (("mel", "mel distance (lower is better)"), ("si_sdr", "SI-SDR (dB)"), ("pesq", "PESQ-WB (MOS-LQO)"))
    fig, axes = plt.subplots(1, len(metrics), figsize=(15, 4.5), dpi=120)
    for ax, (metric, label) in zip(axes, metrics):
        for system in dict.fromkeys(p.system for p in points):
            curve = sorted((p for p in points if p.system == system), key=lambda p: p.kbps)
            ax.plot([p.kbps for p in curve], [getattr(p, metric) for p in curve], marker="o", markersize=4, label=system)
        ax.set_xscale("log")  # 0.5 to 12 kbit/s: the low rates would crowd a linear axis
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.set_xlabel("kbit/s (real byte counts)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, which="both")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
