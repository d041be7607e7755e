"""Learned image codecs: a trained image model plus padding, tiling and the
weights' identity, registered under the name of its weight file.

Weights are safetensors files in ``pretrained/`` (or ``$LATENTCODEC_PRETRAINED``),
with the architecture in their metadata; nothing is unpickled. Parameters may
be stored in fp16; integer tables and buffers are kept exactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from latentcodec.codec import Codec
from latentcodec.codecs.image_models import IMAGE_MODELS, ImageModel, pad, to_tensor
from latentcodec.codecs.latent_refinement import refine_latent
from latentcodec.entropy import RangeDecoder, RangeEncoder
from latentcodec.errors import BitstreamError
from latentcodec.pretrained import file_hash
from latentcodec.quantizers import parse_quantizer, quantizer_from_params
from latentcodec.registry import register_codec, weight_files

TILE = 1024  # larger images are coded in independent tiles, bounding memory
MAX_PIXELS = 1 << 28


def save_weights(model: ImageModel, path, architecture: str, **info) -> None:
    """Parameters as fp16, everything else (tables, GDN buffers) as is."""
    params = {name for name, _ in model.named_parameters()}
    state = {k: (v.half() if k in params else v).contiguous() for k, v in model.state_dict().items()}
    meta = {"architecture": architecture, "n": str(model.n), "m": str(model.m), "info": json.dumps(info)}
    save_file(state, str(path), metadata=meta)


def save_synthesis(model: ImageModel, path, base_codec: "ImageCodec", **info) -> None:
    """Only the synthesis transform (fp16), over the weights of ``base_codec``: what
    finetuning on quantized latents changes. The base is named and hashed, so
    the file never loads over other weights."""
    state = {k: v.half().contiguous() for k, v in model.state_dict().items() if k.startswith("g_s.")}
    architecture = next(name for name, cls in IMAGE_MODELS.items() if type(model) is cls)
    meta = {"architecture": architecture, "n": str(model.n), "m": str(model.m),
            "base": base_codec.name, "base_weights": base_codec.weights_hash, "info": json.dumps(info)}
    save_file(state, str(path), metadata=meta)


def read_metadata(path) -> dict:
    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    if meta.get("architecture") not in IMAGE_MODELS:
        raise ValueError(f"{path}: not a latentcodec image model (architecture {meta.get('architecture')!r})")
    return meta


def load_weights(model: ImageModel, path) -> None:
    """Loads a weight file; one that holds a synthesis over a base (see
    :func:`save_synthesis`) loads its base from the same folder first."""
    path = Path(path)
    meta = read_metadata(path)
    if "base" in meta:
        base = path.with_name(f"{meta['base']}.safetensors")
        if not base.is_file() or file_hash(base) != meta["base_weights"]:
            raise ValueError(f"{path}: needs base weights {meta['base']} ({meta['base_weights']}) beside it")
        load_weights(model, base)
    with safe_open(str(path), "pt") as f:
        state = {k: f.get_tensor(k) for k in f.keys()}
    reference = model.state_dict()
    state = {k: v.to(reference[k].dtype) if k in reference and v.is_floating_point() else v for k, v in state.items()}
    missing, unexpected = model.load_state_dict(state, strict="base" not in meta)
    if unexpected:
        raise ValueError(f"{path}: unexpected tensors {unexpected[:3]}")


class ImageCodec(Codec):
    """RGB (or grayscale, coded as RGB) uint8 images through a learned model.

    ``quantizer`` picks how the latent is quantized at encode time (``uniform``,
    ``tcq``, or with options, ``tcq:states=4,lmbda=0.05``); the header records
    it, so decoding needs nothing said. A codec's weights may name its own
    default (``info["quantizer"]``, e.g. a decoder finetuned for TCQ).
    ``refine`` > 0 spends that many gradient steps per tile on the latent
    before coding it (:mod:`~latentcodec.codecs.latent_refinement`): smaller
    files at the same quality for a slower encoder, the same decoder.
    """

    modality = "image"

    def __init__(self, name: str, model: ImageModel, weights_hash: str, info: dict | None = None):
        self.name, self.model, self.weights_hash, self.info = name, model.eval(), weights_hash, info or {}

    @classmethod
    def from_file(cls, path) -> "ImageCodec":
        path = Path(path)
        meta = read_metadata(path)
        model = IMAGE_MODELS[meta["architecture"]](int(meta["n"]), int(meta["m"]))
        load_weights(model, path)
        info = json.loads(meta.get("info", "{}"))
        if "base" in meta:  # a synthesis over base weights keeps the base's training facts (lmbda)
            info = json.loads(read_metadata(path.with_name(f"{meta['base']}.safetensors")).get("info", "{}")) | info
        return cls(path.stem, model, file_hash(path), info)

    def _tiles(self, h: int, w: int) -> Iterator[tuple[int, int, int, int]]:
        for top in range(0, h, TILE):
            for left in range(0, w, TILE):
                yield top, left, min(TILE, h - top), min(TILE, w - left)

    def new_quantizer(self, spec: str | None = None):
        """A latent quantizer for one stream, from ``spec`` or this codec's default."""
        return parse_quantizer(spec or self.info.get("quantizer", "uniform"))

    @torch.no_grad()
    def encode_chunks(self, image, quantizer: str | None = None, refine: int = 0) -> tuple[dict, Iterator[bytes]]:
        if not (isinstance(refine, int) and refine >= 0):
            raise ValueError(f"refine is a number of steps, 0 or more; got {refine!r}")
        if refine and "lmbda" not in self.info:
            raise ValueError(f"{self.name}'s weights do not say the lambda they were trained for, which refine needs")
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim not in (2, 3) or 0 in image.shape:
            raise ValueError(f"expected a non-empty uint8 image [H, W] or [H, W, 3], got {image.dtype} {image.shape}")
        channels = 1 if image.ndim == 2 else image.shape[2]
        if channels not in (1, 3):
            raise ValueError(f"{self.name} codes RGB or grayscale images; this one has {channels} channels "
                             "(drop the alpha channel, or use the lossless-image codec)")
        rgb = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image
        h, w = rgb.shape[:2]
        align = self.model.alignment
        params = self.new_quantizer(quantizer).params()

        def chunks():
            for top, left, th, tw in self._tiles(h, w):
                x = pad(to_tensor(rgb[top : top + th, left : left + tw])[None], align)
                y = refine_latent(self.model, x, self.info["lmbda"], refine, height=th, width=tw) if refine else None
                encoder, q = RangeEncoder(), self.new_quantizer(quantizer)
                with torch.no_grad():
                    self.model.encode(encoder, x, q, y)
                q.finish(encoder)
                yield encoder.flush()

        return {"height": h, "width": w, "channels": channels, "quantizer": params}, chunks()

    @torch.no_grad()
    def decode_chunks(self, meta: dict, chunks: Iterable[bytes]) -> np.ndarray:
        try:
            h, w, channels = (int(meta[k]) for k in ("height", "width", "channels"))
        except (KeyError, TypeError, ValueError):
            raise BitstreamError(f"image metadata is missing or malformed: {meta}") from None
        if not (h > 0 and w > 0 and channels in (1, 3) and h * w <= MAX_PIXELS):
            raise BitstreamError(f"image metadata is out of range: {h}x{w}x{channels}")
        params = meta.get("quantizer", {"name": "uniform"})
        try:
            quantizer_from_params(params)
        except (ValueError, TypeError, AttributeError) as e:
            raise BitstreamError(f"the header's quantizer {params!r} cannot be decoded: {e}") from None
        out = np.empty((h, w, 3), dtype=np.uint8)
        chunks = iter(chunks)
        align = self.model.alignment
        for index, (top, left, th, tw) in enumerate(self._tiles(h, w)):
            chunk = next(chunks, None)
            if chunk is None:
                raise BitstreamError(f"stream ends after {index} tiles; the image has more")
            decoder, quantizer = RangeDecoder(chunk), quantizer_from_params(params)
            x_hat = self.model.decode(decoder, th + (-th % align), tw + (-tw % align), quantizer)
            quantizer.verify(decoder)
            tile = (x_hat[0, :, :th, :tw].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
            out[top : top + th, left : left + tw] = tile
        if next(chunks, None) is not None:
            raise BitstreamError("stream has more tiles than the image")
        return out[..., 0] if channels == 1 else out


def register_pretrained() -> None:
    for path in weight_files(""):
        register_codec(path.stem)(lambda path=path: ImageCodec.from_file(path))


register_pretrained()
