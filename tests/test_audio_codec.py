"""The causal audio codec: streaming exactness, packets, files, tokens, bad input."""

import copy
import io
import os
import subprocess
import struct
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import latentcodec
import latentcodec.training.cli
from latentcodec import BitstreamError
from latentcodec.codecs.audio import AudioCodecModel, AudioModelConfig
from latentcodec.codecs.audio_codec import AudioCodec, AudioStreamDecoder, VariableDepth, load_audio_model, save_audio_model
from latentcodec.codecs.speech_postfilter import SpeechPostfilter
from latentcodec.container import unpack
from latentcodec.entropy import CdfTables
from latentcodec.entropy.residual_index_prior import ResidualIndexPrior
from latentcodec.media import Audio, MediaError
from latentcodec.quantizers.residual_vq import depth_under

SPEECH = Path(__file__).parent / "data" / "speech-ru-16k.flac"
TINY = dict(channels=32, blocks=2, kernel=3, synthesis_context=2, latent_dim=8, num_quantizers=4, codebook_size=32,
            postfilter=True)


def speech() -> np.ndarray:
    return sf.read(SPEECH, dtype="float32")[0]


def tiny_codec(quantizer: str = "rvq", name: str = "tiny-audio") -> AudioCodec:
    """An untrained tiny model whose codebooks were initialized (k-means) on
    real speech, with a context prior and variable-depth tables fit to it."""
    torch.manual_seed(0)
    model = AudioCodecModel(AudioModelConfig(quantizer=quantizer, **TINY))
    x = torch.from_numpy(speech()[: 320 * 100]).reshape(2, -1)
    model.train()
    with torch.no_grad():
        model(x)
    model.eval().as_stored()
    sizes = model.quantizer.codebook_sizes
    indices, norms = stage_search(model)
    prior = ResidualIndexPrior.fit(indices, sizes, groups=4)
    return AudioCodec(name, model, "0" * 16, prior, depth=VariableDepth.calibrate(norms, np.log2(sizes)))


def stage_search(model) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The speech's indices and residual norms at full depth, as export fits them."""
    return latentcodec.training.cli.stage_search(model, [(speech() * 32767).astype(np.int16)])


def unpack_stream(codec, packets, n_quantizers, variable=False) -> list[np.ndarray]:
    """Each packet's indices, in stream order (a packet is coded given the one before)."""
    rows, previous = [], None
    for packet in packets:
        rows.append(previous := codec.unpack(packet, 1, n_quantizers, variable, previous)[0])
    return rows


@pytest.fixture(scope="module")
def codec():
    """Installed under its name, so streams that name it decode."""
    codec = tiny_codec()
    latentcodec.registry._FACTORIES[codec.name] = lambda: codec
    yield codec
    latentcodec.registry._FACTORIES.pop(codec.name)
    latentcodec.registry._LOADED.pop(codec.name, None)


def stream(codec, pcm, pieces, bitrate=None, variable=None):
    encoder = codec.stream_encoder(bitrate, variable)
    packets, at = [], 0
    for size in pieces:
        packets += encoder.encode(pcm[at : at + size])
        at += size
    packets += encoder.encode(pcm[at:])
    return packets + encoder.flush()


def test_model_is_causal_and_steps_match_whole_clips():
    torch.manual_seed(0)
    model = AudioCodecModel(AudioModelConfig(**TINY)).eval()
    x = torch.from_numpy(speech()[: 320 * 20])[None]
    with torch.no_grad():
        y, indices, _ = model(x)
        changed = x.clone()
        changed[:, 320 * 12 :] += 0.3  # the future of frame 11
        y2, indices2, _ = model(changed)
        assert torch.equal(y[:, : 320 * 12], y2[:, : 320 * 12]) and torch.equal(indices[:, :12], indices2[:, :12])
        assert indices.shape == (1, 20, 4) and y.shape == x.shape
        encoder_state, frames = model.initial_encoder_state(), x.reshape(1, -1, 320)
        latents = []
        for i in range(20):
            latent, encoder_state = model.analyze(frames[:, i : i + 1], encoder_state)
            latents.append(latent)
        whole, _ = model.analyze(frames, model.initial_encoder_state())
        torch.testing.assert_close(torch.cat(latents, 1), whole, rtol=1e-4, atol=1e-5)


def test_streams_run_a_numpy_copy_of_the_torch_model(codec):
    """What streams compute (AudioCodecModel.frozen) agrees with the modules training runs."""
    model, pcm = codec.model, speech()
    frames = pcm[: len(pcm) // 320 * 320].reshape(-1, 320)
    with torch.no_grad():
        latents = model.analyze(torch.from_numpy(frames)[None], model.initial_encoder_state())[0][0].numpy()
    analysis = codec.analysis.stream()
    streamed = np.stack([analysis(frame) for frame in frames])
    assert np.abs(streamed - latents).max() < 1e-4
    indices = codec.quantizer.encode(latents, 4)
    assert (codec.quantizer.encode(streamed, 4) == indices).all(1).mean() >= 0.99
    quantized = codec.quantizer.decode(indices)
    with torch.no_grad():
        out = model.synthesize(torch.from_numpy(quantized)[None], model.initial_decoder_state())[0][0].numpy()
    synthesis = codec.synthesis.stream()
    assert np.abs(np.stack([synthesis(z) for z in quantized]) - out).max() < 1e-4
    # streams share the weights, never their state
    first, second = codec.synthesis.stream(), codec.synthesis.stream()
    assert all(np.array_equal(first(z), second(z)) for z in quantized[:20])


class Pieces:
    """Audio read in blocks of the given sizes, as a file reader hands them over."""

    def __init__(self, pcm, sizes):
        self.samples, self.sample_rate, self.channels, self.length, self.sizes = pcm, 16000, 1, len(pcm), sizes

    def blocks(self):
        at = 0
        for size in [*self.sizes, len(self.samples)]:
            yield self.samples[None, at : at + size]
            at += size


def file_rows(codec, data) -> list[np.ndarray]:
    """Each frame's indices in a file, read from its chunk streams."""
    header, chunks = unpack(data)
    decoder = AudioStreamDecoder(codec, header.meta["quantizers"], header.meta.get("variable_depth", False))
    return [row for chunk in chunks for row in decoder.unpack(chunk[2:], -(-struct.unpack_from("<H", chunk)[0] // codec.frame))]


@pytest.mark.parametrize("pieces", [[1] * 700, [7, 333, 1, 4000, 319, 321], [10**6]])
def test_streaming_is_bit_exact_to_whole_file_coding(codec, pieces):
    pcm = speech()
    whole = stream(codec, pcm, [])
    assert len(whole) == -(-len(pcm) // codec.frame)
    assert stream(codec, pcm, pieces) == whole
    data = codec.compress(Audio(pcm[None], 16000))
    assert codec.compress(Pieces(pcm, pieces)) == data
    decoded = latentcodec.decompress(data).samples[0]
    assert np.array_equal(latentcodec.decompress(data).samples[0], decoded)
    # the file's frames, sent as packets, decode to the same samples
    rows, previous, packets = file_rows(codec, data), None, []
    for row in rows:
        packets.append(codec.pack([row], codec.depth_setting()[0], previous))
        previous = row
    decoder = codec.stream_decoder()
    assert np.array_equal(decoded, np.concatenate([decoder.decode(p) for p in packets])[: len(pcm)])


def test_a_wider_search_beam_streams_exactly_and_any_decoder_reads_it(codec):
    pcm = speech()
    wide = copy.copy(codec)
    wide.beam = 4
    packets = stream(wide, pcm, [])
    assert stream(wide, pcm, [7, 333, 1, 4000]) == packets and packets != stream(codec, pcm, [])
    greedy, own = codec.stream_decoder(), wide.stream_decoder()  # a greedy codec's decoder: the bitstream is the same kind
    assert np.array_equal(np.concatenate([greedy.decode(p) for p in packets]), np.concatenate([own.decode(p) for p in packets]))
    header, chunks = unpack(wide.compress(Audio(pcm[None], 16000)))
    assert codec.decode_chunks(header.meta, chunks).samples.shape == (1, len(pcm))


def test_weights_with_static_depth_tables_still_code():
    """Weights from before depth context carry one depth table per nominal depth."""
    codec = tiny_codec()
    stages = codec.model.config.num_quantizers
    static = VariableDepth(codec.depth.thresholds, CdfTables.from_pmfs([np.ones(stages)] * stages, [0.0] * stages, [0] * stages))
    old = AudioCodec(codec.name, codec.model, "0" * 16, codec.prior, depth=static)
    pcm = speech()
    data = old.compress(Audio(pcm[None], 16000))
    rows = file_rows(old, data)
    assert all(len(r) >= 1 for r in rows) and len({len(r) for r in rows}) > 1  # the depth varies
    decoder = old.stream_decoder()
    assert old.decompress(data).samples.shape == (1, len(pcm))
    assert len(np.concatenate([decoder.decode(p) for p in stream(old, pcm, [])])) >= len(pcm)


def test_kernels_give_the_same_bits_on_any_cpu(tmp_path):
    """The C kernels' AVX2/F16C build and their plain one (what CPUs without
    them run; forced here by LATENTCODEC_PLAIN_KERNELS) code and decode alike."""
    script = (
        "import sys, numpy as np, soundfile as sf, latentcodec\n"
        "from latentcodec.media import Audio\n"
        f"pcm = sf.read({str(SPEECH)!r}, dtype='float32')[0][:32000]\n"
        "codec = latentcodec.load('speech-codec-16k')\n"
        "data = codec.compress(Audio(pcm[None], 16000), bitrate=6)\n"
        "np.save(sys.argv[1], np.frombuffer(data + latentcodec.decompress(data).samples.tobytes(), np.uint8))\n"
    )
    outputs = []
    for plain in ("", "1"):
        path = tmp_path / f"out{plain}.npy"
        env = dict(os.environ, LATENTCODEC_PLAIN_KERNELS=plain)
        subprocess.run([sys.executable, "-c", script, str(path)], env=env, check=True)
        outputs.append(np.load(path))
    assert np.array_equal(*outputs)


def test_tokens_are_the_stream_indices(codec):
    pcm = speech()
    tokens = codec.tokenize(torch.from_numpy(pcm), n_quantizers=3)
    assert tokens.dtype == torch.int64 and tokens.shape == (3, -(-len(pcm) // 320))
    packets = stream(codec, pcm, [], bitrate=codec.bitrates[2], variable=False)
    assert all(np.array_equal(row, column) for row, column in zip(unpack_stream(codec, packets, 3), tokens.T.numpy()))
    decoder = codec.stream_decoder(codec.bitrates[2], variable=False)
    assert torch.equal(codec.detokenize(tokens), torch.from_numpy(np.concatenate([decoder.decode(p) for p in packets])))
    stereo_44k = np.stack([pcm, pcm])[:, ::1]
    assert codec.tokenize(stereo_44k, 2).shape[0] == 2
    with pytest.raises(ValueError):
        codec.detokenize(torch.full((2, 5), 32))


def test_packets_cost_their_information_plus_at_most_two_bytes(codec):
    indices = codec.tokenize(speech()).T.numpy()
    sizes = codec.model.quantizer.codebook_sizes
    information = {}
    for groups in (0, 4):  # static, and with context
        prior = ResidualIndexPrior.fit([indices], sizes, groups)
        matched, previous, information[groups] = AudioCodec("tiny", codec.model, "0" * 16, prior), None, 0.0
        for row in indices:
            packet = matched.pack([row], previous=previous)
            assert np.array_equal(matched.unpack(packet, 1, 4, previous=previous)[0], row)
            bits = prior.information_bits(row, previous).sum()
            assert len(packet) <= np.ceil(bits / 8) + 2
            information[groups] += bits
            previous = row
    assert information[0] < 0.95 * indices.size * 5  # the prior pays: fewer bits than 5 per index
    assert information[4] < 0.97 * information[0]  # and context pays on top of it


def test_bitrates_and_choices(codec):
    assert codec.bitrates == (0.25, 0.5, 0.75, 1.0)  # 5 bits per 20 ms frame and stage
    assert codec.n_quantizers(0.5) == 2 and codec.n_quantizers() == 4
    # variable depth takes any rate in range: the threshold in between, the nearest nominal depth's table
    thresholds = codec.depth.thresholds
    assert codec.depth_setting(0.5) == (2, thresholds[1]) and codec.depth_setting() == (4, thresholds[3])
    n, threshold = codec.depth_setting(0.3)
    assert n == 1 and thresholds[1] < threshold < thresholds[0]
    assert codec.depth_setting(0.5, variable=False) == (2, None)
    with pytest.raises(ValueError, match="kbit/s"):
        codec.compress(Audio(speech()[None], 16000), bitrate=0.3, variable=False)
    with pytest.raises(ValueError, match="kbit/s"):
        codec.compress(Audio(speech()[None], 16000), bitrate=1.5)
    with pytest.raises(ValueError, match="no option"):
        codec.compress(Audio(speech()[None], 16000), quantizer="tcq")


@pytest.mark.parametrize("samples", [0, 1, 100, 319, 320, 321, 16000, 16001])
def test_any_length_round_trips_to_the_same_length(codec, samples):
    pcm = np.resize(speech(), samples).astype(np.float32)
    out = latentcodec.decompress(codec.compress(Audio(pcm[None], 16000)))
    assert out.sample_rate == 16000 and out.samples.shape == (1, samples)


def test_silence_clipping_and_integer_input(codec):
    silent = codec.compress(Audio(np.zeros((1, 8000), np.float32), 16000))
    assert np.isfinite(latentcodec.decompress(silent).samples).all()
    loud = speech() * 8  # clipped far past full scale
    clipped = np.clip(loud, -1, 1)
    assert codec.compress(Audio(loud[None], 16000)) == codec.compress(Audio(clipped[None], 16000))
    as_int16 = (clipped * 32767).astype(np.int16)
    assert codec.tokenize(as_int16).shape == codec.tokenize(clipped).shape
    nan = speech().copy()
    nan[100:200] = np.nan
    assert np.isfinite(latentcodec.decompress(codec.compress(Audio(nan[None], 16000))).samples).all()


def test_damaged_packets_and_files_raise_bitstream_errors(codec):
    packets = stream(codec, speech(), [])
    decoder = codec.stream_decoder()
    with pytest.raises(BitstreamError, match="damaged"):
        decoder.decode(packets[0] + b"\x00")
    with pytest.raises(BitstreamError, match="damaged"):
        decoder.decode(packets[0][:-1])
    data = codec.compress(Audio(speech()[None], 16000))
    header, chunks = unpack(data)
    for bad in (chunks[0][:1], chunks[0][:-3], chunks[0] + b"\x01\x00", b"\x00\x00" + chunks[0][2:],
                b"\xff\xff" + chunks[0][2:]):
        with pytest.raises(BitstreamError, match="chunk 0"):
            codec.decode_chunks(header.meta, [bad] + chunks[1:])
    for meta in ({}, header.meta | {"quantizers": 9}, header.meta | {"sample_rate": 8000}):
        with pytest.raises(BitstreamError):
            codec.decode_chunks(meta, chunks)
    for cut in (len(data) // 2, len(data) - 5):
        with pytest.raises(BitstreamError):
            latentcodec.decompress(data[:cut])


def test_files_from_before_chunk_streams_still_decode(codec):
    """A u8 length and a packet per frame, and no chunk_streams in the header."""
    pcm = speech()
    data = codec.compress(Audio(pcm[None], 16000))
    header, chunks = unpack(data)
    rows, previous, old_chunks = file_rows(codec, data), None, []
    n = header.meta["quantizers"]
    for c, chunk in enumerate(chunks):
        packets = []
        for row in rows[c * 50 : (c + 1) * 50]:
            packets.append(codec.pack([row], n, previous))
            previous = row
        old_chunks.append(chunk[:2] + b"".join(bytes([len(p)]) + p for p in packets))
    old_meta = {k: v for k, v in header.meta.items() if k != "chunk_streams"}
    assert np.array_equal(codec.decode_chunks(old_meta, old_chunks).samples, codec.decode_chunks(header.meta, chunks).samples)
    assert sum(map(len, old_chunks)) > sum(map(len, chunks)) + len(rows)  # each frame cost a length byte and more
    with pytest.raises(BitstreamError, match="chunk 0"):
        codec.decode_chunks(old_meta, chunks)
    with pytest.raises(BitstreamError, match="metadata"):
        codec.decode_chunks(header.meta | {"chunk_streams": "yes"}, chunks)


def test_an_hour_streams_through_in_bounded_memory(codec):
    class Endless:  # like an AudioFile: blocks are produced on demand
        sample_rate, channels = 16000, 1

        def blocks(self):
            block = np.resize(speech(), 1 << 14).astype(np.float32)[None]
            for _ in range(120):  # two minutes here; memory does not grow with length
                yield block

    out = io.BytesIO()
    tracemalloc.start()
    codec.write(Endless(), out)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2e6  # the audio itself is 7.9 MB as float32
    decoded = latentcodec.read(io.BytesIO(out.getvalue()))
    assert sum(b.shape[1] for b in decoded.blocks()) == 120 << 14


def test_files_in_any_rate_and_channel_count(codec, tmp_path):
    pcm = speech()
    stereo = np.stack([pcm, 0.5 * pcm], 1)
    sf.write(tmp_path / "in.ogg", np.repeat(stereo, 2, 0)[: 2 * len(pcm)], 32000)  # 32 kHz stereo Vorbis
    latentcodec.encode_file(tmp_path / "in.ogg", tmp_path / "x.lc", model="tiny-audio", bitrate=0.5, variable=False)
    header, chunks = unpack((tmp_path / "x.lc").read_bytes())
    assert header.meta["source_sample_rate"] == 32000 and header.meta["source_channels"] == 2
    assert header.meta["quantizers"] == 2
    for suffix in (".wav", ".flac"):
        latentcodec.decode_file(tmp_path / "x.lc", tmp_path / f"out{suffix}")
        out, rate = sf.read(tmp_path / f"out{suffix}")
        assert rate == 16000 and abs(len(out) - len(pcm)) <= 2
    with pytest.raises(MediaError):
        latentcodec.decode_file(tmp_path / "x.lc", tmp_path / "out.xyz")
    assert not (tmp_path / "out.xyz").exists()
    (tmp_path / "bad.wav").write_bytes(b"RIFF not really")
    with pytest.raises(MediaError):
        latentcodec.encode_file(tmp_path / "bad.wav", tmp_path / "y.lc", model="tiny-audio")
    assert not (tmp_path / "y.lc").exists()
    truncated = tmp_path / "cut.lc"
    truncated.write_bytes((tmp_path / "x.lc").read_bytes()[:-40])
    with pytest.raises(BitstreamError):
        latentcodec.decode_file(truncated, tmp_path / "cut.wav")
    assert not (tmp_path / "cut.wav").exists()


def test_weights_round_trip(codec, tmp_path):
    path = tmp_path / "tiny.safetensors"
    save_audio_model(codec.model, path, codec.prior, steps=1)
    loaded = AudioCodec.from_file(path)
    assert loaded.info == {"steps": 1} and np.array_equal(loaded.prior.tables.cdfs, codec.prior.tables.cdfs)
    assert np.array_equal(loaded.prior.groups, codec.prior.groups)
    pcm = speech()
    # fp16 storage moves the weights a little; the loaded codec agrees with itself exactly
    assert loaded.compress(Audio(pcm[None], 16000)) == loaded.compress(Audio(pcm[None], 16000))
    assert (codec.tokenize(pcm) == loaded.tokenize(pcm)).float().mean() > 0.9
    model, _, _, depth = load_audio_model(path)
    assert model.config == codec.model.config and depth is None and loaded.depth is None
    save_audio_model(codec.model, path, codec.prior, codec.depth)
    depth = load_audio_model(path)[3]
    assert np.array_equal(depth.thresholds, codec.depth.thresholds) and np.array_equal(depth.tables.cdfs, codec.depth.tables.cdfs)


def test_variable_depth_tables_spend_the_bits_of_constant_depth():
    model = tiny_codec().model
    recordings, bits = stage_search(model)[1], np.log2(model.quantizer.codebook_sizes)
    depth = VariableDepth.calibrate(recordings, bits)
    norms = np.concatenate(recordings)
    assert (np.diff(depth.thresholds) <= 0).all()
    for n, threshold in enumerate(depth.thresholds[:-1], 1):  # all stages and their depth cost more than n stages
        depths = depth_under(norms, threshold)
        p = np.bincount(depths)[1:] / len(depths)
        spent = bits[0] * depths.mean() - (p[p > 0] * np.log2(p[p > 0])).sum()
        assert abs(spent - bits[0] * n) < 0.1
        assert n == 1 or len(np.unique(depths)) > 1
    # the depth is coded given the depth before: fewer bits than its entropy alone
    depths = depth_under(norms, depth.thresholds[1])
    tables = [depth.table(2, previous) for previous in [None, *depths[:-1]]]
    p = np.bincount(depths)[1:] / len(depths)
    entropy = -(p[p > 0] * np.log2(p[p > 0])).sum() * len(depths)
    assert depth.tables.information_bits(depths - 1, np.array(tables)).sum() < 0.9 * entropy


def test_variable_depth_streams(codec):
    pcm = speech()
    packets = stream(codec, pcm, [])
    assert stream(codec, pcm, [7, 333, 1, 4000]) == packets
    encoder, rows, packets = codec.stream_encoder(codec.bitrates[1]), [], []
    for row in encoder.rows(pcm):
        rows.append(row)
        packets.append(encoder.pack([row]))
    for row in encoder.rows_flush():
        rows.append(row)
        packets.append(encoder.pack([row]))
    assert packets == stream(codec, pcm, [], codec.bitrates[1])
    depths = (np.array(rows) >= 0).sum(1)
    assert len(np.unique(depths)) > 1  # frames take the stages they need
    assert all(np.array_equal(unpacked, row[row >= 0]) for unpacked, row in
               zip(unpack_stream(codec, packets, 2, variable=True), rows))
    # against constant depth: the file says which, and both decode
    variable, constant = (codec.compress(Audio(pcm[None], 16000), variable=v) for v in (True, False))
    assert unpack(variable)[0].meta["variable_depth"] is True and "variable_depth" not in unpack(constant)[0].meta
    for data in (variable, constant):
        assert latentcodec.decompress(data).samples.shape == (1, len(pcm))
    # weights without the tables code at constant depth only, and refuse a variable-depth stream
    plain = AudioCodec(codec.name, codec.model, "0" * 16, codec.prior)
    assert plain.compress(Audio(pcm[None], 16000)) == constant
    with pytest.raises(ValueError, match="variable-depth"):
        plain.stream_encoder(variable=True)
    header, chunks = unpack(variable)
    with pytest.raises(BitstreamError, match="does not fit"):
        plain.decode_chunks(header.meta, chunks)
    with pytest.raises(BitstreamError, match="does not fit"):
        codec.decode_chunks(header.meta | {"variable_depth": "yes"}, chunks)


def test_the_postfilter_follows_the_network_in_the_decoder_only(codec):
    data = codec.compress(Audio(speech()[None], 16000))
    raw = copy.copy(codec)
    raw.postfilter = False
    assert raw.compress(Audio(speech()[None], 16000)) == data  # the encoder does not know of it
    header, chunks = unpack(data)
    network = raw.decode_chunks(header.meta, chunks).samples[0]
    whole = len(network) // 320 * 320  # the last frame was cut after decoding
    postfilter = SpeechPostfilter(16000, 320)
    expected = np.concatenate([postfilter(f) for f in network[:whole].reshape(-1, 320)])
    assert np.array_equal(codec.decode_chunks(header.meta, chunks).samples[0][:whole], expected)
    assert not np.array_equal(expected, network[:whole])


def test_residual_scalar_vector_quantizer_codes_too():
    codec = tiny_codec("rsvq", "tiny-audio-rsvq")
    assert codec.model.quantizer.codebook_sizes[0] == 1000
    pcm = speech()
    assert stream(codec, pcm, [5, 1000, 77]) == stream(codec, pcm, [])
    tokens = codec.tokenize(pcm)
    assert tokens.shape[0] == 4 and int(tokens[0].max()) < 1000
    header, chunks = unpack(codec.compress(Audio(pcm[None], 16000), bitrate=codec.bitrates[1], variable=False))
    assert header.meta["quantizers"] == 2 and codec.decode_chunks(header.meta, chunks).samples.shape == (1, len(pcm))
