import numpy as np
import pytest
import torch

from latentcodec.quantizers import ResidualVectorQuantizer
from latentcodec.quantizers.residual_vq import depth_under

DIM, STAGES, CODES = 8, 4, 32


def trained(steps: int = 20, **options) -> tuple[ResidualVectorQuantizer, torch.Tensor]:
    """A quantizer whose codebooks followed ``data`` for a few training steps, in eval."""
    torch.manual_seed(0)
    data = torch.randn(256, DIM)
    q = ResidualVectorQuantizer(DIM, STAGES, CODES, decay=0.8, **options)
    for _ in range(steps):
        q(data)
    return q.eval(), data


def test_more_quantizers_reconstruct_better():
    q, data = trained()
    with torch.no_grad():
        errors = [(q(data, k)[0] - data).pow(2).mean().item() for k in range(1, STAGES + 1)]
    assert all(finer < coarser for coarser, finer in zip(errors, errors[1:]))
    assert errors[-1] < 0.1 * data.var().item()


def test_decoding_the_indices_gives_the_forward_output():
    q, data = trained()
    z = data.reshape(16, 16, DIM)  # [batch, time, dim]
    with torch.no_grad():
        z_hat, indices, loss = q(z)
        assert indices.shape == (16, 16, STAGES) and z_hat.shape == z.shape and loss == 0
        assert torch.equal(q.decode(indices), z_hat)
        for k in range(1, STAGES):
            coarse, coarse_indices, _ = q(z, n_quantizers=k)
            assert torch.equal(coarse_indices, indices[..., :k])
            assert torch.equal(q.decode(indices[..., :k]), coarse)


def test_dropout_draws_a_depth_per_example():
    q, data = trained(steps=1)
    q.train()
    codebooks = q.residual_vq.codebooks.clone()  # training moves them after the lookup
    torch.manual_seed(1)
    z_hat, indices, _ = q(data)
    assert indices.shape == (len(data), STAGES)
    depth = (indices >= 0).sum(-1)
    # each example uses a prefix of the stages; every depth occurs in one batch
    assert torch.equal(indices >= 0, torch.arange(STAGES) < depth[:, None])
    assert set(depth.tolist()) == set(range(1, STAGES + 1))
    # the dropped stages add nothing: z_hat is the sum of the codes used
    used = [
        torch.where(stage[:, None] >= 0, codebook[stage.clamp(min=0)], 0.0)
        for codebook, stage in zip(codebooks, indices.T)
    ]
    assert torch.allclose(sum(used), z_hat, atol=1e-6)
    assert torch.equal(used[0][depth == 1], z_hat[depth == 1])


def test_variable_depth_goes_on_while_the_residual_is_above_the_threshold():
    q, data = trained()
    z = data.reshape(16, 16, DIM)
    threshold = float(data.norm(dim=-1).median()) / 3
    with torch.no_grad():
        z_hat, indices, _ = q(z, threshold=threshold)
        depth = (indices >= 0).sum(-1)
        assert torch.equal(indices >= 0, torch.arange(STAGES) < depth[..., None]) and len(depth.unique()) > 1
        assert torch.equal(q.decode(indices), z_hat)
        for k in range(1, STAGES + 1):  # each vector's code is the constant-depth one at its depth
            at_k = depth == k
            assert torch.equal(z_hat[at_k], q(z, k)[0][at_k])
            if k < STAGES:  # it stopped because its residual was small enough
                assert ((z - z_hat)[at_k].norm(dim=-1) <= threshold).all()
    # the numpy coder that streams run agrees (one vector at a time too), and one search predicts its depths
    frozen, flat = q.frozen(), data.numpy()
    numpy_indices = frozen.encode(flat, STAGES, threshold)
    assert np.array_equal(numpy_indices, indices.reshape(-1, STAGES).numpy())
    assert all(np.array_equal(frozen.encode(v[None], STAGES, threshold)[0], row) for v, row in zip(flat, numpy_indices))
    assert np.allclose(frozen.decode(numpy_indices), z_hat.reshape(-1, DIM).numpy(), atol=1e-6)
    norms = frozen.search(flat, STAGES)[1]
    for t in (0.0, threshold / 2, threshold, 2 * threshold, np.inf):
        assert np.array_equal(depth_under(norms, t), (frozen.encode(flat, STAGES, t) >= 0).sum(1))


def test_a_wider_beam_finds_closer_codes_for_the_same_indices():
    q, data = trained()
    frozen, flat = q.frozen(), data.numpy()
    greedy, norms = frozen.search(flat, STAGES)
    assert all(np.array_equal(greedy[:, d - 1, :d], greedy[:, -1, :d]) for d in range(1, STAGES + 1))  # prefixes
    paths, beam_norms = frozen.search(flat, STAGES, beam=4)
    assert (paths[:, 0] == greedy[:, 0]).all()  # the first stage's best is the nearest entry

    def error(indices):
        return ((flat - frozen.decode(indices)) ** 2).sum(1)
    for d in range(2, STAGES + 1):  # the gain grows with depth (about 2% at 2 stages, 10% at 4 here)
        assert error(paths[:, d - 1]).mean() < (0.99 if d < STAGES else 0.92) * error(greedy[:, d - 1]).mean()
        assert np.allclose(np.sqrt(error(paths[:, d - 2])), beam_norms[:, d - 1], rtol=1e-4, atol=1e-5)
    # variable depth: a vector stops at the first depth whose best path is close enough, and
    # coding one vector at a time, or searching with the threshold (stopping early), agrees
    threshold = float(np.median(beam_norms[:, 2]))
    indices = frozen.encode(flat, STAGES, threshold, beam=4)
    depth = (indices >= 0).sum(1)
    assert np.array_equal(depth, depth_under(beam_norms, threshold)) and len(np.unique(depth)) > 1
    assert np.array_equal(indices, paths[np.arange(len(flat)), depth - 1])
    assert all(np.array_equal(frozen.encode(v[None], STAGES, threshold, beam=4)[0], row) for v, row in zip(flat, indices))
    assert (np.sqrt(error(indices))[depth < STAGES] <= threshold * (1 + 1e-5)).all()


def test_only_the_examples_using_a_stage_update_its_codebook():
    q, data = trained(steps=1, threshold_ema_dead_code=0)
    q.train()
    last = q.residual_vq.layers[-1]._codebook
    counted_before = last.cluster_size.sum()
    _, indices, _ = q(data)
    users = (indices[:, -1] >= 0).sum()
    assert 0 < users < len(data)
    # the EMA of the code counts moves towards the number of examples that used the stage
    assert torch.isclose(last.cluster_size.sum(), 0.8 * counted_before + 0.2 * users)


def test_no_dropout_in_eval_or_when_turned_off():
    q, data = trained(steps=1, quantizer_dropout=False)
    q.train()
    assert (q(data)[1] >= 0).all()
    q.eval()
    q.quantizer_dropout = True
    assert (q(data)[1] >= 0).all()


def test_gradients_pass_straight_through_and_the_loss_commits():
    q, data = trained(steps=1)
    q.train()
    z = data.clone().requires_grad_()
    z_hat, _, loss = q(z)
    assert loss.dim() == 0 and torch.isfinite(loss) and loss > 0
    (z_hat * torch.arange(DIM)).sum().backward()
    assert torch.equal(z.grad, torch.arange(DIM).float().expand_as(z))
    z.grad = None
    q(z)[2].backward()
    assert z.grad.abs().sum() > 0


def test_utilization_counts_the_codes_each_stage_used():
    q = ResidualVectorQuantizer(DIM, 2, 4)
    indices = torch.tensor([[0, -1], [1, -1], [1, 3]])
    assert q.utilization(indices).tolist() == [0.5, 0.25]
    trained_q, data = trained()
    assert (trained_q.utilization(trained_q(data)[1]) > 0.9).all()


def test_rejects_depths_it_does_not_have():
    q = ResidualVectorQuantizer(DIM, STAGES, CODES)
    for depth in (0, STAGES + 1):
        with pytest.raises(ValueError):
            q(torch.randn(4, DIM), n_quantizers=depth)
    with pytest.raises(ValueError):
        q.decode(torch.zeros(4, STAGES + 1, dtype=torch.long))
