"""The speech postfilter: deeper valleys between harmonics and formants, the same level, no surprises on silence."""

import numpy as np
import soundfile as sf
from pathlib import Path
from scipy.signal import lfilter

from latentcodec.codecs.speech_postfilter import SpeechPostfilter

RATE, FRAME = 16000, 320


def filtered(x: np.ndarray) -> np.ndarray:
    postfilter = SpeechPostfilter(RATE, FRAME)
    return np.concatenate([postfilter(frame) for frame in x.reshape(-1, FRAME)])


def noisy_vowel(seconds: float = 1.0, f0: float = 125.0) -> tuple[np.ndarray, np.ndarray]:
    """A 125 Hz pulse train through two formant resonances, and the same with white noise at 15 dB SNR."""
    n = int(seconds * RATE)
    pulses = np.zeros(n)
    pulses[:: int(RATE / f0)] = 1.0
    vowel = pulses
    for formant, bandwidth in ((700, 100), (1200, 120)):
        r, theta = np.exp(-np.pi * bandwidth / RATE), 2 * np.pi * formant / RATE
        vowel = lfilter([1.0], [1.0, -2 * r * np.cos(theta), r * r], vowel)
    vowel *= 0.3 / np.abs(vowel).max()
    noise = np.random.default_rng(0).standard_normal(n) * np.sqrt((vowel**2).mean() / 10**1.5)
    return vowel, vowel + noise


def harmonic_to_valley(x: np.ndarray, f0: float = 125.0) -> float:
    """Energy at the harmonics over energy midway between them, below 2 kHz, over the last half second."""
    spectrum = np.abs(np.fft.rfft(x[-RATE // 2 :] * np.hanning(RATE // 2))) ** 2
    hz = np.fft.rfftfreq(RATE // 2, 1 / RATE)
    harmonics = np.arange(f0, 2000, f0)
    at = lambda f: spectrum[np.searchsorted(hz, f)]  # noqa: E731
    return sum(at(h) for h in harmonics) / sum(at(h + f0 / 2) for h in harmonics)


def test_deepens_the_valleys_between_harmonics_and_keeps_the_level():
    clean, noisy = noisy_vowel()
    out = filtered(noisy.astype(np.float32))
    assert harmonic_to_valley(out) > 2 * harmonic_to_valley(noisy)
    # closer to the clean vowel than the noisy input was, at the same level
    assert np.abs(np.log10((out**2).mean() / (noisy**2).mean())) < 0.1
    spectral_error = lambda x: np.abs(np.log(np.abs(np.fft.rfft(x[-8000:])) + 1e-3) - np.log(np.abs(np.fft.rfft(clean[-8000:])) + 1e-3)).mean()  # noqa: E731
    assert spectral_error(out) < spectral_error(noisy)


def test_silence_stays_silent_and_real_speech_keeps_its_level():
    assert np.array_equal(filtered(np.zeros(10 * FRAME, np.float32)), np.zeros(10 * FRAME, np.float32))
    speech = sf.read(Path(__file__).parent / "data" / "speech-ru-16k.flac", dtype="float32")[0]
    speech = speech[: len(speech) // FRAME * FRAME]
    out = filtered(speech)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    assert 0.7 < np.sqrt((out**2).mean() / (speech**2).mean()) < 1.3
    assert np.array_equal(filtered(speech), out)  # deterministic
