"""Autoregressive probability model over a pyramid of latent grids, with an
integer twin that codes.

Training uses the float MLP (:class:`AutoregressiveModel`) and its Laplace
likelihood. Coding uses the same network with integer weights
(:meth:`AutoregressiveModel.integer_net`), run in C
(``csrc/autoregressive.c``) by encoder and decoder alike: means and scales
become table indexes by integer arithmetic only, and the tables are shipped
integer CDFs (``tables/autoregressive.npz``), so a stream decodes to the same
latents on every machine, build and thread count.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from latentcodec.entropy import _autoregressive as _arm
from latentcodec.entropy.cdf import CdfTables
from latentcodec.entropy.distributions import FAMILIES

NEIGHBOURS = _arm.NEIGHBOURS
PARENTS = _arm.PARENTS
LATENT_MAX = _arm.LATENT_MAX
MAX_CONTEXT = len(NEIGHBOURS)
MAX_HIDDEN = _arm.MAX_HIDDEN
LOG_SCALE_MIN = _arm.LOG_SCALE_MIN
LOG_SCALE_MAX = LOG_SCALE_MIN + (_arm.SCALES - 1) / 2**_arm.LOG_SCALE_STEP_BITS
TABLES_FILE = Path(__file__).parent / "tables" / "autoregressive.npz"
TAIL_MASS = 1e-6
PROBABILITY_MIN = 2.0**-16  # training's floor under a latent's probability
PAD = 4


def build_tables() -> CdfTables:
    """The float step, run once: table ``fraction * SCALES + s`` is a Laplace
    of mean fraction/16 and scale exp(LOG_SCALE_MIN + s/8), over value - floor(mean)."""
    cdf = FAMILIES["laplace"].cdf
    pmfs, tails, offsets = [], [], []
    for fraction in range(_arm.MEAN_STEPS):
        mean = fraction / _arm.MEAN_STEPS
        for s in range(_arm.SCALES):
            scale = math.exp(LOG_SCALE_MIN + s / 2**_arm.LOG_SCALE_STEP_BITS)
            reach = max(1.0, scale * -math.log(TAIL_MASS))
            low, high = math.floor(mean - reach), math.ceil(mean + reach)
            edges = (torch.arange(low, high + 2, dtype=torch.float64) - 0.5 - mean) / scale
            mass = cdf(edges)
            pmfs.append(torch.diff(mass).numpy())
            tails.append(float(mass[0] + 1 - mass[-1]))
            offsets.append(low)
    return CdfTables.from_pmfs(pmfs, tails, offsets)


def write_shipped_tables(path: Path = TABLES_FILE) -> None:
    """Regenerates the shipped tables (run once; the result is committed)."""
    t = build_tables()
    np.savez_compressed(path, frequencies=t.frequencies(), lengths=t.lengths, offsets=t.offsets)


@lru_cache(maxsize=None)
def shipped_tables() -> CdfTables:
    with np.load(TABLES_FILE) as f:
        return CdfTables.from_frequencies(f["frequencies"], f["lengths"], f["offsets"])


def contexts(grids: list[Tensor], n_context: int) -> list[Tensor]:
    """[n_context + PARENTS, h * w] inputs for each grid (finest first), in
    the C model's order: causal neighbours, then the coarser grid at
    (y/2, x/2), right of it and below it; zeros outside the grids."""
    out = []
    for level, y in enumerate(grids):
        h, w = y.shape
        padded = F.pad(y, (PAD, PAD, PAD, 0))
        columns = [padded[PAD + dy : PAD + dy + h, PAD + dx : PAD + dx + w] for dy, dx in NEIGHBOURS[:n_context]]
        if level + 1 < len(grids):
            q = F.pad(grids[level + 1], (0, 1, 0, 1))
            h2, w2 = grids[level + 1].shape
            for parent in (q[:h2, :w2], q[:h2, 1:], q[1:, :w2]):
                columns.append(parent.repeat_interleave(2, 0).repeat_interleave(2, 1)[:h, :w])
        else:
            columns += [torch.zeros_like(y)] * PARENTS
        out.append(torch.stack(columns).reshape(len(columns), h * w))
    return out


def trellis_index(v: Tensor, on_q1: Tensor) -> Tensor:
    """A trellis-coded latent's index, or the mean it is coded under, from
    its value or the model's mean: unchanged on Q0 = Z, ``v + clamp(v, -1/2,
    1/2)`` on Q1 = {0, +-1/2, +-3/2, ...} (which maps Q1's points to the
    integers and its cells' edges to the half-integers). The C model does
    the same in 1/16 (``lc_arm_trellis``)."""
    return torch.where(on_q1, v + v.clamp(-0.5, 0.5), v)


class AutoregressiveModel(nn.Module):
    """Mean and log scale of each latent from its context: input -> hidden
    (ReLU), a residual ReLU layer, -> (mean, log scale). The integer model
    also clamps activations at ACTIVATION_MAX, which trained weights do not
    reach in practice; training leaves that clamp out (it costs a third of
    the step)."""

    def __init__(self, n_context: int = 12, hidden: int = 12):
        super().__init__()
        if not 1 <= n_context <= MAX_CONTEXT or not 1 <= hidden <= MAX_HIDDEN:
            raise ValueError(f"n_context must be 1..{MAX_CONTEXT} and hidden 1..{MAX_HIDDEN}")
        self.n_context, self.hidden = n_context, hidden
        self.layers = nn.ModuleList(
            [nn.Linear(n_context + PARENTS, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, 2)]
        )
        with torch.no_grad():  # start as a zero-mean prior of moderate scale
            self.layers[2].weight.mul_(0.1)
            self.layers[2].bias.copy_(torch.tensor([0.0, 0.0]))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h0 = F.relu(self.layers[0](x))
        h1 = h0 + F.relu(self.layers[1](h0))
        mean, log_scale = self.layers[2](h1).unbind(-1)
        return mean, log_scale

    def bits(self, grids: list[Tensor], on_q1: list[Tensor] | None = None) -> Tensor:
        """Total -log2 p of (soft- or hard-) rounded grids, finest first; with
        ``on_q1`` (a mask per grid) the grids are trellis-coded (see
        :func:`trellis_index`). On the CPU the C step (:class:`_FusedBits`)
        computes plain grids' bits and their gradients."""
        total = grids[0].new_zeros(())
        fused = on_q1 is None and grids[0].device.type == "cpu" and grids[0].dtype == torch.float32
        for i, (x, y) in enumerate(zip(contexts(grids, self.n_context), grids)):
            total = total + (_FusedBits.apply(x, y.reshape(-1), *self.parameters()) if fused
                             else self.reference_bits(x, y.reshape(-1), None if on_q1 is None else on_q1[i].reshape(-1)))
        return total

    def mean_scale(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Each latent's mean and scale (clamped to the tables' range) from its contexts ``x`` [n_in, n]."""
        mean, log_scale = self(x.T)
        return mean, log_scale.clamp(LOG_SCALE_MIN, LOG_SCALE_MAX).exp()

    def reference_bits(self, x: Tensor, y: Tensor, on_q1: Tensor | None = None) -> Tensor:
        """-log2 p of latents ``y`` given their contexts ``x`` [n_in, n], in PyTorch."""
        mean, scale = self.mean_scale(x)
        if on_q1 is not None:
            y, mean = trellis_index(y, on_q1), trellis_index(mean, on_q1)
        v = y - mean
        cdf = FAMILIES["laplace"].cdf
        p = cdf((v + 0.5) / scale) - cdf((v - 0.5) / scale)
        return -torch.log2(p.clamp_min(PROBABILITY_MIN)).sum()

    def integer_net(self, shifts: tuple[int, int, int], input_scale: float = 1.0) -> np.ndarray:
        """The int32 network the C model runs: layer l's weights as integers k
        meaning k * 2^-shifts[l], its biases in the accumulator's units
        (2^-(FRAC + shifts[l])), both clipped to the C model's bounds. The C
        model's inputs are the latents times 1 / ``input_scale`` (0.5: the
        doubled values of trellis-coded latents)."""
        parts = [np.array([self.n_context, self.hidden, *shifts], dtype=np.int64)]
        for i, (layer, shift) in enumerate(zip(self.layers, shifts)):
            scale = input_scale if i == 0 else 1.0
            w = np.rint(layer.weight.detach().double().numpy().T * scale * 2.0**shift)
            b = np.rint(layer.bias.detach().double().numpy() * 2.0 ** (shift + _arm.FRAC))
            parts += [w.ravel().clip(-_arm.MAX_WEIGHT, _arm.MAX_WEIGHT), b.clip(-_arm.MAX_BIAS, _arm.MAX_BIAS)]
        return np.concatenate(parts).astype(np.int32)

    def load_integer_net(self, net: np.ndarray, input_scale: float = 1.0) -> None:
        """Sets the float weights to exactly what ``net`` holds (the inverse of
        :meth:`integer_net` with the same ``input_scale``)."""
        n_in, h = self.n_context + PARENTS, self.hidden
        shifts, rest = net[2:5], net[5:].astype(np.float64)
        sizes = [(n_in, h), (h,), (h, h), (h,), (h, 2), (2,)]
        with torch.no_grad():
            for i, layer in enumerate(self.layers):
                wsize, bsize = math.prod(sizes[2 * i]), sizes[2 * i + 1][0]
                w, b, rest = rest[:wsize], rest[wsize : wsize + bsize], rest[wsize + bsize :]
                scale = input_scale if i == 0 else 1.0
                layer.weight.copy_(torch.from_numpy(w.reshape(sizes[2 * i]).T / scale / 2.0 ** shifts[i]))
                layer.bias.copy_(torch.from_numpy(b / 2.0 ** (shifts[i] + _arm.FRAC)))


class _FusedBits(torch.autograd.Function):
    """The float model's bits and all their gradients in one C pass (see
    ``csrc/autoregressive_training.h`` for why by hand); parameters in
    ``AutoregressiveModel.layers`` order (w0, b0, w1, b1, w2, b2)."""

    @staticmethod
    def forward(ctx, x: Tensor, y: Tensor, *params: Tensor) -> Tensor:
        weights = params[0::2]
        flat = torch.cat([t.detach().reshape(-1) for w, b in zip(weights, params[1::2]) for t in (w.T, b)])
        x, y = x.detach().contiguous(), y.detach().contiguous()
        grad_x, grad_y, grad_params = torch.empty_like(x), torch.empty_like(y), torch.empty_like(flat)
        bits = _arm.float_bits(x.shape[0], weights[0].shape[0], x.numpy(), y.numpy(), flat.numpy(), grad_x.numpy(),
                               grad_y.numpy(), grad_params.numpy(), LOG_SCALE_MIN, LOG_SCALE_MAX, PROBABILITY_MIN,
                               torch.get_num_threads())
        ctx.save_for_backward(grad_x, grad_y, grad_params)
        ctx.shapes = [p.shape for p in params]
        return x.new_tensor(bits)

    @staticmethod
    def backward(ctx, grad: Tensor):
        grad_x, grad_y, grad_params = ctx.saved_tensors
        grads, at = [], 0
        for i, shape in enumerate(ctx.shapes):
            n = math.prod(shape)
            g = grad_params[at : at + n]
            grads.append((g.view(shape[::-1]).T if i % 2 == 0 else g.view(shape)) * grad)
            at += n
        return grad_x * grad, grad_y * grad, *grads


def check_net(net: np.ndarray) -> None:
    """ValueError unless ``net`` is within the integer model's bounds."""
    _arm.symbols(np.ascontiguousarray(net, dtype=np.int32), [np.zeros((1, 1), np.int32)],
                 np.zeros(1, np.int32), np.zeros(1, np.int32))


def _machine(trellis: np.ndarray | None) -> np.ndarray | None:
    return None if trellis is None else np.ascontiguousarray(trellis, dtype=np.int32)


def symbols(net: np.ndarray, grids: list[np.ndarray], trellis: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """(symbols, table indexes) of integer grids (finest first), in coding
    order. With a ``trellis`` state machine ([n_states, 2], next state after
    an even / odd index) the grids hold twice each trellis-coded latent (see
    ``csrc/autoregressive.h``) and the net reads them so
    (``integer_net(..., input_scale=0.5)``)."""
    grids = [np.ascontiguousarray(g, dtype=np.int32) for g in grids]
    n = sum(g.size for g in grids)
    out_symbols, out_indexes = np.empty(n, np.int32), np.empty(n, np.int32)
    _arm.symbols(np.ascontiguousarray(net, dtype=np.int32), grids, out_symbols, out_indexes, _machine(trellis))
    return out_symbols, out_indexes


def decode(data: bytes, net: np.ndarray, shapes: list[tuple[int, int]], trellis: np.ndarray | None = None
           ) -> list[np.ndarray]:
    """The grids (finest first) of a stream, as :func:`symbols` takes them;
    BitstreamError if it is corrupt."""
    grids = [np.zeros(s, np.int32) for s in shapes]
    _arm.decode(data, np.ascontiguousarray(net, dtype=np.int32), grids, *shipped_tables(), _machine(trellis))
    return grids
