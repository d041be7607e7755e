"""Audio evaluation: metrics on real speech, the Opus and Codec2 baselines, `latentcodec eval audio`."""

import math
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image
from scipy.signal import correlate, correlation_lags

from latentcodec import datasets
from latentcodec.cli import main
from latentcodec.evaluation import audio_baselines as ab
from latentcodec.evaluation.audio_quality import PesqUndefined, load_clip, mel_distance, pesq_wb, si_sdr
from latentcodec.media import Audio

SPEECH = Path(__file__).parent / "data" / "speech-ru-16k.flac"


@pytest.fixture(scope="module")
def clip() -> Audio:
    return load_clip(SPEECH)


def with_noise(x: torch.Tensor, snr_db: float) -> torch.Tensor:
    """``x`` plus white noise at ``snr_db`` below its power."""
    noise = torch.from_numpy(np.random.default_rng(0).standard_normal(len(x)).astype(np.float32))
    return x + noise * (x.pow(2).mean() / 10 ** (snr_db / 10)).sqrt()


def test_si_sdr_is_high_for_the_signal_itself_and_tracks_added_noise(clip):
    x = torch.from_numpy(clip.samples[0])
    assert si_sdr(x, x) > 80 and si_sdr(0.5 * x, x) > 80  # a gain is no distortion
    assert [float(si_sdr(with_noise(x, snr), x)) for snr in (30, 20, 10)] == pytest.approx([30, 20, 10], abs=0.3)


def test_mel_distance_is_zero_for_the_signal_itself_and_grows_with_noise(clip):
    x = torch.from_numpy(clip.samples)
    distances = [mel_distance(with_noise(x[0], snr)[None], x) for snr in (30, 20, 10)]
    assert mel_distance(x, x) == 0 and 0 < distances[0] < distances[1] < distances[2]


def test_pesq_tops_out_for_identical_speech_and_ranks_opus_bitrates(clip):
    x = clip.samples[0]
    assert pesq_wb(x, x) == pytest.approx(4.64, abs=0.01)
    low, high = (pesq_wb(x, ab.opus(k).code(clip)[0].samples[0]) for k in (6, 12))
    assert 1 < low < high - 1 < 4.64


@pytest.mark.parametrize("ref, reason", [(np.zeros(16000, np.float32), "silent"), (None, "1/4 of a second")])
def test_pesq_says_why_it_has_no_score(clip, ref, reason):
    ref = clip.samples[0][16000:19200] if ref is None else ref  # 0.2 s of speech
    with pytest.raises(PesqUndefined, match=reason):
        pesq_wb(ref, ref)


@pytest.mark.parametrize("kbps", [6, 8, 12])
def test_opus_costs_what_was_asked_and_comes_back_aligned(clip, kbps):
    decoded, size = ab.opus(kbps).code(clip)
    x, y = clip.samples[0], decoded.samples[0]
    assert decoded.samples.shape == clip.samples.shape and decoded.sample_rate == 16000
    assert size * 8 / (len(x) / 16000) / 1000 == pytest.approx(kbps, rel=0.15)  # VBR, and Ogg pages and headers on top
    lags = correlation_lags(len(y), len(x))
    near = np.abs(lags) <= 200
    assert abs(lags[near][np.argmax(correlate(y, x)[near])]) <= 1  # within a sample; the pre-skip is 104


# bytes per frame and frame length: c2enc writes each frame in whole bytes (700C's 28 bits in 4)
CODEC2_FRAMES = {"3200": (8, 0.02), "2400": (6, 0.02), "1600": (8, 0.04), "1200": (6, 0.04), "700C": (4, 0.04)}


@pytest.mark.parametrize("mode", CODEC2_FRAMES)
def test_codec2_sends_whole_frames_and_returns_every_sample(clip, mode):
    decoded, size = ab.codec2(mode).code(clip)
    frame_bytes, frame_seconds = CODEC2_FRAMES[mode]
    frames, left = divmod(size, frame_bytes)
    covered = len(clip.samples[0]) / 16000 + ab.CODEC2_MODES[mode][1] / 8000  # the clip and the codec's delay
    assert left == 0 and covered <= frames * frame_seconds < covered + frame_seconds
    assert decoded.samples.shape == clip.samples.shape and decoded.sample_rate == 16000


@pytest.mark.parametrize("mode", ["3200", "700C"])
def test_codec2_delay_is_compensated(clip, mode):
    """Codec2 keeps no phase, so alignment is judged on spectra; uncompensated, it is 300 or 450 samples."""
    decoded, _ = ab.codec2(mode).code(clip)
    assert abs(ab.spectral_delay(decoded.samples[0], clip.samples[0], 80, 512)) <= 32  # 2 ms


def test_unavailable_baselines_say_what_failed(tmp_path, monkeypatch):
    def no_network(package, folder):
        raise datasets.FetchError(f"{package}: `apt-get download {package}` failed: no network")

    monkeypatch.setattr(datasets, "unpack_debian", no_network)
    with pytest.raises(ab.BaselineUnavailable, match="Codec2 baseline unavailable: codec2: .* no network"):
        ab.codec2("3200", root=tmp_path)
    assert list(tmp_path.iterdir()) == []  # no partial cache left behind
    monkeypatch.setattr(av, "codecs_available", set())
    with pytest.raises(ab.BaselineUnavailable, match="no libopus"):
        ab.opus(6)


def test_eval_audio_prints_a_table_and_draws_the_plot(tmp_path, clip, capsys):
    folder = tmp_path / "speech"
    folder.mkdir()
    sf.write(folder / "a.flac", clip.samples[0, :32000], 16000)
    sf.write(folder / "b.wav", clip.samples[0, 32000:35200], 16000)  # 0.2 s: too short for PESQ
    png = tmp_path / "quality.png"
    argv = ["eval", "audio", str(folder), "--baselines", "opus,codec2", "--opus-bitrates", "6,12",
            "--codec2-modes", "3200,700C", "--plot", str(png)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith(("  opus", "  codec2"))]
    assert [row[:2] for row in rows] == [["opus", "6"], ["opus", "12"], ["codec2", "3200"], ["codec2", "700C"]]
    assert all(row[-1] == "1/2" for row in rows) and "leave those out" in out and "took" in out
    assert all(math.isfinite(float(value)) for row in rows for value in row[-5:-1])
    with Image.open(png) as image:
        assert image.width > image.height > 200


def test_eval_audio_refuses_a_codec_that_is_not_for_audio(tmp_path, clip, capsys):
    sf.write(tmp_path / "a.wav", clip.samples[0], 16000)
    assert main(["eval", "audio", str(tmp_path), "--models", "lossless-image", "--baselines", ""]) == 1
    assert "not an audio codec" in capsys.readouterr().err


def test_learned_coders_code_at_variable_or_constant_depth(clip):
    from latentcodec.evaluation.audio_quality import learned_coders

    short = Audio(clip.samples[:, :32000], 16000)
    (variable,), (constant,) = learned_coders("speech-codec-16k", [3]), learned_coders("speech-codec-16k@cbr", [3])
    assert (variable.system, constant.system) == ("speech-codec-16k", "speech-codec-16k@cbr")
    (decoded, variable_bytes), (_, constant_bytes) = variable.code(short), constant.code(short)
    assert decoded.samples.shape == short.samples.shape and variable_bytes != constant_bytes
    with pytest.raises(ValueError, match="@cbr"):
        learned_coders("speech-codec-16k@fast")
