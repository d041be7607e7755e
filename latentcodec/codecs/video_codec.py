"""Video codecs: intra frames through an installed image codec, P-frames
through scale-space flow (:mod:`latentcodec.codecs.video`), frame by frame.

Files. The header's meta holds ``width``, ``height``, ``frame_rate``
("num/den"), ``gop``, ``intra`` (the image codec) and ``quantizer``. Then one
chunk per frame, in display order: a type byte, ``I`` or ``P``, and one
range-coder stream (intra: the image model's stream; P: motion hyper-latent
and latent, then residual hyper-latent and latent). Encoders make every
``gop``-th frame intra; decoders go by the type byte.

Seeking. A P-frame's only state is the previous decoded frame (uint8, as
written out), and an intra frame has none, so decoding can start at any
intra frame: :meth:`VideoCodec.decode_from` reads and checks the chunks
before it without decoding them, then decodes from the last intra frame at or
before the one asked for.

Memory. Encoders pull one frame at a time from the source and decoders
produce one frame at a time as the output is written; each holds one
reference frame, so clips of any length stream through.

Exactness. Encoders reconstruct each frame exactly as decoders do (same
operations on the same values), so there is no drift, and decoding a file
twice gives the same frames. As with the image codecs, the float-to-table
step (``ConditionalModel.indexes``) must agree between the machines that
encode and decode; a P-frame's tables depend on its own hyper-latents only,
never on the reference, so differences in reconstructed pixels cannot
desynchronize the range decoder.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch
from safetensors.torch import save_file

from latentcodec import registry
from latentcodec.codec import Codec
from latentcodec.codecs.image import ImageCodec
from latentcodec.codecs.image_models import pad, to_tensor
from latentcodec.codecs.video import ScaleSpaceFlow, VideoModelConfig
from latentcodec.entropy import RangeDecoder, RangeEncoder
from latentcodec.errors import BitstreamError
from latentcodec.media import Video
from latentcodec.pretrained import file_hash, read_weights
from latentcodec.quantizers import parse_quantizer, quantizer_from_params

GOP = 12  # default distance between intra frames
INTRA, INTER = b"I", b"P"
MAX_PIXELS = 1 << 25  # per frame (8K is 2^25 - 2^21)


# ---------------------------------------------------------------- weights


def save_video_model(model: ScaleSpaceFlow, path, intra: ImageCodec, **info) -> None:
    """P-frame parameters as fp16, the factorized priors' tables exactly, and
    the intra codec's name and weights hash: a video weight file names both."""
    params = {name for name, _ in model.named_parameters()}
    state = {k: (v.half() if k in params else v).contiguous() for k, v in model.state_dict().items()}
    meta = {"kind": "video-codec", "config": json.dumps(model.config.to_dict()), "intra": intra.name,
            "intra_weights": intra.weights_hash, "info": json.dumps(info)}
    save_file(state, str(path), metadata=meta)


def load_video_model(path) -> tuple[ScaleSpaceFlow, dict]:
    """(the P-frame model, the file's metadata)."""
    meta, state = read_weights(path, "video-codec")
    model = ScaleSpaceFlow(VideoModelConfig.from_dict(json.loads(meta["config"])))
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return model.eval(), meta


# ---------------------------------------------------------------- frames


def _rgb(frame, shape: tuple[int, int] | None) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim == 2:
        frame = np.repeat(frame[..., None], 3, axis=2)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3 or 0 in frame.shape:
        raise ValueError(f"expected uint8 RGB frames [H, W, 3] (or grayscale [H, W]), got {frame.dtype} {frame.shape}")
    if shape is not None and frame.shape[:2] != shape:
        raise ValueError(f"frame is {frame.shape[1]}x{frame.shape[0]}, the video is {shape[1]}x{shape[0]}")
    return frame


class VideoStreamEncoder:
    """RGB uint8 frames in, one payload (type byte + stream) per frame out:
    an intra frame every ``gop`` frames, P-frames from the last decoded frame.
    Every frame must have the size of the first (or ``shape``, (H, W), if given)."""

    def __init__(self, codec: "VideoCodec", gop: int = GOP, quantizer: str | None = None,
                 shape: tuple[int, int] | None = None):
        if int(gop) != gop or gop < 1:
            raise ValueError(f"gop must be a positive integer, got {gop!r}")
        self.codec, self.gop, self.spec = codec, int(gop), quantizer or "uniform"
        parse_quantizer(self.spec)  # refuse a bad spec before any frame
        self.frames, self.shape, self._reference = 0, shape, None

    @torch.inference_mode()
    def encode(self, frame) -> tuple[bytes, np.ndarray]:
        """(the frame's payload, the frame the decoder will output)."""
        frame = _rgb(frame, self.shape)
        self.shape = frame.shape[:2]
        x = pad(to_tensor(frame)[None], self.codec.alignment)
        encoder, quantizer = RangeEncoder(), parse_quantizer(self.spec)
        if self.frames % self.gop == 0:
            kind, x_hat = INTRA, self.codec.intra.model.g_s(self.codec.intra.model.encode(encoder, x, quantizer))
        else:
            kind, x_hat = INTER, self.codec.model.encode(encoder, x, self._reference, quantizer)
        quantizer.finish(encoder)
        decoded = self.codec.output(x_hat, *self.shape)
        self._reference = pad(to_tensor(decoded)[None], self.codec.alignment)
        self.frames += 1
        return kind + encoder.flush(), decoded


class VideoStreamDecoder:
    """Payloads in, one RGB uint8 frame out per payload. A damaged payload
    raises BitstreamError and leaves the decoder as it was."""

    def __init__(self, codec: "VideoCodec", height: int, width: int, quantizer_params: dict | None = None):
        self.codec, self.height, self.width = codec, height, width
        self.params = quantizer_params or {"name": "uniform"}
        self._reference = None

    @torch.inference_mode()
    def decode(self, payload: bytes) -> np.ndarray:
        kind, stream = bytes(payload[:1]), bytes(payload[1:])
        align = self.codec.alignment
        h, w = self.height + (-self.height % align), self.width + (-self.width % align)
        decoder, quantizer = RangeDecoder(stream), quantizer_from_params(self.params)
        if kind == INTRA:
            x_hat = self.codec.intra.model.decode(decoder, h, w, quantizer)
        elif kind == INTER:
            if self._reference is None:
                raise BitstreamError("a P-frame with no intra frame before it")
            x_hat = self.codec.model.decode(decoder, self._reference, quantizer)
        else:
            raise BitstreamError(f"frame type {kind!r} is neither {INTRA!r} nor {INTER!r}")
        quantizer.verify(decoder)
        if decoder.position != len(stream) + 3:  # a whole stream leaves the decoder 3 bytes past its end
            raise BitstreamError(f"its symbols end at byte {decoder.position - 3} of a {len(stream)}-byte stream")
        decoded = self.codec.output(x_hat, self.height, self.width)
        self._reference = pad(to_tensor(decoded)[None], align)
        return decoded


class DecodedVideo:
    """Decoded video whose frames are produced one by one as they are read (once)."""

    def __init__(self, width: int, height: int, frame_rate: Fraction, frames: Iterator[np.ndarray]):
        self.width, self.height, self.frame_rate, self._frames = width, height, frame_rate, frames

    def frames(self) -> Iterator[np.ndarray]:
        return self._frames

    def read(self) -> Video:
        frames = list(self._frames)
        return Video(np.stack(frames) if frames else np.zeros((0, self.height, self.width, 3), np.uint8), self.frame_rate)


# ---------------------------------------------------------------- the codec


class VideoCodec(Codec):
    """RGB video through a P-frame model and the image codec it was trained with.

    Options: ``gop`` (frames from one intra frame to the next; 1 makes every
    frame intra) and ``quantizer`` (``uniform`` or ``tcq``, as for images; one
    for the whole stream). Any size is coded: frames pad to a multiple of
    :attr:`alignment` and decode cropped back. The source must have a
    constant frame rate (:class:`~latentcodec.media.VideoFile` refuses others).
    """

    modality = "video"

    def __init__(self, name: str, model: ScaleSpaceFlow, weights_hash: str, intra: ImageCodec, info: dict | None = None):
        if not isinstance(intra, ImageCodec):
            raise ValueError(f"intra frames need a learned image codec, not {type(intra).__name__}")
        self.name, self.model, self.weights_hash, self.intra, self.info = name, model.eval(), weights_hash, intra, info or {}

    @classmethod
    def from_file(cls, path) -> "VideoCodec":
        model, meta = load_video_model(path)
        intra = registry.load(meta["intra"])
        if intra.weights_hash != meta["intra_weights"]:
            raise ValueError(f"{path}: made for intra codec {meta['intra']} with weights {meta['intra_weights']}; "
                             f"the installed one has {intra.weights_hash}")
        return cls(Path(path).stem, model, file_hash(path), intra, json.loads(meta.get("info", "{}")))

    @property
    def alignment(self) -> int:
        return math.lcm(self.model.alignment, self.intra.model.alignment)

    @staticmethod
    def output(x_hat: torch.Tensor, height: int, width: int) -> np.ndarray:
        """The frame as written out: cropped, clamped and rounded to uint8."""
        return (x_hat[0, :, :height, :width].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()

    def new_quantizer(self, spec: str | None = None):
        return parse_quantizer(spec or "uniform")

    def stream_encoder(self, gop: int = GOP, quantizer: str | None = None) -> VideoStreamEncoder:
        return VideoStreamEncoder(self, gop, quantizer)

    def encode_chunks(self, video, gop: int | None = None, quantizer: str | None = None) -> tuple[dict, Iterator[bytes]]:
        """``video``: anything with ``width``, ``height``, ``frame_rate`` and
        ``frames()`` (:class:`~latentcodec.media.Video`, a ``VideoFile``)."""
        width, height, rate = int(video.width), int(video.height), Fraction(video.frame_rate)
        if width * height > MAX_PIXELS or rate <= 0:
            raise ValueError(f"cannot code {width}x{height} at {rate} frames/s (at most {MAX_PIXELS} pixels a frame)")
        encoder = VideoStreamEncoder(self, GOP if gop is None else gop, quantizer, (height, width))
        meta = {"width": width, "height": height, "frame_rate": f"{rate.numerator}/{rate.denominator}",
                "gop": encoder.gop, "intra": self.intra.name, "quantizer": parse_quantizer(encoder.spec).params()}

        def chunks():
            for frame in video.frames():
                yield encoder.encode(frame)[0]
            if encoder.frames == 0:
                raise ValueError("the video has no frames")

        return meta, chunks()

    def _decoder(self, meta: dict) -> tuple[VideoStreamDecoder, Fraction]:
        try:
            width, height, gop = int(meta["width"]), int(meta["height"]), int(meta["gop"])
            rate, intra, params = Fraction(meta["frame_rate"]), str(meta["intra"]), dict(meta["quantizer"])
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            raise BitstreamError(f"video metadata is missing or malformed: {meta}") from None
        if not (width > 0 and height > 0 and width * height <= MAX_PIXELS and rate > 0 and gop > 0):
            raise BitstreamError(f"video metadata is out of range: {width}x{height}, {rate} frames/s, gop {gop}")
        if intra != self.intra.name:
            raise BitstreamError(f"stream names intra codec {intra!r}; {self.name} uses {self.intra.name!r}")
        try:
            quantizer_from_params(params)
        except (ValueError, TypeError, AttributeError) as e:
            raise BitstreamError(f"the header's quantizer {params!r} cannot be decoded: {e}") from None
        return VideoStreamDecoder(self, height, width, params), rate

    def _frames(self, decoder: VideoStreamDecoder, rate: Fraction, chunks: Iterable[bytes],
                start: int = 0) -> Iterator[np.ndarray]:
        """Decoded frames from ``start`` on; the chunks before the last intra
        frame at or before ``start`` are read but not decoded."""
        run: list[tuple[int, bytes]] = []  # from the last intra frame before `start` to `start`
        index = -1
        for index, chunk in _numbered(chunks, rate):
            if index < start:
                run = ([] if chunk[:1] == INTRA else run) + [(index, chunk)]
                continue
            for i, c in run + [(index, chunk)]:
                try:
                    frame = decoder.decode(c)
                except BitstreamError as e:
                    raise BitstreamError(f"frame {i} ({float(i / rate):.3f} s): {e}") from None
            run = []
            yield frame
        if start and index < start:
            raise ValueError(f"cannot start at frame {start}: the stream has {index + 1} frames")

    def read(self, reader) -> DecodedVideo:
        """Decodes lazily, frame by frame, as the result's frames are read (clips of any length)."""
        return self.decode_from(reader, 0)

    def decode_from(self, reader, frame: int) -> DecodedVideo:
        """Frames ``frame``, ``frame + 1``, ... of a stream, decoded from the
        nearest intra frame at or before ``frame``."""
        if frame < 0:
            raise ValueError(f"frame must be >= 0, got {frame}")
        self.check_header(reader.header)
        decoder, rate = self._decoder(reader.header.meta)
        return DecodedVideo(decoder.width, decoder.height, rate, self._frames(decoder, rate, reader, frame))

    def decode_chunks(self, meta: dict, chunks: Iterable[bytes]) -> Video:
        decoder, rate = self._decoder(meta)
        return DecodedVideo(decoder.width, decoder.height, rate, self._frames(decoder, rate, chunks)).read()


def _numbered(chunks: Iterable[bytes], rate: Fraction) -> Iterator[tuple[int, bytes]]:
    """(frame index, chunk); a container error names the frame it hit."""
    chunks, index = iter(chunks), 0
    while True:
        try:
            chunk = next(chunks)
        except StopIteration:
            return
        except BitstreamError as e:
            raise BitstreamError(f"frame {index} ({float(index / rate):.3f} s): {e}") from None
        yield index, chunk
        index += 1


def register_pretrained() -> None:
    for path in registry.weight_files("video"):
        registry.register_codec(path.stem)(lambda path=path: VideoCodec.from_file(path))


register_pretrained()
