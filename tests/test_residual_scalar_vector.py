import numpy as np
import pytest
import torch

from latentcodec.quantizers import ResidualScalarVectorQuantizer
from latentcodec.quantizers.residual_vq import depth_under

DIM, LEVELS, SCALAR, VECTOR, CODES = 8, (5, 5, 5), 2, 2, 32


def quantizer() -> ResidualScalarVectorQuantizer:
    torch.manual_seed(0)
    return ResidualScalarVectorQuantizer(DIM, LEVELS, SCALAR, VECTOR, CODES, decay=0.8)


def test_shapes_and_index_ranges():
    q = quantizer()
    z = torch.randn(4, 10, DIM)  # [batch, time, dim]
    z_hat, indices, loss = q(z)
    assert z_hat.shape == z.shape and indices.shape == (4, 10, SCALAR + VECTOR)
    assert q.num_quantizers == SCALAR + VECTOR and q.codebook_sizes == (125, 125, CODES, CODES)
    assert (indices[..., : SCALAR + 1] >= 0).all()  # dropout spares the scalar stages and the first VQ stage
    assert (indices < torch.tensor(q.codebook_sizes)).all()
    assert loss.dim() == 0 and torch.isfinite(loss)


def test_decoding_the_indices_gives_the_forward_output():
    q = quantizer()
    z = torch.randn(16, 12, DIM)
    q(z)  # k-means init of the codebooks
    q.eval()
    with torch.no_grad():
        z_hat, indices, loss = q(z)
        assert loss == 0 and (indices >= 0).all()
        assert torch.equal(q.decode(indices), z_hat)
        for k in range(1, SCALAR + VECTOR):
            coarse, coarse_indices, _ = q(z, n_quantizers=k)
            assert torch.equal(coarse_indices, indices[..., :k])
            assert torch.equal(q.decode(indices[..., :k]), coarse)


def test_gradients_pass_straight_through_and_the_loss_reaches_the_projections():
    q = quantizer()
    z = torch.randn(64, DIM, requires_grad=True)
    z_hat, _, loss = q(z)
    z_hat.sum().backward(retain_graph=True)
    assert torch.allclose(z.grad, torch.ones_like(z))
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in q.parameters())


def test_adam_on_the_returned_loss_lowers_the_error():
    data = torch.randn(300, DIM, generator=torch.Generator().manual_seed(1))
    errors = {}
    for lr in (0.0, 1e-2):  # the same codebook updates, with and without learning the projections
        q = quantizer()
        optimizer = torch.optim.Adam(q.parameters(), lr=lr)
        for _ in range(60):
            z_hat, _, loss = q(data)
            optimizer.zero_grad()
            ((z_hat - data).pow(2).mean() + loss).backward()
            optimizer.step()
        q.eval()
        with torch.no_grad():
            errors[lr] = [(q(data, k)[0] - data).pow(2).mean().item() for k in range(SCALAR + 1, SCALAR + VECTOR + 1)]
    assert errors[1e-2][-1] < 0.5 * errors[0.0][-1]
    # each VQ stage refines: the bitrates that dropout trains
    assert all(finer < coarser for coarser, finer in zip(errors[1e-2], errors[1e-2][1:]))


def test_rejects_depths_it_does_not_have():
    q = quantizer()
    for depth in (0, SCALAR + VECTOR + 1):
        with pytest.raises(ValueError):
            q(torch.randn(4, DIM), n_quantizers=depth)
    with pytest.raises(ValueError):
        q.decode(torch.zeros(4, SCALAR + VECTOR + 1, dtype=torch.long))
    with pytest.raises(ValueError):
        ResidualScalarVectorQuantizer(DIM, LEVELS, 0, VECTOR, CODES)


def test_variable_depth_applies_to_the_vector_stages():
    q = quantizer()
    z = torch.randn(16, 12, DIM)
    q(z)
    q.eval()
    with torch.no_grad():
        full = q(z)[0]
        threshold = float((z - q(z, SCALAR + 1)[0]).norm(dim=-1).median())
        z_hat, indices, _ = q(z, threshold=threshold)
    depth = (indices >= 0).sum(-1)
    assert depth.min() == SCALAR + 1 and depth.max() == SCALAR + VECTOR  # scalar stages and the first VQ stage always
    assert torch.equal(q.decode(indices), z_hat) and not torch.equal(z_hat, full)
    frozen, flat = q.frozen(), z.reshape(-1, DIM).numpy()
    numpy_indices = frozen.encode(flat, SCALAR + VECTOR, threshold)
    assert (numpy_indices == indices.reshape(-1, SCALAR + VECTOR).numpy()).all(1).mean() > 0.95
    norms = frozen.search(flat, SCALAR + VECTOR)[1]
    assert np.array_equal(depth_under(norms, threshold), (numpy_indices >= 0).sum(1))
