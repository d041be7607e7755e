"""A fully causal speech codec that works frame by frame (StreamCodec-like, arXiv 2504.06561).

Everything after the first layer runs at the frame rate (50 Hz for 20 ms
frames at 16 kHz), which is what makes a CPU codec fast:

- analysis: each frame's samples with the previous frame's (2 frames, no
  look-ahead) -> a linear map, i.e. a learned filterbank;
- causal ConvNeXt blocks (depthwise convolution over past frames, then a
  per-frame MLP) -> a latent vector per frame;
- a residual quantizer (RVQ with quantizer dropout, or RSVQ), so the first
  n stages of one model give n bitrates;
- the mirror image, ending in a linear map from features to the frame's
  samples.

A frame's output depends on that frame and earlier ones only, so the
algorithmic latency is one frame. Every layer keeps its past in an explicit
state, and the same ``forward`` runs a whole clip (training) or one frame at a
time (streaming, with the state carried over). For streaming on a CPU,
``AudioCodecModel.frozen()`` gives the same network as C kernels that take one
frame per call, with the matrices in fp16 as weight files store them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from latentcodec.codecs import _stream_kernels


@dataclass(frozen=True)
class AudioModelConfig:
    sample_rate: int = 16000
    frame: int = 320  # samples per frame: 20 ms, the algorithmic latency
    channels: int = 256
    blocks: int = 4  # per side
    kernel: int = 5  # frames each depthwise convolution sees
    # frames of decoder features the output map sees, oldest first: with 2, a
    # frame's samples can go on from the frame before at no extra latency
    synthesis_context: int = 1
    latent_dim: int = 64
    quantizer: str = "rvq"  # or "rsvq"
    num_quantizers: int = 12
    codebook_size: int = 1024
    quantizer_dropout: float = 0.5  # fraction of training clips coded at a random depth
    # an entry is replaced when its EMA count per batch falls below this: a
    # batch of 16 one-second clips has 800 frames for 1024 entries, so
    # vector-quantize-pytorch's usual 2 would replace most of them every step
    dead_code_threshold: float = 0.05
    scalar_levels: tuple[int, ...] = (8, 5, 5, 5)  # rsvq: one FSQ stage of 1000 codes in place of the first VQ
    # paths the encoder's codebook search keeps (1: greedy, as training
    # quantizes); wider finds closer codes for the same indices (see
    # FrozenResidualCodebooks), and decoders cannot tell
    search_beam: int = 1
    # decoded speech goes through the formant and pitch postfilter (a decoder
    # stage outside the network; see latentcodec.codecs.speech_postfilter)
    postfilter: bool = False

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.frame

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "AudioModelConfig":
        d = dict(d)
        if "scalar_levels" in d:
            d["scalar_levels"] = tuple(d["scalar_levels"])
        return cls(**d)


class CausalBlock(nn.Module):
    """ConvNeXt block whose depthwise convolution sees only past frames.

    ``x`` [batch, frames, channels]; ``past`` [batch, kernel - 1, channels] are
    the inputs of the frames before (zeros at the start of a stream).
    """

    def __init__(self, channels: int, kernel: int, expansion: int = 2):
        super().__init__()
        self.depthwise = nn.Parameter(torch.randn(kernel, channels) / kernel)  # oldest frame first
        self.depthwise_bias = nn.Parameter(torch.zeros(channels))
        self.norm = nn.LayerNorm(channels)
        self.expand = nn.Linear(channels, expansion * channels)
        self.project = nn.Linear(expansion * channels, channels)
        self.gain = nn.Parameter(torch.full((channels,), 0.1))

    @property
    def history(self) -> int:
        return self.depthwise.shape[0] - 1

    def forward(self, x: Tensor, past: Tensor) -> tuple[Tensor, Tensor]:
        padded = torch.cat([past, x], 1)
        # a product and a sum over the window: oneDNN's depthwise convolution
        # costs 70 us per call on one frame, this under 10
        windows = padded.unfold(1, self.history + 1, 1)  # [batch, frames, channels, kernel]
        h = (windows * self.depthwise.t()).sum(-1) + self.depthwise_bias
        h = self.project(F.gelu(self.expand(self.norm(h)), approximate="tanh"))
        return x + self.gain * h, padded[:, padded.shape[1] - self.history :]


class _Trunk(nn.Module):
    """A stack of causal blocks between two linear maps; its state is each
    block's past, then the features of the frames before that the output map
    still sees (it sees ``context`` frames, oldest first).

    No normalization before the output map: speech spans 60 dB between
    pauses and loud vowels, and a per-frame norm there would leave the level
    to be coded in the direction of the features alone.
    """

    def __init__(self, inputs: int, channels: int, outputs: int, blocks: int, kernel: int, context: int = 1):
        super().__init__()
        self.inp = nn.Linear(inputs, channels)
        self.blocks = nn.ModuleList(CausalBlock(channels, kernel) for _ in range(blocks))
        self.out = nn.Linear(context * channels, outputs)

    @property
    def history(self) -> int:
        return self.out.in_features // self.inp.out_features - 1

    def initial_state(self, batch: int, like: Tensor) -> list[Tensor]:
        channels = self.inp.out_features
        return [like.new_zeros(batch, n, channels) for n in [b.history for b in self.blocks] + [self.history]]

    def forward(self, x: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        h, new_state = self.inp(x), []
        for block, past in zip(self.blocks, state):
            h, past = block(h, past)
            new_state.append(past)
        padded = torch.cat([state[-1], h], 1)
        windows = padded.unfold(1, self.history + 1, 1).transpose(2, 3)  # [batch, frames, context, channels]
        return self.out(windows.flatten(2)), new_state + [padded[:, padded.shape[1] - self.history :]]

    def frozen(self, context: int = 1) -> "FrozenTrunk":
        """The inference-time trunk over the current weights (see :class:`FrozenTrunk`)."""
        return FrozenTrunk(self, context)


def _f32(t: Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().cpu().numpy(), dtype=np.float32)


def _matrix(t: Tensor) -> np.ndarray:
    """A matrix rounded to fp16 as weight files store them (finer weights
    are rounded); passed as fp16 where the CPU converts it fast (reading
    the matrices bounds a frame's time), else as the same values in float32."""
    matrix = np.ascontiguousarray(t.detach().cpu().numpy(), dtype=np.float16)
    return matrix if _stream_kernels.fast_fp16() else matrix.astype(np.float32)


class FrozenBlock:
    """A :class:`CausalBlock`'s weights for streaming one frame per call
    (the C kernel ``csrc/causal_block.c``; torch spends 5-10 us per op on
    one small vector in dispatch alone). Its matrices are fp16, as weight
    files store them (see :func:`_matrix`).
    """

    def __init__(self, block: CausalBlock):
        self.weights = (
            _f32(block.depthwise), _f32(block.depthwise_bias),  # [kernel, channels], oldest first
            _f32(block.norm.weight), _f32(block.norm.bias),
            _matrix(block.expand.weight.T), _f32(block.expand.bias),  # transposed, as the kernel reads them
            _matrix(block.project.weight.T), _f32(block.project.bias),
            _f32(block.gain), block.norm.eps,
        )
        self.window_shape = tuple(block.depthwise.shape)

    def __call__(self, x: np.ndarray, window: np.ndarray) -> None:
        """Updates ``x`` [channels] in place; ``window`` [kernel, channels] is
        this block's state, the inputs of the frames before (oldest first)."""
        _stream_kernels.block(*self.weights, x, window)


class FrozenTrunk:
    """A :class:`_Trunk` as C kernels for streaming one frame per call:
    the weights, shared by any number of streams (:meth:`stream`).

    The input map sees the last ``context`` inputs, oldest first, as the
    analysis window of :meth:`AudioCodecModel.analyze` does with 2 frames;
    the output map sees the trunk's last features likewise.
    """

    def __init__(self, trunk: _Trunk, context: int = 1):
        self.inp, self.inp_bias = _matrix(trunk.inp.weight.T), _f32(trunk.inp.bias)  # transposed
        self.out, self.out_bias = _matrix(trunk.out.weight.T), _f32(trunk.out.bias)
        self.blocks = [FrozenBlock(b) for b in trunk.blocks]
        self.context = context

    def stream(self) -> "TrunkStream":
        """A new stream, starting from silence."""
        return TrunkStream(self)


class TrunkStream:
    """One stream through a :class:`FrozenTrunk`: its state (the inputs the
    input map and each block still see)."""

    def __init__(self, trunk: FrozenTrunk):
        inputs, channels = trunk.inp.shape
        self.trunk = trunk
        self.inputs = np.zeros(inputs, np.float32)
        self.features = np.zeros(trunk.out.shape[0], np.float32)
        self.windows = [np.zeros(b.window_shape, np.float32) for b in trunk.blocks]
        self.x = np.empty(channels, np.float32)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """One frame's input [inputs / context] -> its output [outputs] (a new array)."""
        trunk, x = self.trunk, self.x
        step = len(self.inputs) // trunk.context
        self.inputs[:-step] = self.inputs[step:]
        self.inputs[-step:] = frame
        _stream_kernels.matvec(trunk.inp, trunk.inp_bias, self.inputs, x)
        for block, window in zip(trunk.blocks, self.windows):
            block(x, window)
        self.features[:-len(x)] = self.features[len(x):]
        self.features[-len(x):] = x
        out = np.empty(trunk.out.shape[1], np.float32)
        _stream_kernels.matvec(trunk.out, trunk.out_bias, self.features, out)
        return out


class AudioCodecModel(nn.Module):
    """Causal encoder, residual quantizer and causal decoder over frames of mono PCM."""

    def __init__(self, config: AudioModelConfig = AudioModelConfig()):
        super().__init__()
        from latentcodec.quantizers import ResidualScalarVectorQuantizer, ResidualVectorQuantizer

        self.config = c = config
        self.encoder = _Trunk(2 * c.frame, c.channels, c.latent_dim, c.blocks, c.kernel)
        self.decoder = _Trunk(c.latent_dim, c.channels, c.frame, c.blocks, c.kernel, c.synthesis_context)
        options = dict(quantizer_dropout=c.quantizer_dropout, threshold_ema_dead_code=c.dead_code_threshold)
        if c.quantizer == "rvq":
            self.quantizer = ResidualVectorQuantizer(c.latent_dim, c.num_quantizers, c.codebook_size, **options)
        elif c.quantizer == "rsvq":
            self.quantizer = ResidualScalarVectorQuantizer(c.latent_dim, c.scalar_levels, 1, c.num_quantizers - 1,
                                                           c.codebook_size, **options)
        else:
            raise ValueError(f"unknown audio quantizer {c.quantizer!r}; choose rvq or rsvq")

    # ------------------------------------------------------------ stream state

    def initial_encoder_state(self, batch: int = 1) -> list[Tensor]:
        """The previous frame's samples (silence), then each block's past."""
        like = self.encoder.inp.weight
        return [like.new_zeros(batch, 1, self.config.frame)] + self.encoder.initial_state(batch, like)

    def initial_decoder_state(self, batch: int = 1) -> list[Tensor]:
        return self.decoder.initial_state(batch, self.decoder.inp.weight)

    # ------------------------------------------------------------ the two halves

    def analyze(self, frames: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """``frames`` [batch, n, frame] -> latents [batch, n, latent_dim]."""
        previous, blocks = state[0], state[1:]
        windows = torch.cat([torch.cat([previous, frames[:, :-1]], 1), frames], -1)
        latents, blocks = self.encoder(windows, blocks)
        return latents, [frames[:, -1:]] + blocks

    def synthesize(self, latents: Tensor, state: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """latents [batch, n, latent_dim] -> frames [batch, n, frame]."""
        return self.decoder(latents, state)

    def frozen(self) -> tuple[FrozenTrunk, FrozenTrunk]:
        """The encoder and decoder as C kernels, for streaming: each frame's
        latent from that frame's and the previous frame's samples, as in
        :meth:`analyze`, and its samples from its (quantized) latent. Their
        matrices are fp16: after :meth:`as_stored` they compute what the
        modules do, up to float rounding."""
        return self.encoder.frozen(context=2), self.decoder.frozen()

    @torch.no_grad()
    def as_stored(self) -> "AudioCodecModel":
        """Rounds every weight to fp16 in place, as weight files store them
        (``save_audio_model``), and returns the model."""
        for tensor in self.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(tensor.half().float())
        return self

    def forward(
        self, pcm: Tensor, n_quantizers: int | None = None, threshold: float | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Training and evaluation on whole clips: ``pcm`` [batch, samples]
        (a multiple of the frame) -> (reconstruction like pcm, indices
        [batch, frames, quantizers], quantizer loss); a ``threshold`` codes
        each frame at a variable depth of up to ``n_quantizers`` stages."""
        b, n = pcm.shape
        if n % self.config.frame:
            raise ValueError(f"clip length {n} is not a multiple of the frame ({self.config.frame})")
        frames = pcm.reshape(b, -1, self.config.frame)
        latents, _ = self.analyze(frames, self.initial_encoder_state(b))
        quantized, indices, loss = self.quantizer(latents, n_quantizers, threshold)
        out, _ = self.synthesize(quantized, self.initial_decoder_state(b))
        return out.reshape(b, n), indices, loss

    def bitrate(self, n_quantizers: int) -> float:
        """Nominal bits per second of the first ``n_quantizers`` stages (fixed-length indices)."""
        return self.config.frame_rate * sum(map(math.log2, self.quantizer.codebook_sizes[:n_quantizers]))
