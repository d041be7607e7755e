import numpy as np
import pytest
from skimage import data

import latentcodec
from latentcodec import BitstreamError
from latentcodec.container import Header, pack, unpack


@pytest.mark.parametrize("name", ["chelsea", "camera", "coffee"])
def test_real_photos_round_trip_exactly_and_beat_raw(name):
    image = getattr(data, name)()
    encoded = latentcodec.load("lossless-image").compress(image)
    assert np.array_equal(latentcodec.decompress(encoded), image)
    assert len(encoded) < 0.75 * image.size  # well under 8 bits per sample


@pytest.mark.parametrize("shape", [(1, 1), (1, 1, 3), (130, 1, 4), (2, 300, 2), (65, 7, 3)])
def test_odd_shapes_round_trip(shape):
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    decoded = latentcodec.decompress(latentcodec.load("lossless-image").compress(image))
    assert np.array_equal(decoded, image.squeeze(-1) if image.ndim == 3 and shape[-1] == 1 else image)


def test_decoding_twice_gives_the_same_pixels(photo):
    encoded = latentcodec.load("lossless-image").compress(photo)
    assert np.array_equal(latentcodec.decompress(encoded), latentcodec.decompress(encoded))


@pytest.mark.parametrize("bad", [np.zeros((0, 4), np.uint8), np.zeros((4, 4), np.float32), np.zeros((4, 4, 5), np.uint8)])
def test_unsupported_images_are_refused(bad):
    with pytest.raises(ValueError, match="expected a non-empty uint8 image"):
        latentcodec.load("lossless-image").compress(bad)


def _repack(data, meta=None, chunks=None, codec=None, weights=None):
    header, old_chunks = unpack(data)
    header = Header(codec or header.codec, weights or header.weights, header.meta if meta is None else meta)
    return pack(header, old_chunks if chunks is None else chunks)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(codec="no-such-codec"), "needs codec 'no-such-codec', which is not installed"),
        (dict(weights="0123abcd"), "coded with weights 0123abcd"),
        (dict(meta={"height": 2}), "metadata is missing"),
        (dict(meta={"height": -5, "width": 3, "channels": 3}), "out of range"),
        (dict(chunks=[]), "stream has 0 chunks, the image needs 2"),
        (dict(chunks=[b"\xff" * 50, b"\x00"]), "range-coded stream"),
    ],
)
def test_wrong_model_or_inconsistent_stream_raises_bitstream_error(photo, change, message):
    data = latentcodec.load("lossless-image").compress(photo)
    with pytest.raises(BitstreamError, match=message):
        latentcodec.decompress(_repack(data, **change))


def test_extra_chunk_is_refused(photo):
    data = latentcodec.load("lossless-image").compress(photo)
    _, chunks = unpack(data)
    with pytest.raises(BitstreamError, match="more than the 2 chunks"):
        latentcodec.decompress(_repack(data, chunks=chunks + [b""]))
