"""Closed-loop rate control: files spend what --bitrate asks, whatever the material."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import latentcodec
from latentcodec.codecs.rate_control import RateController
from latentcodec.errors import RateError
from latentcodec.media import Audio

SPEECH = Path(__file__).parent / "data" / "speech-ru-16k.flac"


@pytest.fixture(scope="module")
def codec():
    return latentcodec.load("speech-codec-16k")


def speech():
    return sf.read(SPEECH, dtype="float32")[0]


def kbps(data: bytes, samples: int) -> float:
    return 8 * len(data) / (samples / 16000) / 1000


def test_the_controller_finds_the_threshold_of_its_budget():
    """Frames whose depth d costs 10 d bits and whose residual after d stages is 2^-d."""
    norms = np.concatenate([[np.inf], 2.0 ** -np.arange(1, 12)])
    costs = 10.0 * np.arange(1, 13)
    controller = RateController(45.0, 1.0, 1e-6, 10.0)
    depths = []
    for _ in range(300):
        depth = int((norms > controller.threshold).cumprod().sum())
        controller.spend(norms, costs, depth)
        depths.append(depth)
    assert abs(controller.spent / controller.frames - 45) < 1  # depths 4 and 5 alternate: 45 bits on average
    assert set(depths[-50:]) == {4, 5}


@pytest.mark.parametrize("material", ["speech", "noisy", "loud", "quiet", "pauses"])
@pytest.mark.parametrize("bitrate", [1.5, 3.0])
def test_files_keep_their_bitrate_within_ten_percent(codec, material, bitrate):
    x = speech()
    rng = np.random.default_rng(0)
    x = {"speech": x, "noisy": x + 0.05 * rng.standard_normal(len(x)).astype(np.float32),
         "loud": np.clip(8 * x, -1, 1), "quiet": 0.03 * x,
         "pauses": np.concatenate([x[:16000], np.zeros(24000, np.float32), x[16000:]])}[material]
    data = codec.compress(Audio(x[None], 16000), bitrate=bitrate)
    assert abs(kbps(data, len(x)) / bitrate - 1) <= 0.1
    decoded = latentcodec.decompress(data).samples[0]
    assert len(decoded) == len(x) and np.array_equal(latentcodec.decompress(data).samples[0], decoded)


def test_a_rate_the_audio_cannot_take_fails_and_writes_nothing(codec, tmp_path):
    silence = np.zeros(3 * 16000, np.float32)  # digital silence costs little even at full depth
    with pytest.raises(RateError, match="cannot code this audio at 5 kbit/s.*all stages spend less"):
        codec.compress(Audio(silence[None], 16000), bitrate=5)
    codec.compress(Audio(silence[None], 16000))  # no rate asked: no promise to keep
    sf.write(tmp_path / "silence.wav", silence, 16000)
    run = subprocess.run([sys.executable, "-m", "latentcodec.cli", "encode", str(tmp_path / "silence.wav"),
                          str(tmp_path / "out.lc"), "--bitrate", "5"], capture_output=True, text=True)
    assert run.returncode == 1 and "cannot code this audio" in run.stderr
    assert not (tmp_path / "out.lc").exists()


def test_packet_streams_keep_their_bitrate_too(codec):
    x = speech()
    encoder = codec.stream_encoder(3)
    packets = [p for at in range(0, len(x), 1000) for p in encoder.encode(x[at : at + 1000])] + encoder.flush()
    assert abs(kbps(b"".join(packets), len(x)) / 3 - 1) <= 0.1
    decoder = codec.stream_decoder(3)
    assert len(np.concatenate([decoder.decode(p) for p in packets])) >= len(x)
