"""One flat vocabulary for the tokens of several modalities, for language models.

A language model sees one sequence of integer ids. :class:`TokenLayout` fixes
which id means what: first the special tokens (``<pad>``, ``<bos>``,
``<eos>``, then a begin and an end marker per modality), then every codebook
of every modality as a contiguous block, so a token ``k`` of codebook ``q``
of modality ``m`` is ``offset(m, q) + k``.

A modality's tokens are ``[n_codebooks, frames]`` (residual codebooks: the
first is the coarsest). They become one run of ids in one of two orders:

- ``"flatten"``: frame by frame, each frame's codebooks in order;
- ``"delay"``: MusicGen's delay pattern, codebook q lagging q frames, so a
  model can predict a step's codebooks together: step s holds frame s - q of
  each codebook q, and ``<pad>`` where that frame does not exist.

Every run is wrapped in its modality's markers, so :meth:`TokenLayout.decode`
recovers exactly what :meth:`TokenLayout.encode` was given.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import torch
from torch import Tensor

SPECIALS = ("<pad>", "<bos>", "<eos>")
INTERLEAVES = ("flatten", "delay")


class TokenLayout:
    """``modalities`` maps a name to the sizes of its codebooks, in residual order."""

    def __init__(self, modalities: dict[str, Sequence[int]], interleave: str = "flatten"):
        if interleave not in INTERLEAVES:
            raise ValueError(f"interleave must be one of {INTERLEAVES}, got {interleave!r}")
        if not modalities:
            raise ValueError("a layout needs at least one modality")
        for name, sizes in modalities.items():
            if not sizes or any(int(s) < 1 for s in sizes):
                raise ValueError(f"modality {name!r} needs codebooks of at least one token, got {list(sizes)}")
        self.modalities = {name: tuple(int(s) for s in sizes) for name, sizes in modalities.items()}
        self.interleave = interleave
        self.specials = SPECIALS + tuple(marker for m in self.modalities for marker in (f"<{m}>", f"</{m}>"))
        self._special_ids = {name: i for i, name in enumerate(self.specials)}
        self._offsets, start = {}, len(self.specials)
        for name, sizes in self.modalities.items():
            self._offsets[name] = []
            for size in sizes:
                self._offsets[name].append(start)
                start += size
        self.vocab_size = start

    def to_dict(self) -> dict:
        """JSON-serializable; :meth:`from_dict` rebuilds the same layout."""
        return {"modalities": {m: list(s) for m, s in self.modalities.items()}, "interleave": self.interleave}

    @classmethod
    def from_dict(cls, d: dict) -> "TokenLayout":
        return cls(d["modalities"], d["interleave"])

    def special(self, name: str) -> int:
        """The id of a special token: ``"<bos>"``, ``"<image>"``, ``"</image>"``..."""
        return self._special_ids[name]

    def offset(self, modality: str, codebook: int = 0) -> int:
        return self._offsets[modality][codebook]

    def encode(self, modality: str, tokens: Tensor) -> Tensor:
        """``tokens`` [n_codebooks, frames] (or [frames] for one codebook) -> ids, wrapped in the modality's markers."""
        if modality not in self.modalities:
            raise KeyError(f"no modality {modality!r} in this layout ({', '.join(self.modalities)})")
        sizes = self.modalities[modality]
        tokens = torch.as_tensor(tokens, dtype=torch.long)
        tokens = tokens[None] if tokens.dim() == 1 else tokens
        if tokens.dim() != 2 or tokens.shape[0] != len(sizes):
            raise ValueError(f"{modality} tokens must be [{len(sizes)}, frames], got {tuple(tokens.shape)}")
        limits = torch.tensor(sizes)[:, None]
        if ((tokens < 0) | (tokens >= limits)).any():
            q, t = (int(i) for i in torch.nonzero((tokens < 0) | (tokens >= limits))[0])
            raise ValueError(f"{modality} token {int(tokens[q, t])} at codebook {q}, frame {t} is outside [0, {sizes[q]})")
        ids = tokens + torch.tensor(self._offsets[modality])[:, None]
        if self.interleave == "flatten":
            body = ids.T.reshape(-1)
        else:
            n_q, frames = ids.shape
            grid = torch.full((n_q, frames + n_q - 1 if frames else 0), self.special("<pad>"), dtype=torch.long)
            for q in range(n_q):
                grid[q, q : q + frames] = ids[q]
            body = grid.T.reshape(-1)
        return torch.cat([torch.tensor([self.special(f"<{modality}>")]), body, torch.tensor([self.special(f"</{modality}>")])])

    def sequence(self, items: Iterable[tuple[str, Tensor]]) -> Tensor:
        """A whole training sequence: ``<bos>``, each item's ids, ``<eos>``."""
        parts = [torch.tensor([self.special("<bos>")])]
        parts += [self.encode(modality, tokens) for modality, tokens in items]
        return torch.cat(parts + [torch.tensor([self.special("<eos>")])])

    def decode(self, ids: Tensor) -> list[tuple[str, Tensor]]:
        """The (modality, tokens [n_codebooks, frames]) of every marked run in
        ``ids``, in order; ``<bos>``, ``<eos>`` and ``<pad>`` between runs are
        skipped. Malformed ids raise ValueError saying where."""
        ids = torch.as_tensor(ids, dtype=torch.long).reshape(-1).tolist()
        out, i = [], 0
        skip = {self.special(s) for s in SPECIALS}
        begins = {self.special(f"<{m}>"): m for m in self.modalities}
        while i < len(ids):
            if ids[i] in skip:
                i += 1
                continue
            if ids[i] not in begins:
                raise ValueError(f"id {ids[i]} at position {i} is not a modality's begin marker")
            modality = begins[ids[i]]
            end = self.special(f"</{modality}>")
            try:
                stop = ids.index(end, i + 1)
            except ValueError:
                raise ValueError(f"the {modality} run at position {i} has no end marker") from None
            out.append((modality, self._tokens(modality, ids[i + 1 : stop], i + 1)))
            i = stop + 1
        return out

    def _tokens(self, modality: str, body: list[int], at: int) -> Tensor:
        sizes, offsets = self.modalities[modality], self._offsets[modality]
        n_q, pad = len(sizes), self.special("<pad>")
        if len(body) % n_q:
            raise ValueError(f"the {modality} run at position {at} holds {len(body)} ids, not a multiple of {n_q} codebooks")
        grid = torch.tensor(body, dtype=torch.long).reshape(-1, n_q).T
        if self.interleave == "delay" and grid.shape[1]:
            frames = grid.shape[1] - n_q + 1
            expected = torch.full_like(grid, pad)
            tokens = torch.stack([grid[q, q : q + frames] for q in range(n_q)]) if frames > 0 else None
            if tokens is None:
                raise ValueError(f"the {modality} run at position {at} is shorter than its delay pattern")
            for q in range(n_q):
                expected[q, q : q + frames] = tokens[q]
            if not torch.equal(expected, grid):
                raise ValueError(f"the {modality} run at position {at} does not follow the delay pattern")
            grid = tokens
        low, high = torch.tensor(offsets)[:, None], torch.tensor(offsets)[:, None] + torch.tensor(sizes)[:, None]
        wrong = (grid < low) | (grid >= high)
        if wrong.any():
            q, t = (int(i) for i in torch.nonzero(wrong)[0])
            raise ValueError(f"id {int(grid[q, t])} of the {modality} run at position {at} (codebook {q}, frame {t}) "
                             f"is outside that codebook's ids [{offsets[q]}, {offsets[q] + sizes[q]})")
        return grid - low
