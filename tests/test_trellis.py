import zlib

import numpy as np
import pytest
import torch

from latentcodec import BitstreamError
from latentcodec.codecs.image import ImageCodec, save_weights
from latentcodec.codecs.image_models import IMAGE_MODELS
from latentcodec.container import Header, pack, unpack
from latentcodec.entropy import GaussianConditional, RangeDecoder, RangeEncoder
from latentcodec.quantizers import TrellisQuantizer, parse_quantizer, quantizer_from_params
from latentcodec.quantizers import trellis


def test_shipped_tables_are_what_the_builder_makes():
    built, (shipped, _) = trellis.build_tables(), trellis.shipped_tables()
    for a, b in zip(built, shipped):
        assert np.array_equal(a, b)
    shipped.validate()


def _path_cost(q: TrellisQuantizer, residual, base, symbols, state=0):
    """J of an index sequence, walking the state machine as the decoder does."""
    tables, bits = trellis.shipped_tables()
    shift = len(tables.lengths) // 2
    total = 0.0
    for r, t, k in zip(residual, base, symbols):
        quant = q.quantizer_of_state[state]
        table = t + quant * shift
        slot = k - tables.offsets[table]
        assert 0 <= slot < tables.lengths[table] - 1  # no escapes in this test
        total += (r - trellis.reconstruction(np.int64(k), quant)) ** 2 + q.lmbda / q.delta**2 * bits[table, slot]
        state = q.next_states[state][k & 1]
    return total


def _cheapest(q: TrellisQuantizer, residual, base, state=0):
    """Exhaustive search over the search's candidates (each quantizer's two
    nearest levels and 0): every path through the trellis, one by one."""
    if len(residual) == 0:
        return 0.0
    quant, r = q.quantizer_of_state[state], residual[0]
    if quant == 0:
        near = [int(np.floor(r / 2)), int(np.floor(r / 2)) + 1]
    else:
        a = int(np.floor((r + 1) / 2)) if r >= 0 else -int(np.floor((1 - r) / 2))
        near = [a, a + 1 if r >= 0 else a - 1]
    return min(
        _path_cost(q, residual[:1], base[:1], [k], state) + _cheapest(q, residual[1:], base[1:], q.next_states[state][k & 1])
        for k in set(near) | {0}
    )


@pytest.mark.parametrize("states", [4, 8])
def test_viterbi_finds_the_cheapest_path(states):
    rng = np.random.default_rng(states)
    for _ in range(5):
        q = TrellisQuantizer(states, delta_shift=5, lmbda=0.3)  # a new trellis, starting in state 0
        n = 7
        scales = torch.from_numpy(np.exp(rng.uniform(np.log(0.3), np.log(4), n)).astype(np.float32))
        y = scales * torch.from_numpy(rng.standard_normal(n).astype(np.float32))
        symbols, _, _ = q.quantize(GaussianConditional(), y, scales)
        residual = (y / q.delta).numpy().astype(np.float64)
        base = q._tables_of(GaussianConditional(), scales)
        assert _path_cost(q, residual, base, symbols) == pytest.approx(_cheapest(q, residual, base), rel=1e-6)


def test_decoder_tracks_the_state_across_calls():
    rng = np.random.default_rng(0)
    machine = trellis.STATE_MACHINES[8]
    shifts = (np.arange(8) & 1).astype(np.int32) * 64
    n = 5000
    base = rng.integers(0, 64, n).astype(np.int32)
    values = rng.integers(-3, 4, n).astype(np.int32)
    state, states = 3, np.empty(n, np.int32)
    for i, v in enumerate(values):
        states[i] = state
        state = machine[state][v & 1]
    tables = trellis.shipped_tables()[0]
    encoder = RangeEncoder()
    encoder.encode_with_indexes(values, base + shifts[states], *tables)
    decoder = RangeDecoder(encoder.flush())
    first = decoder.decode_with_states(base[:1234], *tables, machine, shifts, 3)
    second = decoder.decode_with_states(base[1234:], *tables, machine, shifts, first[2])
    assert np.array_equal(np.concatenate([first[0], second[0]]), values)
    assert np.array_equal(np.concatenate([first[1], second[1]]), states)
    assert second[2] == state
    with pytest.raises(ValueError, match="next_states holds"):
        RangeDecoder(b"\0" * 8).decode_with_states(base[:3], *tables, machine + 8, shifts, 0)
    with pytest.raises(ValueError, match="state 9 is outside"):
        RangeDecoder(b"\0" * 8).decode_with_states(base[:3], *tables, machine, shifts, 9)


@pytest.mark.parametrize("architecture", ["bmshj2018-hyperprior", "mbt2018-mean", "ms2020-channelwise"])
def test_every_gaussian_latent_codes_with_tcq(architecture):
    torch.manual_seed(0)
    model = IMAGE_MODELS[architecture](16, 24).eval()
    x = torch.rand(1, 3, 64, 128)
    with torch.no_grad():
        encoder, quantizer = RangeEncoder(), TrellisQuantizer(4)
        y_hat = model.encode(encoder, x, quantizer)
        quantizer.finish(encoder)
        decoder, quantizer = RangeDecoder(encoder.flush()), TrellisQuantizer(4)
        x_hat = model.decode(decoder, 64, 128, quantizer)
        quantizer.verify(decoder)
        assert torch.equal(x_hat, model.g_s(y_hat))


def test_factorized_prior_refuses_tcq():
    model = IMAGE_MODELS["bmshj2018-factorized"](16, 24).eval()
    with pytest.raises(ValueError, match="factorized-prior model has none"):
        model.encode(RangeEncoder(), torch.rand(1, 3, 64, 64), TrellisQuantizer())


def test_quantizer_specs():
    q = parse_quantizer("tcq:states=4,lmbda=0.05,delta_shift=3")
    assert (q.states, q.delta_shift, q.lmbda) == (4, 3, 0.05)
    assert quantizer_from_params(q.params()).params() == q.params() == {"name": "tcq", "states": 4, "delta_shift": 3}
    for bad, message in [("vq", "unknown quantizer"), ("tcq:states=5", "4 or 8 states"), ("tcq:depth=2", "bad options"),
                         ("tcq:states", "not key=value"), ("tcq:delta_shift=99", "delta_shift must be")]:
        with pytest.raises(ValueError, match=message):
            parse_quantizer(bad)


@pytest.fixture
def codec(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "tiny-q1.safetensors"
    model = IMAGE_MODELS["mbt2018-mean"](16, 24)
    with torch.no_grad():
        model.g_a[-1].weight *= 30  # latents of a trained model's size, not an untrained one's zeros
    save_weights(model, path, "mbt2018-mean")
    return ImageCodec.from_file(path)


def test_image_codec_records_the_quantizer(codec, photo):
    data = codec.compress(photo, quantizer="tcq:states=4")
    header, chunks = unpack(data)
    assert header.meta["quantizer"] == {"name": "tcq", "states": 4, "delta_shift": 5}
    decoded = codec.decompress(data)
    assert np.array_equal(codec.decompress(data), decoded)
    assert not np.array_equal(codec.decompress(codec.compress(photo)), decoded)


def _recoded(data: bytes, **meta) -> bytes:
    """The same chunks under a header changed as asked (with a valid CRC)."""
    header, chunks = unpack(data)
    return pack(Header(header.codec, header.weights, header.meta | meta), chunks)


def test_tcq_stream_under_another_trellis_or_cut_raises(codec, photo):
    data = codec.compress(photo, quantizer="tcq")
    for wrong in ({"name": "tcq", "states": 4, "delta_shift": 5}, {"name": "tcq", "states": 8, "delta_shift": 4}):
        with pytest.raises(BitstreamError):
            codec.decompress(_recoded(data, quantizer=wrong))
    for wrong, message in [({"name": "tcq", "states": 5, "delta_shift": 5}, "cannot be decoded"),
                           ({"name": "rvq"}, "unknown quantizer"), ("tcq", "cannot be decoded")]:
        with pytest.raises(BitstreamError, match=message):
            codec.decompress(_recoded(data, quantizer=wrong))
    header, chunks = unpack(data)
    for cut in (1, len(chunks[0]) // 3, len(chunks[0]) - 1):
        with pytest.raises(BitstreamError):
            codec.decompress(pack(header, [chunks[0][:cut]]))


def test_index_crc_covers_every_index(codec, photo):
    quantizer = TrellisQuantizer()
    data = codec.compress(photo, quantizer="tcq")
    header, chunks = unpack(data)
    decoder = RangeDecoder(chunks[0])
    codec.model.decode(decoder, *(s + (-s % 64) for s in photo.shape[:2]), quantizer)
    assert quantizer.crc != zlib.crc32(b"")
    quantizer.verify(decoder)  # the CRC the encoder wrote is the one over what the decoder got


def test_cli_encodes_with_tcq_and_decodes_unasked(tmp_path, photo, capsys):
    from PIL import Image

    from latentcodec.cli import main
    from latentcodec.media import read_image

    png, lc, out, bad = (tmp_path / n for n in ("in.png", "in.lc", "out.png", "bad.lc"))
    Image.fromarray(photo).save(png)
    assert main(["encode", str(png), str(lc), "--quantizer", "tcq"]) == 0
    assert unpack(lc.read_bytes())[0].meta["quantizer"] == {"name": "tcq", "states": 8, "delta_shift": 5}
    assert main(["decode", str(lc), str(out)]) == 0
    assert read_image(out).shape == photo.shape
    assert main(["encode", str(png), str(bad), "--quantizer", "tcq:states=3"]) == 1
    assert "4 or 8 states" in capsys.readouterr().err and not bad.exists()
    assert main(["encode", str(png), str(bad), "--model", "lossless-image", "--quantizer", "tcq"]) == 1
    assert "no encoder options (got quantizer)" in capsys.readouterr().err and not bad.exists()


def test_eval_rd_compares_quantizers_against_an_anchor(tmp_path, capsys):
    from PIL import Image
    from skimage import data

    from latentcodec.cli import main

    for name, image in (("a", data.astronaut()[:192, :192]), ("b", data.coffee()[:192, :256])):
        Image.fromarray(image).save(tmp_path / f"{name}.png")
    models = "mbt2018-mean-small,mbt2018-mean-small@tcq"
    assert main(["eval", "rd", str(tmp_path), "--models", models, "--baselines", "jpeg", "--anchor", "mbt2018-mean-small"]) == 0
    out = capsys.readouterr().out
    assert "mbt2018-mean-small@tcq\n" in out and "mbt2018-mean-small-q4 " in out
    assert "BD-rate (psnr) mbt2018-mean-small@tcq vs mbt2018-mean-small:" in out
    assert "BD-rate (psnr) mbt2018-mean-small vs mbt2018-mean-small:" not in out
    assert main(["eval", "rd", str(tmp_path), "--models", models, "--anchor", "jpeg2000"]) == 1
