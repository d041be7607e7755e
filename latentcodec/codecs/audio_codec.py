"""Audio codecs: the causal model of :mod:`latentcodec.codecs.audio` as
packets, streams, ``.lc`` files and tokens.

Packets. One packet per frame (20 ms): the indices of the frame's first
quantizer stages, range coded and ended, under integer tables stored with the
weights (:class:`~latentcodec.entropy.residual_index_prior.ResidualIndexPrior`):
the first index given the frame before's, the second given the first, the
rest static. So a packet decodes after the one before it (the decoder's
state needs them in order anyway); a stream's first frame, and older weights
whose prior is static, need nothing before. A stream's nominal depth n (its
bitrate) is agreed out of band, as with any real-time codec; the ``.lc``
header carries it for files.

Variable depth (the default where the weights carry its tables). A frame
takes stages until its residual is small enough (see
:class:`~latentcodec.quantizers.residual_vq.ResidualVectorQuantizer`), under
the threshold that spends, on the training data, as many bits as n fixed
stages; its packet starts with the depth, range coded under a table per n
and depth of the frame before.
Pauses take one stage and onsets all of them: the same mean rate buys more
quality. With constant depth every frame takes n stages (packets of steady
size, and tokens). The threshold is a float decision of the encoder only;
the depth crosses to the decoder as an integer.

Rate control (files and streams at variable depth, the default). The
threshold is steered frame by frame so that a file spends what ``bitrate``
asks, header and framing included (:mod:`~latentcodec.codecs.rate_control`);
a file of 2 s or more that cannot be coded within 10% of it (digital
silence at 5 kbit/s, or a rate above what every stage spends) raises
:class:`RateError` rather than write a file that breaks the promise.

Files. After the header, one chunk per second of audio: a u16 count of the
samples it decodes to, then one range-coded stream of all its frames (each
frame as a packet would hold it), so a frame costs no length byte and no
coder flush. Files from before (``chunk_streams`` absent from the header)
hold a u8 length and a packet per frame, and still decode.

Exactness. Encoders and decoders work one frame at a time whatever the size
of the pieces they are given, so coding a file whole, or streamed in pieces
of any size, gives the same packets, and decoding gives the same samples.
Float results are reproducible on one machine and library build; across
machines the indices (and so the packets) of a few frames may differ, but
any packet decodes anywhere (the range coder and its tables are integer).
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch
from safetensors.torch import save_file

from latentcodec.codec import Codec
from latentcodec.codecs.audio import AudioCodecModel, AudioModelConfig
from latentcodec.codecs.speech_postfilter import SpeechPostfilter
from latentcodec.pretrained import file_hash, read_weights
from latentcodec.entropy import CdfTables, RangeDecoder, RangeEncoder
from latentcodec.entropy.residual_index_prior import ResidualIndexPrior, backed_off
from latentcodec.codecs.rate_control import RateController
from latentcodec.errors import BitstreamError, RateError
from latentcodec.media import Audio
from latentcodec.quantizers.residual_vq import depth_under
from latentcodec.registry import register_codec, weight_files

FRAMES_PER_CHUNK = 50
HEADER_FRAMING = 22  # container bytes around a header: magic, version, length, CRC, and the end marker
CHUNK_FRAMING = 8  # ... around a chunk: length and CRC
RATE_TOLERANCE = 0.1  # how far a file of 2 s or more may miss its bitrate
TRAINING_STATE = ("cluster_size", "embed_avg")  # codebook EMA statistics: only training needs them


# ---------------------------------------------------------------- weights


@dataclass(frozen=True)
class VariableDepth:
    """What variable-depth coding needs, per nominal depth n = 1..N: the
    residual threshold (``thresholds[n - 1]``, float32: the encoder's only)
    and the tables the depth is coded under (symbol depth - 1), one per depth
    of the frame before (see :meth:`table`)."""

    thresholds: np.ndarray
    tables: CdfTables

    def table(self, n: int, previous: int | None) -> int:
        """The table of a depth at nominal depth ``n`` after a frame of depth
        ``previous`` (None: a stream's first frame). Weights from before
        depth context have one table per n."""
        stages = len(self.thresholds)
        if len(self.tables.lengths) == stages:
            return n - 1
        return (n - 1) * (stages + 1) + (stages if previous is None else previous - 1)

    @classmethod
    def calibrate(cls, stage_norms: list[np.ndarray], stage_bits) -> "VariableDepth":
        """From ``stage_norms`` [frames, N] of the training recordings (the
        norms of the frozen quantizers' ``search``, one array per recording)
        and each stage's bits: per n, the threshold at which the mean index
        bits plus the depth's entropy equal n stages' bits, and the tables of
        the depths there given the depth before (backed off to their
        marginal; the depth of a 20 ms frame mostly follows the one before)."""
        norms = np.concatenate(stage_norms)
        stages = norms.shape[1]
        cumulative = np.concatenate([[0.0], np.cumsum(stage_bits)])
        finite = norms[np.isfinite(norms)]
        low, high = (max(float(finite.min()) / 2, 1e-6), float(finite.max()) * 2) if finite.size else (1.0, 1.0)

        def spend(threshold):
            counts = np.bincount(depth_under(norms, threshold) - 1, minlength=stages).astype(np.float64)
            p = counts[counts > 0] / counts.sum()
            return counts, (counts @ cumulative[1:]) / counts.sum() - (p * np.log2(p)).sum()

        thresholds, pmfs = [], []
        for n in range(1, stages + 1):
            lo, hi = np.log(low), np.log(high)  # spend falls as the threshold grows
            for _ in range(50):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if spend(np.exp(mid))[1] > cumulative[n] else (lo, mid)
            thresholds.append(np.exp(hi))
            transitions = np.zeros((stages + 1, stages))
            for recording in stage_norms:
                depths = depth_under(recording, np.exp(hi)) - 1
                np.add.at(transitions, (np.r_[stages, depths[:-1]], depths), 1)
            pmfs += backed_off(transitions, spend(np.exp(hi))[0])
        count = len(pmfs)
        return cls(np.array(thresholds, dtype=np.float32), CdfTables.from_pmfs(pmfs, [0.0] * count, [0] * count))


def save_audio_model(model: AudioCodecModel, path, prior: ResidualIndexPrior, depth: VariableDepth | None = None,
                     **info) -> None:
    """Parameters and codebooks as fp16; the prior's integer tables (as
    frequencies) and context map, and the depth thresholds, exactly."""
    state = {k: (v.half() if v.is_floating_point() else v).contiguous()
             for k, v in model.state_dict().items() if k.rsplit(".", 1)[-1] not in TRAINING_STATE}
    tables = [("prior", prior.tables)] + ([("depth", depth.tables)] if depth else [])
    state |= {f"{name}.{k}": torch.from_numpy(np.ascontiguousarray(v)) for name, t in tables for k, v in
              (("freqs", t.frequencies()), ("lengths", t.lengths), ("offsets", t.offsets))}
    if prior.groups is not None:
        state["prior.groups"] = torch.from_numpy(prior.groups.astype(np.int32))
    if depth:
        state["depth.thresholds"] = torch.from_numpy(depth.thresholds.astype(np.float32))
    meta = {"kind": "audio-codec", "config": json.dumps(model.config.to_dict()), "info": json.dumps(info)}
    save_file(state, str(path), metadata=meta)


def load_audio_model(path) -> tuple[AudioCodecModel, ResidualIndexPrior, dict, VariableDepth | None]:
    """(model, prior, info, variable-depth tables or None for weights without them)."""
    meta, state = read_weights(path, "audio-codec")
    model = AudioCodecModel(AudioModelConfig.from_dict(json.loads(meta["config"])))

    def tables(name):  # stored as frequencies (uint16), or as CDFs (int32) before
        lengths, offsets = state.pop(f"{name}.lengths").numpy(), state.pop(f"{name}.offsets").numpy()
        if f"{name}.freqs" in state:
            return CdfTables.from_frequencies(state.pop(f"{name}.freqs").numpy(), lengths, offsets)
        return CdfTables(state.pop(f"{name}.cdfs").numpy(), lengths, offsets)

    groups = state.pop("prior.groups").numpy() if "prior.groups" in state else None  # static before context
    prior = ResidualIndexPrior(tables("prior"), groups)
    depth = VariableDepth(state.pop("depth.thresholds").numpy(), tables("depth")) if "depth.thresholds" in state else None
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    for key in [k for k in state if k.endswith("_codebook.embed")]:  # an EMA state that agrees with the codebook
        stem = key[: -len("embed")]
        state[stem + "cluster_size"] = torch.ones(state[key].shape[:2])
        state[stem + "embed_avg"] = state[key].clone()
    model.load_state_dict(state)
    return model.eval(), prior, json.loads(meta.get("info", "{}")), depth


# ---------------------------------------------------------------- streams


def _mono(pcm) -> np.ndarray:
    """float32 [n] from [n] or [channels, n] (averaged); NaN becomes 0, and
    values are clipped to [-1, 1] as a DAC would."""
    pcm = np.asarray(pcm.detach().cpu() if isinstance(pcm, torch.Tensor) else pcm)
    if pcm.dtype == np.int16:
        pcm = pcm / 32768.0
    if pcm.ndim == 2:
        pcm = pcm.mean(0)
    if pcm.ndim != 1:
        raise ValueError(f"expected PCM [samples] or [channels, samples], got shape {pcm.shape}")
    return np.clip(np.nan_to_num(pcm.astype(np.float32)), -1, 1)


class AudioStreamEncoder:
    """PCM pieces of any size in, one packet per completed frame out: at
    constant depth ``n_quantizers``, or at variable depth (coded under the
    tables of nominal depth ``n_quantizers``) with a fixed ``threshold`` or
    one a ``controller`` steers (see :meth:`AudioCodec.depth_setting`)."""

    def __init__(self, codec: "AudioCodec", n_quantizers: int, threshold: float | None = None,
                 controller: RateController | None = None):
        self.codec, self.n_quantizers, self.controller = codec, n_quantizers, controller
        self.variable = threshold is not None or controller is not None
        self._stages = codec.model.config.num_quantizers if self.variable else n_quantizers
        self._threshold = threshold
        self._analysis = codec.analysis.stream()
        self._pending = np.zeros(0, dtype=np.float32)
        self._previous = None  # the last coded frame's indices: the next one is coded given them
        self._last = None  # the last searched frame's (the next one's estimate is given them)
        self._charged: list[float] = []  # the controller's estimates of frames not yet coded

    def encode(self, pcm) -> list[bytes]:
        """Packets for the frames ``pcm`` completes (often none, or several)."""
        return [self.pack([row]) for row in self.rows(pcm)]

    def flush(self) -> list[bytes]:
        """The last, zero-padded frame's packet, if samples are left; the stream then ends."""
        return [self.pack([row]) for row in self.rows_flush()]

    def pack(self, rows, framing: int = 0) -> bytes:
        """The next frames (rows of :meth:`rows`, in order) as one range-coded
        stream; the controller learns its real size, with ``framing`` bytes
        around it."""
        rows = [row[row >= 0] for row in rows]
        data = self.codec.pack(rows, self.n_quantizers if self.variable else None, self._previous)
        self._previous = rows[-1] if rows else self._previous
        if self.controller:
            self.controller.correct(8 * (len(data) + framing) - sum(self._charged[: len(rows)]))
            del self._charged[: len(rows)]
        return data

    def rows(self, pcm) -> Iterator[np.ndarray]:
        """The indices [stages] (-1 past its depth) of each frame ``pcm``
        completes, searched as they are asked for: with a controller,
        :meth:`pack` them as they come (a frame's threshold follows the
        sizes before it), and a stream is the same whatever its pieces."""
        frame = self.codec.frame
        pending = np.concatenate([self._pending, _mono(pcm)])
        count = len(pending) // frame
        self._pending = pending[count * frame :]
        return (self._frame(pending[i * frame : (i + 1) * frame]) for i in range(count))

    def rows_flush(self) -> Iterator[np.ndarray]:
        if not len(self._pending):
            return iter(())
        return self.rows(np.zeros(self.codec.frame - len(self._pending), dtype=np.float32))

    def _frame(self, samples: np.ndarray) -> np.ndarray:
        z = self._analysis(samples)[None]
        if not self.controller:
            return self.codec.quantizer.encode(z, self._stages, self._threshold, self.codec.beam)[0]
        paths, norms = self.codec.quantizer.search(z, self._stages, self.codec.beam)
        costs = self.codec.frame_costs(paths[0], self.n_quantizers, self._last)
        depth = int(depth_under(norms, self.controller.threshold)[0])
        self.controller.spend(norms[0], costs, depth)
        self._charged.append(float(costs[depth - 1]))
        self._last = paths[0, depth - 1, :depth]
        return paths[0, depth - 1]


class AudioStreamDecoder:
    """Packets in, one frame of PCM (float32 [frame]) out per packet, through
    the speech postfilter if ``postfilter``."""

    def __init__(self, codec: "AudioCodec", n_quantizers: int, variable: bool = False, postfilter: bool = False):
        self.codec, self.n_quantizers, self.variable = codec, n_quantizers, variable
        self._synthesis = codec.synthesis.stream()
        self._postfilter = SpeechPostfilter(codec.sample_rate, codec.frame) if postfilter else None
        self._previous = None  # the last frame's indices

    def decode(self, packet: bytes) -> np.ndarray:
        """The packets of a stream in order. Raises BitstreamError for a
        damaged packet, leaving the stream's state as it was."""
        return self.decode_indices(self.unpack(packet, 1)[0])

    def unpack(self, data: bytes, frames: int) -> list[np.ndarray]:
        """The indices of the next ``frames`` frames from one range-coded
        stream of them (:meth:`AudioStreamEncoder.pack`)."""
        rows = self.codec.unpack(data, frames, self.n_quantizers, self.variable, self._previous)
        self._previous = rows[-1] if rows else self._previous
        return rows

    def decode_indices(self, indices: np.ndarray) -> np.ndarray:
        pcm = self._synthesis(self.codec.quantizer.decode(np.asarray(indices, dtype=np.int64).reshape(1, -1))[0])
        return self._postfilter(pcm) if self._postfilter else pcm


class DecodedAudio:
    """Decoded audio that is produced block by block as it is read (once)."""

    def __init__(self, sample_rate: int, blocks: Iterator[np.ndarray]):
        self.sample_rate, self.channels, self._blocks = sample_rate, 1, blocks

    def blocks(self) -> Iterator[np.ndarray]:
        return self._blocks

    def read(self) -> Audio:
        blocks = list(self._blocks)
        return Audio(np.concatenate(blocks, 1) if blocks else np.zeros((1, 0), np.float32), self.sample_rate)


# ---------------------------------------------------------------- the codec


class AudioCodec(Codec):
    """Mono speech at the model's sample rate; any other input is downmixed
    and resampled (the header records what it was).

    Decoding applies the speech postfilter where the model's config asks for
    it; set ``postfilter = False`` to hear the network alone (the bitstream
    is the same either way). Encoders search the codebooks with the config's
    beam; ``beam = 1`` (greedy) is faster and slightly worse, and any
    decoder reads either.
    """

    modality = "audio"

    def __init__(self, name: str, model: AudioCodecModel, weights_hash: str, prior: ResidualIndexPrior, info: dict | None = None,
                 depth: VariableDepth | None = None):
        self.name, self.model, self.weights_hash, self.info = name, model.eval(), weights_hash, info or {}
        # streams run these C-kernel copies, not the torch modules (see AudioCodecModel.frozen)
        self.analysis, self.synthesis = model.frozen()
        self.quantizer = model.quantizer.frozen()
        if prior.stages != model.config.num_quantizers:
            raise ValueError(f"{name}: the prior has tables for {prior.stages} stages, the model {model.config.num_quantizers}")
        prior.validate()
        self.prior = prior
        stages = model.config.num_quantizers
        if depth is not None:
            if depth.thresholds.shape != (stages,) or len(depth.tables.lengths) not in (stages, stages * (stages + 1)):
                raise ValueError(f"{name}: the variable-depth tables are not for {stages} stages")
            depth.tables.validate()
        self.depth = depth
        self.postfilter = model.config.postfilter
        self.beam = model.config.search_beam

    @classmethod
    def from_file(cls, path) -> "AudioCodec":
        model, prior, info, depth = load_audio_model(path)
        return cls(Path(path).stem, model, file_hash(path), prior, info, depth)

    @property
    def sample_rate(self) -> int:
        return self.model.config.sample_rate

    @property
    def frame(self) -> int:
        return self.model.config.frame

    @property
    def bitrates(self) -> tuple[float, ...]:
        """Nominal kbit/s of each number of stages (fixed-length indices; entropy coding spends less)."""
        return tuple(round(self.model.bitrate(n) / 1000, 3) for n in range(1, self.model.config.num_quantizers + 1))

    def n_quantizers(self, bitrate: float | None = None) -> int:
        """Stages for ``bitrate`` kbit/s (3, or the nearest below, when not given)."""
        if bitrate is None:
            return max([n for n, b in enumerate(self.bitrates, 1) if b <= 3] or [1])
        for n, b in enumerate(self.bitrates, 1):
            if math.isclose(b, float(bitrate), rel_tol=1e-3):
                return n
        raise ValueError(f"{self.name} codes at {', '.join(f'{b:g}' for b in self.bitrates)} kbit/s, not {bitrate}")

    def depth_setting(self, bitrate: float | None = None, variable: bool | None = None) -> tuple[int, float | None]:
        """(stages, threshold) of a stream at ``bitrate`` kbit/s (3 when not
        given). Variable depth (the default, where the weights carry its
        tables) takes any rate from the lowest nominal one to the highest:
        between two nominal rates the threshold is interpolated (log-linear)
        and the nearest one's depth table codes the depths. Constant depth
        (threshold None) takes the nominal rates only."""
        if variable is None:
            variable = self.depth is not None
        if variable and self.depth is None:
            raise ValueError(f"{self.name}'s weights carry no variable-depth tables; code at constant depth")
        if not variable:
            return self.n_quantizers(bitrate), None
        rates = np.array(self.bitrates)
        rate = rates[self.n_quantizers() - 1] if bitrate is None else float(bitrate)
        if not rates[0] <= rate <= rates[-1]:
            raise ValueError(f"{self.name} codes at {rates[0]:g} to {rates[-1]:g} kbit/s at variable depth, not {bitrate}")
        n = int(np.argmin(np.abs(rates - rate))) + 1
        if math.isclose(rate, rates[n - 1], rel_tol=1e-3):
            return n, float(self.depth.thresholds[n - 1])
        return n, float(np.exp(np.interp(rate, rates, np.log(self.depth.thresholds))))

    def stream_encoder(self, bitrate: float | None = None, variable: bool | None = None) -> AudioStreamEncoder:
        """The decoder must be made with the same ``bitrate`` and ``variable``.
        At variable depth the packets' real sizes are steered to ``bitrate``."""
        n, threshold = self.depth_setting(bitrate, variable)
        if threshold is None:
            return AudioStreamEncoder(self, n)
        n, controller = self.rate_controller(bitrate or self.bitrates[n - 1])
        return AudioStreamEncoder(self, n, controller=controller)

    def stream_decoder(self, bitrate: float | None = None, variable: bool | None = None) -> AudioStreamDecoder:
        n, threshold = self.depth_setting(bitrate, variable)
        return AudioStreamDecoder(self, n, threshold is not None, self.postfilter)

    # ------------------------------------------------------------ packets

    def code_frame(self, encoder: RangeEncoder, indices: np.ndarray, variable_at: int | None = None,
                   previous: np.ndarray | None = None) -> None:
        """One frame's indices, after a frame whose indices were ``previous``
        (None: a stream's first); ``variable_at`` (a nominal depth) puts
        their count first, coded under that depth's tables."""
        if variable_at:
            table = self.depth.table(variable_at, None if previous is None else len(previous))
            encoder.encode_with_indexes(np.array([len(indices) - 1], np.int32), np.array([table], np.int32), *self.depth.tables)
        self.prior.encode(encoder, indices, previous)

    def decode_frame(self, decoder: RangeDecoder, n_quantizers: int, variable: bool = False,
                     previous: np.ndarray | None = None) -> np.ndarray:
        """What :meth:`code_frame` coded: ``n_quantizers`` indices, or with
        ``variable`` as many as the stream says (at nominal depth ``n_quantizers``)."""
        count = n_quantizers
        if variable:
            table = self.depth.table(n_quantizers, None if previous is None else len(previous))
            count = int(decoder.decode_with_indexes(np.array([table], np.int32), *self.depth.tables)[0]) + 1
            if not 1 <= count <= self.model.config.num_quantizers:
                raise BitstreamError(f"it says {count} stages, outside 1..{self.model.config.num_quantizers}")
        indices = self.prior.decode(decoder, count, previous)
        sizes = np.array(self.model.quantizer.codebook_sizes[:count])
        if ((indices < 0) | (indices >= sizes)).any():
            raise BitstreamError("it decodes to indices out of range")
        return indices.astype(np.int64)

    def frame_costs(self, paths: np.ndarray, variable_at: int, previous: np.ndarray | None) -> np.ndarray:
        """What each depth of a frame would cost, in bits: its depth symbol
        and its indices (``paths`` [stages, stages] of a search)."""
        stages = len(paths)
        table = np.full(stages, self.depth.table(variable_at, None if previous is None else len(previous)), np.int32)
        costs = self.depth.tables.information_bits(np.arange(stages), table)
        return costs + np.array([self.prior.information_bits(paths[d, : d + 1], previous).sum() for d in range(stages)])

    def pack(self, frames, variable_at: int | None = None, previous: np.ndarray | None = None) -> bytes:
        """Consecutive frames' indices (each without -1s) as one range-coded
        stream: a packet, for one frame (see :meth:`code_frame`)."""
        encoder = RangeEncoder()
        for indices in frames:
            self.code_frame(encoder, indices, variable_at, previous)
            previous = indices
        return encoder.flush()

    def unpack(self, data: bytes, frames: int, n_quantizers: int, variable: bool = False,
               previous: np.ndarray | None = None) -> list[np.ndarray]:
        """The indices of ``frames`` frames from one stream of them (see :meth:`decode_frame`)."""
        decoder, rows = RangeDecoder(bytes(data)), []
        try:
            for _ in range(frames):
                rows.append(previous := self.decode_frame(decoder, n_quantizers, variable, previous))
        except BitstreamError as e:
            raise BitstreamError(f"{len(data)} bytes for {frames} frames are damaged: frame {len(rows)}: {e}") from None
        # a whole stream leaves the decoder exactly 3 bytes (of zeros) past its end
        if decoder.position != len(data) + 3:
            raise BitstreamError(f"{len(data)} bytes for {frames} frames are damaged: the frames end at byte {decoder.position - 3}")
        return rows

    # ------------------------------------------------------------ tokens

    def tokenize(self, wav, n_quantizers: int | None = None, sample_rate: int | None = None) -> torch.Tensor:
        """Discrete tokens for language models: LongTensor [n_quantizers, frames]
        (all stages when not given) of mono ``wav`` [samples] or [channels, samples]
        at ``sample_rate`` (the codec's when not given); the same indices a stream carries."""
        encoder = AudioStreamEncoder(self, n_quantizers or self.model.config.num_quantizers)
        audio = Audio(np.atleast_2d(_mono(wav)), sample_rate or self.sample_rate)
        rows = [row for pcm in _mono_at(audio, self.sample_rate) for row in encoder.rows(pcm)] + [*encoder.rows_flush()]
        return torch.from_numpy(np.stack(rows).T.copy() if rows else np.zeros((encoder.n_quantizers, 0), np.int64))

    def detokenize(self, tokens) -> torch.Tensor:
        """PCM [frames * frame] at the codec's sample rate from tokens [n_quantizers, frames]."""
        tokens = torch.as_tensor(tokens)
        if tokens.ndim != 2 or not 1 <= tokens.shape[0] <= self.model.config.num_quantizers:
            raise ValueError(f"tokens must be [1..{self.model.config.num_quantizers}, frames], got {tuple(tokens.shape)}")
        sizes = torch.tensor(self.model.quantizer.codebook_sizes[: tokens.shape[0]])[:, None]
        if ((tokens < 0) | (tokens >= sizes)).any():
            raise ValueError("tokens out of range of their codebooks")
        decoder = AudioStreamDecoder(self, tokens.shape[0], postfilter=self.postfilter)
        frames = [decoder.decode_indices(column) for column in tokens.T.numpy()]
        return torch.from_numpy(np.concatenate(frames) if frames else np.zeros(0, np.float32))

    # ------------------------------------------------------------ files

    def rate_controller(self, bitrate: float, frames: int | None = None, header: int = 0) -> tuple[int, RateController]:
        """(nominal depth, controller) for a file of ``frames`` frames (None:
        not known) whose ``header`` bytes and chunk framing all count in
        ``bitrate`` kbit/s: the first frames take the threshold of a little
        less than that (what index bits are left after the framing), so a
        short file starts close to it."""
        rates, thresholds = np.array(self.bitrates), self.depth.thresholds
        n = self.depth_setting(bitrate)[0]  # checks the range
        bits = bitrate * 1000 * self.frame / self.sample_rate
        bits = max(bits - 8 * header / (frames or FRAMES_PER_CHUNK * 10), bits / 10)  # a short file may miss
        start = float(np.clip(bitrate - 0.3, rates[0], rates[-1]))
        threshold = float(np.exp(np.interp(start, rates, np.log(thresholds))))
        return n, RateController(bits, threshold, float(thresholds[-1]) / 10, float(thresholds[0]) * 10)

    def encode_chunks(self, audio, bitrate: float | None = None, variable: bool | None = None) -> tuple[dict, Iterator[bytes]]:
        """At variable depth (the default where the weights allow it), the
        rate is steered to ``bitrate`` (3 kbit/s when not given), the
        whole file counted; a file of 2 s or more that misses it by over
        10% raises RateError when its last chunk is asked for (with
        ``bitrate`` given: a promise asked for)."""
        n, threshold = self.depth_setting(bitrate, variable)
        meta = {"sample_rate": self.sample_rate, "frame": self.frame, "quantizers": n, "chunk_streams": True}
        meta |= {"variable_depth": True} if threshold is not None else {}
        if (audio.sample_rate, audio.channels) != (self.sample_rate, 1):
            meta |= {"source_sample_rate": audio.sample_rate, "source_channels": audio.channels}
        length = getattr(audio, "length", None)
        frames = None if length is None else -(-round(length * self.sample_rate / audio.sample_rate) // self.frame)
        controller, rate, header = None, None, len(self.header(meta).to_bytes()) + HEADER_FRAMING
        if threshold is not None:
            rate = float(bitrate) if bitrate is not None else self.bitrates[self.n_quantizers() - 1]
            controller = self.rate_controller(rate, frames, header)[1]  # its depth is depth_setting's n

        def chunks():
            encoder, rows, samples, size = AudioStreamEncoder(self, n, controller=controller), [], 0, 0

            def chunk(count, chunk_samples):
                nonlocal size
                data = struct.pack("<H", chunk_samples) + encoder.pack(rows[:count], CHUNK_FRAMING)
                del rows[:count]
                size += len(data) + CHUNK_FRAMING
                return data

            for pcm in _mono_at(audio, self.sample_rate):
                samples += len(pcm)
                for row in encoder.rows(pcm):
                    rows.append(row)
                    if len(rows) == FRAMES_PER_CHUNK:  # before the next frame's search: its threshold follows
                        yield chunk(FRAMES_PER_CHUNK, FRAMES_PER_CHUNK * self.frame)
                        samples -= FRAMES_PER_CHUNK * self.frame
            rows += encoder.rows_flush()
            if rows:
                yield chunk(len(rows), samples)
            seconds = (encoder.controller.frames if controller else 0) * self.frame / self.sample_rate
            if bitrate is not None and controller and seconds >= 2:
                real = 8 * (size + header) / seconds / 1000
                if abs(real / rate - 1) > RATE_TOLERANCE:
                    why = "the fewest stages spend more" if real > rate else "all stages spend less on it"
                    raise RateError(f"{self.name} cannot code this audio at {rate:g} kbit/s: the file would take "
                                    f"{real:.2f} kbit/s, more than {RATE_TOLERANCE:.0%} off ({why})")

        return meta, chunks()

    def _decoded_blocks(self, meta: dict, chunks: Iterable[bytes]) -> Iterator[np.ndarray]:
        try:
            rate, frame, n = int(meta["sample_rate"]), int(meta["frame"]), int(meta["quantizers"])
            variable = meta.get("variable_depth", False)
        except (KeyError, TypeError, ValueError):
            raise BitstreamError(f"audio metadata is missing or malformed: {meta}") from None
        if (rate, frame) != (self.sample_rate, self.frame) or not 1 <= n <= self.model.config.num_quantizers \
                or variable not in (True, False) or (variable and self.depth is None) \
                or meta.get("chunk_streams", False) not in (True, False):
            raise BitstreamError(f"audio metadata does not fit {self.name}: {meta}")
        decoder = AudioStreamDecoder(self, n, variable, self.postfilter)
        streams = meta.get("chunk_streams", False)
        for c, chunk in enumerate(chunks):
            where = f"chunk {c} ({c * FRAMES_PER_CHUNK * frame / rate:g} s)"
            if len(chunk) < 2:
                raise BitstreamError(f"{where} is {len(chunk)} bytes, too short to hold its sample count")
            samples = struct.unpack_from("<H", chunk)[0]
            if not 0 < samples <= FRAMES_PER_CHUNK * frame:
                raise BitstreamError(f"{where} says {samples} samples; a chunk holds 1 to {FRAMES_PER_CHUNK * frame}")
            frames = -(-samples // frame)
            try:
                if streams:
                    rows = decoder.unpack(chunk[2:], frames)
                else:
                    packets = split_chunk(chunk, where)[1]
                    if len(packets) != frames:
                        raise BitstreamError(f"it holds {len(packets)} packets for {samples} samples, one per {frame}")
                    rows = [decoder.unpack(packet, 1)[0] for packet in packets]
            except BitstreamError as e:
                raise BitstreamError(f"{where}: {e}") from None
            yield np.concatenate([decoder.decode_indices(row) for row in rows])[None, :samples]

    def read(self, reader) -> DecodedAudio:
        """Decodes lazily, chunk by chunk, as the result's blocks are read (files of any length)."""
        self.check_header(reader.header)
        return DecodedAudio(self.sample_rate, self._decoded_blocks(reader.header.meta, reader))

    def decode_chunks(self, meta: dict, chunks: Iterable[bytes]) -> Audio:
        return DecodedAudio(self.sample_rate, self._decoded_blocks(meta, chunks)).read()


def split_chunk(chunk: bytes, where: str = "chunk") -> tuple[int, list[bytes]]:
    """(samples, packets) of one chunk of an audio ``.lc`` file from before chunk streams."""
    if len(chunk) < 2:
        raise BitstreamError(f"{where} is {len(chunk)} bytes, too short to hold its sample count")
    packets, at = [], 2
    while at < len(chunk):
        size = chunk[at]
        if at + 1 + size > len(chunk):
            raise BitstreamError(f"{where}: packet {len(packets)} runs past the chunk's end (byte {at} of {len(chunk)})")
        packets.append(chunk[at + 1 : at + 1 + size])
        at += 1 + size
    return struct.unpack_from("<H", chunk)[0], packets


def _mono_at(audio, rate: int) -> Iterator[np.ndarray]:
    """``audio``'s blocks as mono float32 at ``rate`` (soxr's streaming resampler, so any length streams)."""
    import soxr

    resampler = None if audio.sample_rate == rate else soxr.ResampleStream(audio.sample_rate, rate, 1, dtype="float32")
    for block in audio.blocks():
        pcm = _mono(block)
        pcm = resampler.resample_chunk(pcm) if resampler else pcm
        if len(pcm):
            yield pcm
    if resampler:
        tail = resampler.resample_chunk(np.zeros(0, np.float32), last=True)
        if len(tail):
            yield tail


def register_pretrained() -> None:
    for path in weight_files("audio"):
        register_codec(path.stem)(lambda path=path: AudioCodec.from_file(path))


register_pretrained()
