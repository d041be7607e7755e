"""The prior over frames of residual-VQ indices: context tables, their map, packets."""

import numpy as np
import pytest

from latentcodec import BitstreamError
from latentcodec.entropy import RangeDecoder, RangeEncoder
from latentcodec.entropy.residual_index_prior import ResidualIndexPrior, successor_groups


def markov_streams(seed: int = 0) -> list[np.ndarray]:
    """Frames of 3 stages over 16 codes: the first index follows the frame
    before's (codes 0-7 mostly go on to 0-3, codes 8-15 to 8-11), the second
    index is the first's + 1, the third is uniform; frames end at random depths."""
    rng = np.random.default_rng(seed)
    streams = []
    for _ in range(20):
        first = [int(rng.integers(16))]
        for _ in range(99):
            base = 0 if first[-1] < 8 else 8
            first.append(base + int(rng.integers(4)) if rng.random() < 0.9 else int(rng.integers(16)))
        first = np.array(first)
        rows = np.stack([first, (first + 1) % 16, rng.integers(0, 16, len(first))], 1)
        rows[np.arange(3)[None] >= rng.integers(1, 4, len(first))[:, None]] = -1
        streams.append(rows)
    return streams


def test_context_tables_learn_what_the_frame_before_and_the_first_index_tell():
    train, test = markov_streams(0), markov_streams(1)
    static, context = ResidualIndexPrior.fit(train, [16] * 3), ResidualIndexPrior.fit(train, [16] * 3, groups=2)
    assert static.stages == context.stages == 3 and context.context_groups == 2
    assert set(context.groups[:8]) != set(context.groups[8:]) and len(set(context.groups[:8])) == 1

    def bits(prior, stage):
        total = 0.0
        for rows in test:
            for previous, row in zip([None, *rows[:-1]], rows):
                total += prior.information_bits(row[row >= 0], previous)[stage:stage + 1].sum()
        return total
    assert bits(context, 0) < 0.8 * bits(static, 0)  # log2(16) against about log2(4) + a little
    assert bits(context, 1) < 0.8 * bits(static, 1)  # the first's group leaves 8 of 16 codes
    assert bits(context, 2) == pytest.approx(bits(static, 2), rel=1e-6)  # later stages stay static


def test_frames_round_trip_in_order():
    prior = ResidualIndexPrior.fit(markov_streams(0), [16] * 3, groups=3)
    prior.validate()
    rows = [row[row >= 0] for row in markov_streams(2)[0]]
    encoder = RangeEncoder()
    for previous, row in zip([None, *rows[:-1]], rows):
        prior.encode(encoder, row, previous)
    decoder = RangeDecoder(encoder.flush())
    for previous, row in zip([None, *rows[:-1]], rows):
        assert np.array_equal(prior.decode(decoder, len(row), previous), row)


def test_a_first_index_outside_the_codebook_is_a_bitstream_error():
    prior = ResidualIndexPrior.fit(markov_streams(0), [16] * 3, groups=2)
    encoder = RangeEncoder()  # the tables' escape codes any value; no encoder of this codebook writes 16
    encoder.encode_with_indexes(np.array([16], np.int32), prior.table_indexes(0, 1, None), *prior.tables)
    with pytest.raises(BitstreamError, match="outside the codebook"):
        prior.decode(RangeDecoder(encoder.flush()), 2, None)


def test_groups_must_fit_the_tables():
    prior = ResidualIndexPrior.fit(markov_streams(0), [16] * 3, groups=2)
    with pytest.raises(ValueError):
        ResidualIndexPrior(prior.tables, prior.groups[:8]).validate()


def test_successor_groups_join_symbols_that_lead_to_the_same_place():
    follows = np.zeros((6, 6))
    follows[:3, 0] = 50  # 0-2 lead to 0, 3-5 to 5
    follows[3:, 5] = 50
    groups = successor_groups(follows, 2)
    assert len(set(groups[:3])) == len(set(groups[3:])) == 1 and groups[0] != groups[3]
