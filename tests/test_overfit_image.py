"""Overfitted image codec: round trips, bit-exact integer probability model,
determinism across processes, threads and builds, and bad input."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage import data

import latentcodec
from latentcodec import registry
from latentcodec.codecs import CODECS
from latentcodec.codecs import overfit_image as overfit
from latentcodec.container import Header, pack, unpack
from latentcodec.entropy import autoregressive as arm
from latentcodec.entropy.range_coder import RangeEncoder
from latentcodec.errors import BitstreamError
from latentcodec.quantizers import LatticeTrellisQuantizer
from latentcodec.quantizers.soft_rounding import SoftRounding, soft_round


@pytest.fixture(scope="module", autouse=True)
def quick_preset():
    """A preset of a few dozen steps: these tests are about the codec, not its quality."""
    overfit.PRESETS["test"] = overfit.EncoderEffort(2, 10, 60, 10)
    yield
    del overfit.PRESETS["test"]


@pytest.fixture(scope="module")
def photo():
    return data.astronaut()[180:228, 200:264]  # 48 x 64, the face


def compress(image, **options):
    return latentcodec.load("overfit-image-q3").compress(image, preset="test", progress=False, **options)


@pytest.fixture(scope="module")
def stream(photo):
    return compress(photo)


def psnr(a, b):
    return 10 * np.log10(255**2 / np.mean((a.astype(float) - b) ** 2))


def test_family_is_registered_with_one_codec_per_quality():
    assert registry.family("overfit-image") == [f"overfit-image-q{q}" for q in range(1, len(overfit.QUALITIES) + 1)]
    assert {n for n in CODECS if n.startswith("overfit-image")} == set(registry.family("overfit-image"))


def test_round_trip_is_deterministic_and_learns_the_image(photo, stream):
    image = latentcodec.decompress(stream)
    assert image.shape == photo.shape and image.dtype == np.uint8
    assert np.array_equal(latentcodec.decompress(stream), image)
    flat = np.broadcast_to(photo.reshape(-1, 3).mean(0), photo.shape)
    assert psnr(image, photo) > psnr(flat, photo) + 3  # 70 steps learn far more than the mean colour
    assert compress(photo) == stream  # seeded: the same file again


def test_lower_lambda_spends_more_bits_for_more_quality(photo, stream):
    fine = compress(photo, lmbda=0.0005)
    assert len(fine) > len(stream)
    assert psnr(latentcodec.decompress(fine), photo) > psnr(latentcodec.decompress(stream), photo)


def test_another_process_with_one_thread_and_plain_kernels_decodes_the_same_pixels(stream, tmp_path):
    (tmp_path / "x.lc").write_bytes(stream)
    script = ("import sys, numpy as np, torch, latentcodec; torch.set_num_threads(1); "
              "np.save(sys.argv[2], latentcodec.decompress(open(sys.argv[1], 'rb').read()))")
    for plain in ("0", "1"):
        env = dict(os.environ, LATENTCODEC_PLAIN_KERNELS=plain)
        subprocess.run([sys.executable, "-c", script, str(tmp_path / "x.lc"), str(tmp_path / "y.npy")], env=env,
                       check=True, timeout=120)
        assert np.array_equal(np.load(tmp_path / "y.npy"), latentcodec.decompress(stream))


def test_grayscale_comes_back_grayscale_and_tiny_images_code():
    gray = data.camera()[200:232, 200:240]
    out = latentcodec.decompress(compress(gray))
    assert out.shape == gray.shape and psnr(out, gray) > 15
    for shape in [(1, 1, 3), (3, 70, 3), (65, 2, 3)]:
        tiny = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
        assert latentcodec.decompress(compress(tiny)).shape == shape


def test_bad_images_and_options_are_refused_clearly():
    rgba = np.zeros((16, 16, 4), np.uint8)
    with pytest.raises(ValueError, match="alpha"):
        compress(rgba)
    with pytest.raises(ValueError, match="preset"):
        latentcodec.load("overfit-image-q3").compress(rgba[..., :3], preset="turbo")
    with pytest.raises(ValueError, match="decoder"):
        compress(rgba[..., :3], decoder="tiny")
    with pytest.raises(ValueError, match="pixels"):
        compress(np.zeros((4097, 4097), np.uint8))


def test_corrupt_streams_raise_bitstream_error(stream):
    header, chunks = unpack(stream)
    lies = [{"height": 1 << 20}, {"decoder": "huge"}, {"channels": 4}, {"width": None}]
    for lie in lies:
        with pytest.raises(BitstreamError):
            latentcodec.decompress(pack(Header(header.codec, header.weights, header.meta | lie), chunks))
    with pytest.raises(BitstreamError, match="two chunks"):
        latentcodec.decompress(pack(header, chunks[:1]))
    with pytest.raises(BitstreamError, match="steps or tables out of range"):
        latentcodec.decompress(pack(header, [b"\x63" + chunks[0][1:], chunks[1]]))
    with pytest.raises(BitstreamError, match="shorter"):
        latentcodec.decompress(pack(header, [chunks[0][:5], chunks[1]]))
    for cut in (1, len(chunks[1]) // 2):
        with pytest.raises(BitstreamError):
            latentcodec.decompress(pack(header, [chunks[0], chunks[1][:cut]]))
    rng = np.random.default_rng(1)
    for _ in range(20):  # a flipped bit under a recomputed CRC: an error or some image, nothing else
        part = int(rng.integers(2))
        flipped = [bytearray(c) for c in chunks]
        flipped[part][int(rng.integers(len(flipped[part])))] ^= 1 << int(rng.integers(8))
        try:
            assert latentcodec.decompress(pack(header, [bytes(c) for c in flipped])).shape == (48, 64, 3)
        except BitstreamError:
            pass


def test_interrupted_encode_leaves_no_file(photo, tmp_path, monkeypatch):
    from PIL import Image

    Image.fromarray(photo).save(tmp_path / "in.png")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(overfit, "fit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        latentcodec.encode_file(tmp_path / "in.png", tmp_path / "out.lc", model="overfit-image")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]


# ------------------------------------------------------------------ integer model

def random_pyramid(rng, h=37, w=50, spread=3.0):
    shapes = overfit.grid_shapes(h, w)
    return [np.clip(np.rint(rng.laplace(0, spread, s)), -arm.LATENT_MAX, arm.LATENT_MAX).astype(np.int32)
            for s in shapes]


def test_integer_model_round_trips_and_agrees_with_its_float_twin():
    torch.manual_seed(0)
    model = arm.AutoregressiveModel(12, 12)
    grids = random_pyramid(np.random.default_rng(0))
    net = model.integer_net((7, 8, 9))
    symbols, indexes = arm.symbols(net, grids)
    encoder = RangeEncoder()
    encoder.encode_with_indexes(symbols, indexes, *arm.shipped_tables())
    data_ = encoder.flush()
    assert all(np.array_equal(a, b) for a, b in zip(arm.decode(data_, net, [g.shape for g in grids]), grids))
    # the float model with the integer weights gives nearly the same tables (rounding differs at the edges)
    model.load_integer_net(net)
    with torch.no_grad():
        mean, log_scale = model(arm.contexts([torch.from_numpy(g).float() for g in grids], 12)[0].T)
    mu16 = torch.round(mean * 16)
    scale = torch.round((log_scale - arm.LOG_SCALE_MIN) * 8).clamp(0, 63)
    float_indexes = ((mu16 - 16 * torch.floor(mu16 / 16)) * 64 + scale).int().numpy()
    assert (float_indexes == indexes[-grids[0].size:]).mean() > 0.9
    # and the same rate as its likelihood, to within the tables' quantization
    bits = model.bits([torch.from_numpy(g).float() for g in grids]).item()
    assert abs(8 * len(data_) - bits) < 0.05 * bits + 64


@pytest.mark.parametrize("threads", [1, 2])
def test_fused_training_step_gives_the_float_models_bits_and_gradients(threads):
    torch.manual_seed(0)
    model = arm.AutoregressiveModel(12, 12)
    with torch.no_grad():  # weights away from their initial zeros, so every path carries gradient
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    # odd sizes: partial blocks of eight, and a finest grid large enough for two threads
    values = [torch.from_numpy(g).float() * 0.7 for g in random_pyramid(np.random.default_rng(1), 97, 131)]
    results = []
    for fused in (True, False):
        grids = [v.clone().requires_grad_() for v in values]
        model.zero_grad()
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            bits = (model.bits(grids) if fused else
                    sum(model.reference_bits(x, y.reshape(-1)) for x, y in zip(arm.contexts(grids, 12), grids)))
        finally:
            torch.set_num_threads(previous)
        (2.5 * bits).backward()
        results.append((bits.item(), [g.grad for g in grids] + [p.grad.clone() for p in model.parameters()]))
    (fused_bits, fused_grads), (bits, grads) = results
    assert fused_bits == pytest.approx(bits, rel=1e-5)
    for a, b in zip(fused_grads, grads):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-4 * b.abs().max().item())


def test_plain_and_vector_builds_give_the_same_symbols(tmp_path):
    script = ("import sys, numpy as np, torch; from latentcodec.entropy import autoregressive as a; "
              "torch.manual_seed(3); m = a.AutoregressiveModel(16, 16); "
              "g = [np.clip(np.rint(np.random.default_rng(l).laplace(0, 4, s)), -127, 127).astype(np.int32) "
              "for l, s in enumerate([(40, 30), (20, 15), (10, 8)])]; "
              "np.save(sys.argv[1], np.concatenate(a.symbols(m.integer_net((6, 7, 8)), g)))")
    results = []
    for plain in ("0", "1"):
        out = tmp_path / f"{plain}.npy"
        subprocess.run([sys.executable, "-c", script, str(out)], env=dict(os.environ, LATENTCODEC_PLAIN_KERNELS=plain),
                       check=True, timeout=120)
        results.append(np.load(out))
    assert np.array_equal(*results)


def test_integer_model_refuses_nets_past_its_bounds():
    net = arm.AutoregressiveModel(8, 8).integer_net((8, 8, 8))
    for position, value in [(0, 25), (1, 33), (2, 17), (5, 1024)]:
        bad = net.copy()
        bad[position] = value
        with pytest.raises(ValueError):
            arm.check_net(bad)
    with pytest.raises(ValueError, match="size"):
        arm.check_net(net[:-1])


def test_corrupt_latent_streams_raise_bitstream_error():
    net = arm.AutoregressiveModel(8, 8).integer_net((8, 8, 8))
    shapes = [g.shape for g in random_pyramid(np.random.default_rng(0))]
    for data_ in (b"", b"\xff" * 7, bytes(range(256)) * 3):
        with pytest.raises(BitstreamError):
            arm.decode(data_, net, shapes)


def test_shipped_tables_are_what_build_tables_makes():
    shipped, built = arm.shipped_tables(), arm.build_tables()
    for a, b in zip(shipped, built):
        assert np.array_equal(a, b)


# ------------------------------------------------------------------ parts

def test_soft_rounding_tends_to_rounding():
    x = torch.linspace(-3, 3, 601)
    away_from_halves = (x - x.round()).abs() < 0.45
    assert (soft_round(x, 1e-2) - torch.round(x))[away_from_halves].abs().max() < 1e-4
    assert (torch.diff(soft_round(x, 0.3)) > 0).all()
    assert torch.equal(SoftRounding().eval()(x), torch.round(x))


def on_the_trellis(twice: np.ndarray, machine: np.ndarray) -> bool:
    """Whether each value (doubled) lies on its state's quantizer along the
    raster path: Q0 = Z (even when doubled), Q1 = {0, +-1/2, +-3/2, ...}."""
    state = 0
    for t in twice.reshape(-1).tolist():
        if state & 1:
            if t != 0 and t % 2 == 0:
                return False
            k = 0 if t == 0 else (t + (1 if t > 0 else -1)) // 2
        else:
            if t % 2:
                return False
            k = t // 2
        state = machine[state, k & 1]
    return True


def test_lattice_trellis_search_beats_rounding_and_keeps_to_the_trellis():
    y = torch.from_numpy(np.random.default_rng(0).laplace(0, 2, 4000).astype(np.float32))
    zeros, ones = torch.zeros_like(y), torch.ones_like(y)
    gains = {}
    for states in (4, 8):
        q = LatticeTrellisQuantizer(states, lmbda=0)
        r = q.quantize(y, zeros, ones)
        assert on_the_trellis((2 * r).int().numpy(), q.machine)
        gains[states] = 10 * math.log10(((y - y.round()) ** 2).mean() / ((y - r) ** 2).mean())
    # TCQ's granular gain, and a little more near zero, where Q1 is denser (measured: 1.6 / 1.8 dB)
    assert 1.2 < gains[4] < gains[8] < 2.2
    # a rate term moves values towards the mean
    thrifty = LatticeTrellisQuantizer(4, lmbda=1.0).quantize(y, zeros, 2 * ones)
    assert thrifty.abs().mean() < LatticeTrellisQuantizer(4, lmbda=0).quantize(y, zeros, 2 * ones).abs().mean()


def test_trellis_coded_grids_round_trip_through_the_integer_model():
    torch.manual_seed(0)
    model = arm.AutoregressiveModel(12, 12)
    q = LatticeTrellisQuantizer(4, lmbda=0.1)
    rng = np.random.default_rng(1)
    grids = [q.quantize(torch.from_numpy(rng.laplace(0, 2, s).astype(np.float32)), torch.zeros(s), torch.ones(s))
             for s in overfit.grid_shapes(37, 50)]
    twice = [(2 * g).int().numpy() for g in grids]
    net = model.integer_net((7, 8, 9), 0.5)
    symbols, indexes = arm.symbols(net, twice, q.machine)
    encoder = RangeEncoder()
    encoder.encode_with_indexes(symbols, indexes, *arm.shipped_tables())
    data_ = encoder.flush()
    shapes = [g.shape for g in twice]
    assert all(np.array_equal(a, b) for a, b in zip(arm.decode(data_, net, shapes, q.machine), twice))
    # the rate is the float model's on the trellis indexes
    model.load_integer_net(net, 0.5)
    bits = model.bits(grids, [q.on_q1(g) for g in grids]).item()
    assert abs(8 * len(data_) - bits) < 0.05 * bits + 64
    off = [t.copy() for t in twice]
    off[-1][0, 0] |= 1  # the first latent coded (coarsest grid) is in state 0, on Q0 = Z: even when doubled
    with pytest.raises(ValueError, match="quantizer"):
        arm.symbols(net, off, q.machine)


def test_tcq_option_codes_and_decodes_the_trellis_coded_latents(photo, stream):
    tcq = compress(photo, quantizer="tcq")
    assert tcq != stream and compress(photo, quantizer="tcq") == tcq
    image = latentcodec.decompress(tcq)
    assert np.array_equal(latentcodec.decompress(tcq), image)
    flat = np.broadcast_to(photo.reshape(-1, 3).mean(0), photo.shape)
    assert psnr(image, photo) > psnr(flat, photo) + 3
    with pytest.raises(ValueError, match="quantizer"):
        compress(photo, quantizer="fsq")


def test_upsampling_starts_as_bicubic():
    z = torch.randn(1, 3, 9, 13)
    up = overfit._upsample2(z, torch.tensor(overfit.BICUBIC), (17, 26))
    assert torch.allclose(up, F.interpolate(z, size=(18, 26), mode="bicubic", align_corners=False)[..., :17, :],
                          atol=1e-5)


def test_decoder_sizes_are_about_500_1000_and_2000_macs_per_pixel():
    macs = [overfit.DECODERS[n].macs_per_pixel() for n in ("small", "medium", "large")]
    assert 400 < macs[0] < 700 and 700 < macs[1] < 1300 and 1500 < macs[2] < 2500
