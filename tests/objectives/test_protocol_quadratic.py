"""The finite-sum protocol on the block quadratic: index semantics, broadcasting, exact constants."""

import numpy as np
import pytest
import torch

from hybridsmooth.errors import SpecError
from hybridsmooth.objectives import FiniteSum, Objective, select_samples
from hybridsmooth.objectives.quadratic import BlockQuadratic, make_block_quadratic
from hybridsmooth.problems import make_problem, parse_spec


@pytest.fixture
def quad():
    return make_block_quadratic(dx=6, dy=4, Lx=10.0, Ly=1.0, coupling=0.5, n=5, seed=3)


def test_satisfies_protocol(quad):
    assert isinstance(quad, Objective)
    assert quad.dtype == torch.float64


def test_full_loss_is_weighted_mean_of_samples(quad):
    x, y = quad.initial_point(3)
    x = x + torch.randn_like(x)
    per = quad.sample_losses(x, y)
    assert per.shape == (3, 5)
    torch.testing.assert_close(quad.loss(x, y), per.mean(-1), rtol=1e-13, atol=0)
    idx = torch.tensor([4, 0, 2])
    torch.testing.assert_close(quad.loss(x, y, idx), per[torch.arange(3), idx], rtol=1e-13, atol=0)
    torch.testing.assert_close(quad.loss(x, y, 1), per[:, 1], rtol=1e-13, atol=0)


def test_closed_form_grad_matches_autograd(quad):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 6, generator=g, dtype=torch.float64)
    y = torch.randn(3, 4, generator=g, dtype=torch.float64)  # broadcasts against x's batch
    for idx in (None, 2, torch.tensor([0, 4, 1])):
        gx, gy = quad.grad(x, y, idx)
        ax, ay = FiniteSum.grad(quad, x, y.expand(2, 3, 4), idx)
        torch.testing.assert_close(gx, ax, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(gy, ay, rtol=1e-12, atol=1e-12)


def test_exact_constants(quad):
    H = quad.H.numpy()
    c = quad.constants
    assert c.L_x == pytest.approx(np.linalg.norm(H[:6, :6], 2), rel=1e-12)
    assert c.L_x == pytest.approx(10.0, rel=1e-12)
    assert c.L_y == pytest.approx(1.0, rel=1e-12)
    assert c.L_xy == pytest.approx(np.linalg.norm(H[:6, 6:], 2), rel=1e-12)
    # coupling s = ||A^-1/2 B C^-1/2||
    A, B, C = H[:6, :6], H[:6, 6:], H[6:, 6:]
    inv_sqrt = lambda M: np.linalg.inv(np.linalg.cholesky(M)).T  # noqa: E731  (M^-1/2 up to rotation)
    assert np.linalg.norm(inv_sqrt(A).T @ B @ inv_sqrt(C), 2) == pytest.approx(0.5, rel=1e-10)
    # sigma^2 does not depend on z: check at two random points
    for s in range(2):
        z = torch.randn(10, dtype=torch.float64, generator=torch.Generator().manual_seed(s))
        x, y = z[:6], z[6:]
        gx, gy = quad.grad(x, y)
        dev_x = torch.stack([quad.grad(x, y, i)[0] - gx for i in range(5)])
        dev_y = torch.stack([quad.grad(x, y, i)[1] - gy for i in range(5)])
        assert float((dev_x**2).sum(1).mean()) == pytest.approx(c.sigma2_x, rel=1e-10)
        assert float((dev_y**2).sum(1).mean()) == pytest.approx(c.sigma2_y, rel=1e-10)
    # f* is attained at the mean centre
    zbar = quad.centres.mean(0)
    assert float(quad.loss(zbar[:6], zbar[6:])) == pytest.approx(c.f_star, rel=1e-12)


def test_unequal_weights_select_samples():
    per = torch.tensor([[1.0, 2.0, 4.0]])
    w = torch.tensor([0.5, 0.25, 0.25])
    assert float(select_samples(per, None, w)) == pytest.approx(0.5 * 1 + 0.25 * 2 + 0.25 * 4)


def test_bad_inputs():
    with pytest.raises(ValueError, match="coupling"):
        make_block_quadratic(coupling=1.5)
    with pytest.raises(ValueError, match="symmetric"):
        BlockQuadratic(np.array([[1.0, 2.0], [0.0, 1.0]]), np.zeros((1, 2)), 1)


def test_spec_strings():
    p = make_problem("quadratic:dx=3,dy=2,Lx=4,n=2,seed=1")
    assert (p.d_x, p.d_y, p.n) == (3, 2, 2)
    assert p.constants.L_x == pytest.approx(4.0)
    with pytest.raises(SpecError, match="accepted: .*dx"):
        parse_spec("quadratic:bogus=1")
    with pytest.raises(SpecError, match="unknown problem"):
        parse_spec("nope:dx=1")
    with pytest.raises(SpecError, match="not a valid int"):
        parse_spec("quadratic:dx=1.5")
    with pytest.raises(SpecError, match="coupling"):
        make_problem("quadratic:coupling=2")


def test_full_loss_shortcut_and_diagonal_path_match_the_definition():
    for kw in (dict(coupling=0.5), dict(coupling=0.0, rotate=False)):
        q = make_block_quadratic(dx=7, dy=3, n=6, seed=2, **kw)
        assert (q._diag is not None) == (kw.get("rotate", True) is False)
        x, y = q.initial_point(4)
        x = x + torch.randn(x.shape, dtype=x.dtype, generator=torch.Generator().manual_seed(1))
        z = torch.cat([x, y], -1)
        r = z.unsqueeze(-2) - q.centres
        direct = 0.5 * torch.einsum("snd,de,sne->sn", r, q.H, r).mean(-1)
        torch.testing.assert_close(q.loss(x, y), direct, rtol=1e-12, atol=1e-12)
        gx, gy = q.grad(x, y, torch.tensor([0, 5, 2, 2]))
        ax, ay = FiniteSum.grad(q, x, y, torch.tensor([0, 5, 2, 2]))
        torch.testing.assert_close(torch.cat([gx, gy], -1), torch.cat([ax, ay], -1), rtol=1e-12, atol=1e-12)
    # rotate=False keeps the same centres and start (only the eigenvectors change)
    a = make_block_quadratic(dx=4, dy=2, n=3, seed=5)
    b = make_block_quadratic(dx=4, dy=2, n=3, seed=5, rotate=False)
    torch.testing.assert_close(a.centres, b.centres)
    # f - f* is computed without cancellation at the minimiser
    zbar = b.centres.mean(0)
    assert float(b.loss(zbar[:4], zbar[4:])) - b.constants.f_star == pytest.approx(0.0, abs=1e-15)
