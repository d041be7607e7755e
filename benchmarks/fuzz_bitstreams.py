"""Fuzz the range decoder and the .lc container through their Python APIs.

Every input must either decode or raise BitstreamError: any other exception,
a crash or a hang is a failure. Inputs are valid streams from random tables
and symbols, then the same streams truncated, bit-flipped, spliced, decoded
with the wrong tables, fed in pieces, plus random garbage and empty input.
Valid streams must also decode to exactly what was encoded.

Work runs in forked batches so the parent survives a crash (a signal) and can
stop a hang (a batch over its time limit); each input also has a time budget.
A target is a function (rng, runs, budget_s) -> (counts, failures); add one to
TARGETS to fuzz another decoder with the same harness.

The container target codes small images with the lossless-image codec and
hands the damaged files to ``latentcodec.decompress`` (container, registry,
codec and range decoder together). The tcq target does the same with the
default learned model under trellis-coded quantization, adding streams whose
header names another trellis. The overfit target does it for overfit-image,
whose network chunk starts with the steps and tables.

    python benchmarks/fuzz_bitstreams.py [--runs 100000] [--seed 0] [--target all|range_decoder|container|tcq|overfit]
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from collections import Counter

import numpy as np

import latentcodec
from latentcodec.entropy.range_coder import RangeDecoder, RangeEncoder
from latentcodec.errors import BitstreamError, IncompleteStreamError

PRECISION = 16
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
EXAMPLES_KEPT = 5


def random_tables(rng):
    """1-5 tables of random positive frequencies (some nearly uniform, some very
    skewed), offsets anywhere up to the int32 extremes, garbage past each length."""
    n_tables = int(rng.integers(1, 6))
    max_len = int(rng.choice([2, 3, 8, 40, 300]))
    lengths = rng.integers(2, max_len + 1, n_tables).astype(np.int32)
    cdfs = rng.integers(INT32_MIN, INT32_MAX, (n_tables, max_len), endpoint=True).astype(np.int32)
    offsets = np.empty(n_tables, np.int32)
    for t, length in enumerate(lengths):
        n_symbols = length - 1  # the last one is the escape
        weights = rng.random(n_symbols) ** rng.uniform(0.5, 12)
        freqs = 1 + np.floor(weights / weights.sum() * ((1 << PRECISION) - n_symbols)).astype(np.int64)
        freqs[np.argmax(freqs)] += (1 << PRECISION) - freqs.sum()
        cdfs[t, :length] = np.concatenate([[0], np.cumsum(freqs)])
        offsets[t] = rng.choice([INT32_MIN, INT32_MAX, INT32_MAX - length + 2, -(length // 2),
                                 int(rng.integers(-100, 100)), int(rng.integers(INT32_MIN, INT32_MAX))])
    return cdfs, lengths, offsets


def random_symbols(rng, n, tables):
    """Mostly drawn from each symbol's table, 1 in 8 an escape (int32 extremes,
    anywhere, just past either end of the table)."""
    cdfs, lengths, offsets = tables
    indexes = rng.integers(0, len(lengths), n).astype(np.int32)
    u = rng.integers(0, 1 << PRECISION, n)
    drawn = np.empty(n, np.int64)
    for t, length in enumerate(lengths):
        mine = indexes == t
        drawn[mine] = np.searchsorted(cdfs[t, :length], u[mine], side="right") - 1
    symbols = offsets[indexes].astype(np.int64) + drawn
    escape = rng.random(n) < 1 / 8
    far = rng.choice([INT32_MIN, INT32_MAX, 0, -1], n) + rng.integers(-3, 4, n)
    far = np.where(rng.random(n) < 0.5, far, rng.integers(INT32_MIN, INT32_MAX, n, endpoint=True))
    symbols = np.where(escape, far, symbols)
    return np.clip(symbols, INT32_MIN, INT32_MAX).astype(np.int32), indexes


def damage(rng, data: bytes) -> tuple[str, bytes]:
    """One way a stream goes bad on disk or on the wire."""
    kind = str(rng.choice(["truncated", "bit-flipped", "spliced", "garbage", "empty"]))
    if kind == "truncated":
        return kind, data[: int(rng.integers(0, len(data)))]
    if kind == "bit-flipped":
        bad = bytearray(data)
        for _ in range(int(rng.integers(1, 9))):
            bad[int(rng.integers(len(bad)))] ^= 1 << int(rng.integers(8))
        return kind, bytes(bad)
    if kind == "spliced":
        cut, start = rng.integers(0, len(data), 2)
        return kind, data[:cut] + data[start:]
    if kind == "garbage":
        return kind, rng.bytes(int(rng.integers(1, 600)))
    return kind, b""


def split_points(rng, n: int) -> list[int]:
    """Random call boundaries 0 = b0 <= ... <= bk = n (empty calls included)."""
    inner = np.sort(rng.integers(0, n + 1, int(rng.integers(0, 5))))
    return [0, *inner.tolist(), n]


def decode_whole(data, indexes, tables, rng):
    """Decodes a complete stream in several calls."""
    decoder = RangeDecoder(data)
    bounds = split_points(rng, len(indexes))
    return np.concatenate([decoder.decode_with_indexes(indexes[a:b], *tables) for a, b in zip(bounds, bounds[1:])])


def decode_streamed(data, indexes, tables, rng):
    """Feeds the bytes in random pieces, retrying a call on IncompleteStreamError;
    once the input is marked last that error must not come back."""
    decoder, fed, last, parts = RangeDecoder(), 0, False, []
    bounds = split_points(rng, len(indexes))
    for a, b in zip(bounds, bounds[1:]):
        while True:
            try:
                parts.append(decoder.decode_with_indexes(indexes[a:b], *tables))
                break
            except IncompleteStreamError:
                if last:
                    raise AssertionError("IncompleteStreamError after the input was marked last") from None
                k = int(rng.integers(0, 8)) if rng.random() < 0.8 else len(data) - fed
                last = fed + k >= len(data)
                decoder.feed(data[fed : fed + k], last=last)
                fed += k
    return np.concatenate(parts)


def decode_then_feed(data, indexes, tables, rng):
    """Decodes a complete stream, then is handed more bytes (misuse after the
    input was marked last): refused with ValueError, the state intact."""
    decoder = RangeDecoder(data)
    decoded = decoder.decode_with_indexes(indexes, *tables)
    try:
        decoder.feed(rng.bytes(int(rng.integers(0, 9))))
    except ValueError:
        pass
    else:
        raise AssertionError("feeding after the end was accepted")
    return decoded


def attempt(kind: str, data: bytes, decode, expected, budget_s: float, counts: Counter, failures: list) -> None:
    """Runs one decode and files its outcome; ``expected`` (if given) is what
    a decode must return."""
    start = time.perf_counter()
    try:
        decoded = decode()
        outcome = "decoded"
        if expected is not None and not np.array_equal(decoded, expected):
            outcome = "FAIL wrong output"
            failures.append(f"{kind}: wrong output from {data[:32].hex()}...")
    except BitstreamError:
        outcome = "BitstreamError"
    except Exception as error:  # anything else is what this fuzz looks for
        outcome = f"FAIL {type(error).__name__}"
        failures.append(f"{kind}: {error!r} on {data[:32].hex()}...")
    if time.perf_counter() - start > budget_s:
        outcome = "FAIL over time budget"
        failures.append(f"{kind}: took {time.perf_counter() - start:.2f} s")
    counts[kind, outcome] += 1


def fuzz_range_decoder(rng, runs: int, budget_s: float):
    """Each round: random tables and symbols make one valid stream, decoded as
    is (whole, streamed, and fed bytes past its end), with other tables, and
    damaged (whole and streamed)."""
    counts, failures = Counter(), []
    done = 0
    while done < runs:
        tables = random_tables(rng)
        n = int(rng.integers(0, 200))
        symbols, indexes = random_symbols(rng, n, tables)
        encoder = RangeEncoder()
        encoder.encode_with_indexes(symbols, indexes, *tables)
        stream = encoder.flush()
        other = random_tables(rng)
        other_indexes = rng.integers(0, len(other[1]), n).astype(np.int32)

        cases = [
            ("valid", stream, decode_whole, indexes, tables),
            ("valid streamed", stream, decode_streamed, indexes, tables),
            ("valid, then fed more", stream, decode_then_feed, indexes, tables),
            ("other tables", stream, decode_whole, other_indexes, other),
        ]
        kind, data = damage(rng, stream)
        cases.append((kind, data, decode_whole, indexes, tables))
        kind, data = damage(rng, stream)
        cases.append((kind + " streamed", data, decode_streamed, indexes, tables))

        for kind, data, decode, idx, tbl in cases:
            expect = symbols if kind.startswith("valid") else None
            attempt(kind, data, lambda: decode(data, idx, tbl, rng), expect, budget_s, counts, failures)
            done += 1
    return counts, failures[:EXAMPLES_KEPT]


def fuzz_container(rng, runs: int, budget_s: float):
    """Each round: a small random image (noise or a smooth gradient, 1-4
    channels) coded to a whole .lc file, decoded intact and damaged."""
    codec = latentcodec.load("lossless-image")
    counts, failures = Counter(), []
    done = 0
    while done < runs:
        h, w, c = (int(v) for v in rng.integers(1, [24, 24, 5]))
        if rng.random() < 0.5:
            image = rng.integers(0, 256, (h, w, c), dtype=np.uint8)
        else:
            image = (np.add.outer(np.arange(h), np.arange(w))[..., None] * rng.integers(1, 9, c) % 256).astype(np.uint8)
        stream = codec.compress(image)
        expected = image[..., 0] if c == 1 else image
        cases = [("valid", stream)] + [damage(rng, stream) for _ in range(3)]
        for kind, data in cases:
            # the CRCs must catch damage: a decoded image is the original or a failure
            attempt(kind, data, lambda: latentcodec.decompress(data), expected, budget_s, counts, failures)
            done += 1
    return counts, failures[:EXAMPLES_KEPT]


def fuzz_tcq(rng, runs: int, budget_s: float):
    """Each round: a crop of a photo coded by the default learned model with
    trellis-coded quantization, decoded intact, damaged, and under a header
    (with a valid CRC) that names another trellis, and with a bit flipped in
    the range-coded payload under a recomputed chunk CRC; whatever decodes
    must be the intact stream's image (the TCQ index CRC catches the rest)."""
    from skimage import data

    from latentcodec import registry
    from latentcodec.container import Header, pack, unpack
    from latentcodec.files import DEFAULT_IMAGE_MODEL

    codec = latentcodec.load(registry.resolve(DEFAULT_IMAGE_MODEL))
    photo = data.astronaut()
    counts, failures = Counter(), []
    done = 0
    while done < runs:
        h, w = (int(v) for v in rng.integers(8, 80, 2))
        top, left = (int(v) for v in rng.integers(0, 512 - 80, 2))
        states = int(rng.choice([4, 8]))
        stream = codec.compress(photo[top : top + h, left : left + w], quantizer=f"tcq:states={states}")
        expected = latentcodec.decompress(stream)
        header, chunks = unpack(stream)
        other = {"name": "tcq", "states": 12 - states, "delta_shift": int(rng.integers(3, 8))}
        flipped = bytearray(chunks[0])
        flipped[int(rng.integers(len(flipped)))] ^= 1 << int(rng.integers(8))
        cases = [
            ("valid", stream),
            ("other trellis", pack(Header(header.codec, header.weights, header.meta | {"quantizer": other}), chunks)),
            ("payload flip, CRC redone", pack(header, [bytes(flipped)])),
        ]
        cases += [damage(rng, stream) for _ in range(2)]
        for kind, data_ in cases:
            attempt(kind, data_, lambda: latentcodec.decompress(data_), expected, budget_s, counts, failures)
            done += 1
    return counts, failures[:EXAMPLES_KEPT]


def fuzz_overfit(rng, runs: int, budget_s: float):
    """Each round: a small crop coded by overfit-image (a few training steps:
    the fuzz is of the decoder), decoded intact and damaged, with headers
    (valid CRCs) that lie about the size or decoder, and bit flips in
    either payload (the steps and tables included) under a recomputed chunk CRC (these may decode to another
    image: nothing but the network and the latents is checked)."""
    from skimage import data

    from latentcodec.codecs import overfit_image
    from latentcodec.container import Header, pack, unpack

    overfit_image.PRESETS["fuzz"] = overfit_image.EncoderEffort(1, 2, 10, 2)
    codec = latentcodec.load("overfit-image-q3")
    photo = data.astronaut()
    counts, failures = Counter(), []
    done = 0
    while done < runs:
        h, w = (int(v) for v in rng.integers(1, 48, 2))
        top, left = (int(v) for v in rng.integers(0, 512 - 48, 2))
        stream = codec.compress(photo[top : top + h, left : left + w], preset="fuzz", progress=False)
        expected = latentcodec.decompress(stream)
        header, chunks = unpack(stream)
        lies = [{"height": 1 << 20, "width": 1 << 20}, {"height": h * 2}, {"decoder": "huge"}, {"channels": 4},
                {"width": "x"}]
        cases = [("valid", stream)]
        cases += [("lying header", pack(Header(header.codec, header.weights, header.meta | lie), chunks)) for lie in lies]
        for part in range(2):
            flipped = [bytearray(c) for c in chunks]
            if flipped[part]:
                flipped[part][int(rng.integers(len(flipped[part])))] ^= 1 << int(rng.integers(8))
            cases.append((f"chunk {part} flip, CRC redone", pack(header, [bytes(c) for c in flipped])))
        cases += [damage(rng, stream) for _ in range(3)]
        for kind, data_ in cases:
            attempt(kind, data_, lambda: latentcodec.decompress(data_), expected if kind == "valid" else None,
                    budget_s, counts, failures)
            done += 1
    return counts, failures[:EXAMPLES_KEPT]


TARGETS = {"range_decoder": fuzz_range_decoder, "container": fuzz_container, "tcq": fuzz_tcq, "overfit": fuzz_overfit}


def _batch(target: str, seed: int, batch: int, runs: int, budget_s: float, conn) -> None:
    conn.send(TARGETS[target](np.random.default_rng([seed, batch]), runs, budget_s))
    conn.close()


def run(target: str, runs: int, seed: int, batch_runs: int, budget_s: float, batch_timeout_s: float):
    """Runs the target in forked batches; a batch that dies or overruns is a
    failure reported with the seed and batch that reproduce it."""
    ctx = multiprocessing.get_context("fork")
    counts, failures = Counter(), []
    for batch, start in enumerate(range(0, runs, batch_runs)):
        size = min(batch_runs, runs - start)
        receive, send = ctx.Pipe(duplex=False)
        worker = ctx.Process(target=_batch, args=(target, seed, batch, size, budget_s, send))
        worker.start()
        send.close()
        if receive.poll(batch_timeout_s):
            try:
                batch_counts, batch_failures = receive.recv()
                counts.update(batch_counts)
                failures.extend(batch_failures)
            except EOFError:  # died before sending
                pass
        worker.join(5)
        if worker.is_alive():
            worker.kill()
            worker.join()
            counts["(batch)", "FAIL hang"] += 1
            failures.append(f"batch {batch} (seed {seed}) ran past {batch_timeout_s:.0f} s")
        elif worker.exitcode != 0:
            counts["(batch)", "FAIL crash"] += 1
            failures.append(f"batch {batch} (seed {seed}) died with exit code {worker.exitcode}")
    return counts, failures


def report(target: str, counts: Counter, failures: list[str], seconds: float) -> bool:
    kinds = sorted({k for k, _ in counts})
    outcomes = sorted({o for _, o in counts})
    print(f"{target}: {sum(counts.values()):,} inputs in {seconds:.1f} s")
    print(f"{'input':<24}" + "".join(f"{o:>22}" for o in outcomes))
    for kind in kinds:
        print(f"{kind:<24}" + "".join(f"{counts[kind, o]:>22,}" for o in outcomes))
    total = Counter()
    for (_, outcome), c in counts.items():
        total[outcome] += c
    print(f"{'total':<24}" + "".join(f"{total[o]:>22,}" for o in outcomes))
    for line in failures:
        print("  failure:", line)
    ok = not any(o.startswith("FAIL") for o in outcomes)
    print("PASS: every input decoded or raised BitstreamError" if ok else "FAIL")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=["all", *sorted(TARGETS)], default="all")
    parser.add_argument("--runs", type=int, default=100_000, help="inputs to try")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-runs", type=int, default=5_000, help="inputs per forked batch")
    parser.add_argument("--budget", type=float, default=1.0, help="seconds one input may take")
    parser.add_argument("--batch-timeout", type=float, default=300.0, help="seconds before a batch counts as hung")
    args = parser.parse_args()
    ok = True
    for target in sorted(TARGETS) if args.target == "all" else [args.target]:
        start = time.perf_counter()
        counts, failures = run(target, args.runs, args.seed, args.batch_runs, args.budget, args.batch_timeout)
        ok &= report(target, counts, failures, time.perf_counter() - start)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
