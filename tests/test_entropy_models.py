import numpy as np
import pytest
import torch

from latentcodec.entropy import CONDITIONAL_MODELS, FactorizedPrior, RangeDecoder, RangeEncoder
from latentcodec.quantizers import UniformQuantizer


def _latents(seed=0, shape=(2, 16, 12, 12)):
    g = torch.Generator().manual_seed(seed)
    scales = torch.exp(torch.randn(shape, generator=g) * 1.5)
    means = torch.randn(shape, generator=g) * 4
    return means + scales * torch.randn(shape, generator=g), means, scales


@pytest.mark.parametrize("family", sorted(CONDITIONAL_MODELS))
def test_conditional_round_trip_and_rate_matches_likelihood(family):
    model = CONDITIONAL_MODELS[family]().eval()
    y, means, scales = _latents()
    symbols = UniformQuantizer.symbols(y, means)
    encoder = RangeEncoder()
    model.encode(encoder, symbols, scales)
    data = encoder.flush()
    decoded = model.decode(RangeDecoder(data), scales)
    assert torch.equal(decoded, symbols)
    estimated = -torch.log2(model.likelihood(UniformQuantizer.dequantize(symbols, means), scales, means)).sum()
    # scales are snapped to a 64-entry table; real bits stay within 2% of the float estimate
    assert abs(8 * len(data) / estimated.item() - 1) < 0.02


def test_scale_index_mapping_is_monotone_and_matches_compressai():
    from compressai.entropy_models import GaussianConditional as CompressAIGaussian
    from compressai.models.google import get_scale_table

    model = CONDITIONAL_MODELS["gaussian"]()
    scales = torch.exp(torch.linspace(-4, 7, 5001))
    ours = model.indexes(scales)
    assert (np.diff(ours) >= 0).all() and ours[0] == 0 and ours[-1] == 63
    reference = CompressAIGaussian(get_scale_table().tolist()).build_indexes(scales).numpy()
    np.testing.assert_array_equal(ours, reference)


def test_encoder_and_decoder_agree_on_indexes_for_the_same_scales():
    model = CONDITIONAL_MODELS["gaussian"]()
    table = model.scale_table
    edges = torch.cat([table, torch.nextafter(table, torch.full_like(table, 1e9)), torch.nextafter(table, torch.zeros_like(table))])
    a, b = model.indexes(edges.clone()), model.indexes(edges.clone().reshape(3, -1))
    np.testing.assert_array_equal(a, b)


def test_noise_and_ste_quantizers():
    y = torch.randn(1000, requires_grad=True)
    q = UniformQuantizer("noise").train()
    assert (q(y) - y).abs().max() <= 0.5 and not torch.equal(q(y), torch.round(y))
    ste = UniformQuantizer("ste").train()(y)
    assert torch.equal(ste, torch.round(y))
    ste.sum().backward()
    assert torch.equal(y.grad, torch.ones_like(y))
    assert torch.equal(q.eval()(y), torch.round(y))


def test_factorized_prior_needs_no_update_and_follows_training():
    torch.manual_seed(0)
    prior = FactorizedPrior(8)
    y = torch.randn(2, 8, 10, 10) * 3
    first = prior.tables.cdfs.copy()
    optimizer = torch.optim.Adam(prior.parameters(), lr=1e-2)
    for _ in range(3):
        optimizer.zero_grad()
        _, likelihoods = prior(y)
        (-torch.log2(likelihoods).sum() + prior.loss()).backward()
        optimizer.step()
    encoder = RangeEncoder()
    y_hat = prior.encode(encoder, y)
    data = encoder.flush()
    assert not np.array_equal(first, prior.tables.cdfs)  # rebuilt without being asked
    assert torch.equal(prior.decode(RangeDecoder(data), y.shape), y_hat)
    assert torch.equal(y_hat, torch.round(y - prior._medians(4)) + prior._medians(4))


def test_factorized_prior_tables_travel_with_the_weights():
    torch.manual_seed(1)
    prior = FactorizedPrior(4)
    with torch.no_grad():
        prior.quantiles.add_(0.3)
    state = prior.state_dict()
    assert state["_quantized_cdf"].dtype == torch.int32 and state["_quantized_cdf"].numel() > 0
    loaded = FactorizedPrior(4)
    loaded.load_state_dict(state)
    assert loaded._tables_key is not None  # stored integers are used as they are
    np.testing.assert_array_equal(loaded.tables.cdfs, prior.tables.cdfs)
    y = torch.randn(1, 4, 8, 8) * 2
    encoder = RangeEncoder()
    y_hat = prior.encode(encoder, y)
    assert torch.equal(loaded.decode(RangeDecoder(encoder.flush()), y.shape), y_hat)
