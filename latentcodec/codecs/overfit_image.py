"""Overfitted image codec (Cool-chic style): a tiny decoder trained for each image.

The encoder optimizes, for this one image, a pyramid of latent grids (1/1 to
1/64 of its size, one channel each), an autoregressive probability model over
them, learned upsampling filters and a small synthesis, for D + lambda R.
The stream carries the network's quantized weights (range-coded) and the
latents (range-coded under the integer autoregressive model).

Guarantees: the latents decode bit-exactly on every machine, build and thread
count, since the probability model deciding each table is integer C code
(:mod:`latentcodec.entropy.autoregressive`). Upsampling and synthesis are
float PyTorch run after all latents are decoded: the same machine and
software give identical pixels every time; another CPU or PyTorch build may
move a pixel by one level, never more than float rounding does.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latentcodec.codec import Codec
from latentcodec.entropy import autoregressive as arm
from latentcodec.entropy.conditional import shipped_tables
from latentcodec.entropy.range_coder import RangeDecoder, RangeEncoder
from latentcodec.errors import BitstreamError
from latentcodec.quantizers import LatticeTrellisQuantizer, parse_quantizer
from latentcodec.quantizers.soft_rounding import SoftRounding
from latentcodec.quantizers.trellis import STATE_MACHINES
from latentcodec.registry import register_codec

LEVELS = 7  # latent grids at 1/1 .. 1/64
GAIN = 16.0  # latents are optimized as y / GAIN: Adam's steps of lr then move y by 16 lr (Cool-chic's encoder gain)
MAX_PIXELS = 1 << 24  # training memory and time grow with the image; larger ones are refused
TAPS = 8
BICUBIC = (-0.03515625, -0.10546875, 0.26171875, 0.87890625, 0.87890625, 0.26171875, -0.10546875, -0.03515625)
# lambda of each quality, lowest first: loss = MSE (pixels in [0, 1]) + lambda * bits per pixel
QUALITIES = (0.02, 0.008, 0.003, 0.0012, 0.0005)
# the schedule (Cool-chic 5): soft rounding's temperature and the Gaussian noise's deviation, annealed
# linearly over the main phase; Adam's learning rate, cosine-decayed in the main and final phases
TEMPERATURE = (0.35, 0.08)
NOISE = (0.22, 0.15)
LEARNING_RATE = 1e-2
FINAL_LEARNING_RATE = 1e-3
WEIGHT_SHIFTS = range(4, 15)  # candidate power-of-two steps 2^-shift for the synthesis and upsampling
ARM_SHIFTS = range(3, 12)
# the encoder's ``quantizer`` option: rounding (the default), or TCQ on the lattice Z/2
QUANTIZERS = {"uniform": lambda: None, "tcq": LatticeTrellisQuantizer}


@dataclass(frozen=True)
class DecoderSize:
    """The decoder's architecture: the ARM's context and width, the synthesis's 1x1 widths."""

    n_context: int
    hidden: int
    synthesis: tuple[int, ...]

    def macs_per_pixel(self, channels: int = 3) -> float:
        latents = sum(4.0**-i for i in range(LEVELS))  # latents per pixel
        n_in = self.n_context + arm.PARENTS
        arm_macs = n_in * self.hidden + self.hidden**2 + 2 * self.hidden
        upsampling = sum(2 * (TAPS // 2) * (LEVELS - 1 - i) * 4.0**-i * (1 + 0.5) for i in range(LEVELS - 1))
        widths = (LEVELS, *self.synthesis, channels)
        synthesis = sum(a * b for a, b in zip(widths, widths[1:])) + 2 * 9 * channels * channels
        return latents * arm_macs + upsampling + synthesis


DECODERS = {
    "small": DecoderSize(8, 8, (8,)),
    "medium": DecoderSize(12, 12, (16,)),
    "large": DecoderSize(16, 16, (32, 16)),
}


@dataclass(frozen=True)
class EncoderEffort:
    """Iterations of each phase: warm-up (per candidate), main (soft rounding), final (straight-through)."""

    candidates: int
    warmup: int
    main: int
    final: int


PRESETS = {
    "fast": EncoderEffort(2, 100, 1000, 200),
    "medium": EncoderEffort(2, 200, 2500, 300),
    "slow": EncoderEffort(2, 300, 8000, 500),
}


def _upsample2(z: Tensor, taps: Tensor, size: tuple[int, int]) -> Tensor:
    """2x separable upsampling by an 8-tap filter (bicubic when ``taps`` is
    BICUBIC, matching F.interpolate), cropped to ``size``. Polyphase: each
    pass is one grouped 4-tap convolution giving the even and the odd
    outputs, 1.7x faster (forward and backward) than a transposed convolution."""
    c = z.shape[1]
    phases = torch.stack([taps[0::2].flip(0), taps[1::2].flip(0)]).view(2, 1, 1, TAPS // 2).repeat(c, 1, 1, 1)
    z = F.conv2d(F.pad(z, (2, 2, 0, 0), mode="replicate"), phases, groups=c)  # [1, 2c, h, w + 1]
    z = z.unflatten(1, (c, 2)).permute(0, 1, 3, 4, 2).flatten(-2)[..., 1 : 1 + size[1]]
    z = F.conv2d(F.pad(z, (0, 0, 2, 2), mode="replicate"), phases.transpose(2, 3), groups=c)
    return z.unflatten(1, (c, 2)).transpose(2, 3).flatten(2, 3)[:, :, 1 : 1 + size[0]]


def grid_shapes(h: int, w: int) -> list[tuple[int, int]]:
    shapes = [(h, w)]
    for _ in range(LEVELS - 1):
        shapes.append(((shapes[-1][0] + 1) // 2, (shapes[-1][1] + 1) // 2))
    return shapes


class Synthesis(nn.Module):
    """1x1 layers from the upsampled grids to the pixels, then a 3x3 residual block."""

    def __init__(self, widths: tuple[int, ...], channels: int):
        super().__init__()
        sizes = (LEVELS, *widths, channels)
        self.pointwise = nn.ModuleList(nn.Conv2d(a, b, 1) for a, b in zip(sizes, sizes[1:]))
        self.residual = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1, padding_mode="replicate")
                                      for _ in range(2))
        with torch.no_grad():
            self.residual[1].weight.zero_()
            self.residual[1].bias.zero_()
            self.pointwise[-1].bias.fill_(0.5)

    def forward(self, z: Tensor) -> Tensor:
        # 1x1 layers as matrix products over [channels, pixels], the 3x3 ones channels-last:
        # the fastest of the layouts measured, by 1.6x (forward and backward)
        _, c, h, w = z.shape  # one image
        x = z.reshape(c, h * w)
        for i, layer in enumerate(self.pointwise):
            x = torch.addmm(layer.bias[:, None], layer.weight.flatten(1), x)
            if i + 1 < len(self.pointwise):
                x = F.relu(x)
        x = x.view(1, -1, h, w).contiguous(memory_format=torch.channels_last)
        return x + self.residual[1](F.relu(self.residual[0](x)))


class OverfitImage(nn.Module):
    """Everything the stream describes for one image (latents and networks)."""

    def __init__(self, height: int, width: int, channels: int, size: DecoderSize):
        super().__init__()
        self.shapes = grid_shapes(height, width)
        self.latents = nn.ParameterList(nn.Parameter(torch.zeros(s)) for s in self.shapes)
        self.quantizer = SoftRounding()
        self.arm = arm.AutoregressiveModel(size.n_context, size.hidden)
        self.upsampling = nn.Parameter(torch.tensor(BICUBIC).repeat(LEVELS - 1, 1))
        self.synthesis = Synthesis(size.synthesis, channels)
        self.coded: list[Tensor] | None = None  # the final grids, once chosen
        self.on_q1: list[Tensor] | None = None  # which coded latents lie on Q1, when trellis-coded
        # When the grids will be trellis-coded, the synthesis trains on noisy latents (y + U(-1/2, 1/2))
        # rather than soft-rounded ones: TCQ's reconstructions follow y more closely than rounding does,
        # which helps only if the synthesis has learned what lies between the integers.
        self.noisy_synthesis = False

    def quantized_latents(self) -> list[Tensor]:
        if self.coded is not None:
            return self.coded
        return [self.quantizer(y) for y in self.scaled_latents()]

    def scaled_latents(self) -> list[Tensor]:
        return [(GAIN * y).clamp(-arm.LATENT_MAX, arm.LATENT_MAX) for y in self.latents]

    @torch.no_grad()
    def hard_grids(self, trellis: LatticeTrellisQuantizer | None = None) -> list[Tensor]:
        """The grids the stream codes: the rounded latents, or a trellis
        search's, given means and scales from the rounded grids (then once
        more from the first search's: its contexts are nearer the coded ones)."""
        scaled = self.scaled_latents()
        grids = [torch.round(y) for y in scaled]
        for _ in range(2 if trellis else 0):
            searched = []
            for x, y in zip(arm.contexts(grids, self.arm.n_context), scaled):
                mean, scale = self.arm.mean_scale(x)
                searched.append(trellis.quantize(y, mean.view_as(y), scale.view_as(y)))
            grids = searched
        return grids

    def decode(self, grids: list[Tensor]) -> Tensor:
        """[1, C, H, W] image in [0, 1] (unclamped) from the grids, finest first."""
        z = grids[-1][None, None]
        for level in range(LEVELS - 2, -1, -1):
            z = torch.cat([grids[level][None, None], _upsample2(z, self.upsampling[level], self.shapes[level])], 1)
        return self.synthesis(z)

    def forward(self) -> tuple[Tensor, Tensor]:
        """(image, bits of the latents)."""
        grids = self.quantized_latents()
        shown = grids
        if self.noisy_synthesis and self.coded is None:
            shown = [y + torch.rand_like(y) - 0.5 for y in self.scaled_latents()]
        return self.decode(shown), self.arm.bits(grids, self.on_q1)

    def float_modules(self) -> dict[str, list[nn.Parameter]]:
        """The float-coded parameter groups, each with its own power-of-two step."""
        groups = {"upsampling": [self.upsampling]}
        for i, layer in enumerate([*self.synthesis.pointwise, *self.synthesis.residual]):
            groups[f"synthesis.{i}"] = [layer.weight, layer.bias]
        return groups


def _psnr(mse: float) -> float:
    return 10 * math.log10(1 / max(mse, 1e-12))


def fit(image: Tensor, lmbda: float, size: DecoderSize, effort: EncoderEffort, seed: int = 0,
        progress: bool | None = None, trellis: LatticeTrellisQuantizer | None = None) -> OverfitImage:
    """Trains the model for ``image`` ([C, H, W] in [0, 1]) with the Cool-chic
    schedule: warm-up candidates, soft rounding with annealed temperature and
    noise under a cosine learning rate, then a phase on the coded grids
    (rounded, or trellis-coded with ``trellis``)."""
    from tqdm.auto import tqdm  # only encoders show progress

    c, h, w = image.shape
    target = image[None]
    n_pixels = h * w
    torch.manual_seed(seed)

    def loss_of(model: OverfitImage) -> tuple[Tensor, float, float]:
        x_hat, bits = model()
        mse = F.mse_loss(x_hat, target)
        bpp = bits / n_pixels
        return mse + lmbda * bpp, mse.item(), bpp.item()

    def run(model: OverfitImage, steps: int, lr: float, anneal: bool, bar, cosine: bool = True) -> float:
        parameters = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(parameters, lr=lr)
        loss = float("inf")
        for step in range(steps):
            t = step / max(steps - 1, 1)
            if anneal:
                (t0, t1), (n0, n1) = TEMPERATURE, NOISE
                model.quantizer.temperature = t0 + (t1 - t0) * t
                model.quantizer.noise = n0 + (n1 - n0) * t
            if cosine:
                for group in optimizer.param_groups:
                    group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * t))
            optimizer.zero_grad(set_to_none=True)
            total, mse, bpp = loss_of(model)
            total.backward()
            nn.utils.clip_grad_norm_(parameters, 0.1)
            optimizer.step()
            loss = total.item()
            bar.update(1)
            if step % 20 == 0:
                bar.set_postfix(bpp=f"{bpp:.3f}", psnr=f"{_psnr(mse):.2f}")
        return loss

    steps = effort.candidates * effort.warmup + effort.main + effort.final
    with tqdm(total=steps, desc="overfit-image", unit="it", disable=None if progress is None else not progress,
              leave=False) as bar:
        best, best_loss = None, float("inf")
        for _ in range(effort.candidates):
            model = OverfitImage(h, w, c, size).to(image.device).train()
            model.noisy_synthesis = trellis is not None
            loss = run(model, effort.warmup, LEARNING_RATE, anneal=False, bar=bar, cosine=False)
            if best is None or loss < best_loss:
                best, best_loss = model, loss
        run(best, effort.main, LEARNING_RATE, anneal=True, bar=bar)
        # final phase: the networks learn the coded grids, which stay fixed (a straight-through
        # gradient moving the latents costs far more rate than it saves distortion)
        best.coded = best.hard_grids(trellis)
        best.on_q1 = None if trellis is None else [trellis.on_q1(g) for g in best.coded]
        best.latents.requires_grad_(False)
        run(best, effort.final, FINAL_LEARNING_RATE, anneal=False, bar=bar)
    return best.eval()


# ------------------------------------------------------------------ network coding

def _quantize(values: Tensor, shift: int) -> np.ndarray:
    return np.rint(values.detach().double().cpu().numpy() * 2.0**shift).astype(np.int64).ravel()


def _table_bits(ints: np.ndarray, table: int) -> float:
    """Bits of ``ints`` under one shipped Laplace table, escapes' bypass nibbles included."""
    _, tables = shipped_tables("laplace")
    indexes = np.full(len(ints), table)
    bits = tables.information_bits(ints, indexes).sum()
    values = ints - tables.offsets[table]
    top = tables.lengths[table] - 2
    escaped = values[(values < 0) | (values >= top)]
    raw = np.where(escaped < 0, -2 * escaped - 1, 2 * (escaped - top))  # the coder's zigzag of the excess
    return float(bits + 4 * (1 + np.ceil(np.log2(raw + 1) / 4)).sum())


def _best_table(ints: np.ndarray) -> int:
    """Index of the shipped Laplace table that codes ``ints`` in the fewest bits."""
    return min(range(len(shipped_tables("laplace")[0])), key=lambda t: _table_bits(ints, t))


class NetworkCoder:
    """Integer parameter groups in a fixed order, each under its own Laplace
    table, in one range-coded chunk; the tables' indexes go in the header."""

    def encode(self, groups: list[np.ndarray]) -> tuple[list[int], bytes]:
        _, tables = shipped_tables("laplace")
        encoder = RangeEncoder()
        indexes = []
        for ints in groups:
            t = _best_table(ints)
            encoder.encode_with_indexes(ints.astype(np.int32), np.full(len(ints), t, np.int32), *tables)
            indexes.append(t)
        return indexes, encoder.flush()

    def decode(self, data: bytes, sizes: list[int], indexes: list[int]) -> list[np.ndarray]:
        _, tables = shipped_tables("laplace")
        decoder = RangeDecoder(data)
        return [decoder.decode_with_indexes(np.full(n, t, np.int32), *tables) for n, t in zip(sizes, indexes)]

    @staticmethod
    def bits(ints: np.ndarray) -> float:
        return _table_bits(ints, _best_table(ints))


def _latent_bits(net: np.ndarray, grids: list[np.ndarray], machine: np.ndarray | None) -> float:
    symbols, indexes = arm.symbols(net, grids, machine)
    return float(arm.shipped_tables().information_bits(symbols, indexes).sum())


def _grid_units(machine: np.ndarray | None) -> int:
    """Coded integers per latent unit: trellis-coded grids lie on Z/2, so they go to the coder doubled."""
    return 1 if machine is None else 2


def _arm_groups(net: np.ndarray, size: DecoderSize) -> list[np.ndarray]:
    """The integer ARM split into its six tensors (weights and biases per layer)."""
    n_in, h = size.n_context + arm.PARENTS, size.hidden
    cuts = np.cumsum([n_in * h, h, h * h, h, 2 * h])
    return np.split(net[5:].astype(np.int64), cuts)


def quantize_network(model: OverfitImage, image: Tensor, lmbda: float, size: DecoderSize,
                     machine: np.ndarray | None = None) -> dict:
    """Chooses each module's step on the real cost (D + lambda R, R from the
    integer tables: latent bits, parameter bits) and applies it to ``model``.
    Returns the steps and integer parameters that the stream carries; with a
    trellis ``machine`` the grids are trellis-coded and go to the coder doubled."""
    n_pixels = image.shape[1] * image.shape[2]
    units = _grid_units(machine)
    with torch.no_grad():
        grids = [(g * units).to(torch.int32).cpu().numpy() for g in model.quantized_latents()]

    # ARM: only the rate depends on it (latent bits + its own bits)
    def arm_cost(shifts):
        net = model.arm.integer_net(shifts, 1 / units)
        return _latent_bits(net, grids, machine) + sum(NetworkCoder.bits(g) for g in _arm_groups(net, size))

    shifts = [8, 8, 8]
    for _ in range(2):
        for layer in range(3):
            shifts[layer] = min(ARM_SHIFTS, key=lambda s: arm_cost(shifts[:layer] + [s] + shifts[layer + 1:]))
    net = model.arm.integer_net(tuple(shifts), 1 / units)
    model.arm.load_integer_net(net, 1 / units)

    # float modules: distortion + lambda * their own bits, one module at a time
    with torch.no_grad():
        grids_t = [torch.from_numpy(g).float().to(image.device) / units for g in grids]
        originals = {name: [p.detach().clone() for p in params] for name, params in model.float_modules().items()}
        float_shifts = {}
        for name, params in model.float_modules().items():
            def cost(shift):
                for p, o in zip(params, originals[name]):
                    p.copy_(torch.round(o * 2.0**shift) / 2.0**shift)
                mse = F.mse_loss(model.decode(grids_t).clamp(0, 1), image[None]).item()
                bits = sum(NetworkCoder.bits(_quantize(o, shift)) for o in originals[name])
                return mse + lmbda * bits / n_pixels

            float_shifts[name] = min(WEIGHT_SHIFTS, key=cost)
            cost(float_shifts[name])
    return {"arm_shifts": shifts, "float_shifts": float_shifts, "net": net, "grids": grids}


# ------------------------------------------------------------------ codec

def _decoder_size(name: str) -> DecoderSize:
    if name not in DECODERS:
        raise ValueError(f"decoder must be one of {', '.join(DECODERS)}, got {name!r}")
    return DECODERS[name]


class OverfitImageCodec(Codec):
    """``compress(uint8 [H, W] or [H, W, 3]) -> bytes``. Encoding trains a
    network for the image (minutes per megapixel on a CPU: see ``preset``);
    decoding is fast and needs no weights file."""

    modality = "image"
    weights_hash = "none"  # the network travels in each stream

    def __init__(self, name: str, lmbda: float):
        self.name, self.lmbda = name, lmbda

    def encode_chunks(self, image, preset: str = "medium", lmbda: float | None = None, decoder: str = "medium",
                      seed: int = 0, progress: bool | None = None, quantizer: str | None = None
                      ) -> tuple[dict, Iterator[bytes]]:
        """``quantizer``: ``uniform`` (rounding, the default) or ``tcq``
        (``tcq:states=4|8,lmbda=...``: trellis-coded latents, see
        :mod:`latentcodec.quantizers.lattice_trellis`)."""
        trellis = parse_quantizer(quantizer, QUANTIZERS) if quantizer else None
        machine = None if trellis is None else trellis.machine
        if preset not in PRESETS:
            raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")
        size = _decoder_size(decoder)
        lmbda = self.lmbda if lmbda is None else float(lmbda)
        if not 0 < lmbda < 1:
            raise ValueError(f"lmbda must lie in (0, 1), got {lmbda}")
        image = np.asarray(image)
        if image.ndim == 2:
            image = image[..., None]
        if image.dtype != np.uint8 or image.ndim != 3 or 0 in image.shape:
            raise ValueError(f"expected a non-empty uint8 image [H, W] or [H, W, 3], got {image.dtype} {image.shape}")
        h, w, channels = image.shape
        if channels not in (1, 3):
            raise ValueError(f"{self.name} codes RGB or grayscale images; this one has {channels} channels "
                             "(drop the alpha channel, or use the lossless-image codec)")
        if h * w > MAX_PIXELS:
            raise ValueError(f"{self.name} trains on the whole image and takes at most {MAX_PIXELS} pixels; "
                             f"this one has {h * w} (split it, or use a feed-forward codec)")
        device = "cuda" if torch.cuda.is_available() else "cpu"
        x = torch.tensor(image).permute(2, 0, 1).float().div(255).to(device)
        model = fit(x, lmbda, size, PRESETS[preset], seed=seed, progress=progress, trellis=trellis)
        coded = quantize_network(model, x, lmbda, size, machine)
        groups = _arm_groups(coded["net"], size)
        for name, params in model.float_modules().items():
            groups += [_quantize(p, coded["float_shifts"][name]) for p in params]
        table_indexes, network = NetworkCoder().encode(groups)
        steps = bytes([*coded["arm_shifts"], *coded["float_shifts"].values(), *table_indexes])
        symbols, indexes = arm.symbols(coded["net"], coded["grids"], machine)
        encoder = RangeEncoder()
        encoder.encode_with_indexes(symbols, indexes, *arm.shipped_tables())
        meta = {"height": h, "width": w, "channels": channels, "decoder": decoder}
        if trellis is not None:
            meta["trellis"] = trellis.states
        return meta, iter([steps + network, encoder.flush()])

    def decode_chunks(self, meta: dict, chunks: Iterable[bytes]) -> np.ndarray:
        h, w, channels, size, machine, model = self._model_for(meta)
        chunks = iter(chunks)
        network, latents = next(chunks, None), next(chunks, None)
        if latents is None or next(chunks, None) is not None:
            raise BitstreamError("an overfit-image stream has exactly two chunks (network, latents)")
        arm_shifts, float_shifts, tables, network = self._steps(network, model)
        groups = self._decode_network(network, float_shifts, tables, model, size)
        net = np.concatenate([np.array([size.n_context, size.hidden, *arm_shifts]), *groups[:6]])
        try:
            arm.check_net(net)
        except ValueError as e:
            raise BitstreamError(f"the stream's probability model is invalid: {e}") from None
        grids = arm.decode(latents, net, model.shapes, machine)
        units = _grid_units(machine)
        with torch.no_grad():
            x = model.decode([torch.from_numpy(g).float() / units for g in grids]).clamp(0, 1)
        image = x[0].mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        return image[..., 0] if channels == 1 else image

    def _model_for(self, meta: dict):
        """Validates every number the header gives and builds the empty model."""
        try:
            h, w, channels = (int(meta[k]) for k in ("height", "width", "channels"))
            size = DECODERS[meta["decoder"]]
            machine = STATE_MACHINES[meta["trellis"]] if "trellis" in meta else None
        except (KeyError, TypeError, ValueError):
            raise BitstreamError(f"overfit-image metadata is missing or malformed: {json.dumps(meta)[:200]}") from None
        if not (h > 0 and w > 0 and h * w <= MAX_PIXELS and channels in (1, 3)):
            raise BitstreamError(f"image metadata is out of range: {h}x{w}x{channels}")
        return h, w, channels, size, machine, OverfitImage(h, w, channels, size)

    @staticmethod
    def _steps(network: bytes, model: OverfitImage) -> tuple[list[int], list[int], list[int], bytes]:
        """Splits the network chunk: one byte per step (3 ARM layers, then each
        float module) and per parameter group's table, then the coded groups."""
        n_float = len(model.float_modules())
        n_groups = 6 + sum(len(p) for p in model.float_modules().values())
        prefix = 3 + n_float + n_groups
        if len(network) < prefix:
            raise BitstreamError(f"the network chunk is {len(network)} bytes, shorter than its {prefix}-byte steps")
        arm_shifts, float_shifts = list(network[:3]), list(network[3 : 3 + n_float])
        tables = list(network[3 + n_float : prefix])
        if (not all(s in ARM_SHIFTS for s in arm_shifts) or not all(s in WEIGHT_SHIFTS for s in float_shifts)
                or not all(t < len(shipped_tables("laplace")[0]) for t in tables)):
            raise BitstreamError("the network chunk gives steps or tables out of range")
        return arm_shifts, float_shifts, tables, network[prefix:]

    @staticmethod
    def _decode_network(data: bytes, float_shifts: list[int], tables: list[int], model: OverfitImage,
                        size: DecoderSize) -> list[np.ndarray]:
        """The integer parameter groups; sets the model's float modules from them."""
        n_in, hd = size.n_context + arm.PARENTS, size.hidden
        params = [p for ps in model.float_modules().values() for p in ps]
        sizes = [n_in * hd, hd, hd * hd, hd, 2 * hd, 2] + [p.numel() for p in params]
        groups = NetworkCoder().decode(data, sizes, tables)
        shifts = [s for s, ps in zip(float_shifts, model.float_modules().values()) for _ in ps]
        with torch.no_grad():
            for p, ints, shift in zip(params, groups[6:], shifts):
                p.copy_(torch.from_numpy(ints.astype(np.float64) / 2.0**shift).view_as(p))
        return groups[:6]


def register() -> None:
    for quality, lmbda in enumerate(QUALITIES, start=1):
        name = f"overfit-image-q{quality}"
        register_codec(name)(lambda name=name, lmbda=lmbda: OverfitImageCodec(name, lmbda))


register()
