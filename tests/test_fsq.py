import math

import pytest
import torch

from latentcodec.quantizers import FiniteScalarQuantizer
from latentcodec.quantizers.fsq import EPS, LEVELS_FOR_BITS


def paper_level(z: float, levels: int) -> int:
    """The paper's bound-and-round of one value, in plain floats: the spec the module must keep."""
    half_range = (levels - 1) * (1 - EPS) / 2
    offset = 0.5 if levels % 2 == 0 else 0.0
    return round(math.tanh(z + math.atanh(offset / half_range)) * half_range - offset)


def test_known_values_freeze_the_convention():
    q = FiniteScalarQuantizer([8, 5])
    z = torch.tensor([[0.0, 0.0], [10.0, 10.0], [-10.0, -10.0], [0.3, -0.7]])
    codes, indices = q(z)
    # z = 0 is level 0 (the shift), an even count has one more level below 0,
    # and the first dimension varies fastest in the index
    assert torch.equal(codes, torch.tensor([[0.0, 0.0], [0.75, 1.0], [-1.0, -1.0], [0.25, -0.5]]))
    assert indices.tolist() == [20, 39, 0, 13]
    assert q.shift.tolist() == pytest.approx([math.atanh(0.5 / (3.5 * (1 - EPS))), 0.0])


def test_levels_follow_the_paper_formula():
    torch.manual_seed(0)
    levels = [3, 4, 5, 6, 7, 8]
    q = FiniteScalarQuantizer(levels)
    z = torch.randn(500, len(levels), dtype=torch.float64) * 2
    codes, _ = q(z)
    scaled = (codes * q.half_width).round().long()
    expected = torch.tensor([[paper_level(v, n) for v, n in zip(row, levels)] for row in z.tolist()])
    assert torch.equal(scaled, expected)


@pytest.mark.parametrize("levels", [(8, 6, 5), (7, 5, 5), (3, 4)])
def test_a_dense_grid_reaches_every_code_and_indices_round_trip(levels):
    q = FiniteScalarQuantizer(levels)
    axis = torch.linspace(-4, 4, 41)
    z = torch.cartesian_prod(*[axis] * len(levels))
    codes, indices = q(z)
    assert indices.unique().numel() == q.codebook_size == math.prod(levels)
    assert indices.min() == 0 and indices.max() == q.codebook_size - 1
    assert torch.equal(q.indices_to_codes(indices), codes)
    assert torch.equal(q.codes_to_indices(codes), indices)
    every_index = torch.arange(q.codebook_size)
    assert torch.equal(q.codes_to_indices(q.indices_to_codes(every_index)), every_index)


def test_codes_lie_on_each_dimensions_level_grid():
    torch.manual_seed(0)
    q = FiniteScalarQuantizer([8, 6, 5])
    codes, _ = q(torch.randn(2000, 3) * 3)
    for d, n in enumerate(q.levels):
        half = n // 2
        grid = torch.arange(-half, n - half) / half
        assert torch.equal(codes[:, d].unique(), grid)


def test_the_first_dimension_varies_fastest():
    q = FiniteScalarQuantizer([8, 5])
    codes = q.indices_to_codes(torch.tensor([0, 1, 7, 8]))
    assert torch.equal(codes, torch.tensor([[-1.0, -1.0], [-0.75, -1.0], [0.75, -1.0], [-1.0, -0.5]]))


def test_gradients_pass_straight_through_the_rounding():
    torch.manual_seed(0)
    q = FiniteScalarQuantizer([8, 5, 5, 5])
    z = torch.randn(64, 4, requires_grad=True)
    codes, _ = q(z)
    codes.sum().backward()
    assert z.grad is not None and (z.grad > 0).all()
    # the derivative of the bound, the rounding counting as identity
    with torch.no_grad():
        slope = (1 - torch.tanh(z + q.shift) ** 2) * q.half_range / q.half_width
    assert torch.allclose(z.grad, slope)


def test_any_leading_shape_is_quantized_channels_last():
    q = FiniteScalarQuantizer(LEVELS_FOR_BITS[10])
    z = torch.randn(2, 3, 5, 7, q.dim)
    codes, indices = q(z)
    assert codes.shape == z.shape and indices.shape == z.shape[:-1]
    assert torch.equal(indices[1, 2, 3], q(z[1, 2, 3])[1])


def test_paper_level_sets_have_about_their_codebook_size():
    for bits, levels in LEVELS_FOR_BITS.items():
        assert abs(math.log2(FiniteScalarQuantizer(levels).codebook_size) - bits) < 0.1


def test_rejects_two_levels_and_wrong_widths():
    with pytest.raises(ValueError):
        FiniteScalarQuantizer([2, 5])
    with pytest.raises(ValueError):
        FiniteScalarQuantizer([8, 5])(torch.zeros(4, 3))


def test_usage_loss_spreads_crowded_latents_over_every_level():
    torch.manual_seed(0)
    fsq = FiniteScalarQuantizer([8, 5, 5])
    latents = (0.1 * torch.randn(4096, 3)).requires_grad_()
    assert fsq.usage_loss(latents) > 2.0 and fsq(latents)[1].unique().numel() < 20
    optimizer = torch.optim.SGD([latents], lr=100.0)
    for _ in range(50):
        optimizer.zero_grad()
        fsq.usage_loss(latents).backward()
        optimizer.step()
    assert fsq.usage_loss(latents) < 0.1 and fsq(latents)[1].unique().numel() == 200
